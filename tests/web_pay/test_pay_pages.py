"""The pay page, its Continue form and the store (06 §5): per-mode lookups, 404 pages, double-submit CSRF, the
per-IP limit, the session the form creates, store ordering/layout, and the HTML security headers (01 §6)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from duro.app import create_app
from duro.appearance import service as appearance
from duro.context import Actor
from duro.db.engine import Database
from duro.kit.clock import SystemClock
from tests.conftest import TenantKeys, make_settings
from tests.http_assertions import ok

CLOCK = SystemClock()
CLI = Actor("system", None, "cli")
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


# --- helpers ---


async def make_plan(client: httpx.AsyncClient, tenant: TenantKeys, mode: str = "test", **body: Any) -> dict[str, Any]:
    payload = {"name": "Pro", "amount": 500000, "interval": "month", **body}
    return ok(await client.post("/v1/plans", json=payload, headers=tenant.auth(mode)), 201)  # type: ignore[no-any-return]


async def make_link(
    client: httpx.AsyncClient,
    tenant: TenantKeys,
    mode: str = "test",
    *,
    plan: dict[str, Any] | None = None,
    **body: Any,
) -> dict[str, Any]:
    plan = plan or await make_plan(client, tenant, mode)
    payload = {"planId": plan["id"], "slug": "pro-monthly", **body}
    return ok(await client.post("/v1/payment-links", json=payload, headers=tenant.auth(mode)), 201)  # type: ignore[no-any-return]


async def sessions(client: httpx.AsyncClient, tenant: TenantKeys, mode: str = "test") -> list[dict[str, Any]]:
    listed = ok(await client.get("/v1/checkout/sessions", headers=tenant.auth(mode)))
    return listed["items"]  # type: ignore[no-any-return]


async def publish(db: Database, tenant: TenantKeys, **surfaces: dict[str, Any]) -> None:
    async with db.core_transaction() as conn:
        for surface, partial in surfaces.items():
            await appearance.set_draft(conn, tenant.id, surface, partial, clock=CLOCK)
        await appearance.publish(conn, tenant.id, actor=CLI, clock=CLOCK)


def page_url(tenant: TenantKeys, slug: str = "pro-monthly", mode: str = "test") -> str:
    return f"/pay/{tenant.slug}/{slug}" + ("?mode=test" if mode == "test" else "")


async def open_page(client: httpx.AsyncClient, url: str) -> str:
    """GET the landing page like a browser: the cookie is kept by the client; returns the form's CSRF value."""
    response = await client.get(url)
    assert response.status_code == 200, response.text
    found = CSRF_INPUT.search(response.text)
    assert found is not None
    return found.group(1)


def assert_html_security(response: httpx.Response, *, https: bool = False) -> None:
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert response.headers["cache-control"] == "no-store"
    assert ("strict-transport-security" in response.headers) is https
    # No inline script or style for the CSP to block.
    assert "<script" not in response.text
    assert "style=" not in response.text
    assert "<style" not in response.text


# --- landing page ---


@pytest.mark.parametrize("mode", ["test", "live"])
async def test_landing_page_per_mode(client: httpx.AsyncClient, tenant: TenantKeys, mode: str) -> None:
    await make_link(client, tenant, mode, metadata={"campaign": "launch"})
    other = "live" if mode == "test" else "test"

    response = await client.get(page_url(tenant, mode=mode))
    assert response.status_code == 200
    html = response.text
    assert '<html lang="en">' in html
    assert '<h1 id="offer-title">Pro</h1>' in html
    assert "₦5,000.00" in html
    assert "per month" in html
    assert "Acme Ltd" in html  # displayName defaults to the tenant's name
    assert "/pay/_assets/brand/0F766E.css" in html  # default brand colour
    assert f'action="{page_url(tenant, mode=mode)}"' in html
    assert '<button type="submit" class="button">Continue</button>' in html
    assert ("Test mode" in html) is (mode == "test")
    assert "launch" not in html  # metadata is never shown
    assert_html_security(response)

    # The link does not exist in the other mode.
    missing = await client.get(page_url(tenant, mode=other))
    assert missing.status_code == 404
    assert_html_security(missing)

    # Looking (even repeatedly, as a link preview would) creates no session.
    await client.get(page_url(tenant, mode=mode))
    assert await sessions(client, tenant, mode) == []


