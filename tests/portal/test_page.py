"""The HTML portal `GET /portal` (06 §7, 01 §6): security headers, no inline script or style, its static assets;
and the JSON API reached the way the page reaches it, through the real OTP sign-in."""

from __future__ import annotations

import re
from typing import Any

from duro.db.engine import Database
from tests.http_assertions import ok
from tests.identity.conftest import bearer, sign_in
from tests.portal.conftest import PHONE, active_subscription


async def test_page_has_strict_headers_and_no_inline_code(client: Any) -> None:
    r = await client.get("/portal?mode=test")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "strict-transport-security" not in r.headers  # the test public URL is http
    assert "access-control-allow-origin" not in r.headers  # no CORS on pages
    html = r.text
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S)
    assert scripts == [""]  # one script, loaded from /static, with an empty body
    assert '<script src="/static/portal/portal.js" defer>' in html
    assert "<style" not in html
    assert " style=" not in html
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers
    assert 'data-mode="test"' in html
    assert "4242424242424242" in html  # simulator numbers, shown in test mode by the script
    for field in ("phone", "code", "card-number", "exp-month", "exp-year"):
        assert f'<label for="{field}">' in html


async def test_unknown_mode_shows_live(client: Any) -> None:
    r = await client.get("/portal?mode=<script>")
    assert r.status_code == 200
    assert 'data-mode="live"' in r.text
    assert "<script>" not in r.text.split("<body", 1)[1]


async def test_static_assets_are_served(client: Any) -> None:
    js = await client.get("/static/portal/portal.js")
    assert js.status_code == 200
    assert "javascript" in js.headers["content-type"]
    assert "sessionStorage" in js.text
    assert ".innerHTML" not in js.text  # API values only ever reach the page as text
    css = await client.get("/static/portal/portal.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")


async def test_signed_in_through_the_otp_flow(client: Any, db: Database, tenant: Any) -> None:
    sub = await active_subscription(client, tenant)
    verified = await sign_in(client, db, PHONE)
    body = ok(await client.get("/portal/subscriptions?mode=test", headers=bearer(verified["token"])))
    assert [s["id"] for m in body["merchants"] for s in m["subscriptions"]] == [sub["id"]]
    r = await client.options(
        "/portal/subscriptions",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "GET"},
    )
    assert r.headers["access-control-allow-origin"] == "*"
