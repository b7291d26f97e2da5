"""Test clock screens (07 §10, 03 §12): list with attached counts, create, detail with attached subscriptions and
the maximum advance, advance through the real renewal engine, events of the advance, delete; RBAC and mode."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import TenantKeys
from tests.http_assertions import ok
from tests.subscriptions.helpers import customer as new_customer
from tests.subscriptions.helpers import get_sub, make_clock, plan, subscribe


def clock_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-id="(clock_[^"]+)"', html)


async def clock_with_subscription(dash: Any, tenant: TenantKeys) -> tuple[dict[str, Any], dict[str, Any]]:
    """A monthly subscription started on a clock at 2025-01-15 10:00 with a good card (no trial)."""
    clock = await make_clock(dash.client, tenant, "2025-01-15T10:00:00Z")
    p = await plan(dash.client, tenant)
    cus = await new_customer(dash.client, tenant)
    sub = ok(await subscribe(dash.client, tenant, customerId=cus["id"], planId=p["id"], testClockId=clock["id"]), 201)
    return clock, sub


async def test_list_empty_then_create_shows_the_clock(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "developer")
    empty = await dash.get("/dashboard/test-clocks")
    assert empty.status_code == 200
    assert "No test clocks yet" in empty.text
    made = await dash.post("/dashboard/test-clocks", {"name": "March run", "frozenTime": "2025-03-01T10:00"})
    assert made.status_code == 303
    page = ok(await dash.client.get("/v1/test-clocks", headers=tenant.auth()))
    (clock,) = page["items"]
    assert (clock["name"], clock["frozenTime"]) == ("March run", "2025-03-01T10:00:00.000Z")
    assert made.headers["location"] == f"/dashboard/test-clocks/{clock['id']}"
    listed = await dash.get("/dashboard/test-clocks")
    assert clock_ids(listed.text) == [clock["id"]]
    assert 'data-testid="attached-count">0<' in listed.text


async def test_create_with_bad_time_is_inline_and_creates_nothing(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    bad = await dash.post("/dashboard/test-clocks", {"name": "x" * 81, "frozenTime": "next tuesday"})
    assert bad.status_code == 422
    assert 'data-field="frozenTime"' in bad.text
    assert 'data-field="name"' in bad.text
    assert 'value="next tuesday"' in bad.text
    assert ok(await dash.client.get("/v1/test-clocks", headers=tenant.auth()))["items"] == []


async def test_list_paginates(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "read_only")
    made = [await make_clock(dash.client, tenant, "2025-01-01T00:00:00Z") for _ in range(21)]
    first = await dash.get("/dashboard/test-clocks")
    assert len(clock_ids(first.text)) == 20
    nxt = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert nxt
    second = await dash.get(nxt.group(1).replace("&amp;", "&"))
    assert clock_ids(second.text) == [made[0]["id"]]


async def test_detail_shows_attached_subscriptions_and_the_maximum(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "finance")
    clock, sub = await clock_with_subscription(dash, tenant)
    page = await dash.get(f"/dashboard/test-clocks/{clock['id']}")
    assert page.status_code == 200
    html = page.text
    assert f'<tr data-id="{sub["id"]}">' in html
    assert sub["currentPeriodEnd"] in html
    # Two monthly periods from 2025-01-15 10:00 (03 §12 step 2), pre-filled in the form.
    assert "2025-03-15T10:00:00.000Z" in html
    assert 'value="2025-03-15T10:00"' in html
    assert f'href="/dashboard/subscriptions/new?testClockId={clock["id"]}"' in html
    listed = await dash.get("/dashboard/test-clocks")
    assert 'data-testid="attached-count">1<' in listed.text


async def test_advance_renews_the_subscription_and_lists_its_events(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "finance")
    clock, sub = await clock_with_subscription(dash, tenant)
    done = await dash.post(f"/dashboard/test-clocks/{clock['id']}/advance", {"to": "2025-02-20T00:00"})
    assert done.status_code == 303
    after = await get_sub(dash.client, tenant, sub["id"])
    assert after["currentPeriodStart"] == "2025-02-15T10:00:00.000Z"  # renewed once
    assert after["status"] == "active"
    api_clock = ok(await dash.client.get(f"/v1/test-clocks/{clock['id']}", headers=tenant.auth()))
    assert (api_clock["frozenTime"], api_clock["status"]) == ("2025-02-20T00:00:00.000Z", "ready")
    page = await dash.get(done.headers["location"])
    assert "Clock advanced to 2025-02-20T00:00:00.000Z." in page.text
    events = page.text.split('data-testid="advance-events"')[1].split("</table>")[0]
    assert "invoice_paid" in events
    assert "subscription_renewed" in events or "invoice_created" in events
    assert "subscription_created" not in events  # made before the advance


async def test_advance_too_far_or_backwards_is_inline(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    clock, sub = await clock_with_subscription(dash, tenant)
    far = await dash.post(f"/dashboard/test-clocks/{clock['id']}/advance", {"to": "2025-06-01T00:00"})
    assert far.status_code == 422
    assert 'data-field="to">must be at most 2025-03-15T10:00:00.000Z' in far.text
    back = await dash.post(f"/dashboard/test-clocks/{clock['id']}/advance", {"to": "2025-01-01T00:00"})
    assert back.status_code == 422
    assert 'data-field="to">must be after frozenTime' in back.text
    api_clock = ok(await dash.client.get(f"/v1/test-clocks/{clock['id']}", headers=tenant.auth()))
    assert api_clock["frozenTime"] == "2025-01-15T10:00:00.000Z"
    assert (await get_sub(dash.client, tenant, sub["id"]))["currentPeriodStart"] == "2025-01-15T10:00:00.000Z"


async def test_delete_refused_while_in_use_then_allowed(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    clock, sub = await clock_with_subscription(dash, tenant)
    page = await dash.get(f"/dashboard/test-clocks/{clock['id']}")
    assert "data-confirm=" in page.text
    refused = await dash.post(f"/dashboard/test-clocks/{clock['id']}/delete")
    assert refused.status_code == 303
    assert "still running" in (await dash.get(refused.headers["location"])).text
    ok(await dash.client.post(f"/v1/subscriptions/{sub['id']}/cancel", json={}, headers=tenant.auth()))
    deleted = await dash.post(f"/dashboard/test-clocks/{clock['id']}/delete")
    assert deleted.headers["location"] == "/dashboard/test-clocks"
    assert ok(await dash.client.get("/v1/test-clocks", headers=tenant.auth()))["items"] == []


async def test_read_only_sees_no_forms_and_is_refused(tenant: TenantKeys, dash_as: Any) -> None:
    viewer = await dash_as(tenant, "read_only")
    clock = await make_clock(viewer.client, tenant, "2025-01-15T10:00:00Z")
    listed = await viewer.get("/dashboard/test-clocks")
    assert 'data-testid="create-clock"' not in listed.text
    page = await viewer.get(f"/dashboard/test-clocks/{clock['id']}")
    assert 'data-testid="advance-form"' not in page.text
    assert "/delete" not in page.text
    assert (await viewer.post("/dashboard/test-clocks", {"frozenTime": "2025-01-01T00:00"})).status_code == 403
    assert (
        await viewer.post(f"/dashboard/test-clocks/{clock['id']}/advance", {"to": "2025-02-01T00:00"})
    ).status_code == 403
    assert (await viewer.post(f"/dashboard/test-clocks/{clock['id']}/delete")).status_code == 403
    owner = await dash_as(tenant, "owner")
    no_csrf = await owner.client.post(f"/dashboard/test-clocks/{clock['id']}/delete", data={})
    assert no_csrf.status_code == 403
    (still,) = ok(await viewer.client.get("/v1/test-clocks", headers=tenant.auth()))["items"]
    assert still["frozenTime"] == "2025-01-15T10:00:00.000Z"


async def test_live_mode_hides_test_clocks(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    clock = await make_clock(dash.client, tenant, "2025-01-15T10:00:00Z")
    live = await dash_as(tenant, "admin", mode="live")
    assert "Test clocks" not in (await live.get("/dashboard")).text
    for path in ("/dashboard/test-clocks", f"/dashboard/test-clocks/{clock['id']}"):
        away = await live.get(path)
        assert away.status_code == 303
        assert away.headers["location"] == "/dashboard"
        assert clock["id"] not in away.text
    refused = await live.post("/dashboard/test-clocks", {"frozenTime": "2025-01-01T00:00"})
    assert refused.status_code == 303
    assert "test mode only" in (await live.get("/dashboard")).text
    assert len(ok(await dash.client.get("/v1/test-clocks", headers=tenant.auth()))["items"]) == 1
