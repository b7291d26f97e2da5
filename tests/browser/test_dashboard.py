"""The merchant dashboard end to end in headless Chromium (issue 7): a new merchant signs up, enrols 2FA, creates a
plan, adds a webhook endpoint and replays a delivery, invites a finance member who refunds an invoice but cannot
create an API key, and switches to live mode where none of the test data shows.

Runs its own `duro serve` in `development` (so http://127.0.0.1 webhook receivers are allowed for test mode, 05 §8)
and a `duro worker` for the webhook and notification loops, both on the test database. Screenshots are saved under
the test output directory (see tests/browser/conftest.py).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pyotp
import pytest
from aiohttp import web
from playwright.async_api import Browser, Dialog, Page, expect

from duro.db.engine import Database
from tests.browser.support import Shots, start_aiohttp
from tests.cli.process import ServerProcess, duro_argv

PASSWORD = "a long and unusual passphrase 42"
STAFF_KEY = "browser-staff-key-0123456789-abcdefghijklmnop"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@dataclass
class Receiver:
    """A merchant's webhook endpoint on loopback that records every delivery."""

    bodies: list[bytes] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.read())
        return web.Response(text="ok")

    async def wait_for(self, count: int, within: float = 30.0) -> None:
        for _ in range(int(within * 10)):
            if len(self.bodies) >= count:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"expected {count} deliveries, got {len(self.bodies)}")


