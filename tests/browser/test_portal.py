"""The customer portal (06 §6-§7) in headless Chromium: a customer with subscriptions at two merchants signs in to
`/portal?mode=test` with the code the server sent to the local WhatsApp Cloud API stand-in, sees both merchants,
and pauses the subscription of the merchant whose published portal permissions allow it (the other merchant keeps
the default `pauseSubscription: false`, so it offers no Pause). The merchant sees `paused` through `/v1`.

Screenshots: `<pytest basetemp>/test-output/<test name>/NN-<step>.png` (see tests/browser/conftest.py).
"""

from __future__ import annotations

import secrets

from playwright.async_api import Page, expect

from duro.appearance.service import publish, set_draft
from duro.db.engine import Database
from duro.kit.clock import SystemClock
from duro.tenants.service import CLI_ACTOR
from tests.browser.support import MerchantFactory, Shots, WhatsAppCloud
from tests.cli.process import ServerProcess


async def allow_pause(db: Database, tenant_id: str) -> None:
    """What `duro appearance set --surface portal` + `duro appearance publish` do."""
    clock = SystemClock()
    async with db.core_transaction() as conn:
        await set_draft(conn, tenant_id, "portal", {"permissions": {"pauseSubscription": True}}, clock=clock)
        view = await publish(conn, tenant_id, actor=CLI_ACTOR, clock=clock)
    assert view["published"]["portal"]["permissions"]["pauseSubscription"] is True


async def test_sign_in_with_the_whatsapp_code_and_pause_a_subscription(
    page: Page,
    duro: ServerProcess,
    db: Database,
    make_merchant: MerchantFactory,
    whatsapp: WhatsAppCloud,
    shots: Shots,
) -> None:
    phone = f"+234803{secrets.randbelow(10**7):07d}"
    gym = await make_merchant("Surulere Fitness")
    news = await make_merchant("Daily Lagos News")
    await allow_pause(db, gym.tenant_id)
    gym_sub = await gym.subscribed_customer((await gym.plan("Gym Unlimited"))["id"], phone=phone, name="Ngozi")
    news_sub = await news.subscribed_customer((await news.plan("News Digital", 150_000))["id"], phone=phone, name="N.")

    await page.goto(f"{duro.base_url}/portal?mode=test")
    await expect(page.get_by_role("button", name="Test")).to_have_attribute("aria-pressed", "true")
    sent_before = len(whatsapp.otp_codes(phone))
    await page.get_by_label("Phone number").fill(phone)
    await shots.take(page, "phone")
    await page.get_by_role("button", name="Send code on WhatsApp").click()

    code_box = page.get_by_label("6-digit code")
    await expect(code_box).to_be_visible()
    code = await whatsapp.wait_for_code(phone, after=sent_before)
    await code_box.fill(code)
    await shots.take(page, "code")
    await page.get_by_role("button", name="Verify").click()

    gym_card = page.get_by_role("region", name="Surulere Fitness")
    news_card = page.get_by_role("region", name="Daily Lagos News")
    await expect(gym_card).to_be_visible()
    await expect(news_card).to_be_visible()
    await expect(gym_card.get_by_role("heading", name="Gym Unlimited")).to_be_visible()
    await expect(news_card.get_by_role("heading", name="News Digital")).to_be_visible()
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    # Only the merchant that published pauseSubscription offers it.
    await expect(news_card.get_by_role("button", name="Pause")).to_have_count(0)
    await shots.take(page, "subscriptions")

    await gym_card.get_by_role("button", name="Pause").click()
    await expect(page.get_by_role("status")).to_have_text("Subscription paused.")
    await expect(gym_card.get_by_role("button", name="Resume")).to_be_visible()
    await expect(gym_card.get_by_role("heading", name="Gym Unlimited")).to_contain_text("paused")
    await shots.take(page, "paused")

    paused = await gym.call("GET", f"/v1/subscriptions/{gym_sub['id']}", 200)
    assert paused["status"] == "paused"
    untouched = await news.call("GET", f"/v1/subscriptions/{news_sub['id']}", 200)
    assert untouched["status"] == "active"
