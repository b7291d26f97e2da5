"""The billing loop: due renewals and expiring `incomplete` subscriptions, over both modes (03 §10).

Candidates are read with `FOR UPDATE SKIP LOCKED` (rows another worker is renewing right now are skipped), then
each unit runs on its own: `renew()` re-locks and re-checks, so a row picked by two workers renews once.

Two things keep concurrent workers from spending their time on each other's rows (correctness never depends on
them, `renew()` decides): the scan leaves out subscriptions whose current period is already invoiced (a renewal
between its two steps, or one whose charge awaits crash recovery — `renew()` would only find the invoice and stop),
and each worker works through its batch in its own random order, so two workers that read the same candidates do
not walk them in lockstep.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import datetime

from sqlalchemy import select

from duro.db.engine import MODES, Mode
from duro.db.repository import DbRow
from duro.gateway.protocol import ChargeOutcome
from duro.models.billing import subscriptions as s
from duro.runtime import Runtime
from duro.subscriptions.batch_renewal import (
    PERIOD_INVOICED,
    BatchCharge,
    Begun,
    begin_batch,
    charge_all,
    finish_batch,
)
from duro.subscriptions.expiry import expire_incomplete
from duro.subscriptions.renewal import finish_renewal
from duro.subscriptions.runner import renew_one, worker_context

log = logging.getLogger(__name__)

UNSCOPED = "/* unscoped: billing scanner */"


def _due(now: datetime, batch: int):  # type: ignore[no-untyped-def]
    # T1 points `latest_invoice_id` at the period's renewal invoice; until T2 (or crash recovery) advances the
    # period the subscription still looks due, but renewing it again could only find that invoice.
    invoiced = PERIOD_INVOICED
    return (
        select(s)  # whole rows: the batch's T1 works on them under this lock, without reading them again
        .where(
            s.c.status.in_(("active", "trialing")),
            s.c.current_period_end <= now,
            s.c.test_clock_id.is_(None),
            ~invoiced,
        )
        .order_by(s.c.current_period_end)
        .limit(batch)
        .with_for_update(of=s, skip_locked=True)
        .prefix_with(UNSCOPED)
    )


def _incomplete(now: datetime, batch: int):  # type: ignore[no-untyped-def]
    return (
        select(s.c.id, s.c.tenant_id)
        .where(s.c.status == "incomplete", s.c.incomplete_expires_at <= now, s.c.test_clock_id.is_(None))
        .limit(batch)
        .with_for_update(skip_locked=True)
        .prefix_with(UNSCOPED)
    )


# Lanes run the batched pipeline side by side within one tick, so one lane's scan and T1 overlap another's gateway
# call and T2; each lane goes round again (up to `ROUNDS`) while its scan comes back full.
LANES = 2
ROUNDS = 4


async def billing_tick(runtime: Runtime, modes: tuple[Mode, ...] = MODES) -> int:
    """One pass; returns how many units were processed (renewed, failed, canceled, expired, …).

    The common case is renewed in batches (`batch_renewal`): T1 runs in the scan's transaction, which already holds
    the rows' locks, so lanes and concurrent workers never work on the same rows. Everything else is renewed one at
    a time with `renew_one`."""
    gate = asyncio.Semaphore(runtime.settings.worker_concurrency)
    done = 0
    for mode in modes:
        done += sum(await asyncio.gather(*(_lane(runtime, mode, gate) for _ in range(LANES))))
        now = runtime.clock.now()
        async with runtime.db.transaction(mode) as conn:
            stale = list((await conn.execute(_incomplete(now, runtime.settings.worker_batch))).all())
        for row in stale:
            async with runtime.db.transaction(mode) as conn:
                if await expire_incomplete(worker_context(runtime, conn, row["tenant_id"], mode), row["id"], now):
                    done += 1
    return done


async def _lane(runtime: Runtime, mode: Mode, gate: asyncio.Semaphore) -> int:
    batch = runtime.settings.worker_batch
    done = 0
    for _ in range(ROUNDS):
        now = runtime.clock.now()
        begun: list[tuple[str, Begun]] = []
        single: list[tuple[str, str]] = []
        async with runtime.db.transaction(mode) as conn:
            due = list((await conn.execute(_due(now, batch))).all())
            by_tenant: dict[str, list[DbRow]] = {}
            for row in due:
                by_tenant.setdefault(row["tenant_id"], []).append(row)
            for tenant_id, rows in by_tenant.items():
                try:
                    async with conn.raw.transaction():  # a savepoint: a failed batch falls back to one at a time
                        step = await begin_batch(worker_context(runtime, conn, tenant_id, mode), rows, now)
                except Exception:
                    log.exception("batch renewal failed; renewing its subscriptions one at a time")
                    single.extend((tenant_id, row["id"]) for row in rows)
                    continue
                begun.append((tenant_id, step))
                single.extend((tenant_id, sub_id) for sub_id in step.leftover)
        done += await _finish_batches(runtime, mode, begun, now)
        random.shuffle(single)  # not a security use: only spreads concurrent workers over the batch

        async def renew(tenant_id: str, sub_id: str, now: datetime = now) -> str:
            async with gate:
                try:
                    return await renew_one(runtime, mode, tenant_id, sub_id, now)
                except Exception:
                    log.exception("renewal failed; it will be retried on the next tick")
                    return "error"

        outcomes = await asyncio.gather(*(renew(tenant_id, sub_id) for tenant_id, sub_id in single))
        done += sum(1 for o in outcomes if o not in ("not_due", "error", "already_invoiced"))
        if len(due) < batch:
            break
    return done


async def _finish_batches(runtime: Runtime, mode: Mode, begun: list[tuple[str, Begun]], now: datetime) -> int:
    """The gateway call for every charge T1 opened, then T2; a failed T2 falls back to one at a time (and what
    still fails is left pending for crash recovery)."""
    charges = [c for _, step in begun for c in step.charges]
    done = sum(step.finished for _, step in begun)
    if not charges:
        return done
    try:
        outcomes = await charge_all(runtime.gateway(mode), charges)
    except Exception:
        log.exception("gateway call failed; the pending charges are left to crash recovery")
        return done
    by_tenant: dict[str, tuple[list[BatchCharge], list[ChargeOutcome]]] = {}
    for charge, outcome in zip(charges, outcomes, strict=True):
        group = by_tenant.setdefault(charge.tenant_id, ([], []))
        group[0].append(charge)
        group[1].append(outcome)
    for tenant_id, (group_charges, group_outcomes) in by_tenant.items():
        try:
            async with runtime.db.transaction(mode) as conn:
                ctx = worker_context(runtime, conn, tenant_id, mode)
                counts = await finish_batch(ctx, group_charges, group_outcomes, now)
            done += counts["renewed"] + counts["failed"]
        except Exception:
            log.exception("batch T2 failed; finishing its renewals one at a time")
            for charge, outcome in zip(group_charges, group_outcomes, strict=True):
                try:
                    async with runtime.db.transaction(mode) as conn:
                        ctx = worker_context(runtime, conn, tenant_id, mode)
                        result = await finish_renewal(
                            ctx, charge.subscription_id, charge.pending.transaction_id, outcome, now
                        )
                    done += result in ("renewed", "failed")
                except Exception:
                    log.exception("renewal T2 failed; crash recovery will finish it")
    return done
