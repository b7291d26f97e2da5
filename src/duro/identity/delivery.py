"""Sending the OTP message right after its challenge commits (06 §6 step 5).

The row is claimed exactly as the notifications loop claims rows (`sending`, 60 s lease, `attempts + 1`), then sent
and recorded with the loop's own send/record step, so the outcome rules are the loop's: `sent`/`captured`, or back
to `pending` with the loop's backoff on a transient failure (the loop sends it later), `failed` on a permanent one.
If another worker already claimed the row, nothing happens here.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import update

from duro.models.notifications import platform_notifications as pn
from duro.runtime import Runtime
from duro.workers.notifications import LEASE, UNSCOPED, Outbox, _outgoing, _send

log = logging.getLogger(__name__)

_CORE_OUTBOX = Outbox(pn, None)


async def send_platform_now(runtime: Runtime, notification_id: str) -> str | None:
    """Claim and send one pending `core.notifications` row; its final status, or None when it was not pending.
    Never raises: delivery problems never change the answer of the request that queued the message."""
    try:
        now = runtime.clock.now()
        stmt = (
            update(pn)
            .where(pn.c.id == notification_id, pn.c.status == "pending")
            .values(status="sending", lease_until=now + LEASE, attempts=pn.c.attempts + 1, updated_at=now)
            .returning(pn)
            .prefix_with(UNSCOPED)
        )
        async with runtime.db.core_transaction() as conn:
            row = (await conn.execute(stmt)).first()
        if row is None:
            return None
        return await _send(runtime, _CORE_OUTBOX, row, _outgoing(row, {}), asyncio.Semaphore(1))
    except Exception:
        log.exception("notification %s: immediate send failed; the notifications loop will retry", notification_id)
        return None
