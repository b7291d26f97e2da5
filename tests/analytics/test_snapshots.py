"""Daily metrics snapshots: every tenant of both modes, the overview's formulas, rewritten on a re-run."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select, update

from duro.analytics.snapshots import read_snapshots, snapshot_metrics
from duro.config import Settings
from duro.context import Actor, RepositoryContext
from duro.db.engine import Database, Mode
from duro.kit.clock import FrozenClock
from duro.models.billing import subscriptions
from duro.models.settings import metrics_snapshots as ms
from duro.runtime import Runtime
from tests.analytics.conftest import NOW, T0
from tests.analytics.seed import Seed
from tests.conftest import TenantKeys

TODAY = NOW.date()
SYSTEM = Actor("system", None, "test")


async def _rows(db: Database, mode: Mode, tenant_id: str) -> list[Any]:
    async with db.reader(mode) as conn:
        stmt = select(ms).where(ms.c.tenant_id == tenant_id).order_by(ms.c.day)
        return list((await conn.execute(stmt)).all())


async def test_snapshot_every_tenant_both_modes(
    db: Database, settings: Settings, clock: FrozenClock, tenant: TenantKeys, make_tenant: Any, seed: Seed
) -> None:
    empty = await make_tenant("Empty Ltd")
    yearly, weekly = await seed.plan(1_200_000, interval="year"), await seed.plan(10_000, interval="week")
    monthly = await seed.plan(500_000)
    await seed.sub(yearly)
    await seed.sub(weekly)
    past_due = await seed.sub(monthly, "past_due")
    await seed.sub(monthly, "trialing", activated=None)
    await seed.sub(monthly, "paused")
    await seed.sub(monthly, "unpaid", ended=T0, reason="dunning_unpaid")
    usd = await seed.plan(10_000, "USD")
    await seed.sub(usd, promo_id=await seed.promo("percentage", 15, "forever"))
    await seed.sub(usd, promo_id=await seed.promo("fixed", 2_500, "repeating", currency="USD", cycles=2), cycles_left=1)
    live = Seed(db, tenant.id, "live")
    await live.sub(await live.plan(3_000, "GHS", "quarter"))

    runtime = Runtime(settings, db, clock)
    assert await snapshot_metrics(runtime, TODAY) == 4  # 2 tenants × 2 modes

    [row] = await _rows(db, "test", tenant.id)
    assert row["day"] == TODAY
    assert row["mrr"] == {"NGN": 643_333, "USD": 16_000}
    counts = (row["active_subscriptions"], row["trialing"], row["past_due"], row["paused"], row["unpaid"])
    assert counts == (4, 1, 1, 1, 1)
    assert row["created_at"] == NOW
    [live_row] = await _rows(db, "live", tenant.id)
    assert (live_row["mrr"], live_row["active_subscriptions"]) == ({"GHS": 1_000}, 1)
    for mode in ("test", "live"):
        [zero] = await _rows(db, mode, empty.id)  # type: ignore[arg-type]
        assert (zero["mrr"], zero["active_subscriptions"], zero["unpaid"]) == ({}, 0, 0)

    # Re-running for the same day rewrites the row (ON CONFLICT), it does not add one.
    async with db.transaction("test") as conn:
        await conn.execute(
            update(subscriptions)
            .where(subscriptions.c.tenant_id == tenant.id, subscriptions.c.id == past_due)
            .values(status="active")
        )
    clock.advance(timedelta(minutes=5))
    assert await snapshot_metrics(runtime, TODAY) == 4
    [row] = await _rows(db, "test", tenant.id)
    assert row["mrr"] == {"NGN": 643_333, "USD": 16_000}
    assert (row["active_subscriptions"], row["past_due"]) == (5, 0)
    assert row["created_at"] == NOW + timedelta(minutes=5)

    # The next day is a new row.
    assert await snapshot_metrics(runtime, TODAY + timedelta(days=1)) == 4
    assert [r["day"] for r in await _rows(db, "test", tenant.id)] == [TODAY, TODAY + timedelta(days=1)]


async def test_read_snapshots(
    db: Database, settings: Settings, clock: FrozenClock, tenant: TenantKeys, make_tenant: Any, seed: Seed
) -> None:
    other = await make_tenant("Other Ltd")
    await seed.sub(await seed.plan(500_000))
    runtime = Runtime(settings, db, clock)
    for back in (40, 6, 1, 0):
        await snapshot_metrics(runtime, TODAY - timedelta(days=back))

    async with db.reader("test") as conn:
        ctx = RepositoryContext(conn, tenant.id, "test", clock, settings, SYSTEM)
        week = await read_snapshots(ctx, 7)
        assert await read_snapshots(ctx, 0) == []
        other_ctx = RepositoryContext(conn, other.id, "test", clock, settings, SYSTEM)
        others = await read_snapshots(other_ctx, 60)
    assert [s["day"] for s in week] == [(TODAY - timedelta(days=d)).isoformat() for d in (6, 1, 0)]
    assert week[-1] == {
        "day": TODAY.isoformat(),
        "mrr": {"NGN": 500_000},
        "activeSubscriptions": 1,
        "trialing": 0,
        "pastDue": 0,
        "paused": 0,
        "unpaid": 0,
    }
    assert len(others) == 4
    assert all(s["mrr"] == {} for s in others)
    assert date.fromisoformat(others[0]["day"]) == TODAY - timedelta(days=40)
