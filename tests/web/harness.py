"""Shortcuts of the hosted checkout page tests: publish an appearance, post the no-JS form, read headers."""

from __future__ import annotations

import re
from typing import Any

import httpx

from duro.appearance import service as appearance
from duro.context import Actor
from duro.kit.clock import SystemClock

OWN_ORIGIN = "http://localhost:8000"  # the test settings' public_url
ACTOR = Actor("system", None, "test")
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)


async def publish(db: Any, tenant_id: str, **surfaces: dict[str, Any]) -> None:
    async with db.core_transaction() as conn:
        for surface, partial in surfaces.items():
            await appearance.set_draft(conn, tenant_id, surface, partial, clock=SystemClock())
        await appearance.publish(conn, tenant_id, actor=ACTOR, clock=SystemClock())


def card_form(number: str, **over: str) -> dict[str, str]:
    return {
        "rail": "card",
        "card_number": number,
        "card_exp_month": "12",
        "card_exp_year": "2099",
        "card_cvc": "123",
        **over,
    }


async def post_form(
    client: Any, token: str, form: dict[str, str], *, query: str = "", origin: str | None = OWN_ORIGIN
) -> httpx.Response:
    headers = {"Origin": origin} if origin is not None else {}
    return await client.post(f"/checkout/{token}{query}", data=form, headers=headers)  # type: ignore[no-any-return]


def assert_html_headers(r: httpx.Response, frame_ancestors: str = "'none'") -> str:
    """Every HTML page: self-only CSP with the expected frame-ancestors, nosniff, Referrer-Policy, no inline
    script or style. Returns the CSP."""
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == frame_ancestors
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "unsafe-inline" not in csp
    assert not INLINE_SCRIPT.search(r.text), "inline <script> found"
    assert "<style" not in r.text
    assert " style=" not in r.text
    return csp
