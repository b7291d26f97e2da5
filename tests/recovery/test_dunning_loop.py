"""The dunning loop on wall time (04 §4): two workers never charge one schedule twice, a worker that dies between
its steps leaves a state maintenance resolves without a second charge, and a canceled subscription stops quietly."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import text

from duro.db.engine import Database
from duro.recovery.attempts import Charge as AttemptCharge
from duro.recovery.attempts import begin_attempt, claim_due
from duro.subscriptions.runner import worker_context
from duro.workers.billing import billing_tick
from duro.workers.dunning import dunning_tick
from duro.workers.maintenance import redrive_pending, release_stale_leases
from tests.http_assertions import ok
from tests.recovery.scenario import PROCESSOR_ERROR, attach, new_customer
from tests.subscriptions.helpers import act, plan, subscribe


async def _rows(db: Database, sql: str, **params: Any) -> list[Any]:
    async with db.core_transaction() as conn:
        return list((await conn.execute(text(sql), params)).all())


async def past_due(client: Any, tenant: Any, db: Database, app: Any, n: int) -> list[str]:
    """`n` subscriptions whose renewal just failed on wall time: past_due, each schedule due at once (+0 h)."""
    p = await plan(client, tenant, trialDays=7)
    ids = []
    for _ in range(n):
        cus = await new_customer(client, tenant)
        await attach(client, tenant, cus["id"], PROCESSOR_ERROR, default=True)
        ids.append(ok(await subscribe(client, tenant, customerId=cus["id"], planId=p["id"]), 201)["id"])
    async with db.core_transaction() as conn:  # the trials ended a minute ago
        await conn.execute(
            text(
                "UPDATE sandbox.subscriptions SET current_period_end = now() - interval '1 minute', "
                "trial_end = now() - interval '1 minute' WHERE tenant_id = :t"
            ),
            {"t": tenant.id},
        )
    await billing_tick(app.state.runtime, ("test",))
    states = await _rows(db, "SELECT state FROM sandbox.dunning_schedules WHERE tenant_id = :t", t=tenant.id)
    assert [r[0] for r in states] == ["scheduled"] * n
    return ids


async def test_two_workers_never_charge_one_schedule_twice(client: Any, tenant: Any, db: Database, app: Any) -> None:
    n = 40
    await past_due(client, tenant, db, app, n)
    runtime = app.state.runtime
    done = await asyncio.gather(dunning_tick(runtime, ("test",)), dunning_tick(runtime, ("test",)))
    assert sum(done) == n
    per_schedule = await _rows(
        db,
        "SELECT d.id, d.state, d.attempts_made, count(t.id) FROM sandbox.dunning_schedules d "
        "JOIN sandbox.transactions t ON t.tenant_id = d.tenant_id AND t.invoice_id = d.invoice_id "
        "AND t.source = 'dunning' WHERE d.tenant_id = :t GROUP BY d.id",
        t=tenant.id,
    )
    assert len(per_schedule) == n
    assert {(r[1], r[2], r[3]) for r in per_schedule} == {("scheduled", 1, 1)}
    charges = await _rows(
        db,
        "SELECT count(*) FROM sandbox.sim_charges s JOIN sandbox.transactions t ON t.id = s.reference "
        "WHERE t.tenant_id = :t AND t.source = 'dunning'",
        t=tenant.id,
    )
    assert charges[0][0] == n
    # Nothing is due any more: the next retry is 24 h away (gap of the second offset).
    assert await dunning_tick(runtime, ("test",)) == 0


async def test_a_worker_killed_mid_charge_is_finished_without_a_second_charge(
    client: Any, tenant: Any, db: Database, app: Any
) -> None:
    await past_due(client, tenant, db, app, 2)
    runtime = app.state.runtime
    now = runtime.clock.now()
    async with db.transaction("test") as conn:
        claimed = await claim_due(conn, now, 10)
    assert len(claimed) == 2
    crashed, stranded = claimed[0]["id"], claimed[1]["id"]
    # Worker 1 dies after T1 (a pending transaction, the gateway maybe called); worker 2 dies right after its claim.
    async with db.transaction("test") as conn:
        step = await begin_attempt(worker_context(runtime, conn, tenant.id, "test"), crashed, now)
    assert isinstance(step, AttemptCharge)
    await runtime.gateway("test").charge(
        step.pending.method, step.pending.amount, step.pending.currency, step.pending.transaction_id, now, 2
    )
    assert await dunning_tick(runtime, ("test",)) == 0  # both are in flight: nobody else touches them

    assert await redrive_pending(runtime, "test", older_than=timedelta(0)) == 1
    assert await redrive_pending(runtime, "test", older_than=timedelta(0)) == 0
    async with db.core_transaction() as conn:  # worker 2's lease ran out
        await conn.execute(
            text(
                "UPDATE sandbox.dunning_schedules SET lease_until = now() - interval '1 second' "
                "WHERE tenant_id = :t AND id = :d"
            ),
            {"t": tenant.id, "d": stranded},
        )
    assert await release_stale_leases(runtime, "test") == 1
    assert await dunning_tick(runtime, ("test",)) == 1  # the stranded schedule runs its attempt now

    rows = await _rows(
        db,
        "SELECT d.id, d.state, d.attempts_made, "
        "(SELECT count(*) FROM sandbox.transactions t WHERE t.tenant_id = d.tenant_id "
        " AND t.invoice_id = d.invoice_id AND t.source = 'dunning'), "
        "(SELECT count(*) FROM sandbox.sim_charges s JOIN sandbox.transactions t ON t.id = s.reference "
        " WHERE t.tenant_id = d.tenant_id AND t.invoice_id = d.invoice_id AND t.source = 'dunning') "
        "FROM sandbox.dunning_schedules d WHERE d.tenant_id = :t ORDER BY d.id",
        t=tenant.id,
    )
    assert {r[0]: tuple(r[1:]) for r in rows} == {crashed: ("scheduled", 1, 1, 1), stranded: ("scheduled", 1, 1, 1)}


async def test_a_schedule_whose_subscription_was_canceled_stops_quietly(
    client: Any, tenant: Any, db: Database, app: Any
) -> None:
    (sub_id,) = await past_due(client, tenant, db, app, 1)
    runtime = app.state.runtime
    async with db.transaction("test") as conn:
        (claimed,) = await claim_due(conn, runtime.clock.now(), 10)
    ok(await act(client, tenant, sub_id, "cancel"))  # the merchant cancels while the retry is claimed
    async with db.transaction("test") as conn:
        outcome = await begin_attempt(
            worker_context(runtime, conn, tenant.id, "test"), claimed["id"], runtime.clock.now()
        )
    assert getattr(outcome, "outcome", None) == "not_in_flight"
    rows = await _rows(
        db,
        "SELECT state, (SELECT count(*) FROM sandbox.transactions t WHERE t.tenant_id = d.tenant_id "
        "AND t.source = 'dunning') FROM sandbox.dunning_schedules d WHERE d.tenant_id = :t",
        t=tenant.id,
    )
    assert [tuple(r) for r in rows] == [("canceled", 0)]
