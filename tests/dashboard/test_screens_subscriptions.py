"""Dashboard subscription screens (07 §3, §6): list with filters and pages, create, detail with timeline, the
actions of 03 §7 and the change-plan preview of 03 §8 — each checked against /v1."""

from __future__ import annotations

import re
from typing import Any

from duro.web.checkout.rendering import amount as money
from tests.http_assertions import ok
from tests.subscriptions.helpers import (
    DECLINE_NSF,
    add_card,
    advance_clock,
    customer,
    get_sub,
    make_clock,
    plan,
    subscribe,
)

BASE = "/dashboard/subscriptions"


async def active_sub(dash: Any, tenant: Any, **over: Any) -> dict[str, Any]:
    p = await plan(dash.client, tenant)
    c = await customer(dash.client, tenant)
    sub = ok(await subscribe(dash.client, tenant, customerId=c["id"], planId=p["id"], **over), 201)
    assert sub["status"] in ("active", "trialing")
    return sub  # type: ignore[no-any-return]


def row_of(html: str, behavior: str) -> str:
    found = re.search(rf'<tr data-behavior="{behavior}"[^>]*>(.*?)</tr>', html, re.S)
    assert found, f"no preview row for {behavior}"
    return found.group(1)


def flash_of(html: str) -> str:
    found = re.search(r'<div class="flash flash-(\w+)" role="status">([^<]*)</div>', html)
    assert found, "no flash message"
    return f"{found.group(1)}: {found.group(2)}"


# --- list, pages, create ---


async def test_list_shows_an_empty_state_then_subscriptions(tenant: Any, dash_as: Any) -> None:
    dash = await dash_as(tenant, "read_only")
    empty = await dash.get(BASE)
    assert empty.status_code == 200
    assert "No subscriptions yet" in empty.text
    assert "New subscription" not in empty.text  # read_only cannot create
    sub = await active_sub(dash, tenant)
    page = await dash.get(BASE)
    assert sub["id"] in page.text
    assert "Pro Monthly" in page.text


