"""Retention purge (01 §10 `DURO_EVENT_RETENTION_DAYS`): events, webhook deliveries and attempts, and finished
notifications older than the retention period are deleted by the maintenance loop, a bounded batch per table and
tick so one tick never holds long locks. Pending notifications and deliveries are never purged by age alone, nor
are the messages of test-clock subscriptions, whose times are clock time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from sqlalchemy import delete, select

from duro.db.engine import Mode
from duro.models.billing import subscriptions
from duro.models.events import events
from duro.models.notifications import notifications
from duro.models.webhooks import webhook_attempts, webhook_deliveries
from duro.runtime import Runtime

BATCH: Final = 5000
UNSCOPED: Final = "/* unscoped: retention purge */"


def _purge(table: Any, *conditions: Any) -> Any:
    doomed = select(table.c.id).where(*conditions).limit(BATCH).scalar_subquery()
    return delete(table).where(table.c.id.in_(doomed)).prefix_with(UNSCOPED)


async def purge_retention(runtime: Runtime, mode: Mode) -> int:
    cutoff = runtime.clock.now() - timedelta(days=runtime.settings.event_retention_days)
    statements = [
        _purge(webhook_attempts, webhook_attempts.c.created_at < cutoff),
        _purge(
            webhook_deliveries,
            webhook_deliveries.c.created_at < cutoff,
            webhook_deliveries.c.status != "pending",
        ),
        _purge(events, events.c.created_at < cutoff, events.c.dispatched_at.is_not(None)),
        _purge(
            notifications,
            notifications.c.created_at < cutoff,
            notifications.c.status.not_in(("pending", "sending")),
            # Messages about test-clock subscriptions carry clock time (03 §12), often years back: age says nothing.
            ~select(subscriptions.c.id)
            .where(subscriptions.c.id == notifications.c.subscription_id, subscriptions.c.test_clock_id.is_not(None))
            .exists(),
        ),
    ]
    purged = 0
    for stmt in statements:
        async with runtime.db.transaction(mode) as conn:
            purged += (await conn.execute(stmt)).rowcount
    return purged
