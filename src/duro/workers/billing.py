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
from duro.models.billing import invoices as i
from duro.models.billing import subscriptions as s
from duro.runtime import Runtime
from duro.subscriptions.expiry import expire_incomplete
from duro.subscriptions.runner import renew_one, worker_context

log = logging.getLogger(__name__)

UNSCOPED = "/* unscoped: billing scanner */"


def _due(now: datetime, batch: int):  # type: ignore[no-untyped-def]
    # T1 points `latest_invoice_id` at the period's renewal invoice; until T2 (or crash recovery) advances the
    # period the subscription still looks due, but renewing it again could only find that invoice.
    invoiced = (
        select(i.c.id)
        .where(
            i.c.tenant_id == s.c.tenant_id,
            i.c.id == s.c.latest_invoice_id,
            i.c.kind == "renewal",
            i.c.period_start == s.c.current_period_end,
        )
        .exists()
    )
    return (
        select(s.c.id, s.c.tenant_id)
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


async def billing_tick(runtime: Runtime, modes: tuple[Mode, ...] = MODES) -> int:
    """One pass; returns how many units were processed (renewed, failed, canceled, expired, …)."""
    batch = runtime.settings.worker_batch
    gate = asyncio.Semaphore(runtime.settings.worker_concurrency)
    done = 0
    for mode in modes:
        now = runtime.clock.now()
        async with runtime.db.transaction(mode) as conn:
            due = list((await conn.execute(_due(now, batch))).all())
            stale = list((await conn.execute(_incomplete(now, batch))).all())
        random.shuffle(due)  # not a security use: only spreads concurrent workers over the batch

        async def renew(row: object, mode: Mode = mode, now: datetime = now) -> str:
            async with gate:
                try:
                    return await renew_one(runtime, mode, row["tenant_id"], row["id"], now)  # type: ignore[index]
                except Exception:
                    log.exception("renewal failed; it will be retried on the next tick")
                    return "error"

        outcomes = await asyncio.gather(*(renew(r) for r in due))
        done += sum(1 for o in outcomes if o not in ("not_due", "error", "already_invoiced"))
        for row in stale:
            async with runtime.db.transaction(mode) as conn:
                if await expire_incomplete(worker_context(runtime, conn, row["tenant_id"], mode), row["id"], now):
                    done += 1
    return done