async def test_list_filters_by_status_plan_and_customer(tenant: Any, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    first = await active_sub(dash, tenant)
    second = await active_sub(dash, tenant)
    ok(await dash.client.post(f"/v1/subscriptions/{second['id']}/pause", json={}, headers=tenant.auth()))
    paused = await dash.get(f"{BASE}?status=paused")
    assert second["id"] in paused.text
    assert first["id"] not in paused.text
    by_plan = await dash.get(f"{BASE}?planId={first['planId']}")
    assert first["id"] in by_plan.text
    assert second["id"] not in by_plan.text
    by_customer = await dash.get(f"{BASE}?customerId={second['customerId']}")
    assert second["id"] in by_customer.text
    assert first["id"] not in by_customer.text
    none = await dash.get(f"{BASE}?status=canceled")
    assert "No subscription matches these filters." in none.text
    assert (await dash.get(f"{BASE}?status=bogus")).status_code == 200  # an unknown filter value is ignored


async def test_list_pages_by_twenty(tenant: Any, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    p = await plan(dash.client, tenant, trialDays=7)  # trials: no charge, quick to create
    c = await customer(dash.client, tenant, card=None)
    ids = [ok(await subscribe(dash.client, tenant, customerId=c["id"], planId=p["id"]), 201)["id"] for _ in range(21)]
    first = await dash.get(BASE)
    shown = set(re.findall(r'href="/dashboard/subscriptions/(sub_\w+)"', first.text))
    assert len(shown) == 20
    nxt = re.search(r'<a rel="next" href="([^"]+)"', first.text)
    assert nxt, "no next page link"
    second = await dash.get(nxt.group(1).replace("&amp;", "&"))
    rest = set(re.findall(r'href="/dashboard/subscriptions/(sub_\w+)"', second.text))
    assert shown | rest == set(ids)
    assert not shown & rest


async def test_new_form_prefills_customer_and_test_clock(tenant: Any, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    await plan(dash.client, tenant)
    page = await dash.get(f"{BASE}/new?customerId=cus_abc&testClockId=clk_xyz")
    assert page.status_code == 200
    assert 'name="customerId" type="text" value="cus_abc"' in page.text
    assert 'name="testClockId" type="text" value="clk_xyz"' in page.text
    assert "Pro Monthly" in page.text


async def test_create_charges_through_the_api_path(tenant: Any, dash_as: Any) -> None:
    dash = await dash_as(tenant, "admin")
    p = await plan(dash.client, tenant)
    c = await customer(dash.client, tenant)
    answer = await dash.post(BASE, {"customerId": c["id"], "planId": p["id"], "metadata": "crm=42"})
    assert answer.status_code == 303, answer.text
    sub_id = answer.headers["location"].rsplit("/", 1)[1]
    sub = await get_sub(dash.client, tenant, sub_id)
    assert (sub["status"], sub["customerId"], sub["metadata"]) == ("active", c["id"], {"crm": "42"})
    invoices = ok(await dash.client.get(f"/v1/invoices?subscriptionId={sub_id}", headers=tenant.auth()))
    assert invoices["items"][0]["status"] == "paid"
    detail = await dash.get(answer.headers["location"])
    assert "Subscription created (active)." in detail.text


async def test_create_with_a_declined_card_is_incomplete_and_says_so(tenant: Any, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    p = await plan(dash.client, tenant)
    c = await customer(dash.client, tenant, card=DECLINE_NSF)
    answer = await dash.post(BASE, {"customerId": c["id"], "planId": p["id"]})
    assert answer.status_code == 303
    sub = await get_sub(dash.client, tenant, answer.headers["location"].rsplit("/", 1)[1])
    assert sub["status"] == "incomplete"
    assert "error: Subscription created, but its first payment did not go through" in flash_of(
        (await dash.get(answer.headers["location"])).text
    )


async def test_create_errors_are_inline_and_nothing_is_created(tenant: Any, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    c = await customer(dash.client, tenant)
    missing = await dash.post(BASE, {"customerId": c["id"], "trialDays": "-3"})
    assert missing.status_code == 422
    assert 'data-field="planId"' in missing.text
    assert 'data-field="trialDays"' in missing.text
    assert f'value="{c["id"]}"' in missing.text  # the submitted values are kept
    unknown = await dash.post(BASE, {"customerId": c["id"], "planId": "pln_nope"})
    assert unknown.status_code == 422
    assert 'data-field="planId"' in unknown.text
    listed = ok(await dash.client.get("/v1/subscriptions", headers=tenant.auth()))
    assert listed["items"] == []


async def test_create_needs_subscription_write_and_csrf(tenant: Any, dash_as: Any) -> None:
    dev = await dash_as(tenant, "developer")
    p = await plan(dev.client, tenant)
    c = await customer(dev.client, tenant)
    reader = await dash_as(tenant, "read_only")
    assert (await reader.post(BASE, {"customerId": c["id"], "planId": p["id"]})).status_code == 403
    no_csrf = await dev.client.post(BASE, data={"customerId": c["id"], "planId": p["id"]})
    assert no_csrf.status_code == 403
    assert ok(await dev.client.get("/v1/subscriptions", headers=tenant.auth()))["items"] == []


# --- detail ---


async def test_detail_shows_period_method_invoices_and_timeline(tenant: Any, dash_as: Any) -> None:
    dash = await dash_as(tenant, "read_only")
    sub = await active_sub(dash, tenant)
    page = await dash.get(f"{BASE}/{sub['id']}")
    assert page.status_code == 200
    assert "Pro Monthly" in page.text
    assert "Visa" in page.text
    assert "4242" in page.text
    assert sub["latestInvoiceId"] in page.text
    timeline = re.search(r'data-testid="timeline">(.*?)</ol>', page.text, re.S)
    assert timeline
    for event in ("subscription_created", "invoice_paid", "subscription_payment_success", "subscription_activated"):
        assert event in timeline.group(1)
    assert 'data-testid="actions"' not in page.text  # read_only: no action buttons


async def test_detail_of_an_unknown_subscription_is_404(tenant: Any, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    answer = await dash.get(f"{BASE}/sub_doesnotexist")
    assert answer.status_code == 404
    assert "No such subscription" in answer.text


# --- actions ---


async def test_cancel_at_period_end_then_undo(tenant: Any, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    sub = await active_sub(dash, tenant)
    page = (await dash.get(f"{BASE}/{sub['id']}")).text
    assert 'data-confirm="Cancel this subscription?' in page  # destructive: confirmed
    answer = await dash.post(f"{BASE}/{sub['id']}/cancel", {"atPeriodEnd": "true", "reason": "too pricey"})
    assert answer.status_code == 303
    after = await get_sub(dash.client, tenant, sub["id"])
    assert (after["status"], after["cancelAtPeriodEnd"]) == ("active", True)
    page = (await dash.get(f"{BASE}/{sub['id']}")).text
    assert 'data-testid="cancel-at-period-end"' in page
    assert "Undo cancellation" in page
    assert (await dash.post(f"{BASE}/{sub['id']}/undo-cancel")).status_code == 303
    assert (await get_sub(dash.client, tenant, sub["id"]))["cancelAtPeriodEnd"] is False


async def test_cancel_now(tenant: Any, dash_as: Any) -> None:
    dash = await dash_as(tenant, "admin")
    sub = await active_sub(dash, tenant)
    answer = await dash.post(f"{BASE}/{sub['id']}/cancel", {"atPeriodEnd": "false"})
    assert answer.status_code == 303
    assert (await get_sub(dash.client, tenant, sub["id"]))["status"] == "canceled"
    page = (await dash.get(answer.headers["location"])).text
    assert "Subscription canceled." in page
    again = await dash.post(f"{BASE}/{sub['id']}/cancel", {"atPeriodEnd": "false"})
    assert flash_of((await dash.get(again.headers["location"])).text).startswith("error:")


async def test_pause_and_resume(tenant: Any, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    sub = await active_sub(dash, tenant)
    assert (await dash.post(f"{BASE}/{sub['id']}/pause")).status_code == 303
    assert (await get_sub(dash.client, tenant, sub["id"]))["status"] == "paused"
    page = (await dash.get(f"{BASE}/{sub['id']}")).text
    assert f'action="{BASE}/{sub["id"]}/resume"' in page
    assert f'action="{BASE}/{sub["id"]}/pause"' not in page
    assert (await dash.post(f"{BASE}/{sub['id']}/resume")).status_code == 303
    assert (await get_sub(dash.client, tenant, sub["id"]))["status"] == "active"


async def test_read_only_cannot_act(tenant: Any, dash_as: Any) -> None:
    owner = await dash_as(tenant, "owner")
    sub = await active_sub(owner, tenant)
    for member in (await dash_as(tenant, "read_only"),):
        assert (await member.post(f"{BASE}/{sub['id']}/cancel", {"atPeriodEnd": "false"})).status_code == 403
        assert (await member.post(f"{BASE}/{sub['id']}/pause")).status_code == 403
    assert (await owner.client.post(f"{BASE}/{sub['id']}/pause", data={})).status_code == 403  # no CSRF token
    assert (await get_sub(owner.client, tenant, sub["id"]))["status"] == "active"


# --- change plan ---


async def clocked_sub(dash: Any, tenant: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """An active 30-day subscription on a test clock, half-way through its period, and a dearer plan."""
    clk = await make_clock(dash.client, tenant, "2025-01-01T00:00:00Z")
    old = await plan(dash.client, tenant, name="Old", amount=500000, interval="day", intervalCount=30)
    new = await plan(dash.client, tenant, name="New", amount=1000000, interval="day", intervalCount=30)
    c = await customer(dash.client, tenant)
    sub = ok(await subscribe(dash.client, tenant, customerId=c["id"], planId=old["id"], testClockId=clk["id"]), 201)
    await advance_clock(dash.client, tenant, clk["id"], "2025-01-16T00:00:00Z")
    return sub, new


async def test_change_plan_preview_shows_the_api_numbers_for_each_behaviour(tenant: Any, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    sub, new = await clocked_sub(dash, tenant)
    blank = await dash.get(f"{BASE}/{sub['id']}/change-plan")
    assert blank.status_code == 200
    assert "New" in blank.text
    page = await dash.get(f"{BASE}/{sub['id']}/change-plan?planId={new['id']}&effective=now")
    assert page.status_code == 200
    for behavior in ("prorate_now", "prorate_next_invoice", "full_now", "none"):
        body = {"planId": new["id"], "prorationBehavior": behavior}
        url = f"/v1/subscriptions/{sub['id']}/change-plan/preview"
        api = ok(await dash.client.post(url, json=body, headers=tenant.auth()))
        row = row_of(page.text, behavior)
        for name in ("amountDueNow", "balanceAfter", "pendingChargeAfter"):
            assert f'data-field="{name}">{money(api[name], "NGN")}<' in row, (behavior, name)
        assert money(api["nextInvoice"]["amount"], "NGN") in row
        assert api["nextInvoice"]["date"] in row
    assert money(250000, "NGN") in row_of(page.text, "prorate_now")  # half of the 5,000 difference
    assert '<script src="/static/dashboard/subscriptions.js" defer>' in page.text  # re-previews on change
    assert (await dash.get("/static/dashboard/subscriptions.js")).status_code == 200


async def test_change_plan_confirm_charges_and_switches(tenant: Any, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    sub, new = await clocked_sub(dash, tenant)
    data = {"planId": new["id"], "prorationBehavior": "prorate_now", "effective": "now"}
    answer = await dash.post(f"{BASE}/{sub['id']}/change-plan", data)
    assert answer.status_code == 303
    assert (await get_sub(dash.client, tenant, sub["id"]))["planId"] == new["id"]
    proration = ok(
        await dash.client.get(f"/v1/invoices?subscriptionId={sub['id']}&kind=proration", headers=tenant.auth())
    )
    assert [(i["status"], i["amount"]) for i in proration["items"]] == [("paid", 250000)]


async def test_change_plan_decline_is_flashed_and_nothing_changes(tenant: Any, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    sub, new = await clocked_sub(dash, tenant)
    bad = await add_card(dash.client, tenant, sub["customerId"], DECLINE_NSF)
    patch = {"paymentMethodId": bad["id"]}
    ok(await dash.client.patch(f"/v1/subscriptions/{sub['id']}", json=patch, headers=tenant.auth()))
    data = {"planId": new["id"], "prorationBehavior": "prorate_now", "effective": "now"}
    answer = await dash.post(f"{BASE}/{sub['id']}/change-plan", data)
    assert answer.status_code == 303
    assert flash_of((await dash.get(answer.headers["location"])).text).startswith("error: Plan not changed:")
    assert (await get_sub(dash.client, tenant, sub["id"]))["planId"] == sub["planId"]
    txns = ok(
        await dash.client.get(f"/v1/transactions?subscriptionId={sub['id']}&status=failed", headers=tenant.auth())
    )
    assert [t["failureCode"] for t in txns["items"]] == ["insufficient_funds"]  # the failed attempt is kept


async def test_change_plan_errors_are_shown_on_the_preview_page(tenant: Any, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    sub = await active_sub(dash, tenant)
    same = await dash.post(f"{BASE}/{sub['id']}/change-plan", {"planId": sub["planId"]})
    assert same.status_code == 422
    assert "is already the subscription&#39;s plan" in same.text
    preview = await dash.get(f"{BASE}/{sub['id']}/change-plan?planId=pln_nope")
    assert preview.status_code == 200
    assert 'data-field="planId">no such object' in preview.text
    assert 'data-testid="previews"' not in preview.text


async def test_schedule_then_cancel_scheduled_change(tenant: Any, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    sub, new = await clocked_sub(dash, tenant)
    data = {"planId": new["id"], "prorationBehavior": "none", "effective": "period_end"}
    assert (await dash.post(f"{BASE}/{sub['id']}/change-plan", data)).status_code == 303
    assert (await get_sub(dash.client, tenant, sub["id"]))["scheduledPlanId"] == new["id"]
    page = (await dash.get(f"{BASE}/{sub['id']}")).text
    assert "To New" in page
    assert "Cancel scheduled change" in page
    assert (await dash.post(f"{BASE}/{sub['id']}/cancel-scheduled-change")).status_code == 303
    assert (await get_sub(dash.client, tenant, sub["id"]))["scheduledPlanId"] is None


async def test_read_only_cannot_change_plan(tenant: Any, dash_as: Any) -> None:
    owner = await dash_as(tenant, "owner")
    sub, new = await clocked_sub(owner, tenant)
    reader = await dash_as(tenant, "read_only")
    page = await reader.get(f"{BASE}/{sub['id']}/change-plan?planId={new['id']}")
    assert page.status_code == 200
    assert '<button type="submit">Change plan' not in page.text
    refused = await reader.post(f"{BASE}/{sub['id']}/change-plan", {"planId": new["id"]})
    assert refused.status_code == 403
    assert (await get_sub(owner.client, tenant, sub["id"]))["planId"] == sub["planId"]


# --- modes ---


async def test_live_mode_shows_no_test_subscriptions(tenant: Any, dash_as: Any) -> None:
    test_dash = await dash_as(tenant, "owner")
    sub = await active_sub(test_dash, tenant)
    live = await dash_as(tenant, "admin", mode="live")
    page = await live.get(BASE)
    assert sub["id"] not in page.text
    assert "No subscriptions yet" in page.text
    assert (await live.get(f"{BASE}/{sub['id']}")).status_code == 404
    assert (await live.post(f"{BASE}/{sub['id']}/pause")).status_code == 404
    assert 'name="testClockId"' not in (await live.get(f"{BASE}/new")).text
