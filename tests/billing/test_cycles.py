"""Period arithmetic (03 §3): the worked table, plus properties over every interval and count."""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from duro.billing.cycles import (
    INTERVALS,
    Interval,
    add_calendar_days,
    boundary,
    boundary_index,
    next_boundary,
    period_after,
)

MAX_COUNT: dict[Interval, int] = {
    "hour": 8760,
    "day": 1095,
    "week": 156,
    "month": 36,
    "quarter": 12,
    "biannual": 6,
    "year": 3,
}
MONTHS: dict[Interval, int] = {"month": 1, "quarter": 3, "biannual": 6, "year": 12}
FIXED: dict[Interval, timedelta] = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


TABLE: list[tuple[datetime, Interval, int, list[datetime]]] = [
    (
        utc(2025, 1, 31, 9),
        "month",
        1,
        [utc(2025, 2, 28, 9), utc(2025, 3, 31, 9), utc(2025, 4, 30, 9), utc(2025, 5, 31, 9)],
    ),
    (utc(2024, 1, 31), "month", 1, [utc(2024, 2, 29), utc(2024, 3, 31)]),
    (utc(2024, 2, 29), "year", 1, [utc(2025, 2, 28), utc(2026, 2, 28), utc(2027, 2, 28), utc(2028, 2, 29)]),
    (utc(2024, 11, 30), "quarter", 1, [utc(2025, 2, 28), utc(2025, 5, 30), utc(2025, 8, 30)]),
    (utc(2024, 8, 31), "biannual", 1, [utc(2025, 2, 28), utc(2025, 8, 31), utc(2026, 2, 28)]),
    (utc(2025, 3, 10, 10, 15), "hour", 6, [utc(2025, 3, 10, 16, 15), utc(2025, 3, 10, 22, 15)]),
]


@pytest.mark.parametrize(("anchor", "interval", "count", "expected"), TABLE)
def test_table_boundaries(anchor: datetime, interval: Interval, count: int, expected: list[datetime]) -> None:
    assert [boundary(anchor, interval, count, k) for k in range(1, len(expected) + 1)] == expected


@pytest.mark.parametrize(("anchor", "interval", "count", "expected"), TABLE)
def test_table_renewals_chain_through_period_after(
    anchor: datetime, interval: Interval, count: int, expected: list[datetime]
) -> None:
    # Renewals walk the same boundaries: each period starts at the previous end and ends at the next boundary.
    end = anchor
    for want in expected:
        start, end = period_after(anchor, interval, count, end)
        assert end == want
        assert start < end
    assert next_boundary(anchor, interval, count, anchor) == expected[0]


def test_table_trial_row() -> None:
    created = utc(2025, 3, 10, 14)
    trial_end = add_calendar_days(created, 14)
    assert trial_end == utc(2025, 3, 24, 14)
    # The trial end becomes the anchor, so the first paid period runs from it to one month later.
    assert period_after(trial_end, "month", 1, trial_end) == (trial_end, utc(2025, 4, 24, 14))


def test_boundary_zero_is_anchor_and_negative_walks_back() -> None:
    anchor = utc(2025, 3, 31, 8, 30)
    assert boundary(anchor, "month", 1, 0) == anchor
    assert boundary(anchor, "month", 1, -1) == utc(2025, 2, 28, 8, 30)
    assert boundary(anchor, "week", 2, -1) == utc(2025, 3, 17, 8, 30)


def test_next_boundary_edges() -> None:
    anchor = utc(2025, 1, 31, 9)
    feb = utc(2025, 2, 28, 9)
    mar = utc(2025, 3, 31, 9)
    # Strictly after: a t exactly on a boundary moves to the following one.
    assert next_boundary(anchor, "month", 1, feb) == mar
    assert next_boundary(anchor, "month", 1, feb - timedelta(microseconds=1)) == feb
    # Same calendar month as a boundary but later in the day.
    assert next_boundary(anchor, "month", 1, utc(2025, 2, 28, 9, 0, 1)) == mar
    # Before the anchor the first boundary is k = 1, never the anchor itself.
    assert next_boundary(anchor, "month", 1, utc(2020, 6, 1)) == feb
    assert next_boundary(anchor, "hour", 1, utc(2020, 6, 1)) == anchor + timedelta(hours=1)


def test_boundary_index_counts_elapsed_periods() -> None:
    anchor = utc(2025, 1, 1)
    assert boundary_index(anchor, "day", 1, anchor) == 1
    assert boundary_index(anchor, "day", 1, utc(2025, 1, 11)) == 11
    assert boundary_index(anchor, "month", 2, utc(2025, 12, 31)) == 6


