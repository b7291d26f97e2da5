"""One delivery attempt end to end (05 §5): read and sign, POST with no transaction open, record."""

from __future__ import annotations

from duro.db.engine import Mode
from duro.db.repository import DbRow
from duro.runtime import Runtime
from duro.subscriptions.runner import worker_context
from duro.webhooks.delivery import Trigger, fail_unsendable, prepare, record_attempt, send


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
