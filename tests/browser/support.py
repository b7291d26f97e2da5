"""Local stand-ins and helpers of the browser tests: the WhatsApp Cloud API fake the server sends OTP codes to, a
merchant web site on another origin (`http://localhost:<port>`, while Duro serves on `http://127.0.0.1:<port>`),
and the merchant-side API calls (plans, customers, cards, subscriptions) made with a tenant's secret key."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web
from playwright.async_api import Page

PHONE_NUMBER_ID = "109876543210"
WHATSAPP_TOKEN = "wa-browser-test-token"

SUCCESS_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000051"  # insufficient funds (gateway/simulator_rules.py)
SUCCESS_ACCOUNT = "0123456789"


@dataclass
class WhatsAppCloud:
    """Speaks the Cloud API's `POST /{version}/{phoneNumberId}/messages` and records each request body."""

    base_url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append({"path": request.path, "json": await request.json()})
        n = len(self.requests)
        contacts = [{"input": "x", "wa_id": "x"}]
        messages = [{"id": f"wamid.B{n}"}]
        return web.json_response({"messaging_product": "whatsapp", "contacts": contacts, "messages": messages})

    def otp_codes(self, phone_e164: str) -> list[str]:
        """The codes sent to this phone, oldest first: the first body parameter of the OTP template (the same code
        is the copy-code button's parameter)."""
        digits = phone_e164.lstrip("+")
        codes = []
        for req in self.requests:
            body = req["json"]
            if body.get("to") != digits or body.get("type") != "template":
                continue
            components = body["template"]["components"]
            codes.append(str(components[0]["parameters"][0]["text"]))
        return codes

    async def wait_for_code(self, phone_e164: str, *, after: int = 0, within: float = 15.0) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            codes = self.otp_codes(phone_e164)
            if len(codes) > after:
                code = codes[-1]
                assert re.fullmatch(r"\d{6}", code), f"OTP template parameter is not a 6-digit code: {code!r}"
                return code
            await asyncio.sleep(0.05)
        raise AssertionError(f"no WhatsApp OTP to {phone_e164} within {within:.0f} s; stand-in saw {self.requests}")


@dataclass
class MerchantSite:
    """A merchant's web site on its own origin: `pages[path]` is served as HTML; any other path answers a small
    "merchant page" (the target of successUrl redirects) that echoes its query string."""

    origin: str = ""
    pages: dict[str, str] = field(default_factory=dict)

    async def handle(self, request: web.Request) -> web.Response:
        html = self.pages.get(request.path)
        if html is None:
            html = (
                "<!doctype html><html lang=en><head><meta charset=utf-8><title>Merchant</title></head>"
                f"<body><h1>Merchant page {request.path}</h1><p id=query>{request.query_string}</p></body></html>"
            )
        return web.Response(text=html, content_type="text/html")


async def start_aiohttp(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]], method: str, path: str, host: str
) -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_route(method, path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = int(runner.addresses[0][1])
    return runner, port


@dataclass
class Shots:
    """Screenshots of one test, under `<pytest basetemp>/test-output/<test name>/NN-<step>.png`."""

    directory: Path
    taken: list[Path] = field(default_factory=list)

    async def take(self, page: Page, step: str) -> Path:
        path = self.directory / f"{len(self.taken) + 1:02d}-{step}.png"
        await page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path


@dataclass
class Merchant:
    """One tenant as its own server would see it: the keys and a test-mode API client on the running Duro."""

    tenant_id: str
    name: str
    slug: str
    secret: str
    publishable: str
    api: httpx.AsyncClient

    async def call(self, method: str, path: str, want: int, body: dict[str, Any] | None = None) -> dict[str, Any]:
        resp = await self.api.request(method, path, json=body)
        assert resp.status_code == want, f"{method} {path} -> {resp.status_code}: {resp.text}"
        out: dict[str, Any] = resp.json()
        return out

    async def plan(self, name: str, amount: int = 500_000) -> dict[str, Any]:
        body = {"name": name, "amount": amount, "currency": "NGN", "interval": "month", "trialDays": 0}
        return await self.call("POST", "/v1/plans", 201, body)

    async def checkout_session(self, plan_id: str, **extra: Any) -> dict[str, Any]:
        session = await self.call("POST", "/v1/checkout/sessions", 201, {"planId": plan_id, **extra})
        assert session["status"] == "pending"
        assert session["token"].startswith("cs_test_")
        return session

    async def subscribed_customer(self, plan_id: str, *, phone: str, name: str) -> dict[str, Any]:
        """A customer with this phone, the success card and an active subscription to the plan."""
        customer = await self.call("POST", "/v1/customers", 201, {"name": name, "phone": phone})
        card = {"testCard": {"number": SUCCESS_CARD, "expMonth": 12, "expYear": 2034}}
        await self.call("POST", f"/v1/customers/{customer['id']}/payment-methods", 201, card)
        sub = await self.call("POST", "/v1/subscriptions", 201, {"customerId": customer["id"], "planId": plan_id})
        assert sub["status"] == "active", sub
        return sub


MerchantFactory = Callable[[str], Awaitable[Merchant]]
