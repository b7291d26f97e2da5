"""The maintenance loop's daily metrics snapshot: taken once a day, from 00:05 UTC (01 §12, 04 §7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from duro.config import Settings
from duro.db.engine import Database
from duro.kit.clock import FrozenClock
from duro.runtime import Runtime
from duro.workers.maintenance import snapshot_if_due
from tests.conftest import TenantKeys


async def _days(db: Database, tenant_id: str) -> list[tuple[str, int]]:
    async with db.core_transaction() as conn:
        rows = await conn.execute(
            text(
                "SELECT day::text, active_subscriptions FROM sandbox.metrics_snapshots WHERE tenant_id = :t "
                "UNION ALL SELECT day::text, active_subscriptions FROM live.metrics_snapshots WHERE tenant_id = :t "
                "ORDER BY 1"
            ),
            {"t": tenant_id},
        )
        return [(r[0], r[1]) for r in rows]


async def test_one_snapshot_per_day_from_five_past_midnight(
    db: Database, settings: Settings, tenant: TenantKeys
) -> None:
    clock = FrozenClock(datetime(2025, 3, 1, 0, 4, tzinfo=UTC))
    runtime = Runtime(settings, db, clock=clock)
    try:
        assert await snapshot_if_due(runtime) == 0  # 00:04: not yet
        assert await _days(db, tenant.id) == []
        clock.advance(timedelta(minutes=1))
        assert await snapshot_if_due(runtime) > 0  # 00:05: today's rows, both modes
        assert await _days(db, tenant.id) == [("2025-03-01", 0), ("2025-03-01", 0)]
        clock.advance(timedelta(minutes=5))
        assert await snapshot_if_due(runtime) == 0  # already taken today
        clock.advance(timedelta(days=1))
        assert await snapshot_if_due(runtime) > 0
        assert [d for d, _ in await _days(db, tenant.id)] == ["2025-03-01"] * 2 + ["2025-03-02"] * 2
    finally:
        await runtime.close()
