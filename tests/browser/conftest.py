"""Browser tests (ARCHITECTURE §4): Playwright drives Debian's Chromium (`/usr/bin/chromium`, never Playwright's
own browser downloads) against a real `duro serve` on the test database.

- `duro`: one `duro serve` process for this package's tests on a free loopback port, `DURO_PUBLIC_URL` = its own
  `http://127.0.0.1:<port>` origin (so session `url`s point at it), WhatsApp `cloud` provider aimed at `whatsapp`.
- `whatsapp`: a local WhatsApp Cloud API stand-in that records the OTP template messages.
- `merchant_site`: a merchant web site on `http://localhost:<port>` — a different origin from Duro's.
- `browser`/`page`: headless Chromium (`--no-sandbox` when running as root). Chromium is installed by
  `scripts/ensure_chromium.sh` (`make test` runs it) and, as a fallback, by the first test that needs it; without
  root or apt-get the tests skip saying so.
- `shots`: screenshots under `<pytest basetemp>/test-output/<test name>/` (e.g.
  `/tmp/pytest-of-$USER/pytest-current/test-output/…`); a failing test also gets `failure.png`, its browser console and
  the server log tail there.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

from duro.db.engine import Database
from duro.kit.clock import SystemClock
from duro.tenants.service import provision_tenant
from tests.browser.support import (
    PHONE_NUMBER_ID,
    WHATSAPP_TOKEN,
    Merchant,
    MerchantFactory,
    MerchantSite,
    Shots,
    WhatsAppCloud,
    start_aiohttp,
)
from tests.cli.process import ROOT, SECRET_KEY, ServerProcess
from tests.conftest import make_settings

CHROMIUM = os.environ.get("DURO_CHROMIUM", "/usr/bin/chromium")
ENSURE_CHROMIUM = ROOT / "scripts" / "ensure_chromium.sh"


_FAILED = pytest.StashKey[bool]()  # set when a test's call phase failed: the page fixture then keeps evidence


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call":
        item.stash[_FAILED] = report.failed


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        subprocess.run(["bash", str(ENSURE_CHROMIUM)], check=False, timeout=900)
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} missing and scripts/ensure_chromium.sh could not install it (needs root/apt-get)")
    return CHROMIUM


@pytest.fixture(scope="package")
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        chromium = await pw.chromium.launch(executable_path=chromium_path, headless=True, args=args)
        yield chromium
        await chromium.close()


@pytest.fixture(scope="package")
async def whatsapp() -> AsyncIterator[WhatsAppCloud]:
    api = WhatsAppCloud()
    runner, port = await start_aiohttp(api.handle, "POST", "/{version}/{phone_number_id}/messages", "127.0.0.1")
    api.base_url = f"http://127.0.0.1:{port}"
    yield api
    await runner.cleanup()


@pytest.fixture(scope="package")
async def merchant_site() -> AsyncIterator[MerchantSite]:
    site = MerchantSite()
    runner, port = await start_aiohttp(site.handle, "GET", "/{tail:.*}", "127.0.0.1")
    site.origin = f"http://localhost:{port}"  # Duro is on 127.0.0.1: another origin, same loopback
    yield site
    await runner.cleanup()


@pytest.fixture(scope="package")
def duro(db: Database, whatsapp: WhatsAppCloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path_factory.mktemp("duro-serve"),
        DURO_WHATSAPP_PROVIDER="cloud",
        DURO_WHATSAPP_TOKEN=WHATSAPP_TOKEN,
        DURO_WHATSAPP_PHONE_NUMBER_ID=PHONE_NUMBER_ID,
        DURO_WHATSAPP_API_BASE_URL=whatsapp.base_url,
    )
    assert server.env["DURO_PUBLIC_URL"] == server.base_url
    with server:
        server.wait_ready()
        yield server


@pytest.fixture
def shots(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Shots:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[:120]
    directory = tmp_path_factory.getbasetemp() / "test-output" / name
    directory.mkdir(parents=True, exist_ok=True)
    return Shots(directory)


@pytest.fixture
async def page(
    browser: Browser, duro: ServerProcess, shots: Shots, request: pytest.FixtureRequest
) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1100, "height": 900}, locale="en-GB")
    context.set_default_timeout(10_000)
    tab = await context.new_page()
    console: list[str] = []
    tab.on("console", lambda msg: console.append(f"[{msg.type}] {msg.text} ({msg.location.get('url', '')})"))
    tab.on("pageerror", lambda exc: console.append(f"[pageerror] {exc}"))
    yield tab
    if request.node.stash.get(_FAILED, False):
        try:
            await tab.screenshot(path=str(shots.directory / "failure.png"), full_page=True)
        except Exception as exc:  # the page may be gone; the console and the log still help
            console.append(f"(no failure screenshot: {exc})")
        (shots.directory / "console.txt").write_text("\n".join(console))
        (shots.directory / "server.log").write_text(duro.log())
    await context.close()


@pytest.fixture
async def make_merchant(db: Database, duro: ServerProcess) -> AsyncIterator[MerchantFactory]:
    """Provision a tenant (as `duro tenant create` does) and hand back its test keys with an API client on the
    running server."""
    settings = make_settings(secret_key=SECRET_KEY, public_url=duro.base_url)
    clients: list[httpx.AsyncClient] = []

    async def factory(name: str) -> Merchant:
        n = len(clients) + 1
        made = await provision_tenant(
            db, settings, SystemClock(), name=name, owner_email=f"owner{n}@browser.example.com"
        )
        keys = made.keys["test"]
        api = httpx.AsyncClient(
            base_url=duro.base_url, headers={"Authorization": f"Bearer {keys['secret']}"}, timeout=30.0
        )
        clients.append(api)
        return Merchant(made.tenant.id, made.tenant.name, made.tenant.slug, keys["secret"], keys["publishable"], api)

    yield factory
    for api in clients:
        await api.aclose()
