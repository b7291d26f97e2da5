"""The signed-in shell (07 §1, §10): layout, nav by permission, mode switch with the test banner, flash, 403 page."""

from __future__ import annotations

from typing import Any

from duro.web.checkout.rendering import amount
from tests.conftest import TenantKeys


async def test_overview_shows_the_test_banner_and_the_mode_switch(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    page = await dash.get("/dashboard")
    assert page.status_code == 200
    assert 'data-testid="test-banner"' in page.text
    assert 'action="/dashboard/mode"' in page.text
    assert "Test clocks" in page.text  # test-only nav item


async def test_switching_to_live_hides_the_banner_and_flashes_once(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    answer = await dash.post("/dashboard/mode", {"mode": "live", "next": "/dashboard/plans/pln_123abc"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard/plans"  # an object of the other mode does not exist there
    page = await dash.get("/dashboard")
    assert 'data-testid="test-banner"' not in page.text
    assert "Live mode: you are now viewing live data." in page.text
    assert "Test clocks" not in page.text
    again = await dash.get("/dashboard")
    assert "you are now viewing" not in again.text  # the flash shows once


async def test_mode_switch_needs_the_csrf_token(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "read_only")
    refused = await dash.client.post("/dashboard/mode", data={"mode": "live"})
    assert refused.status_code == 403
    assert "csrf" in refused.text.lower() or "expired" in refused.text
    assert 'data-testid="test-banner"' in (await dash.get("/dashboard")).text


async def test_a_forged_flash_cookie_is_ignored(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    dash.client.cookies.set("duro_flash", "eyJtIjoiSGFja2VkIiwiayI6ImluZm8ifQ.bad", path="/dashboard")
    page = await dash.get("/dashboard")
    assert "Hacked" not in page.text


async def test_nav_hides_the_audit_log_from_members_without_member_manage(tenant: TenantKeys, dash_as: Any) -> None:
    finance = await dash_as(tenant, "finance")
    assert "Audit log" not in (await finance.get("/dashboard")).text
    admin = await dash_as(tenant, "admin")
    assert "Audit log" in (await admin.get("/dashboard")).text


async def test_signed_out_requests_go_to_login(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    dash.client.cookies.clear()
    answer = await dash.get("/dashboard?x=1")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/dashboard/login?next=")


async def test_unknown_dashboard_paths_and_ids_get_the_html_error_page(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    missing = await dash.get("/dashboard/no-such-screen")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "Content-Security-Policy" in missing.headers
    as_fetch = await dash.get("/dashboard/no-such-screen", headers={"X-Requested-With": "fetch"})
    assert as_fetch.status_code == 404
    assert as_fetch.headers["content-type"].startswith("application/json")
    assert as_fetch.json()["error"]["reason"] == "unknown_route"


def test_dashboard_amounts_carry_the_currency_symbol() -> None:
    assert amount(500000, "NGN") == "₦5,000.00"
    assert amount(-1250, "usd") == "-$12.50"
    assert amount(99, "KES") == "KSh 0.99"
    assert amount(100, "XOF") == "XOF 1.00"  # no known symbol: the code
    assert amount(None, None) == "0.00"
