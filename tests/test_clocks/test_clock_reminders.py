"""Advancing a test clock queues renewal reminders at their instant, in clock time (03 §12, 04 §8)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from duro.db.engine import Database
from tests.http_assertions import ok
from tests.recovery.scenario import GOOD, advance, trial_ending


async def _reminders(db: Database, tenant: Any) -> list[tuple[str, str]]:
    async with db.core_transaction() as conn:
        rows = await conn.execute(
            text(
                "SELECT dedup_key, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') "
                "FROM sandbox.notifications WHERE tenant_id = :t AND template_key = 'renewal_reminder' "
                "ORDER BY created_at"
            ),
            {"t": tenant.id},
        )
        return [(r[0], r[1]) for r in rows]


async def test_each_period_gets_one_reminder_three_days_ahead(client: Any, tenant: Any, db: Database) -> None:
    s = await trial_ending(client, tenant, start="2025-03-01T00:00:00Z", trial_days=0, card=GOOD)
    assert s.sub["status"] == "active"
    await advance(client, tenant, s, "2025-04-30T00:00:00Z")
    sub = s.sub["id"]
    assert await _reminders(db, tenant) == [
        (f"reminder_{sub}_2025-04-01T00:00:00.000Z", "2025-03-29 00:00"),
        (f"reminder_{sub}_2025-05-01T00:00:00.000Z", "2025-04-28 00:00"),
    ]
    after = ok(await client.get(f"/v1/subscriptions/{sub}", headers=tenant.auth()))
    assert after["currentPeriodEnd"] == "2025-05-01T00:00:00.000Z"