def test_non_utc_input_is_converted_before_month_arithmetic() -> None:
    lagos = timezone(timedelta(hours=1))
    # 00:30 on Feb 1 in Lagos is 23:30 on Jan 31 UTC: the month step clamps from the 31st.
    anchor = datetime(2025, 2, 1, 0, 30, tzinfo=lagos)
    result = boundary(anchor, "month", 1, 1)
    assert result == utc(2025, 2, 28, 23, 30)
    assert result.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: boundary(datetime(2025, 1, 1), "month", 1, 1), "timezone-aware"),
        (lambda: next_boundary(utc(2025, 1, 1), "month", 1, datetime(2025, 2, 1)), "timezone-aware"),
        (lambda: boundary(utc(2025, 1, 1), "month", 0, 1), "positive integer"),
        (lambda: boundary(utc(2025, 1, 1), "fortnight", 1, 1), "unknown interval"),  # type: ignore[arg-type]
        (lambda: add_calendar_days(utc(2025, 1, 1), -1), "non-negative"),
    ],
)
def test_invalid_inputs_are_refused(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_far_future_hourly_is_computed_not_walked() -> None:
    # About 61 million hourly periods: a loop from k = 1 would not finish in any reasonable time.
    anchor = utc(1970, 1, 1, 0, 15)
    t = utc(8999, 12, 31, 23, 30)
    assert next_boundary(anchor, "hour", 1, t) == utc(9000, 1, 1, 0, 15)
    assert boundary_index(anchor, "hour", 1, t) == (t - anchor) // timedelta(hours=1) + 1
    assert next_boundary(utc(1970, 1, 31), "month", 1, utc(8999, 2, 1)) == utc(8999, 2, 28)


# --- properties ---


def utc_datetimes(first_year: int, last_year: int) -> st.SearchStrategy[datetime]:
    # hypothesis takes naive bounds and attaches the zone itself.
    lo, hi = datetime(first_year, 1, 1), datetime(last_year, 12, 31, 23, 59, 59)
    return st.datetimes(min_value=lo, max_value=hi, timezones=st.just(UTC))


anchors = utc_datetimes(1971, 2100)


@st.composite
def plans(draw: st.DrawFn) -> tuple[Interval, int]:
    interval = draw(st.sampled_from(INTERVALS))
    return interval, draw(st.integers(1, MAX_COUNT[interval]))


def step_of(interval: Interval, count: int) -> timedelta:
    return FIXED[interval] * count


@given(anchors, plans(), st.integers(0, 200))
def test_consecutive_boundaries_increase_and_are_contiguous(
    anchor: datetime, plan: tuple[Interval, int], k: int
) -> None:
    interval, count = plan
    start = boundary(anchor, interval, count, k)
    end = boundary(anchor, interval, count, k + 1)
    assert start < end
    # Period k ends where period k + 1 starts: renewing the period ending at `start` bills [start, end).
    assert period_after(anchor, interval, count, start) == (start, end)


@given(anchors, plans(), utc_datetimes(1950, 2400))
def test_next_boundary_is_the_first_boundary_after_t(anchor: datetime, plan: tuple[Interval, int], t: datetime) -> None:
    interval, count = plan
    k = boundary_index(anchor, interval, count, t)
    result = next_boundary(anchor, interval, count, t)
    assert k >= 1
    assert result == boundary(anchor, interval, count, k)
    assert result > t
    if k > 1:
        # Boundaries strictly increase with k, so this makes k the smallest one after t.
        assert boundary(anchor, interval, count, k - 1) <= t


@given(anchors, plans(), st.integers(0, 300), st.sampled_from([-1, 0, 1]))
def test_next_boundary_at_and_around_boundaries(
    anchor: datetime, plan: tuple[Interval, int], j: int, nudge_us: int
) -> None:
    interval, count = plan
    b = boundary(anchor, interval, count, j)
    t = b + timedelta(microseconds=nudge_us)
    expected_k = j if nudge_us < 0 else j + 1
    assert next_boundary(anchor, interval, count, t) == boundary(anchor, interval, count, max(1, expected_k))


@given(anchors, st.sampled_from(list(MONTHS)), st.integers(1, 3))
def test_month_steps_never_drift(anchor: datetime, interval: Interval, count: int) -> None:
    months = MONTHS[interval] * count
    for k in range(201):
        b = boundary(anchor, interval, count, k)
        year, month0 = divmod(anchor.year * 12 + anchor.month - 1 + k * months, 12)
        assert (b.year, b.month) == (year, month0 + 1)
        assert b.day == min(anchor.day, calendar.monthrange(year, month0 + 1)[1])
        assert b.timetz() == anchor.timetz()


@given(anchors, st.sampled_from(list(FIXED)), st.integers(1, 156), st.integers(-50, 200))
def test_fixed_steps_are_exact_multiples(anchor: datetime, interval: Interval, count: int, k: int) -> None:
    assert boundary(anchor, interval, count, k) - anchor == k * step_of(interval, count)


@given(anchors, st.sampled_from(list(FIXED)), st.integers(1, 156), anchors)
def test_fixed_next_boundary_is_on_the_grid(anchor: datetime, interval: Interval, count: int, t: datetime) -> None:
    result = next_boundary(anchor, interval, count, t)
    assert (result - anchor) % step_of(interval, count) == timedelta(0)
    assert result > t
    assert result - step_of(interval, count) <= max(t, anchor)


@settings(deadline=timedelta(milliseconds=100))
@given(utc_datetimes(1900, 1950), plans(), utc_datetimes(8000, 8999))
def test_far_future_is_fast_and_correct(anchor: datetime, plan: tuple[Interval, int], t: datetime) -> None:
    # The hypothesis deadline turns a loop-from-k=1 implementation into a failure (millions of hourly periods).
    interval, count = plan
    k = boundary_index(anchor, interval, count, t)
    assert boundary(anchor, interval, count, k) > t
    assert boundary(anchor, interval, count, k - 1) <= t


@given(anchors, st.integers(0, 730))
def test_add_calendar_days_keeps_time_of_day(t: datetime, days: int) -> None:
    result = add_calendar_days(t, days)
    assert result.timetz() == t.timetz()
    assert (result.date() - t.date()).days == days
