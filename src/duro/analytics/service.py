"""Recovery summary and overview (04 §7). Each is one aggregate statement (`AnalyticsRepository`); this module
checks the input, turns the row into the response and raises the errors the statement's row calls for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from duro.analytics.repository import AnalyticsRepository
from duro.context import RepositoryContext
from duro.db.repository import storable
from duro.kit.errors import Detail, forbidden, not_found, validation
from duro.kit.jsonenc import format_ts

MAX_SPAN: Final = timedelta(days=366)


def _clock_allowed(ctx: RepositoryContext, test_clock_id: str | None) -> None:
    if test_clock_id is not None and ctx.mode != "test":
        raise forbidden("test_mode_only", "testClockId is available in test mode only")


def _no_such_clock() -> Exception:
    return not_found("No such test clock", path="testClockId")


def check_window(start: datetime, end: datetime) -> None:
    """`from` < `to`, at most 366 days apart (422 otherwise)."""
    if end <= start:
        raise validation("to: must be after from", [Detail("to", "must be after from")])
    if end - start > MAX_SPAN:
        raise validation("to: the window spans at most 366 days", [Detail("to", "must be at most 366 days after from")])


def _rate(value: Decimal | None) -> float | None:
    # NUMERIC(12,4) already rounded half-up in SQL; a float of a 4-decimal value prints as that value.
    return None if value is None else float(value)


async def failure_summary(
    ctx: RepositoryContext,
    *,
    start: datetime | None,
    end: datetime | None,
    currency: str | None,
    test_clock_id: str | None,
) -> dict[str, Any]:
    """`recovery_summary` for one currency (default: the tenant's) over `[from, to)`.

    `to` defaults to now (the clock's frozen time with `testClockId`), `from` to `to` − 30 days.
    """
    _clock_allowed(ctx, test_clock_id)
    start = start.astimezone(UTC) if start is not None else None
    end = end.astimezone(UTC) if end is not None else None
    if start is not None and end is not None:
        check_window(start, end)  # before the query when both are given; defaults are checked on its answer
    if test_clock_id is not None and not storable(test_clock_id):
        raise _no_such_clock()
    row = await ctx.repo(AnalyticsRepository).failures(
        now=ctx.clock.now(), test_clock_id=test_clock_id, start=start, end=end, currency=currency
    )
    if not row["clock_found"]:
        raise _no_such_clock()
    check_window(row["from"], row["to"])
    return {
        "object": "recovery_summary",
        "currency": row["currency"],
        "from": format_ts(row["from"]),
        "to": format_ts(row["to"]),
        "inFlight": int(row["in_flight"]),
        "recovered": int(row["recovered"]),
        "exhausted": int(row["exhausted"]),
        "recoveryRate": _rate(row["recovery_rate"]),
        "openSchedules": row["open_schedules"],
        "recoveredCount": row["recovered_count"],
        "exhaustedCount": row["exhausted_count"],
        "byFailureCode": row["by_failure_code"],
    }


async def overview(ctx: RepositoryContext, *, test_clock_id: str | None) -> dict[str, Any]:
    """`analytics_overview` as of now (the clock's frozen time with `testClockId`)."""
    _clock_allowed(ctx, test_clock_id)
    if test_clock_id is not None and not storable(test_clock_id):
        raise _no_such_clock()
    row = await ctx.repo(AnalyticsRepository).overview(now=ctx.clock.now(), test_clock_id=test_clock_id)
    if not row["clock_found"]:
        raise _no_such_clock()
    return {
        "object": "analytics_overview",
        "asOf": format_ts(row["now"]),
        "mrr": row["mrr"],
        "activeSubscriptions": row["active"],
        "trialing": row["trialing"],
        "pastDue": row["past_due"],
        "paused": row["paused"],
        "unpaid": row["unpaid"],
        "churnRate30d": {
            "voluntary": _rate(row["churn_voluntary"]),
            "involuntary": _rate(row["churn_involuntary"]),
            "total": _rate(row["churn_total"]),
        },
        "newMrr30d": row["new_mrr"],
        "recoveredRevenue30d": row["recovered"],
        "atRiskRevenue": row["at_risk"],
    }
