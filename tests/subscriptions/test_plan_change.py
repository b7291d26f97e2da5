"""Plan changes and proration (03 §8): the spec's worked examples A–F through the API, on test clocks."""

from __future__ import annotations

from typing import Any

import pytest

from tests.http_assertions import err, ok
from tests.subscriptions.helpers import DECLINE_NSF, add_card, customer, event_types, plan, subscribe


async def setup(
    client: Any, tenant: Any, start: str, old_amount: int, new_amount: int, **plan_over: Any
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    clk = ok(await client.post("/v1/test-clocks", json={"frozenTime": start}, headers=tenant.auth()), 201)
    old = await plan(client, tenant, name="Old", amount=old_amount, **plan_over)
    new = await plan(client, tenant, name="New", amount=new_amount, **plan_over)
    cus = await customer(client, tenant)
    sub = ok(await subscribe(client, tenant, customerId=cus["id"], planId=old["id"], testClockId=clk["id"]), 201)
    return clk, old, new, sub


async def advance(client: Any, tenant: Any, clock_id: str, to: str) -> None:
    ok(await client.post(f"/v1/test-clocks/{clock_id}/advance", json={"to": to}, headers=tenant.auth()))


async def change(client: Any, tenant: Any, sub_id: str, **body: Any) -> Any:
    return await client.post(f"/v1/subscriptions/{sub_id}/change-plan", json=body, headers=tenant.auth())


async def preview(client: Any, tenant: Any, sub_id: str, **body: Any) -> dict[str, Any]:
    r = await client.post(f"/v1/subscriptions/{sub_id}/change-plan/preview", json=body, headers=tenant.auth())
    return ok(r)  # type: ignore[no-any-return]


async def latest_renewal(client: Any, tenant: Any, sub_id: str) -> dict[str, Any]:
    page = ok(await client.get(f"/v1/invoices?subscriptionId={sub_id}&kind=renewal", headers=tenant.auth()))
    return page["items"][0]  # type: ignore[no-any-return]


THIRTY_DAYS = {"interval": "day", "intervalCount": 30}


async def test_example_a_upgrade_charged_now(client: Any, tenant: Any) -> None:
    clk, _, new, sub = await setup(client, tenant, "2025-01-01T00:00:00Z", 500000, 1000000, **THIRTY_DAYS)
    assert sub["currentPeriodEnd"] == "2025-01-31T00:00:00.000Z"
    await advance(client, tenant, clk["id"], "2025-01-16T00:00:00Z")
    quote = await preview(client, tenant, sub["id"], planId=new["id"])
    assert quote["proration"] == {
        "amount": 250000, "kind": "charge", "behavior": "prorate_now",
        "periodSeconds": 2592000, "remainingSeconds": 1296000,
    }  # fmt: skip
    assert quote["amountDueNow"] == 250000
    result = ok(await change(client, tenant, sub["id"], planId=new["id"]))
    assert result["proration"] == {"amount": 250000, "kind": "charge", "behavior": "prorate_now"}
    assert result["subscription"]["planId"] == new["id"]
    assert result["invoice"]["kind"] == "proration"
    assert result["invoice"]["status"] == "paid"
    assert result["invoice"]["amount"] == quote["amountDueNow"]
    assert result["subscription"]["balance"] == quote["balanceAfter"]
    assert result["subscription"]["pendingCharge"] == quote["pendingChargeAfter"]
    assert (await event_types(client, tenant))[-4:] == [
        "subscription_plan_changed", "invoice_created", "invoice_paid", "subscription_payment_success",
    ]  # fmt: skip


async def test_example_b_downgrade_credits_the_next_renewal(client: Any, tenant: Any) -> None:
    clk, _, new, sub = await setup(client, tenant, "2025-01-01T00:00:00Z", 1000000, 500000, **THIRTY_DAYS)
    await advance(client, tenant, clk["id"], "2025-01-16T00:00:00Z")
    result = ok(await change(client, tenant, sub["id"], planId=new["id"]))
    assert result["proration"] == {"amount": 250000, "kind": "credit", "behavior": "prorate_now"}
    assert result["invoice"] is None
    assert result["subscription"]["balance"] == 250000
    await advance(client, tenant, clk["id"], "2025-02-01T00:00:00Z")
    renewal = await latest_renewal(client, tenant, sub["id"])
    assert (renewal["subtotal"], renewal["creditApplied"], renewal["amount"]) == (500000, 250000, 250000)
    after = ok(await client.get(f"/v1/subscriptions/{sub['id']}", headers=tenant.auth()))
    assert after["balance"] == 0


@pytest.mark.parametrize(
    ("old", "new", "behavior", "pending", "balance", "renewal_amount"),
    [
        (300000, 500000, "prorate_next_invoice", 125893, 0, 625893),  # C
        (500000, 300000, "prorate_next_invoice", 0, 125893, 174107),  # D
        (500000, 300000, "prorate_now", 0, 125893, 174107),  # D, any prorating behaviour
        (300000, 500000, "none", 0, 0, 500000),  # F
    ],
)
async def test_examples_c_d_f(
    client: Any, tenant: Any, old: int, new: int, behavior: str, pending: int, balance: int, renewal_amount: int
) -> None:
    clk, _, new_plan, sub = await setup(client, tenant, "2025-02-01T00:00:00Z", old, new)
    await advance(client, tenant, clk["id"], "2025-02-11T09:00:00Z")
    quote = await preview(client, tenant, sub["id"], planId=new_plan["id"], prorationBehavior=behavior)
    result = ok(await change(client, tenant, sub["id"], planId=new_plan["id"], prorationBehavior=behavior))
    assert result["invoice"] is None
    assert (result["subscription"]["pendingCharge"], result["subscription"]["balance"]) == (pending, balance)
    assert (quote["pendingChargeAfter"], quote["balanceAfter"], quote["amountDueNow"]) == (pending, balance, 0)
    assert quote["nextInvoice"] == {"date": "2025-03-01T00:00:00.000Z", "amount": renewal_amount}
    await advance(client, tenant, clk["id"], "2025-03-01T00:00:00Z")
    assert (await latest_renewal(client, tenant, sub["id"]))["amount"] == renewal_amount


async def test_example_e_full_now_starts_a_new_period(client: Any, tenant: Any) -> None:
    clk, _, new, sub = await setup(client, tenant, "2025-02-01T00:00:00Z", 300000, 500000)
    await advance(client, tenant, clk["id"], "2025-02-11T09:00:00Z")
    quote = await preview(client, tenant, sub["id"], planId=new["id"], prorationBehavior="full_now")
    assert quote["amountDueNow"] == 500000
    assert quote["nextInvoice"]["date"] == "2025-03-11T09:00:00.000Z"
    result = ok(await change(client, tenant, sub["id"], planId=new["id"], prorationBehavior="full_now"))
    s = result["subscription"]
    assert (s["currentPeriodStart"], s["currentPeriodEnd"]) == ("2025-02-11T09:00:00.000Z", "2025-03-11T09:00:00.000Z")
    assert s["billingAnchor"] == "2025-02-11T09:00:00.000Z"
    assert s["cyclesCompleted"] == 2
    assert result["invoice"]["kind"] == "plan_reset"
    assert result["invoice"]["amount"] == 500000
    assert result["proration"] == {"amount": 500000, "kind": "charge", "behavior": "full_now"}


async def test_failed_upgrade_changes_nothing(client: Any, tenant: Any) -> None:
    clk, old, new, sub = await setup(client, tenant, "2025-01-01T00:00:00Z", 500000, 1000000, **THIRTY_DAYS)
    bad = await add_card(client, tenant, sub["customerId"], DECLINE_NSF)
    ok(
        await client.patch(
            f"/v1/customers/{sub['customerId']}", json={"defaultPaymentMethodId": bad["id"]}, headers=tenant.auth()
        )
    )
    await advance(client, tenant, clk["id"], "2025-01-16T00:00:00Z")
    e = err(await change(client, tenant, sub["id"], planId=new["id"]), 402, "payment_failed", "insufficient_funds")
    assert e["payment"]["failureCode"] == "insufficient_funds"
    assert e["payment"]["declineCode"] == "51"
    after = ok(await client.get(f"/v1/subscriptions/{sub['id']}", headers=tenant.auth()))
    assert after["planId"] == old["id"]
    assert (after["balance"], after["pendingCharge"]) == (0, 0)
    voided = ok(await client.get(f"/v1/invoices?subscriptionId={sub['id']}&kind=proration", headers=tenant.auth()))
    assert [i["status"] for i in voided["items"]] == ["void"]
    txn = ok(await client.get(f"/v1/transactions/{e['payment']['transactionId']}", headers=tenant.auth()))
    assert (txn["status"], txn["source"]) == ("failed", "plan_change")


async def test_trialing_and_scheduled_changes(client: Any, tenant: Any) -> None:
    clk = ok(
        await client.post("/v1/test-clocks", json={"frozenTime": "2025-01-01T00:00:00Z"}, headers=tenant.auth()), 201
    )
    old = await plan(client, tenant, name="Old", trialDays=5)
    new = await plan(client, tenant, name="New", amount=900000, interval="week")
    cus = await customer(client, tenant)
    sub = ok(await subscribe(client, tenant, customerId=cus["id"], planId=old["id"], testClockId=clk["id"]), 201)
    result = ok(await change(client, tenant, sub["id"], planId=new["id"], prorationBehavior="full_now"))
    assert result["proration"] == {"amount": 0, "kind": "none", "behavior": "full_now"}
    assert result["subscription"]["planId"] == new["id"]
    assert result["subscription"]["trialEnd"] == sub["trialEnd"]  # the trial end is unchanged
    back = ok(await change(client, tenant, sub["id"], planId=old["id"], effective="period_end"))
    assert back["subscription"]["scheduledPlanId"] == old["id"]
    assert back["subscription"]["planId"] == new["id"]
    await advance(client, tenant, clk["id"], "2025-01-07T00:00:00Z")  # trial ends on the 6th: renewal switches
    after = ok(await client.get(f"/v1/subscriptions/{sub['id']}", headers=tenant.auth()))
    assert after["planId"] == old["id"]
    assert after["scheduledPlanId"] is None
    renewal = await latest_renewal(client, tenant, sub["id"])
    assert renewal["amount"] == 500000


async def test_preconditions(client: Any, tenant: Any) -> None:
    _, old, new, sub = await setup(client, tenant, "2025-01-01T00:00:00Z", 500000, 1000000)
    invalid = err(await change(client, tenant, sub["id"], planId=old["id"]), 422, "validation_error", "same_plan")
    assert invalid["details"][0]["path"] == "planId"
    usd = await plan(client, tenant, name="USD", currency="USD")
    err(await change(client, tenant, sub["id"], planId=usd["id"]), 422, "validation_error", "currency_mismatch")
    ok(await client.patch(f"/v1/plans/{new['id']}", json={"active": False}, headers=tenant.auth()))
    err(await change(client, tenant, sub["id"], planId=new["id"]), 409, "conflict", "plan_inactive")
    r = await change(client, tenant, sub["id"], planId="plan_01JGFMA2P3K8W1N6Y4D9C0B7QX")
    assert err(r, 404, "not_found", "resource_missing")["details"][0]["path"] == "planId"
    r = await client.post(
        f"/v1/subscriptions/{sub['id']}/change-plan", json={"planId": new["id"]}, headers=tenant.auth("live")
    )
    err(r, 404, "not_found", "resource_missing")
    r = await client.post(
        f"/v1/subscriptions/{sub['id']}/change-plan",
        json={"planId": new["id"], "effective": "later"},
        headers=tenant.auth(),
    )
    assert err(r, 422, "validation_error")["details"][0]["path"] == "effective"
