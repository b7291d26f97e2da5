"""Saved payment methods on the hosted checkout page (06 §3, §6) in headless Chromium: the customer signs in from
the identity bar with the code the server sent to the local WhatsApp Cloud API stand-in, pays with a new card and
ticks "save to my phone"; in a second checkout the same phone signs in again, the saved card is listed above the
rails, and paying with it uses the identity-owned method (checked in the database).

Screenshots: `<pytest basetemp>/test-output/<test name>/NN-<step>.png` (see tests/browser/conftest.py).
"""

from __future__ import annotations

import re
import secrets

from playwright.async_api import Page, expect
from sqlalchemy import text

from duro.db.engine import Database
from tests.browser.support import SUCCESS_CARD, MerchantFactory, Shots, WhatsAppCloud
from tests.browser.test_hosted_checkout import PAY_BUTTON, fill_card, open_session
from tests.cli.process import ServerProcess


async def sign_in(page: Page, whatsapp: WhatsAppCloud, phone: str) -> None:
    bar = page.get_by_role("region", name=re.compile("Pay with your saved Duro payment method"))
    await expect(bar).to_be_visible()
    sent_before = len(whatsapp.otp_codes(phone))
    await bar.get_by_label("Phone number").fill(phone)
    await bar.get_by_role("button", name="Send code on WhatsApp").click()
    code_box = bar.get_by_label("6-digit code")
    await expect(code_box).to_be_focused()
    await code_box.fill("12345")
    await bar.get_by_role("button", name="Verify").click()  # a short code is refused before any request
    await expect(bar.get_by_role("status")).to_contain_text("6-digit code")
    await expect(code_box).to_have_attribute("aria-invalid", "true")
    await code_box.fill(await whatsapp.wait_for_code(phone, after=sent_before))
    await bar.get_by_role("button", name="Verify").click()
    await expect(bar.get_by_text(f"Signed in as {phone}")).to_be_visible()


async def allow_resend(db: Database, phone: str) -> None:
    """The server spaces codes to one phone by 30 s (06 §6); age the first challenge instead of waiting."""
    async with db.engine.begin() as conn:
        await conn.execute(
            text("UPDATE core.otp_challenges SET created_at = created_at - interval '1 minute' WHERE phone = :p"),
            {"p": phone},
        )


async def test_save_a_card_to_the_phone_then_pay_with_it_in_another_checkout(
    page: Page,
    duro: ServerProcess,
    db: Database,
    make_merchant: MerchantFactory,
    whatsapp: WhatsAppCloud,
    shots: Shots,
) -> None:
    phone = f"+234805{secrets.randbelow(10**7):07d}"
    merchant = await make_merchant("Yaba Coffee Club")
    plan = await merchant.plan("Beans Monthly", 300_000)

    # First checkout: sign in, pay with a new card, save it to the phone.
    first = await merchant.checkout_session(plan["id"], customerEmail="tola@example.com")
    await open_session(page, duro, first, "Beans Monthly")
    save = page.get_by_label("Save to my phone")
    await expect(save).to_be_disabled()  # only once signed in
    await sign_in(page, whatsapp, phone)
    await expect(page.get_by_label(re.compile(r"^Phone \(optional\)"))).to_have_value(phone)  # contact phone prefilled
    await expect(page.get_by_role("group", name="Your saved payment methods")).to_be_hidden()  # nothing saved yet
    await expect(save).to_be_enabled()
    await fill_card(page, SUCCESS_CARD)
    await save.check()
    await shots.take(page, "signed-in-new-card")
    await page.get_by_role("button", name=PAY_BUTTON).click()
    await expect(page.get_by_role("heading", name="Payment complete")).to_be_visible()
    key = f"duro.checkout.identity.{first['token']}"
    assert await page.evaluate("k => sessionStorage.getItem(k)", key) is None  # dropped on success
    done = await merchant.call("GET", f"/v1/checkout/sessions/{first['id']}", 200)
    assert done["status"] == "completed"

    # Second checkout for the same phone: signed out (the token is kept per checkout), sign in, pay with the card.
    await allow_resend(db, phone)
    second = await merchant.checkout_session(plan["id"], customerEmail="tola@example.com")
    await open_session(page, duro, second, "Beans Monthly")
    await sign_in(page, whatsapp, phone)
    saved = page.get_by_role("group", name="Your saved payment methods")
    card = saved.get_by_role("radio", name=re.compile(r"ending 4242 · Card"))
    await expect(card).to_be_checked()
    await expect(saved.get_by_role("radio", name="Use a new payment method")).not_to_be_checked()
    await expect(page.get_by_label("Card number")).to_be_hidden()  # the rails give way to the saved method
    await shots.take(page, "saved-card-listed")
    await page.get_by_role("button", name=PAY_BUTTON).click()
    await expect(page.get_by_role("heading", name="Payment complete")).to_be_visible()
    await shots.take(page, "paid-with-saved-card")

    paid = await merchant.call("GET", f"/v1/checkout/sessions/{second['id']}", 200)
    assert paid["status"] == "completed"
    txn = await merchant.call("GET", f"/v1/transactions/{paid['transactionId']}", 200)
    assert (txn["status"], txn["rail"], txn["amount"]) == ("succeeded", "card", 300_000)
    async with db.engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT t.payment_method_id, pm.identity_id, pm.tenant_id, pm.last4, ci.id AS identity"
                    " FROM sandbox.transactions t /* unscoped: test check */"
                    " JOIN sandbox.payment_methods pm ON pm.id = t.payment_method_id"
                    " JOIN core.customer_identities ci ON ci.phone = :phone"
                    " WHERE t.id = :txn"
                ),
                {"txn": paid["transactionId"], "phone": phone},
            )
        ).one()
    assert row.identity_id == row.identity  # the identity-owned method saved in the first checkout
    assert row.tenant_id is None
    assert row.last4 == "4242"
    # Both payments belong to the one customer, linked to the identity by the first (06 §3 step 9).
    assert paid["customerId"] == done["customerId"]
    customer = await merchant.call("GET", f"/v1/customers/{paid['customerId']}", 200)
    assert (customer["identityId"], customer["phone"]) == (row.identity, phone)
