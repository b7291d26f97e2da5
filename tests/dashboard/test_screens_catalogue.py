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
    assert "₦5,000.00" in page.text
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


# --- promo codes ---


async def make_promo(dash: Any, tenant: TenantKeys, code: str = "LAUNCH", **extra: Any) -> dict[str, Any]:
    body = {"code": code, "discountType": "percentage", "discountValue": 20, **extra}
    promo: dict[str, Any] = await api(dash, tenant, "POST", "/v1/promo-codes", body)
    return promo


async def test_promo_codes_list_empty_then_paginated_and_filtered(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    empty = await dash.get("/dashboard/promo-codes")
    assert empty.status_code == 200
    assert "No promo codes yet" in empty.text
    for i in range(21):
        await make_promo(dash, tenant, f"CODE{i:02d}")
    first = await dash.get("/dashboard/promo-codes")
    assert first.text.count('<a href="/dashboard/promo-codes/promo_') == 20
    assert "20% off" in first.text
    assert "CODE00" not in first.text
    listing = await api(dash, tenant, "GET", "/v1/promo-codes")
    nxt = await dash.get(f"/dashboard/promo-codes?cursor={listing['nextCursor']}")
    assert "CODE00" in nxt.text
    found = await dash.get("/dashboard/promo-codes?code=code05")
    assert "CODE05" in found.text
    assert "CODE06" not in found.text


async def test_create_promo_code_with_a_fixed_amount_in_major_units(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "developer")
    owner = await dash_as(tenant, "owner")
    plan = await make_plan(owner, tenant)
    form = await dash.get("/dashboard/promo-codes/new")
    assert form.status_code == 200
    assert plan["id"] in form.text
    answer = await dash.post(
        "/dashboard/promo-codes",
        {
            "code": "save500",
            "discountType": "fixed",
            "discountValue": "500.00",
            "currency": "NGN",
            "planId": plan["id"],
            "duration": "repeating",
            "durationCycles": "3",
            "maxRedemptions": "10",
            "expiresAt": "2030-01-01T12:00",
        },
    )
    assert answer.status_code == 303, answer.text
    promo = (await api(dash, tenant, "GET", "/v1/promo-codes"))["items"][0]
    assert answer.headers["location"] == f"/dashboard/promo-codes/{promo['id']}"
    assert promo["code"] == "SAVE500"
    assert (promo["discountValue"], promo["currency"], promo["planId"]) == (50000, "NGN", plan["id"])
    assert (promo["duration"], promo["durationCycles"], promo["maxRedemptions"]) == ("repeating", 3, 10)
    assert promo["expiresAt"] == "2030-01-01T12:00:00.000Z"


async def test_promo_code_errors_are_inline_and_save_nothing(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    too_much = await dash.post(
        "/dashboard/promo-codes", {"code": "HALF", "discountType": "percentage", "discountValue": "150"}
    )
    assert too_much.status_code == 422
    assert 'data-field="discountValue"' in too_much.text
    assert "a percentage must be 1-100" in too_much.text
    await make_promo(dash, tenant, "TAKEN")
    duplicate = await dash.post(
        "/dashboard/promo-codes", {"code": "taken", "discountType": "percentage", "discountValue": "10"}
    )
    assert duplicate.status_code == 422
    assert 'data-field="code"' in duplicate.text
    assert "Another promo code already uses this code" in duplicate.text
    assert len((await api(dash, tenant, "GET", "/v1/promo-codes"))["items"]) == 1


async def test_edit_promo_code_active_max_and_expiry(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    promo = await make_promo(dash, tenant, maxRedemptions=5)
    page = await dash.get(f"/dashboard/promo-codes/{promo['id']}")
    assert page.status_code == 200
    assert 'name="active" value="on" checked' in page.text
    saved = await dash.post(
        f"/dashboard/promo-codes/{promo['id']}", {"maxRedemptions": "", "expiresAt": "2031-06-30T08:30"}
    )
    assert saved.status_code == 303
    after = await api(dash, tenant, "GET", f"/v1/promo-codes/{promo['id']}")
    assert after["active"] is False  # the unticked box
    assert after["maxRedemptions"] is None
    assert after["expiresAt"] == "2031-06-30T08:30:00.000Z"
    bad = await dash.post(f"/dashboard/promo-codes/{promo['id']}", {"active": "on", "maxRedemptions": "0"})
    assert bad.status_code == 422
    assert 'data-field="maxRedemptions"' in bad.text
    assert (await api(dash, tenant, "GET", f"/v1/promo-codes/{promo['id']}"))["active"] is False


async def test_promo_code_writes_need_plan_write_and_csrf(tenant: TenantKeys, dash_as: Any) -> None:
    owner = await dash_as(tenant, "owner")
    promo = await make_promo(owner, tenant)
    dash = await dash_as(tenant, "read_only")
    assert 'data-testid="new-promo"' not in (await dash.get("/dashboard/promo-codes")).text
    assert 'data-testid="promo-edit"' not in (await dash.get(f"/dashboard/promo-codes/{promo['id']}")).text
    body = {"code": "NEWONE", "discountType": "percentage", "discountValue": "5"}
    assert (await dash.post("/dashboard/promo-codes", body)).status_code == 403
    assert (await dash.post(f"/dashboard/promo-codes/{promo['id']}", {})).status_code == 403
    assert (await owner.client.post("/dashboard/promo-codes", data=body)).status_code == 403
    items = (await api(owner, tenant, "GET", "/v1/promo-codes"))["items"]
    assert [p["code"] for p in items] == ["LAUNCH"]
    assert items[0]["active"] is True


# --- payment links ---


async def make_link(dash: Any, tenant: TenantKeys, plan_id: str, slug: str) -> dict[str, Any]:
    link: dict[str, Any] = await api(dash, tenant, "POST", "/v1/payment-links", {"planId": plan_id, "slug": slug})
    return link


async def test_payment_links_list_shows_url_and_copy_button_and_paginates(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    empty = await dash.get("/dashboard/payment-links")
    assert "No payment links yet" in empty.text
    plan = await make_plan(dash, tenant, "Linked plan")
    for i in range(21):
        await make_link(dash, tenant, plan["id"], f"link-{i:02d}")
    first = await dash.get("/dashboard/payment-links")
    assert first.text.count('<a href="/dashboard/payment-links/plink_') == 20
    assert f"/pay/{tenant.slug}/link-20?mode=test" in first.text
    assert "data-copy" in first.text
    assert "Linked plan" in first.text
    listing = await api(dash, tenant, "GET", "/v1/payment-links")
    nxt = await dash.get(f"/dashboard/payment-links?cursor={listing['nextCursor']}")
    assert "link-00" in nxt.text
    by_plan = await dash.get(f"/dashboard/payment-links?planId={plan['id']}&active=false")
    assert "No payment links match this filter." in by_plan.text


async def test_create_and_edit_a_payment_link(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    plan = await make_plan(dash, tenant)
    form = await dash.get(f"/dashboard/payment-links/new?planId={plan['id']}")
    assert form.status_code == 200
    answer = await dash.post("/dashboard/payment-links", {"planId": plan["id"], "slug": "pro-monthly", "active": "on"})
    assert answer.status_code == 303, answer.text
    link = (await api(dash, tenant, "GET", "/v1/payment-links"))["items"][0]
    assert (link["slug"], link["active"], link["planId"]) == ("pro-monthly", True, plan["id"])
    detail = await dash.get(answer.headers["location"])
    assert link["url"] in detail.text
    assert "Open pay page" in detail.text
    saved = await dash.post(f"/dashboard/payment-links/{link['id']}", {"slug": "pro-2"})
    assert saved.status_code == 303
    after = await api(dash, tenant, "GET", f"/v1/payment-links/{link['id']}")
    assert (after["slug"], after["active"]) == ("pro-2", False)


async def test_payment_link_errors_are_inline_and_save_nothing(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    plan = await make_plan(dash, tenant)
    link = await make_link(dash, tenant, plan["id"], "taken")
    bad_slug = await dash.post("/dashboard/payment-links", {"planId": plan["id"], "slug": "Not OK"})
    assert bad_slug.status_code == 422
    assert 'data-field="slug"' in bad_slug.text
    duplicate = await dash.post("/dashboard/payment-links", {"planId": plan["id"], "slug": "taken"})
    assert duplicate.status_code == 422
    assert "Another payment link already uses this slug" in duplicate.text
    await api(dash, tenant, "PATCH", f"/v1/plans/{plan['id']}", {"active": False})
    archived = await dash.post("/dashboard/payment-links", {"planId": plan["id"], "slug": "fresh"})
    assert archived.status_code == 422
    assert 'data-field="planId"' in archived.text
    other = await make_link(dash, tenant, (await make_plan(dash, tenant, "Other"))["id"], "other")
    clash = await dash.post(f"/dashboard/payment-links/{other['id']}", {"slug": "taken", "active": "on"})
    assert clash.status_code == 422
    assert 'data-field="slug"' in clash.text
    slugs = sorted(item["slug"] for item in (await api(dash, tenant, "GET", "/v1/payment-links"))["items"])
    assert slugs == ["other", "taken"]
    assert link["active"] is True


async def test_payment_link_writes_need_plan_write_and_csrf(tenant: TenantKeys, dash_as: Any) -> None:
    owner = await dash_as(tenant, "owner")
    plan = await make_plan(owner, tenant)
    link = await make_link(owner, tenant, plan["id"], "keep")
    dash = await dash_as(tenant, "read_only")
    assert 'data-testid="new-link"' not in (await dash.get("/dashboard/payment-links")).text
    assert 'data-testid="link-edit"' not in (await dash.get(f"/dashboard/payment-links/{link['id']}")).text
    body = {"planId": plan["id"], "slug": "nope", "active": "on"}
    assert (await dash.post("/dashboard/payment-links", body)).status_code == 403
    assert (await dash.post(f"/dashboard/payment-links/{link['id']}", {"slug": "changed"})).status_code == 403
    assert (await owner.client.post("/dashboard/payment-links", data=body)).status_code == 403
    items = (await api(owner, tenant, "GET", "/v1/payment-links"))["items"]
    assert [(i["slug"], i["active"]) for i in items] == [("keep", True)]


async def test_live_mode_shows_no_test_promo_codes_or_links(tenant: TenantKeys, dash_as: Any) -> None:
    owner = await dash_as(tenant, "owner")
    plan = await make_plan(owner, tenant)
    await make_promo(owner, tenant, "TESTONLY")
    link = await make_link(owner, tenant, plan["id"], "test-only")
    live = await dash_as(tenant, "admin")
    await live.switch("live")
    assert "TESTONLY" not in (await live.get("/dashboard/promo-codes")).text
    assert "test-only" not in (await live.get("/dashboard/payment-links")).text
    assert (await live.get(f"/dashboard/payment-links/{link['id']}")).status_code == 404
    assert plan["id"] not in (await live.get("/dashboard/payment-links/new")).text
