"""Renewals (03 §10): test clocks drive them through the API; the billing loop and crash recovery run for real."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import text

from duro.db.engine import Database
from duro.kit.clock import SystemClock
from duro.subscriptions.renewal import Charge, begin_renewal
from duro.subscriptions.runner import worker_context
from duro.workers.billing import billing_tick
from duro.workers.maintenance import redrive_pending
from tests.http_assertions import err, ok
from tests.subscriptions.helpers import DECLINE_NSF, add_card, customer, event_types, plan, subscribe


async def clock(client: Any, tenant: Any, at: str) -> dict[str, Any]:
    return ok(await client.post("/v1/test-clocks", json={"frozenTime": at}, headers=tenant.auth()), 201)  # type: ignore[no-any-return]


async def advance(client: Any, tenant: Any, clock_id: str, to: str) -> dict[str, Any]:
    r = await client.post(f"/v1/test-clocks/{clock_id}/advance", json={"to": to}, headers=tenant.auth())
    return ok(r)  # type: ignore[no-any-return]


async def invoices_of(client: Any, tenant: Any, sub_id: str) -> list[dict[str, Any]]:
    page = ok(await client.get(f"/v1/invoices?subscriptionId={sub_id}&limit=100", headers=tenant.auth()))
    return list(reversed(page["items"]))


async def test_trial_then_three_paid_periods(client: Any, tenant: Any) -> None:
    c0 = await clock(client, tenant, "2025-03-03T10:00:00Z")
    p = await plan(client, tenant, trialDays=7)
    cus = await customer(client, tenant)
    sub = ok(await subscribe(client, tenant, customerId=cus["id"], planId=p["id"], testClockId=c0["id"]), 201)
    assert sub["status"] == "trialing"
    assert sub["trialEnd"] == "2025-03-10T10:00:00.000Z"
    for to in ("2025-04-03T10:00:00Z", "2025-05-03T10:00:00Z", "2025-06-03T10:00:00Z"):
        assert (await advance(client, tenant, c0["id"], to))["frozenTime"] == to.replace("Z", ".000Z")
    paid = await invoices_of(client, tenant, sub["id"])
    assert [(i["periodStart"], i["periodEnd"], i["status"], i["kind"]) for i in paid] == [
        ("2025-03-10T10:00:00.000Z", "2025-04-10T10:00:00.000Z", "paid", "renewal"),
        ("2025-04-10T10:00:00.000Z", "2025-05-10T10:00:00.000Z", "paid", "renewal"),
        ("2025-05-10T10:00:00.000Z", "2025-06-10T10:00:00.000Z", "paid", "renewal"),
    ]
    assert [i["createdAt"] for i in paid] == [
        "2025-03-10T10:00:00.000Z",
        "2025-04-10T10:00:00.000Z",
        "2025-05-10T10:00:00.000Z",
    ]  # clock time (03 §12)
    after = ok(await client.get(f"/v1/subscriptions/{sub['id']}", headers=tenant.auth()))
    assert after["status"] == "active"
    assert after["cyclesCompleted"] == 3
    assert after["currentPeriodEnd"] == "2025-06-10T10:00:00.000Z"
    assert after["activatedAt"] == "2025-03-10T10:00:00.000Z"
    types = await event_types(client, tenant)
    assert types.count("subscription_activated") == 1
    assert types.count("subscription_payment_success") == 3


async def test_month_end_anchor_never_drifts(client: Any, tenant: Any) -> None:
    c0 = await clock(client, tenant, "2025-01-31T09:00:00Z")
    p = await plan(client, tenant)
    cus = await customer(client, tenant)
    sub = ok(await subscribe(client, tenant, customerId=cus["id"], planId=p["id"], testClockId=c0["id"]), 201)
    assert sub["currentPeriodEnd"] == "2025-02-28T09:00:00.000Z"
    for to in ("2025-03-31T09:00:00Z", "2025-05-01T00:00:00Z"):
        await advance(client, tenant, c0["id"], to)
    ends = [i["periodEnd"] for i in await invoices_of(client, tenant, sub["id"])]
    assert ends == [
        "2025-02-28T09:00:00.000Z",
        "2025-03-31T09:00:00.000Z",
        "2025-04-30T09:00:00.000Z",
        "2025-05-31T09:00:00.000Z",
    ]


async def test_advance_rules(client: Any, tenant: Any) -> None:
    c0 = await clock(client, tenant, "2025-01-01T00:00:00Z")
    r = await client.post(
        f"/v1/test-clocks/{c0['id']}/advance", json={"to": "2024-12-31T00:00:00Z"}, headers=tenant.auth()
    )
    assert err(r, 422, "validation_error")["details"][0]["path"] == "to"
    r = await client.post(
        f"/v1/test-clocks/{c0['id']}/advance", json={"to": "2027-01-02T00:00:00Z"}, headers=tenant.auth()
    )
    e = err(r, 422, "validation_error", "advance_too_far")
    assert e["details"] == [{"path": "to", "issue": "must be at most 2027-01-01T00:00:00.000Z"}]
    p = await plan(client, tenant, interval="week")
    cus = await customer(client, tenant)
    ok(await subscribe(client, tenant, customerId=cus["id"], planId=p["id"], testClockId=c0["id"]), 201)
    r = await client.post(
        f"/v1/test-clocks/{c0['id']}/advance", json={"to": "2025-01-16T00:00:00Z"}, headers=tenant.auth()
    )
    assert err(r, 422, "validation_error", "advance_too_far")["details"][0]["issue"].endswith(
        "2025-01-15T00:00:00.000Z"
    )
    err(await client.delete(f"/v1/test-clocks/{c0['id']}", headers=tenant.auth()), 409, "conflict", "clock_in_use")
    r = await client.post("/v1/test-clocks", json={"frozenTime": "2025-01-01T00:00:00Z"}, headers=tenant.auth("live"))
    err(r, 403, "forbidden", "test_mode_only")
    err(await client.get("/v1/test-clocks", headers=tenant.auth("live")), 403, "forbidden", "test_mode_only")


async def test_failed_renewal_goes_past_due_with_a_schedule(client: Any, tenant: Any, db: Database) -> None:
    c0 = await clock(client, tenant, "2025-03-01T00:00:00Z")
    p = await plan(client, tenant, trialDays=3)
    cus = await customer(client, tenant, card=DECLINE_NSF)
    sub = ok(await subscribe(client, tenant, customerId=cus["id"], planId=p["id"], testClockId=c0["id"]), 201)
    await advance(client, tenant, c0["id"], "2025-03-05T00:00:00Z")
    after = ok(await client.get(f"/v1/subscriptions/{sub['id']}", headers=tenant.auth()))
    assert after["status"] == "past_due"
    assert after["currentPeriodEnd"] == "2025-03-04T00:00:00.000Z"  # the period does not advance
    (invoice,) = await invoices_of(client, tenant, sub["id"])
    assert invoice["status"] == "open"
    assert invoice["dunningScheduleId"] is not None
    async with db.core_transaction() as conn:
        state = (
            await conn.execute(
                text("SELECT state, started_at FROM sandbox.dunning_schedules WHERE tenant_id = :t AND id = :d"),
                {"t": tenant.id, "d": invoice["dunningScheduleId"]},
            )
        ).one()
    assert state[0] == "scheduled"  # insufficient funds on the 4th: back-off retries (04 §2, §3)
    types = await event_types(client, tenant)
    # The failed renewal, then the clock's two retries due by the 5th (+0 h, +24 h), each declined again.
    assert types[-5:] == [
        "invoice_created",
        "subscription_payment_failed",
        "subscription_past_due",
        "subscription_payment_failed",
        "subscription_payment_failed",
    ]


async def test_cancel_at_period_end_and_max_cycles(client: Any, tenant: Any, db: Database) -> None:
    c0 = await clock(client, tenant, "2025-03-01T00:00:00Z")
    limited = await plan(client, tenant, maxCycles=2, interval="week")
    cus = await customer(client, tenant)
    sub = ok(await subscribe(client, tenant, customerId=cus["id"], planId=limited["id"], testClockId=c0["id"]), 201)
    await advance(client, tenant, c0["id"], "2025-03-15T00:00:00Z")
    after = ok(await client.get(f"/v1/subscriptions/{sub['id']}", headers=tenant.auth()))
    assert (after["status"], after["endedReason"], after["cyclesCompleted"]) == ("expired", "max_cycles", 2)
    assert after["endedAt"] == "2025-03-15T00:00:00.000Z"

    c1 = await clock(client, tenant, "2025-03-01T00:00:00Z")
    weekly = await plan(client, tenant, interval="week")
    sub2 = ok(await subscribe(client, tenant, customerId=cus["id"], planId=weekly["id"], testClockId=c1["id"]), 201)
    async with db.core_transaction() as conn:  # the cancel endpoint lands separately; set the flag directly
        await conn.execute(
            text(
                "UPDATE sandbox.subscriptions SET cancel_at_period_end = true, cancel_requested_by = 'customer'"
                " WHERE tenant_id = :t AND id = :s"
            ),
            {"t": tenant.id, "s": sub2["id"]},
        )
    await advance(client, tenant, c1["id"], "2025-03-09T00:00:00Z")
    ended = ok(await client.get(f"/v1/subscriptions/{sub2['id']}", headers=tenant.auth()))
    assert (ended["status"], ended["endedReason"]) == ("canceled", "canceled_by_customer")
    assert len(await invoices_of(client, tenant, sub2["id"])) == 1  # only the creation invoice


async def _make_due(db: Database, tenant_id: str, sub_ids: list[str]) -> None:
    async with db.core_transaction() as conn:
        await conn.execute(
            text(
                "UPDATE sandbox.subscriptions SET current_period_end = now() - interval '1 second'"
                " WHERE tenant_id = :t AND id = ANY(:ids)"
            ),
            {"t": tenant_id, "ids": sub_ids},
        )


async def _count(db: Database, sql: str, tenant_id: str) -> int:
    async with db.core_transaction() as conn:
        return int((await conn.execute(text(sql), {"t": tenant_id})).scalar_one())


async def test_billing_loop_renews_each_period_once_under_concurrency(
    client: Any, tenant: Any, db: Database, app: Any
) -> None:
    p = await plan(client, tenant)
    ids = []
    for _ in range(40):
        cus = await customer(client, tenant)
        ids.append(ok(await subscribe(client, tenant, customerId=cus["id"], planId=p["id"]), 201)["id"])
    await _make_due(db, tenant.id, ids)
    runtime = app.state.runtime
    await asyncio.gather(*(billing_tick(runtime, ("test",)) for _ in range(4)))
    await asyncio.gather(*(billing_tick(runtime, ("test",)) for _ in range(2)))  # nothing left to do
    renewals = await _count(
        db, "SELECT count(*) FROM sandbox.invoices WHERE tenant_id = :t AND kind = 'renewal'", tenant.id
    )
    charges = await _count(
        db,
        "SELECT count(*) FROM sandbox.transactions"
        " WHERE tenant_id = :t AND source = 'renewal' AND status = 'succeeded'",
        tenant.id,
    )
    assert (renewals, charges) == (40, 40)
    cycles = await _count(db, "SELECT min(cycles_completed) FROM sandbox.subscriptions WHERE tenant_id = :t", tenant.id)
    assert cycles == 2


async def test_crash_between_charge_steps_is_recovered_once(
    client: Any, tenant: Any, db: Database, app: Any, settings: Any
) -> None:
    p = await plan(client, tenant)
    cus = await customer(client, tenant)
    sub = ok(await subscribe(client, tenant, customerId=cus["id"], planId=p["id"]), 201)
    await _make_due(db, tenant.id, [sub["id"]])
    runtime = app.state.runtime
    async with db.transaction("test") as conn:  # T1 commits, then the worker "dies" before the gateway call
        step = await begin_renewal(worker_context(runtime, conn, tenant.id, "test"), sub["id"], SystemClock().now())
    assert isinstance(step, Charge)
    assert await billing_tick(runtime, ("test",)) == 0  # the period is invoiced: no second invoice, no new charge
    assert await redrive_pending(runtime, "test", older_than=timedelta(0)) == 1
    assert await redrive_pending(runtime, "test", older_than=timedelta(0)) == 0
    after = ok(await client.get(f"/v1/subscriptions/{sub['id']}", headers=tenant.auth()))
    assert after["cyclesCompleted"] == 2
    assert await _count(db, "SELECT count(*) FROM sandbox.invoices WHERE tenant_id = :t", tenant.id) == 2
    succeeded = "SELECT count(*) FROM sandbox.transactions WHERE tenant_id = :t AND status = 'succeeded'"
    assert await _count(db, succeeded, tenant.id) == 2


async def test_method_falls_back_to_the_customer_default(client: Any, tenant: Any) -> None:
    c0 = await clock(client, tenant, "2025-03-01T00:00:00Z")
    p = await plan(client, tenant, interval="week")
    cus = await customer(client, tenant, card=DECLINE_NSF)
    good = await add_card(client, tenant, cus["id"], "5555555555554444", default=True)
    sub = ok(await subscribe(client, tenant, customerId=cus["id"], planId=p["id"], testClockId=c0["id"]), 201)
    assert sub["status"] == "active"
    await advance(client, tenant, c0["id"], "2025-03-09T00:00:00Z")
    (_, renewal) = await invoices_of(client, tenant, sub["id"])
    detail = ok(await client.get(f"/v1/invoices/{renewal['id']}", headers=tenant.auth()))
    assert detail["attempts"][0]["paymentMethodId"] == good["id"]


async def test_cancel_and_pause_wait_for_a_charge_in_flight(client: Any, tenant: Any, db: Database, app: Any) -> None:
    p = await plan(client, tenant)
    cus = await customer(client, tenant)
    sub = ok(await subscribe(client, tenant, customerId=cus["id"], planId=p["id"]), 201)
    await _make_due(db, tenant.id, [sub["id"]])
    runtime = app.state.runtime
    async with db.transaction("test") as conn:  # T1 done: the renewal charge is between its two steps
        step = await begin_renewal(worker_context(runtime, conn, tenant.id, "test"), sub["id"], SystemClock().now())
    assert isinstance(step, Charge)
    for action in ("cancel", "pause"):
        r = await client.post(f"/v1/subscriptions/{sub['id']}/{action}", json={}, headers=tenant.auth())
        e = err(r, 409, "conflict", "illegal_transition")
        assert e["details"] == [{"path": "status", "issue": f"active cannot {action} while a payment is in progress"}]
    assert await redrive_pending(runtime, "test", older_than=timedelta(0)) == 1
    canceled = ok(await client.post(f"/v1/subscriptions/{sub['id']}/cancel", json={}, headers=tenant.auth()))
    assert canceled["status"] == "canceled"
    assert canceled["cyclesCompleted"] == 2  # the renewal finished first, then the cancel applied


async def test_common_renewals_take_the_batch_path(
    client: Any, tenant: Any, db: Database, app: Any, monkeypatch: Any
) -> None:
    """The batch path must do the work itself: a silent fallback to one-at-a-time would hide its bugs."""
    import duro.workers.billing as billing

    p = await plan(client, tenant)
    ids = []
    for _ in range(12):
        cus = await customer(client, tenant)
        ids.append(ok(await subscribe(client, tenant, customerId=cus["id"], planId=p["id"]), 201)["id"])
    await _make_due(db, tenant.id, ids)
    fallbacks: list[str] = []

    async def no_fallback(*args: Any, **kwargs: Any) -> str:
        fallbacks.append(str(args[3]))
        raise AssertionError("the batch path fell back to renew_one")

    monkeypatch.setattr(billing, "renew_one", no_fallback)
    await billing_tick(app.state.runtime, ("test",))
    assert fallbacks == []
    renewed = await _count(
        db, "SELECT count(*) FROM sandbox.subscriptions WHERE tenant_id = :t AND cycles_completed = 2", tenant.id
    )
    assert renewed == 12
    paid = ok(await client.get("/v1/events?type=invoice_paid&limit=100", headers=tenant.auth()))["items"]
    assert len(paid) == 24  # 12 creations + 12 renewals
    success = ok(await client.get("/v1/events?type=subscription_payment_success&limit=100", headers=tenant.auth()))
    renewal_events = [e for e in success["items"] if e["data"]["object"]["kind"] == "renewal"]
    assert len(renewal_events) == 12
    first = renewal_events[0]["data"]
    assert set(first) == {"object", "transaction", "subscriptionId", "invoiceId", "amount", "currency"}
    assert first["transaction"]["status"] == "succeeded"
    assert first["object"]["status"] == "paid"


async def test_batch_invoice_created_event_matches_the_stored_invoice(
    client: Any, tenant: Any, db: Database, app: Any
) -> None:
    """The batch path renders `invoice_created` from the values it inserts instead of reading the row back; the
    event must still be the invoice as stored (only what payment changed may differ)."""
    p = await plan(client, tenant)
    ids = []
    for _ in range(3):
        cus = await customer(client, tenant)
        ids.append(ok(await subscribe(client, tenant, customerId=cus["id"], planId=p["id"]), 201)["id"])
    await _make_due(db, tenant.id, ids)
    await billing_tick(app.state.runtime, ("test",))
    created = ok(await client.get("/v1/events?type=invoice_created&limit=100", headers=tenant.auth()))["items"]
    renewals = [e["data"]["object"] for e in created if e["data"]["object"]["kind"] == "renewal"]
    assert sorted(r["subscriptionId"] for r in renewals) == sorted(ids)
    paid_on_payment = {"status", "amountPaid", "paidAt", "updatedAt"}
    for at_creation in renewals:
        stored = ok(await client.get(f"/v1/invoices/{at_creation['id']}", headers=tenant.auth()))
        assert at_creation["status"] == "open"
        assert stored["status"] == "paid"
        for key, value in at_creation.items():
            if key not in paid_on_payment:
                assert stored[key] == value, key
