"""The hosted checkout page in headless Chromium (06 §3): a merchant's server creates a session with its secret key,
the browser opens the session's `url` on a real `duro serve`, pays with a simulator card; a declined card offers
"try another way" and a bank rail completes the payment. The merchant verifies with `GET /v1/checkout/sessions/{id}`.

Screenshots: `<pytest basetemp>/test-output/<test name>/NN-<step>.png` (see tests/browser/conftest.py).
"""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from tests.browser.support import DECLINED_CARD, SUCCESS_ACCOUNT, SUCCESS_CARD, MerchantFactory, MerchantSite, Shots
from tests.cli.process import ServerProcess

PAY_BUTTON = re.compile(r"^Pay\b")


async def fill_card(page: Page, number: str) -> None:
    await page.get_by_label("Card number").fill(number)
    await page.get_by_label("Expiry month").fill("12")
    await page.get_by_label("Expiry year").fill("2034")
    await page.get_by_label("Security code").fill("123")


async def open_session(page: Page, duro: ServerProcess, session: dict[str, object], plan_name: str) -> None:
    url = str(session["url"])
    assert url == f"{duro.base_url}/checkout/{session['token']}"  # DURO_PUBLIC_URL is the server's own origin
    await page.goto(url)
    await expect(page.get_by_role("heading", name=plan_name)).to_be_visible()
    await expect(page.get_by_role("heading", name=re.compile("Test mode"))).to_be_visible()
    await expect(page.get_by_role("radio", name=re.compile(r"^Card"))).to_be_checked()


async def test_pay_with_a_success_card_then_redirect_to_success_url(
    page: Page, duro: ServerProcess, make_merchant: MerchantFactory, merchant_site: MerchantSite, shots: Shots
) -> None:
    merchant = await make_merchant("Lagos Gym")
    plan = await merchant.plan("Gold Monthly", 500_000)
    success_url = f"{merchant_site.origin}/thanks"
    session = await merchant.checkout_session(plan["id"], customerEmail="ada@example.com", successUrl=success_url)

    await open_session(page, duro, session, "Gold Monthly")
    await expect(page.get_by_text("Lagos Gym").first).to_be_visible()
    await expect(page.get_by_label("Email")).to_have_value("ada@example.com")  # prefilled from the session
    await shots.take(page, "hosted-page")

    await fill_card(page, SUCCESS_CARD)
    await page.get_by_role("button", name=PAY_BUTTON).click()
    await expect(page.get_by_role("heading", name="Payment complete")).to_be_visible()
    await shots.take(page, "success-screen")

    # The success screen hands the customer back to the merchant with the session id (after 3 s).
    await page.wait_for_url(f"{success_url}?session_id={session['id']}", timeout=15_000)
    await expect(page.get_by_role("heading", name="Merchant page /thanks")).to_be_visible()
    await shots.take(page, "back-at-merchant")

    done = await merchant.call("GET", f"/v1/checkout/sessions/{session['id']}", 200)
    assert done["status"] == "completed"
    assert done["customerEmail"] == "ada@example.com"
    sub = await merchant.call("GET", f"/v1/subscriptions/{done['subscriptionId']}", 200)
    assert sub["status"] == "active"
    assert sub["planId"] == plan["id"]
    txn = await merchant.call("GET", f"/v1/transactions/{done['transactionId']}", 200)
    assert txn["status"] == "succeeded"
    assert txn["rail"] == "card"
    assert txn["amount"] == 500_000


async def test_declined_card_then_another_rail(
    page: Page, duro: ServerProcess, make_merchant: MerchantFactory, shots: Shots
) -> None:
    merchant = await make_merchant("Ikeja Books")
    plan = await merchant.plan("Reader Plus", 250_000)
    session = await merchant.checkout_session(plan["id"], customerEmail="bola@example.com")

    await open_session(page, duro, session, "Reader Plus")
    await fill_card(page, DECLINED_CARD)
    await page.get_by_role("button", name=PAY_BUTTON).click()

    alert = page.get_by_role("alert")
    await expect(alert).to_be_visible()
    await expect(alert).to_contain_text(re.compile("insufficient funds", re.IGNORECASE))
    await expect(alert).to_contain_text(re.compile("try another way", re.IGNORECASE))
    await expect(page.get_by_role("heading", name="Payment complete")).to_be_hidden()
    await shots.take(page, "declined")

    pending = await merchant.call("GET", f"/v1/checkout/sessions/{session['id']}", 200)
    assert pending["status"] == "pending"  # the customer may retry or switch rail
    assert pending["lastPaymentError"]["code"] == "insufficient_funds"

    # "Try another way" lists the other rails (the page preselects the first); back on Card, choosing USSD there
    # switches the form to the bank-account panel.
    await page.get_by_role("radio", name=re.compile(r"^Card")).check()
    await expect(page.get_by_label("Account number")).to_be_hidden()
    await alert.get_by_text("USSD", exact=True).click()
    await expect(page.get_by_role("radio", name=re.compile(r"^USSD"))).to_be_checked()
    await page.get_by_label("Account number").fill(SUCCESS_ACCOUNT)
    await shots.take(page, "another-rail")
    await page.get_by_role("button", name=PAY_BUTTON).click()
    await expect(page.get_by_role("heading", name="Payment complete")).to_be_visible()
    await shots.take(page, "success-screen")

    done = await merchant.call("GET", f"/v1/checkout/sessions/{session['id']}", 200)
    assert done["status"] == "completed"
    txn = await merchant.call("GET", f"/v1/transactions/{done['transactionId']}", 200)
    assert (txn["status"], txn["rail"], txn["amount"]) == ("succeeded", "ussd", 250_000)
    failed = await merchant.call("GET", "/v1/transactions?status=failed", 200)
    assert [(t["rail"], t["failureCode"]) for t in failed["items"]] == [("card", "insufficient_funds")]
    sub = await merchant.call("GET", f"/v1/subscriptions/{done['subscriptionId']}", 200)
    assert sub["status"] == "active"
