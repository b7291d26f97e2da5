"""The webhooks loop (05 §5, 01 §12): fan-out of undispatched events, then due deliveries, over both modes.

Many deliveries are in flight per worker (one connection pool per destination in the egress client), bounded per
endpoint so one slow merchant cannot take every slot: a slow endpoint holds at most `PER_ENDPOINT` of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Final

from duro.db.engine import MODES, Mode
from duro.runtime import Runtime
from duro.webhooks.delivery import claim_due
from duro.webhooks.fanout import fan_out
from duro.webhooks.runner import deliver_one

log = logging.getLogger(__name__)

PER_ENDPOINT: Final = 4
IN_FLIGHT: Final = 32
ROUNDS: Final = 20  # batches per mode and tick while the scans come back full


async def webhooks_tick(runtime: Runtime, modes: tuple[Mode, ...] = MODES) -> int:
    done = 0
    for mode in modes:
        done += await _fan_out(runtime, mode)
        done += await _deliver(runtime, mode)
    return done


async def _fan_out(runtime: Runtime, mode: Mode) -> int:
    batch = runtime.settings.worker_batch
    total = 0
    for _ in range(ROUNDS):
        async with runtime.db.transaction(mode) as conn:
            events, _created = await fan_out(conn, runtime.clock.now(), batch)
        total += events
        if events < batch:
            break
    return total


async def _deliver(runtime: Runtime, mode: Mode) -> int:
    batch = runtime.settings.worker_batch
    gate = asyncio.Semaphore(IN_FLIGHT)
    per_endpoint: defaultdict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(PER_ENDPOINT))

    async def one(tenant_id: str, endpoint_id: str, delivery_id: str, replay: bool) -> bool:
        async with per_endpoint[endpoint_id], gate:
            try:
                await deliver_one(runtime, mode, tenant_id, delivery_id, "replay" if replay else "automatic")
                return True
            except Exception:
                # The lease expires and the next tick tries again; the attempt was not recorded.
                log.exception("webhook delivery %s failed", delivery_id)
                return False

    total = 0
    for _ in range(ROUNDS):
        async with runtime.db.transaction(mode) as conn:
            claimed = list((await conn.execute(claim_due(runtime.clock.now(), batch))).all())
        results = await asyncio.gather(
            *(one(r["tenant_id"], r["endpoint_id"], r["id"], r["replay_queued"]) for r in claimed)
        )
        total += sum(results)
        if len(claimed) < batch:
            break
    return total
