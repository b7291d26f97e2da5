"""The dunning loop (01 §12, 04 §4–5): due retries, then escalations, over both modes.

Claims commit before any gateway call, so a claimed schedule is `in_flight` for every other worker; each attempt
then runs in its own two transactions around the gateway call (`recovery.runner`). Escalation candidates are read
without locks and re-checked under the unit's own locks, in the house order (subscription → invoice → schedule).
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select

from duro.db.engine import MODES, Mode
from duro.models.billing import dunning_schedules as d
from duro.models.settings import store_settings as ss
from duro.recovery.attempts import UNSCOPED, claim_due
from duro.recovery.runner import attempt_one, escalate_one
from duro.runtime import Runtime

log = logging.getLogger(__name__)


async def dunning_tick(runtime: Runtime, modes: tuple[Mode, ...] = MODES) -> int:
    done = 0
    for mode in modes:
        done += await _attempts(runtime, mode)
        done += await _escalations(runtime, mode)
    return done


async def _attempts(runtime: Runtime, mode: Mode) -> int:
    now = runtime.clock.now()
    async with runtime.db.transaction(mode) as conn:
        claimed = await claim_due(conn, now, runtime.settings.worker_batch)
    gate = asyncio.Semaphore(runtime.settings.worker_concurrency)

    async def run(tenant_id: str, schedule_id: str) -> str:
        async with gate:
            try:
                return await attempt_one(runtime, mode, tenant_id, schedule_id, now)
            except Exception:
                # The lease expires and maintenance returns the schedule (or finishes its pending charge).
                log.exception("dunning attempt for %s failed", schedule_id)
                return "error"

    outcomes = await asyncio.gather(*(run(r["tenant_id"], r["id"]) for r in claimed))
    return sum(1 for o in outcomes if o != "error")


async def _escalations(runtime: Runtime, mode: Mode) -> int:
    now = runtime.clock.now()
    async with runtime.db.reader(mode) as conn:
        rows = (
            await conn.execute(
                select(d.c.id, d.c.tenant_id)
                .where(
                    d.c.state.in_(("scheduled", "awaiting_customer")),
                    d.c.escalation_at <= now,
                    d.c.test_clock_id.is_(None),
                    # `keep` never ends dunning by time: leaving those out keeps them from filling every batch.
                    ~select(ss.c.tenant_id)
                    .where(ss.c.tenant_id == d.c.tenant_id, ss.c.dunning_escalation == "keep")
                    .exists(),
                )
                .order_by(d.c.escalation_at)
                .limit(runtime.settings.worker_batch)
                .prefix_with(UNSCOPED)
            )
        ).all()
    done = 0
    for row in rows:
        try:
            done += await escalate_one(runtime, mode, row["tenant_id"], row["id"], now)
        except Exception:
            log.exception("escalation of %s failed; it is retried on the next tick", row["id"])
    return done
