"""Delivery attempts end to end (05 §5): read and sign, POST with no transaction open, record.

`deliver_one` is one attempt (replays from the inspector). The webhooks loop uses `record_many` to record the
attempts of many deliveries in one transaction (group commit): the 2xx ones with a few set-based statements, every
other outcome row by row through `record_attempt`, all after locking the endpoints and then the deliveries.
"""

from __future__ import annotations

import logging

from duro.db.engine import Mode
from duro.db.repository import DbRow
from duro.runtime import Runtime
from duro.subscriptions.runner import worker_context
from duro.webhooks.delivery import (
    Sent,
    Trigger,
    fail_unsendable,
    lock_for_recording,
    prepare,
    record_attempt,
    record_delivered,
    send,
)

log = logging.getLogger(__name__)


async def deliver_one(runtime: Runtime, mode: Mode, tenant_id: str, delivery_id: str, trigger: Trigger) -> DbRow | None:
    """Returns the attempt row, or None when nothing could be sent (the delivery is then failed, with why)."""
    now = runtime.clock.now()
    async with runtime.db.reader(mode) as conn:
        ctx = worker_context(runtime, conn, tenant_id, mode)
        prepared = await prepare(ctx, delivery_id, now)
    if isinstance(prepared, str):
        async with runtime.db.transaction(mode) as conn:
            await fail_unsendable(worker_context(runtime, conn, tenant_id, mode), delivery_id, prepared, now)
        return None
    headers, result = await send(ctx, prepared, now)
    async with runtime.db.transaction(mode) as conn:
        return await record_attempt(
            worker_context(runtime, conn, tenant_id, mode), prepared, headers, result, trigger, now
        )


async def record_many(runtime: Runtime, mode: Mode, sent: list[Sent]) -> int:
    """Record finished attempts; returns how many were recorded. One transaction for all of them: endpoints then
    deliveries locked (id order), the 2xx attempts written set-based, then each other outcome through
    `record_attempt` (retry schedule, Retry-After, 410, `failingSince` and the auto-disable re-check, on the rows
    locked above and so seeing the batch's own changes). Should the batch fail, each attempt is recorded in its own
    transaction, so one bad row cannot lose the others' outcomes."""
    if not sent:
        return 0
    try:
        async with runtime.db.transaction(mode) as conn:
            endpoints, counts = await lock_for_recording(conn, sent)
            ok = [s for s in sent if s.ok and s.prepared.delivery_id in counts]
            if ok:
                await record_delivered(conn, ok, endpoints, counts)
            for s in sent:
                if not (s.ok and s.prepared.delivery_id in counts):
                    ctx = worker_context(runtime, conn, s.tenant_id, mode)
                    await record_attempt(ctx, s.prepared, s.headers, s.result, s.trigger, s.started)
        return len(sent)
    except Exception:
        if len(sent) == 1:
            log.exception("recording webhook delivery %s failed", sent[0].prepared.delivery_id)
            return 0
        log.exception("recording %d webhook attempts at once failed; recording them one by one", len(sent))
    done = 0
    for s in sent:
        done += await record_many(runtime, mode, [s])
    return done
