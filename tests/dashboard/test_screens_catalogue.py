"""Catalogue screens (07 §3, §6): plans, promo codes and payment links through the same services as /v1."""

from __future__ import annotations

from typing import Any

from tests.conftest import TenantKeys


async def api(dash: Any, tenant: TenantKeys, method: str, path: str, body: Any = None, mode: str = "test") -> Any:
    response = await dash.client.request(method, path, json=body, headers=tenant.auth(mode))
    assert response.status_code < 300, response.text
    return response.json()


async def make_plan(dash: Any, tenant: TenantKeys, name: str = "Pro", **extra: Any) -> dict[str, Any]:
    body = {"name": name, "amount": 500000, "interval": "month", **extra}
    plan: dict[str, Any] = await api(dash, tenant, "POST", "/v1/plans", body)
    return plan


# --- plans ---


async def test_plans_list_is_empty_then_shows_plans_with_subscriber_counts(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    empty = await dash.get("/dashboard/plans")
    assert empty.status_code == 200
    assert "No plans yet" in empty.text
    assert 'href="/dashboard/plans/new"' in empty.text
    plan = await make_plan(dash, tenant, "Gold")
    page = await dash.get("/dashboard/plans")
    assert plan["id"] in page.text
    assert "Gold" in page.text
    assert "NGN 5,000.00" in page.text
    assert 'data-testid="subscribers">0<' in page.text


async def test_plans_list_paginates_and_filters(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "read_only")
    owner = await dash_as(tenant, "owner")
    for i in range(21):
        await make_plan(owner, tenant, f"Plan {i:02d}")
    first = await dash.get("/dashboard/plans")
    assert first.text.count('<a href="/dashboard/plans/plan_') == 20
    assert "Plan 20" in first.text
    assert "Plan 00" not in first.text
    listing = await api(dash, tenant, "GET", "/v1/plans")
    nxt = await dash.get(f"/dashboard/plans?cursor={listing['nextCursor']}")
    assert nxt.status_code == 200
    assert "Plan 00" in nxt.text
    assert "Plan 20" not in nxt.text
    archived = await dash.get("/dashboard/plans?active=false")
    assert "No plans match this filter." in archived.text
    bad = await dash.get("/dashboard/plans?cursor=plan_nope")
    assert bad.status_code == 400


async def test_create_plan_in_major_units(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    form = await dash.get("/dashboard/plans/new")
    assert form.status_code == 200
    answer = await dash.post(
        "/dashboard/plans",
        {
            "name": "Team",
            "description": "For teams",
            "amount": "5,000.50",
            "currency": "ngn",
            "interval": "week",
            "intervalCount": "2",
            "trialDays": "7",
            "maxCycles": "",
            "metadata": "tier=team\nsource=dash",
        },
    )
    assert answer.status_code == 303, answer.text
    plans = (await api(dash, tenant, "GET", "/v1/plans"))["items"]
    assert len(plans) == 1
    plan = plans[0]
    assert answer.headers["location"] == f"/dashboard/plans/{plan['id']}"
    assert (plan["amount"], plan["currency"], plan["interval"], plan["intervalCount"]) == (500050, "NGN", "week", 2)
    assert plan["trialDays"] == 7
    assert plan["maxCycles"] is None
    assert plan["metadata"] == {"tier": "team", "source": "dash"}
    detail = await dash.get(answer.headers["location"])
    assert "Plan Team created." in detail.text


async def test_create_plan_validation_errors_are_inline_and_save_nothing(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    answer = await dash.post(
        "/dashboard/plans", {"name": "Bad", "amount": "100", "interval": "year", "intervalCount": "4"}
    )
    assert answer.status_code == 422
    assert 'data-field="intervalCount"' in answer.text
    assert "must be at most 3 for interval year" in answer.text
    assert 'value="Bad"' in answer.text  # the submitted values are kept
    money = await dash.post("/dashboard/plans", {"name": "Bad", "amount": "12.345", "interval": "month"})
    assert money.status_code == 422
    assert 'data-field="amount"' in money.text
    assert (await api(dash, tenant, "GET", "/v1/plans"))["items"] == []


async def test_edit_archive_and_unarchive_a_plan(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "admin")
    plan = await make_plan(dash, tenant, "Old name", description="old", metadata={"a": "1"})
    page = await dash.get(f"/dashboard/plans/{plan['id']}")
    assert page.status_code == 200
    assert "a=1" in page.text
    saved = await dash.post(
        f"/dashboard/plans/{plan['id']}", {"name": "New name", "description": "", "trialDays": "14", "metadata": ""}
    )
    assert saved.status_code == 303
    after = await api(dash, tenant, "GET", f"/v1/plans/{plan['id']}")
    assert (after["name"], after["description"], after["trialDays"], after["metadata"]) == ("New name", None, 14, {})
    bad = await dash.post(f"/dashboard/plans/{plan['id']}", {"name": "", "trialDays": "900"})
    assert bad.status_code == 422
    assert 'data-field="trialDays"' in bad.text
    assert 'data-field="name"' in bad.text
    assert (await api(dash, tenant, "GET", f"/v1/plans/{plan['id']}"))["name"] == "New name"
    archived = await dash.post(f"/dashboard/plans/{plan['id']}/archive")
    assert archived.status_code == 303
    assert (await api(dash, tenant, "GET", f"/v1/plans/{plan['id']}"))["active"] is False
    page = await dash.get(f"/dashboard/plans/{plan['id']}")
    assert "Plan archived" in page.text
    assert f"/dashboard/plans/{plan['id']}/unarchive" in page.text
    await dash.post(f"/dashboard/plans/{plan['id']}/unarchive")
    assert (await api(dash, tenant, "GET", f"/v1/plans/{plan['id']}"))["active"] is True


async def test_plan_detail_of_an_unknown_plan_is_404(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    assert (await dash.get("/dashboard/plans/plan_missing")).status_code == 404


async def test_read_only_cannot_write_plans_and_sees_no_buttons(tenant: TenantKeys, dash_as: Any) -> None:
    owner = await dash_as(tenant, "owner")
    plan = await make_plan(owner, tenant)
    dash = await dash_as(tenant, "read_only")
    listing = await dash.get("/dashboard/plans")
    assert 'data-testid="new-plan"' not in listing.text
    detail = await dash.get(f"/dashboard/plans/{plan['id']}")
    assert "/archive" not in detail.text
    assert 'data-testid="plan-edit"' not in detail.text
    refused = await dash.post("/dashboard/plans", {"name": "X", "amount": "1", "interval": "month"})
    assert refused.status_code == 403
    assert (await dash.post(f"/dashboard/plans/{plan['id']}/archive")).status_code == 403
    assert (await dash.post(f"/dashboard/plans/{plan['id']}", {"name": "Hacked"})).status_code == 403
    after = await api(dash, tenant, "GET", f"/v1/plans/{plan['id']}")
    assert after["active"] is True
    assert after["name"] == "Pro"
    assert len((await api(dash, tenant, "GET", "/v1/plans"))["items"]) == 1


async def test_plan_writes_need_the_csrf_token(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    refused = await dash.client.post("/dashboard/plans", data={"name": "X", "amount": "1", "interval": "month"})
    assert refused.status_code == 403
    assert (await api(dash, tenant, "GET", "/v1/plans"))["items"] == []


async def test_live_mode_shows_no_test_plans(tenant: TenantKeys, dash_as: Any) -> None:
    test = await dash_as(tenant, "owner")
    plan = await make_plan(test, tenant, "Only in test")
    live = await dash_as(tenant, "admin")
    await live.switch("live")
    page = await live.get("/dashboard/plans")
    assert "Only in test" not in page.text
    assert "No plans yet" in page.text
    assert (await live.get(f"/dashboard/plans/{plan['id']}")).status_code == 404
    created = await live.post("/dashboard/plans", {"name": "Live plan", "amount": "10", "interval": "month"})
    assert created.status_code == 303
    assert "Live plan" not in (await test.get("/dashboard/plans")).text
    assert len((await api(live, tenant, "GET", "/v1/plans", mode="live"))["items"]) == 1
