"""Period arithmetic (03 §3): billing boundaries are derived from the subscription's anchor, never chained.

Every boundary is ``anchor + k·step``. Computing each one from the anchor (instead of adding a step to the
previous end) is what keeps month-end anchors from drifting: a 31st anchor gives Feb 28, then Mar 31, not Mar 28.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from typing import Final, Literal, get_args

Interval = Literal["hour", "day", "week", "month", "quarter", "biannual", "year"]

INTERVALS: Final[tuple[Interval, ...]] = get_args(Interval)

# Calendar months per unit for the month-based intervals; the others are fixed durations in UTC,
# where a day is always 24 hours (no DST), so they are plain timedelta multiples.
_MONTHS_PER_UNIT: Final[dict[str, int]] = {"month": 1, "quarter": 3, "biannual": 6, "year": 12}
_FIXED_UNIT: Final[dict[str, timedelta]] = {
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(days=7),
}


def as_utc(t: datetime, name: str = "datetime") -> datetime:
    """``t`` converted to UTC; naive datetimes are refused because their instant is unknown.

    Month arithmetic depends on the calendar date, so it must happen in UTC (03 §3) whatever offset the
    caller's value carries.
    """
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return t.astimezone(UTC)


def _check(interval: str, count: int) -> None:
    if interval not in _MONTHS_PER_UNIT and interval not in _FIXED_UNIT:
        raise ValueError(f"unknown interval {interval!r}")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError("interval count must be a positive integer")


def _month_index(t: datetime) -> int:
    # Months since year 0, so that month differences are a plain subtraction.
    return t.year * 12 + (t.month - 1)


def _add_months(anchor: datetime, months: int) -> datetime:
    year, month0 = divmod(_month_index(anchor) + months, 12)
    if not 1 <= year <= 9999:
        raise OverflowError("boundary outside the supported date range")
    day = min(anchor.day, calendar.monthrange(year, month0 + 1)[1])
    # replace() keeps the anchor's time of day (down to the microsecond) and its tzinfo (UTC).
    return anchor.replace(year=year, month=month0 + 1, day=day)


def boundary(anchor: datetime, interval: Interval, count: int, k: int) -> datetime:
    """The k-th boundary after ``anchor``: ``anchor + k·step`` where step is ``count`` units of ``interval``.

    ``k = 0`` is the anchor itself; negative ``k`` walks backwards with the same rules. For month-based
    intervals the year/month advance by ``k·months``, the day is ``min(anchor.day, days in that month)`` and
    the time of day is the anchor's. Raises ``ValueError`` for an unknown interval, a count < 1 or a naive
    anchor, and ``OverflowError`` when the result falls outside years 1–9999.
    """
    _check(interval, count)
    anchor = as_utc(anchor, "anchor")
    months = _MONTHS_PER_UNIT.get(interval)
    if months is not None:
        return _add_months(anchor, k * months * count)
    return anchor + k * count * _FIXED_UNIT[interval]


def _first_k_after(anchor: datetime, interval: Interval, count: int, t: datetime) -> int:
    """Smallest k ≥ 1 with ``boundary(anchor, k) > t``, found arithmetically (O(1) even for hourly plans
    that have been renewing for decades)."""
    months = _MONTHS_PER_UNIT.get(interval)
    if months is None:
        step = count * _FIXED_UNIT[interval]
        # boundary(k) > t  ⇔  k·step > t − anchor  ⇔  k > (t − anchor)/step; timedelta // timedelta is an
        # exact integer floor, so no float error can creep in for large spans.
        return max(1, (t - anchor) // step + 1)
    step_months = months * count
    # Boundary k lies in calendar month anchor_month + k·step_months, and those months strictly increase
    # with k. A boundary in an earlier month than t is ≤ t and one in a later month is > t, so the answer is
    # the first k whose month reaches t's month (ceil division), or the one after it when that boundary
    # shares t's month but is not after t.
    gap = _month_index(t) - _month_index(anchor)
    k = max(1, -(-gap // step_months))
    if _add_months(anchor, k * step_months) <= t:
        k += 1
    return k


def next_boundary(anchor: datetime, interval: Interval, count: int, t: datetime) -> datetime:
    """``boundary(anchor, k)`` for the smallest ``k ≥ 1`` whose boundary is strictly after ``t`` (03 §3).

    When ``t`` is before the anchor the answer is the first boundary after the anchor (k = 1), never the
    anchor itself. Constant time: k is computed, not searched for.
    """
    _check(interval, count)
    anchor = as_utc(anchor, "anchor")
    t = as_utc(t, "t")
    return boundary(anchor, interval, count, _first_k_after(anchor, interval, count, t))


def boundary_index(anchor: datetime, interval: Interval, count: int, t: datetime) -> int:
    """The ``k`` that ``next_boundary(anchor, interval, count, t)`` uses (smallest k ≥ 1 with a boundary > t).

    Useful to callers that need to know how many periods have elapsed since the anchor.
    """
    _check(interval, count)
    return _first_k_after(as_utc(anchor, "anchor"), interval, count, as_utc(t, "t"))


def period_after(anchor: datetime, interval: Interval, count: int, period_end: datetime) -> tuple[datetime, datetime]:
    """The ``(start, end)`` billed by the renewal of the period that ends at ``period_end`` (03 §3, §10 step 5).

    The new period starts exactly where the old one ended, so consecutive periods are contiguous even when
    ``period_end`` is not itself a boundary of ``anchor`` (the end is then the next boundary after it).
    """
    period_end = as_utc(period_end, "period_end")
    return period_end, next_boundary(anchor, interval, count, period_end)


def add_calendar_days(t: datetime, days: int) -> datetime:
    """``t`` plus ``days`` calendar days, same time of day (trial ends, 03 §3 and §6).

    In UTC a calendar day is exactly 24 hours, so this is a plain timedelta; negative ``days`` is refused
    because a trial never ends before it starts.
    """
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise ValueError("days must be a non-negative integer")
    return as_utc(t, "t") + timedelta(days=days)