async def test_csrf_cookie_matches_the_form_and_is_kept(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    await make_link(client, tenant)
    response = await client.get(page_url(tenant))
    cookie = response.headers["set-cookie"]
    value = re.match(r"duro_pay_csrf=([^;]+);", cookie)
    assert value is not None
    assert CSRF_INPUT.search(response.text).group(1) == value.group(1)  # type: ignore[union-attr]
    attrs = {a.strip().lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/pay"} <= attrs
    assert "secure" not in attrs  # http public URL in tests
    # A second tab reuses the visitor's value, so the first tab's form stays valid.
    again = await client.get(page_url(tenant))
    assert CSRF_INPUT.search(again.text).group(1) == value.group(1)  # type: ignore[union-attr]


async def test_branding_and_trial_note(client: httpx.AsyncClient, db: Database, tenant: TenantKeys) -> None:
    plan = await make_plan(client, tenant, name="Gold", amount=1234567, interval="week", intervalCount=2, trialDays=14)
    await make_link(client, tenant, plan=plan, slug="gold")
    await publish(
        db,
        tenant,
        general={
            "displayName": "Acme <Store>",
            "brandColor": "#fde047",
            "font": "inter",
            "logo": "https://cdn.example.com/acme.png",
        },
    )
    response = await client.get(page_url(tenant, "gold"))
    assert response.status_code == 200
    html = response.text
    assert "Acme &lt;Store&gt;" in html  # escaped
    assert '<body class="font-inter">' in html
    assert '<img class="merchant-logo" src="https://cdn.example.com/acme.png" alt=""' in html
    assert "₦12,345.67" in html
    assert "every 2 weeks" in html
    assert "Free for 14 days, then ₦12,345.67 every 2 weeks. Nothing is charged today." in html
    csp = response.headers["content-security-policy"]
    assert "https://cdn.example.com" in csp.split("img-src", 1)[1].split(";", 1)[0]

    sheet = await client.get("/pay/_assets/brand/FDE047.css")
    assert sheet.status_code == 200
    assert sheet.headers["content-type"].startswith("text/css")
    assert sheet.headers["x-content-type-options"] == "nosniff"
    assert "--brand: #FDE047" in sheet.text
    assert "--on-brand: #111827" in sheet.text  # dark text on a light brand colour
    assert "--on-brand: #FFFFFF" in (await client.get("/pay/_assets/brand/0F766E.css")).text
    for bad in ("fde047.css", "FDE04.css", "FDE047", "red;}.css"):
        assert (await client.get(f"/pay/_assets/brand/{bad}")).status_code == 404
    css = await client.get("/pay/_assets/pay.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert "--brand" in css.text


async def test_not_found_pages(client: httpx.AsyncClient, tenant: TenantKeys, make_tenant: Any) -> None:
    link = await make_link(client, tenant)
    other = await make_tenant("Other Co")
    for url in (
        "/pay/no-such-shop/pro-monthly?mode=test",
        f"/pay/{tenant.slug}/no-such-link?mode=test",
        f"/pay/{other.slug}/pro-monthly?mode=test",  # another tenant's slug space
        f"/pay/{tenant.slug}/pro-monthly?mode=sandbox",
        f"/pay/{tenant.slug}/{'x' * 300}?mode=test",
        f"/pay/{'x' * 300}/pro-monthly?mode=test",
        f"/pay/{tenant.slug}/pro%00monthly?mode=test",
    ):
        response = await client.get(url)
        assert response.status_code == 404, url
        assert "Page not found" in response.text
        assert_html_security(response)

    # Inactive link → 404; active again → 200.
    patch = f"/v1/payment-links/{link['id']}"
    ok(await client.patch(patch, json={"active": False}, headers=tenant.auth()))
    assert (await client.get(page_url(tenant))).status_code == 404
    ok(await client.patch(patch, json={"active": True}, headers=tenant.auth()))
    assert (await client.get(page_url(tenant))).status_code == 200

    # Archived plan → 404.
    ok(await client.patch(f"/v1/plans/{link['planId']}", json={"active": False}, headers=tenant.auth()))
    assert (await client.get(page_url(tenant))).status_code == 404


# --- the Continue form ---


async def test_post_without_or_with_wrong_csrf_is_403(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    await make_link(client, tenant)
    url = page_url(tenant)
    # No cookie, no field.
    response = await client.post(url)
    assert response.status_code == 403
    assert_html_security(response)
    assert f'href="{url}"' in response.text  # a way back to the page

    token = await open_page(client, url)  # the client now holds the cookie
    cases: list[dict[str, Any]] = [
        {"data": {}},  # cookie only
        {"data": {"csrf_token": token[:-1] + ("A" if token[-1] != "A" else "B")}},  # wrong value
        {"data": {"csrf_token": ""}},
        {"data": {"csrf_token": [token, token]}},  # duplicated field
        {"content": f'{{"csrf_token": "{token}"}}', "headers": {"content-type": "application/json"}},
        {"data": {"csrf_token": token}, "headers": {"origin": "https://evil.example"}},  # foreign Origin
    ]
    for case in cases:
        response = await client.post(url, **case)
        assert response.status_code == 403, case
    # The right field but no cookie (another browser's form).
    fresh = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    async with fresh:
        assert (await fresh.post(url, data={"csrf_token": token})).status_code == 403
    assert await sessions(client, tenant) == []


@pytest.mark.parametrize("mode", ["test", "live"])
async def test_continue_creates_one_session_and_redirects(
    client: httpx.AsyncClient, tenant: TenantKeys, mode: str
) -> None:
    link = await make_link(client, tenant, mode, metadata={"campaign": "launch", "ref": "A-1"})
    url = page_url(tenant, mode=mode)
    token = await open_page(client, url)
    response = await client.post(url, data={"csrf_token": token}, headers={"origin": "http://testserver"})
    assert response.status_code == 303
    location = response.headers["location"]
    prefix = "cs_test_" if mode == "test" else "cs_live_"
    assert re.fullmatch(rf"/checkout/{prefix}[0-9A-Za-z]+", location), location
    assert response.headers["cache-control"] == "no-store"

    [session] = await sessions(client, tenant, mode)
    assert session["token"] == location.removeprefix("/checkout/")
    assert session["kind"] == "subscription"
    assert session["status"] == "pending"
    assert session["planId"] == link["planId"]
    assert session["paymentLinkId"] == link["id"]
    assert session["metadata"] == {"campaign": "launch", "ref": "A-1"}
    assert (session["amount"], session["currency"]) == (500000, "NGN")
    assert ok(await client.get(f"/v1/checkout/sessions/{session['id']}", headers=tenant.auth(mode))) == session
    # The session is payable on the customer side.
    view = ok(await client.get(f"/api/checkout/{session['token']}"))
    assert view["plan"]["id"] == link["planId"]

    # Each Continue starts its own session.
    assert (await client.post(url, data={"csrf_token": token})).status_code == 303
    assert len(await sessions(client, tenant, mode)) == 2


async def test_continue_on_an_unpayable_link_is_404(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    link = await make_link(client, tenant)
    url = page_url(tenant)
    token = await open_page(client, url)
    ok(await client.patch(f"/v1/plans/{link['planId']}", json={"active": False}, headers=tenant.auth()))
    response = await client.post(url, data={"csrf_token": token})
    assert response.status_code == 404
    assert_html_security(response)
    # The live mode has no such link either.
    assert (await client.post(page_url(tenant, mode="live"), data={"csrf_token": token})).status_code == 404
    assert await sessions(client, tenant) == []


async def test_continue_is_rate_limited_per_ip(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    await make_link(client, tenant)
    url = page_url(tenant)
    token = await open_page(client, url)
    for _ in range(20):  # every POST counts, refused ones included
        assert (await client.post(url, data={"csrf_token": "nope"})).status_code == 403
    response = await client.post(url, data={"csrf_token": token})
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    assert "Too many attempts" in response.text
    assert_html_security(response)
    assert await sessions(client, tenant) == []
    # X-Forwarded-For is ignored without trusted proxies: the socket peer is still the key.
    spoofed = await client.post(url, data={"csrf_token": token}, headers={"x-forwarded-for": "203.0.113.9"})
    assert spoofed.status_code == 429


# --- store ---


async def test_store_is_404_unless_enabled(client: httpx.AsyncClient, db: Database, tenant: TenantKeys) -> None:
    await make_link(client, tenant)
    for url in (f"/store/{tenant.slug}?mode=test", f"/store/{tenant.slug}", "/store/no-such-shop?mode=test"):
        response = await client.get(url)
        assert response.status_code == 404, url
        assert_html_security(response)
    await publish(db, tenant, store={"enabled": True})
    assert (await client.get(f"/store/{tenant.slug}?mode=test")).status_code == 200
    assert (await client.get("/store/no-such-shop?mode=test")).status_code == 404
    assert (await client.get(f"/store/{tenant.slug}?mode=other")).status_code == 404
    # The draft never reaches the page: disabling without publishing changes nothing.
    async with db.core_transaction() as conn:
        await appearance.set_draft(conn, tenant.id, "store", {"enabled": False}, clock=CLOCK)
    assert (await client.get(f"/store/{tenant.slug}?mode=test")).status_code == 200
    await publish(db, tenant)
    assert (await client.get(f"/store/{tenant.slug}?mode=test")).status_code == 404


def listed_links(html: str) -> list[str]:
    return re.findall(r'data-link-id="([^"]+)"', html)


async def test_store_lists_active_links_by_configuration(
    client: httpx.AsyncClient, db: Database, tenant: TenantKeys
) -> None:
    a = await make_link(client, tenant, slug="a", plan=await make_plan(client, tenant, name="Alpha"))
    b = await make_link(client, tenant, slug="b", plan=await make_plan(client, tenant, name="Beta", trialDays=7))
    c = await make_link(client, tenant, slug="c", plan=await make_plan(client, tenant, name="Gamma"))
    off = await make_link(client, tenant, slug="off", active=False)
    archived_plan = await make_plan(client, tenant, name="Old")
    archived = await make_link(client, tenant, slug="old", plan=archived_plan)
    ok(await client.patch(f"/v1/plans/{archived_plan['id']}", json={"active": False}, headers=tenant.auth()))
    live = await make_link(client, tenant, "live", slug="live-only")

    await publish(
        db, tenant, store={"enabled": True, "heading": "Our plans", "description": "Pick one.\nCancel any time."}
    )
    response = await client.get(f"/store/{tenant.slug}?mode=test")
    assert response.status_code == 200
    assert_html_security(response)
    html = response.text
    assert '<h1 id="store-title">Our plans</h1>' in html
    assert "Pick one.\nCancel any time." in html
    assert 'class="offers offers-grid"' in html
    assert listed_links(html) == [c["id"], b["id"], a["id"]]  # empty linkIds: every active link, newest first
    for absent in (off, archived, live):
        assert absent["id"] not in html
    assert f'href="/pay/{tenant.slug}/a?mode=test"' in html
    assert "7-day free trial" in html
    assert 'Subscribe<span class="visually-hidden"> to Alpha</span>' in html
    assert "Test mode" in html

    # linkIds fixes the order (and the selection); unknown or inactive ids are skipped; layout list.
    order = [a["id"], off["id"], c["id"], live["id"]]
    await publish(db, tenant, store={"linkIds": order, "layout": "list"})
    html = (await client.get(f"/store/{tenant.slug}?mode=test")).text
    assert listed_links(html) == [a["id"], c["id"]]
    assert 'class="offers offers-list"' in html

    # Live mode shows live links only: the configuration is shared, the ids of the other mode are absent.
    html = (await client.get(f"/store/{tenant.slug}")).text
    assert listed_links(html) == [live["id"]]
    assert f'href="/pay/{tenant.slug}/live-only"' in html
    assert "Test mode" not in html

    # A store without links says so.
    await publish(db, tenant, store={"linkIds": [off["id"]]})
    html = (await client.get(f"/store/{tenant.slug}?mode=test")).text
    assert listed_links(html) == []
    assert "Nothing is available right now" in html
    # The heading defaults to the display name.
    await publish(db, tenant, store={"heading": None, "linkIds": None})
    html = (await client.get(f"/store/{tenant.slug}?mode=test")).text
    assert '<h1 id="store-title">Acme Ltd</h1>' in html


# --- https deployment ---


async def test_https_public_url_adds_hsts_and_secure_cookie(db: Database, tenant: TenantKeys) -> None:
    app = create_app(make_settings(public_url="https://pay.duro.example"), db=db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://pay.duro.example") as c:
        await make_link(c, tenant)
        response = await c.get(page_url(tenant))
        assert_html_security(response, https=True)
        assert "max-age=" in response.headers["strict-transport-security"]
        assert "secure" in {a.strip().lower() for a in response.headers["set-cookie"].split(";")}
        token = CSRF_INPUT.search(response.text).group(1)  # type: ignore[union-attr]
        done = await c.post(
            page_url(tenant), data={"csrf_token": token}, headers={"origin": "https://pay.duro.example"}
        )
        assert done.status_code == 303
        assert_html_security(await c.get("/pay/nobody/nothing"), https=True)
    await app.state.runtime.close()
