"""Daily metrics snapshots (04 §7): the dashboard's MRR chart reads `metrics_snapshots`, written once a day (the
maintenance loop, 00:05 UTC) with the overview's formulas for every tenant of both modes.

A snapshot is the state at the moment it is taken (MRR per currency and the counts by status), filed under `day`;
re-running it for the same day replaces that day's row. Like the overview without `testClockId`, it covers all of
the mode's data, test-clock subscriptions included.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Final

from sqlalchemy import Date, DateTime, Insert, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.sql.elements import BindParameter

from duro.analytics.formulas import (
    COUNTED_STATUSES,
    EMPTY_OBJECT,
    MRR_STATUSES,
    lit,
    money_map,
    one_of,
    status_count,
    subscription_figures,
)
from duro.analytics.repository import AnalyticsRepository
from duro.context import RepositoryContext
from duro.db.engine import MODES
from duro.models.core import tenants
from duro.models.settings import metrics_snapshots as ms
from duro.runtime import Runtime

UNSCOPED: Final = "/* unscoped: daily metrics snapshot of every tenant */"
_DAY: BindParameter[date] = bindparam("b_day", type_=Date())
_NOW: BindParameter[datetime] = bindparam("b_now", type_=DateTime(timezone=True))
_COUNT_COLUMNS: Final = {"active": "active_subscriptions", **{s: s for s in COUNTED_STATUSES if s != "active"}}


def _snapshot_statement() -> Insert:
    subs = subscription_figures().cte("subs")
    counts = (
        select(subs.c.tenant_id, *(status_count(subs.c.status, st).label(st) for st in COUNTED_STATUSES))
        .group_by(subs.c.tenant_id)
        .cte("counts")
    )
    by_currency = (
        select(
            subs.c.tenant_id,
            subs.c.currency,
            func.round(func.sum(subs.c.monthly).filter(one_of(subs.c.status, MRR_STATUSES))).label("mrr"),
        )
        .group_by(subs.c.tenant_id, subs.c.currency)
        .cte("mrr_by_currency")
    )
    mrr = (
        select(by_currency.c.tenant_id, money_map(by_currency.c.currency, by_currency.c.mrr).label("mrr"))
        .group_by(by_currency.c.tenant_id)
        .cte("mrr")
    )
    rows = select(
        tenants.c.id,
        _DAY,
        func.coalesce(mrr.c.mrr, EMPTY_OBJECT),
        *(func.coalesce(counts.c[st], lit(0)) for st in COUNTED_STATUSES),
        _NOW,
    ).select_from(
        tenants.outerjoin(counts, counts.c.tenant_id == tenants.c.id).outerjoin(mrr, mrr.c.tenant_id == tenants.c.id)
    )
    columns = ["tenant_id", "day", "mrr", *(_COUNT_COLUMNS[st] for st in COUNTED_STATUSES), "created_at"]
    stmt = pg_insert(ms).from_select(columns, rows)
    return stmt.on_conflict_do_update(
        index_elements=[ms.c.tenant_id, ms.c.day],
        set_={name: stmt.excluded[name] for name in columns if name not in ("tenant_id", "day")},
    ).prefix_with(UNSCOPED)


_SNAPSHOT: Final = _snapshot_statement()


async def snapshot_metrics(runtime: Runtime, day: date) -> int:
    """Write (or rewrite) `day`'s snapshot for every tenant in both modes: one set-based statement per mode, each
    in its own transaction. Returns the number of rows written."""
    written = 0
    for mode in MODES:
        async with runtime.db.transaction(mode) as conn:
            result = await conn.execute(_SNAPSHOT, {"b_day": day, "b_now": runtime.clock.now()})
            written += result.rowcount
    return written


def snapshot_json(row: Any) -> dict[str, Any]:
    return {
        "day": row["day"].isoformat(),
        "mrr": row["mrr"],
        "activeSubscriptions": row["active_subscriptions"],
        "trialing": row["trialing"],
        "pastDue": row["past_due"],
        "paused": row["paused"],
        "unpaid": row["unpaid"],
    }


async def read_snapshots(ctx: RepositoryContext, days: int) -> list[dict[str, Any]]:
    """The tenant's snapshots of the last `days` days (today, UTC, included), oldest first; missing days are
    simply absent."""
    if days < 1:
        return []
    since = ctx.clock.now().date() - timedelta(days=days - 1)
    return [snapshot_json(row) for row in await ctx.repo(AnalyticsRepository).snapshots_since(since)]