@pytest.fixture(scope="module")
def dashboard_duro(db: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path_factory.mktemp("duro-dashboard"),
        DURO_ENV="development",
        DURO_ALLOW_SIGNUP="true",
        DURO_WEBHOOK_ALLOW_INSECURE_TEST="true",
        DURO_WEBHOOK_POLL_SECONDS="1",
        DURO_NOTIFY_POLL_SECONDS="1",
        DURO_STAFF_KEY=STAFF_KEY,
    )
    log = (server.data_dir / "worker.log").open("wb")
    worker = subprocess.Popen(
        [*duro_argv(), "worker", "--loops", "webhooks,notifications"],
        env=server.env,
        cwd=server.data_dir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        with server:
            server.wait_ready()
            yield server
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    runner, port = await start_aiohttp(hook.handle, "POST", "/hooks", "127.0.0.1")
    hook.url = f"http://127.0.0.1:{port}/hooks"
    yield hook
    await runner.cleanup()


async def _accept(dialog: Dialog) -> None:
    await dialog.accept()


async def _tab(browser: Browser, base_url: str) -> Page:
    context = await browser.new_context(viewport={"width": 1200, "height": 900}, base_url=base_url, locale="en-GB")
    context.set_default_timeout(15_000)
    tab = await context.new_page()
    tab.on("dialog", _accept)  # destructive actions ask for confirmation (07 §6)
    return tab


async def _submit(page: Page, form: str) -> None:
    async with page.expect_navigation():
        await page.locator(f"{form} button[type=submit]").first.click()


async def test_a_merchant_runs_billing_entirely_in_the_browser(
    browser: Browser, dashboard_duro: ServerProcess, receiver: Receiver, shots: Shots
) -> None:
    base = dashboard_duro.base_url
    owner = await _tab(browser, base)
    try:
        # --- sign up, then 2FA enrolment is the only way forward (02 §5) ---
        await owner.goto("/dashboard/signup")
        await owner.fill("input[name=business_name]", "Lagos Fitness Club")
        await owner.fill("input[name=name]", "Ada Obi")
        await owner.fill("input[name=email]", "ada@lagosfit.example")
        await owner.fill("input[name=password]", PASSWORD)
        await shots.take(owner, "signup")
        await _submit(owner, "form")
        await expect(owner).to_have_url(re.compile(r"/dashboard/2fa/enrol$"))
        await owner.goto("/dashboard/plans")
        await expect(owner).to_have_url(re.compile(r"/dashboard/2fa/enrol$"))  # nothing else until enrolled
        secret = (await owner.locator("code.secret").inner_text()).replace(" ", "")
        await shots.take(owner, "enrol-2fa")
        enrol_code = pyotp.TOTP(secret).now()
        await owner.fill("input[name=code]", enrol_code)
        await _submit(owner, "form:has(input[name=code])")
        codes = await owner.locator("body").inner_text()
        assert len(re.findall(r"\b[a-z0-9]{4,5}-[a-z0-9]{4,5}\b", codes)) >= 10, codes[:500]
        await shots.take(owner, "recovery-codes")

        # --- the overview in test mode, with the banner ---
        await owner.goto("/dashboard")
        await expect(owner.get_by_test_id("test-banner")).to_be_visible()

        # --- a plan ---
        await owner.goto("/dashboard/plans/new")
        await owner.fill("#f-name", "Gold monthly")
        await owner.fill("#f-amount", "15,000")
        await owner.fill("#f-currency", "NGN")
        await owner.select_option("#f-interval", "month")
        await _submit(owner, "form[action='/dashboard/plans']")
        await expect(owner.locator("h1")).to_contain_text("Gold monthly")
        plan_id = owner.url.rstrip("/").rsplit("/", 1)[-1]
        await shots.take(owner, "plan-created")

        # --- a webhook endpoint; the signing secret is shown once ---
        await owner.goto("/dashboard/developers/webhooks/new")
        await owner.fill("#f-url", receiver.url)
        await owner.fill("#f-description", "Our CRM")
        await _submit(owner, "form[action='/dashboard/developers/webhooks']")
        await expect(owner.get_by_test_id("secret-once")).to_contain_text("whsec_")
        await shots.take(owner, "endpoint-created")

        # --- a customer with a simulator card and a paid subscription (events for the endpoint) ---
        await owner.goto("/dashboard/customers/new")
        await owner.fill("#f-name", "Chidi Okafor")
        await owner.fill("#f-email", "chidi@example.com")
        await _submit(owner, "form[action='/dashboard/customers']")
        customer_url = owner.url
        customer_id = customer_url.rstrip("/").rsplit("/", 1)[-1]
        await owner.select_option("[data-testid=attach-form] #f-rail", "card")
        await owner.fill("[data-testid=attach-form] #f-number", "4242424242424242")
        await owner.fill("[data-testid=attach-form] #f-expMonth", "12")
        await owner.fill("[data-testid=attach-form] #f-expYear", "2035")
        await owner.check("[data-testid=attach-form] #f-setDefault")
        await _submit(owner, "[data-testid=attach-form]")
        await expect(owner.locator("body")).to_contain_text("4242")
        await owner.goto(f"/dashboard/subscriptions/new?customerId={customer_id}")
        await owner.select_option("#f-planId", plan_id)
        await _submit(owner, "form[action='/dashboard/subscriptions']")
        await expect(owner.locator("body")).to_contain_text("active")
        await shots.take(owner, "subscription-active")

        # --- the delivery arrives, and a replay from the inspector delivers it again ---
        await receiver.wait_for(1)
        delivered = len(receiver.bodies)
        await owner.goto("/dashboard/developers/webhooks")
        await owner.locator("a[href^='/dashboard/developers/webhooks/we_']").first.click()
        await owner.locator("a[href*='/deliveries/']").first.click()
        await shots.take(owner, "delivery-before-replay")
        async with owner.expect_navigation():
            await owner.get_by_role("button", name="Replay now").click()
        await receiver.wait_for(delivered + 1)
        await owner.reload()
        await shots.take(owner, "delivery-replayed")

        # --- invite a finance member; the invitation is in the dev inbox ---
        await owner.goto("/dashboard/team")
        await owner.fill("form[action='/dashboard/team/invite'] #f-email", "funmi@lagosfit.example")
        await owner.select_option("form[action='/dashboard/team/invite'] #f-role", "finance")
        await _submit(owner, "form[action='/dashboard/team/invite']")
        await expect(owner.locator("body")).to_contain_text("funmi@lagosfit.example")
        link = await _invite_link(owner)
    finally:
        await owner.context.close()

    finance = await _tab(browser, base)
    try:
        await finance.goto(link)
        await finance.fill("input[name=name]", "Funmi Bello")
        await finance.fill("input[name=password]", PASSWORD + " finance")
        await finance.fill("input[name=password_confirm]", PASSWORD + " finance")
        await _submit(finance, "form")
        await expect(finance).to_have_url(re.compile(r"/dashboard$"))

        # --- finance refunds the paid invoice ---
        await finance.goto("/dashboard/invoices?status=paid")
        await finance.locator("a[href^='/dashboard/invoices/inv_']").first.click()
        invoice_url = finance.url
        await finance.goto(f"{invoice_url}/refund")
        await finance.fill("#f-reason", "Customer moved away")
        await shots.take(finance, "refund-form")
        await _submit(finance, "form[action$='/refund']")
        await expect(finance.locator(".flash")).to_contain_text(re.compile("[Rr]efund"))
        await finance.goto(invoice_url)
        await expect(finance.locator("body")).to_contain_text("Customer moved away")
        await shots.take(finance, "refunded")

        # --- but cannot create an API key: no button, and the server refuses the form post ---
        await finance.goto("/dashboard/developers/api-keys")
        await expect(finance.locator("form[action='/dashboard/developers/api-keys']")).to_have_count(0)
        token = await finance.locator("input[name=csrf_token]").first.get_attribute("value")
        status = await finance.evaluate(
            """async (token) => {
                const body = new URLSearchParams({csrf_token: token, name: "sneaky", kind: "secret"});
                const answer = await fetch("/dashboard/developers/api-keys", {method: "POST", body});
                return answer.status;
            }""",
            token,
        )
        assert status == 403
        await shots.take(finance, "api-keys-read-only")
    finally:
        await finance.context.close()

    # --- the owner switches to live mode: none of the test data shows ---
    owner = await _tab(browser, base)
    try:
        await owner.goto("/dashboard/login")
        await owner.fill("input[name=email]", "ada@lagosfit.example")
        await owner.fill("input[name=password]", PASSWORD)
        await _submit(owner, "form")
        await expect(owner).to_have_url(re.compile(r"/dashboard/2fa/verify$"))
        await owner.fill("input[name=code]", await _fresh_code(secret, enrol_code))
        await _submit(owner, "form:has(input[name=code])")
        await owner.goto("/dashboard/plans")
        await expect(owner.locator("body")).to_contain_text("Gold monthly")
        async with owner.expect_navigation():
            await owner.get_by_test_id("mode-live").click()
        await expect(owner.get_by_test_id("test-banner")).to_have_count(0)
        await expect(owner.locator("body")).not_to_contain_text("Gold monthly")
        for path in ("/dashboard/customers", "/dashboard/subscriptions", "/dashboard/invoices"):
            await owner.goto(path)
            await expect(owner.locator("body")).not_to_contain_text("Chidi")
        await owner.goto("/dashboard/developers/webhooks")
        await expect(owner.locator("body")).not_to_contain_text(receiver.url)
        await shots.take(owner, "live-mode-empty")
    finally:
        await owner.context.close()
    assert all(p.exists() for p in shots.taken)


async def _sign_up(page: Page, business: str, email: str) -> str:
    """Signup and 2FA enrolment; returns the TOTP secret."""
    await page.goto("/dashboard/signup")
    await page.fill("input[name=business_name]", business)
    await page.fill("input[name=name]", "Owner")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", PASSWORD)
    await _submit(page, "form")
    secret = (await page.locator("code.secret").inner_text()).replace(" ", "")
    await page.fill("input[name=code]", pyotp.TOTP(secret).now())
    await _submit(page, "form:has(input[name=code])")
    return secret


async def test_a_merchant_goes_live_after_kyc_review_in_the_staff_console(
    browser: Browser, dashboard_duro: ServerProcess, shots: Shots
) -> None:
    base = dashboard_duro.base_url
    owner = await _tab(browser, base)
    staff = await _tab(browser, base)
    try:
        await _sign_up(owner, "Kano Crafts Ltd", "owner@kanocrafts.example")

        # --- live mode shows the unverified cap meter ---
        await owner.goto("/dashboard")
        async with owner.expect_navigation():
            await owner.get_by_test_id("mode-live").click()
        await expect(owner.get_by_test_id("kyc-meter")).to_be_visible()

        # --- upload the three documents and submit ---
        await owner.goto("/dashboard/settings/kyc")
        for doc_type, name, body, mime in (
            ("cac", "certificate.pdf", PDF, "application/pdf"),
            ("memart", "memart.pdf", PDF, "application/pdf"),
            ("status_report", "status.png", PNG, "image/png"),
        ):
            slot = owner.get_by_test_id(f"kyc-slot-{doc_type}")
            await slot.locator("input[type=file]").set_input_files({"name": name, "mimeType": mime, "buffer": body})
            async with owner.expect_navigation():
                await slot.locator("button[type=submit]").click()
            await expect(owner.get_by_test_id(f"kyc-file-{doc_type}")).to_contain_text(name)
        await shots.take(owner, "kyc-uploaded")
        async with owner.expect_navigation():
            await owner.get_by_test_id("kyc-submit").click()
        await expect(owner.get_by_test_id("kyc-status")).to_contain_text("pending")

        # --- staff: key login, the queue, approve ---
        await staff.goto("/staff/login")
        await staff.fill("input[name=key]", STAFF_KEY)
        await _submit(staff, "form[action='/staff/login']")
        await staff.goto("/staff")
        await expect(staff.locator("body")).to_contain_text("Kano Crafts Ltd")
        await staff.get_by_role("link", name=re.compile("Kano Crafts Ltd")).first.click()
        await shots.take(staff, "staff-review")
        async with staff.expect_navigation():
            await staff.get_by_test_id("approve").click()
        await expect(staff.locator("body")).to_contain_text(re.compile("[Aa]pproved|verified"))

        # --- the owner is verified: no cap meter in live mode ---
        await owner.goto("/dashboard/settings/kyc")
        await expect(owner.get_by_test_id("kyc-tier")).to_contain_text("verified")
        await expect(owner.get_by_test_id("kyc-meter")).to_have_count(0)
        await shots.take(owner, "kyc-verified")
    finally:
        await owner.context.close()
        await staff.context.close()


async def _invite_link(owner: Page) -> str:
    """The invitation as the member would get it: the captured message in the dev inbox (07 §11)."""
    for _ in range(100):
        await owner.goto("/dashboard/dev/inbox?templateKey=member_invite")
        entries = owner.locator("a[href^='/dashboard/dev/inbox/platform/']")
        if await entries.count():
            await entries.first.click()
            found = re.search(r"https?://[^\s\"<]+/dashboard/invite/[A-Za-z0-9_-]+", await owner.content())
            assert found, "no invitation link in the message"
            return found.group(0)
        await asyncio.sleep(0.2)
    raise AssertionError("the invitation never reached the dev inbox")


async def _fresh_code(secret: str, used: str) -> str:
    """A TOTP code of a later step than the enrolment's (02 §5 refuses a replayed step)."""
    totp = pyotp.TOTP(secret)
    for _ in range(350):
        if totp.now() != used:
            return totp.now()
        await asyncio.sleep(0.1)
    raise AssertionError("no new TOTP step within 35 s")
