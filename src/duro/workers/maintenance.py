"""The maintenance loop: re-drive charges left `pending` by a crash, return dunning schedules whose lease expired
before they opened a charge, purge expired idempotency rows (01 §12).

A pending transaction is finished by calling the gateway again with the same reference — the gateway returns the
outcome it recorded, so no second charge happens — and then running the second step of whatever opened it.
"""

from __future__ import annotations

import logging
from datetime import time, timedelta

from sqlalchemy import select

from duro.analytics.snapshots import snapshot_metrics
from duro.charges.service import PendingCharge
from duro.checkout.expiry import expire_sessions
from duro.checkout.pay import redrive as redrive_checkout
from duro.db.engine import MODES, Mode
from duro.gateway.protocol import ChargeMethod
from duro.idempotency.store import purge_expired
from duro.invoices.pay import finish_pay
from duro.invoices.refunds import redrive_pending_refunds
from duro.models.billing import transactions as t
from duro.models.payment_methods import payment_methods as pm
from duro.models.settings import metrics_snapshots as ms
from duro.recovery.attempts import finish_attempt, release_lease, schedule_of, stale_leases
from duro.runtime import Runtime
from duro.subscriptions.creation import finish_create
from duro.subscriptions.renewal import finish_renewal
from duro.subscriptions.runner import worker_context
from duro.workers.retention import purge_retention

log = logging.getLogger(__name__)

PENDING_AFTER = timedelta(minutes=2)
UNSCOPED = "/* unscoped: maintenance */"


async def redrive_pending(runtime: Runtime, mode: Mode, older_than: timedelta = PENDING_AFTER) -> int:
    now = runtime.clock.now()
    async with runtime.db.reader(mode) as conn:
        rows = (
            await conn.execute(
                select(t, pm.c.gateway_token)
                .join(pm, pm.c.id == t.c.payment_method_id)
                .where(t.c.status == "pending", t.c.created_at <= now - older_than)
                .order_by(t.c.created_at)
                .limit(runtime.settings.worker_batch)
                .prefix_with(UNSCOPED)
            )
        ).all()
    finished = 0
    for txn in rows:
        pending = PendingCharge(
            txn["id"],
            ChargeMethod(
                rail=txn["rail"], gateway_token=txn["gateway_token"], payment_method_id=txn["payment_method_id"]
            ),
            txn["amount"],
            txn["currency"],
            txn["created_at"],
            txn["attempt_number"],
        )
        outcome = await runtime.gateway(mode).charge(
            pending.method, pending.amount, pending.currency, pending.transaction_id, pending.at, pending.attempt_number
        )
        async with runtime.db.transaction(mode) as conn:
            ctx = worker_context(runtime, conn, txn["tenant_id"], mode)
            if txn["source"] == "subscription_create":
                await finish_create(ctx, txn["subscription_id"], txn["id"], outcome)
            elif txn["source"] == "renewal":
                await finish_renewal(ctx, txn["subscription_id"], txn["id"], outcome, txn["created_at"])
            elif txn["source"] in ("merchant_retry", "portal_retry"):
                await finish_pay(ctx, txn["id"], outcome)
            elif txn["source"] in ("checkout", "hosted_invoice"):
                await redrive_checkout(ctx, txn, outcome)
            elif txn["source"] == "dunning":
                schedule_id = await schedule_of(ctx, txn["invoice_id"])
                if schedule_id is None:
                    log.error("pending dunning transaction %s has no schedule", txn["id"])
                    continue
                await finish_attempt(ctx, schedule_id, txn["id"], outcome, txn["created_at"])
            else:
                log.warning("no crash recovery yet for a pending %s transaction %s", txn["source"], txn["id"])
                continue
        finished += 1
    return finished


async def release_stale_leases(runtime: Runtime, mode: Mode) -> int:
    """`in_flight` schedules past their lease with no pending charge go back to `scheduled` (04 §4)."""
    now = runtime.clock.now()
    async with runtime.db.reader(mode) as conn:
        rows = (await conn.execute(stale_leases(now, runtime.settings.worker_batch))).all()
    released = 0
    for row in rows:
        async with runtime.db.transaction(mode) as conn:
            released += await release_lease(worker_context(runtime, conn, row["tenant_id"], mode), row["id"], now)
    return released


SNAPSHOT_AT = time(0, 5)  # daily metrics snapshot, 00:05 UTC (01 §12)


async def snapshot_if_due(runtime: Runtime) -> int:
    """Write today's `metrics_snapshots` once, at the first maintenance tick from 00:05 UTC (the tick runs every
    5 minutes, so a day's snapshot is taken between 00:05 and about 00:10, or later after downtime)."""
    now = runtime.clock.now()
    if now.time() < SNAPSHOT_AT:
        return 0
    day = now.date()
    taken = select(ms.c.day).where(ms.c.day == day).limit(1).prefix_with("/* unscoped: snapshot exists? */")
    for mode in MODES:
        async with runtime.db.reader(mode) as conn:
            if (await conn.execute(taken)).first() is None:
                return await snapshot_metrics(runtime, day)
    return 0


async def maintenance_tick(runtime: Runtime) -> int:
    done = await snapshot_if_due(runtime)
    for mode in MODES:
        done += await redrive_pending(runtime, mode)
        done += await release_stale_leases(runtime, mode)
        done += await purge_retention(runtime, mode)
        done += await expire_sessions(runtime, mode)
        done += await redrive_pending_refunds(runtime, mode)
        async with runtime.db.transaction(mode) as conn:
            done += await purge_expired(conn, runtime.clock.now())
    return done
