"""Payday window and next payday (04 §3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from duro.billing.payday import in_payday_window, next_payday

ESCALATION = timedelta(days=14)  # the default dunningEscalationDays the 04 §3 table assumes


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


@pytest.mark.parametrize(
    ("t", "inside"),
    [
        (utc(2025, 3, 1), True),
        (utc(2025, 3, 3, 23, 59, 59, 999999), True),
        (utc(2025, 3, 4), False),
        (utc(2025, 3, 14, 9), False),
        (utc(2025, 3, 27, 23, 59, 59, 999999), False),
        (utc(2025, 3, 28), True),
        (utc(2025, 3, 31, 23, 59), True),  # 31-day month
        (utc(2025, 4, 30, 12), True),  # 30-day month
        (utc(2025, 4, 27, 12), False),
        (utc(2024, 2, 28), True),  # leap February
        (utc(2024, 2, 29, 23, 59), True),
        (utc(2024, 2, 27, 23, 59), False),
        (utc(2025, 2, 28, 23, 59), True),  # non-leap February: its last day is still in
        (utc(2025, 2, 27, 9), False),
        (utc(2025, 12, 31, 23, 59), True),
        (utc(2026, 1, 2), True),
    ],
)
def test_window_membership(t: datetime, inside: bool) -> None:
    assert in_payday_window(t) is inside


def test_window_uses_the_utc_day() -> None:
    # The day is judged in UTC, not in the offset the caller happens to use.
    lagos = timezone(timedelta(hours=1))
    assert in_payday_window(datetime(2025, 3, 28, 0, 30, tzinfo=lagos)) is False  # 27th 23:30 UTC
    assert in_payday_window(datetime(2025, 3, 4, 0, 30, tzinfo=lagos)) is True  # 3rd 23:30 UTC


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        in_payday_window(datetime(2025, 3, 28))
    with pytest.raises(ValueError, match="timezone-aware"):
        next_payday(datetime(2025, 3, 28))


@pytest.mark.parametrize(
    ("t", "payday"),
    [
        (utc(2025, 3, 20, 10), utc(2025, 3, 28, 9)),
        (utc(2025, 3, 6, 8), utc(2025, 3, 28, 9)),
        (utc(2025, 3, 28, 8, 59, 59, 999999), utc(2025, 3, 28, 9)),
        (utc(2025, 3, 28, 9), utc(2025, 4, 28, 9)),  # not strictly before → next month
        (utc(2025, 3, 31, 23), utc(2025, 4, 28, 9)),
        (utc(2025, 12, 28, 9), utc(2026, 1, 28, 9)),  # year rollover
        (utc(2024, 2, 10), utc(2024, 2, 28, 9)),
        (utc(2024, 2, 29, 12), utc(2024, 3, 28, 9)),
        (utc(2025, 1, 31, 12), utc(2025, 2, 28, 9)),
    ],
)
def test_next_payday(t: datetime, payday: datetime) -> None:
    assert next_payday(t) == payday


# --- the 04 §3 worked table: window membership and payday dates ---


def test_table_row_1_payday_retry_before_deadline() -> None:
    failure = utc(2025, 3, 20, 10)
    deadline = failure + ESCALATION
    assert deadline == utc(2025, 4, 3, 10)
    assert not in_payday_window(failure)
    assert next_payday(failure) == utc(2025, 3, 28, 9)
    assert next_payday(failure) <= deadline  # so `retry_payday` at the 28th is allowed


def test_table_row_2_payday_after_deadline() -> None:
    failure = utc(2025, 3, 6, 8)
    deadline = failure + ESCALATION
    assert deadline == utc(2025, 3, 20, 8)
    assert not in_payday_window(failure)
    assert next_payday(failure) > deadline  # the 28th is too late → plain backoff


@pytest.mark.parametrize("failure", [utc(2025, 3, 29, 12), utc(2025, 4, 2, 7)])
def test_table_rows_3_and_4_in_window(failure: datetime) -> None:
    assert in_payday_window(failure)


def test_table_row_6_daily_retries_through_the_window() -> None:
    deadline = utc(2025, 4, 3, 10)
    retries = [utc(2025, 3, 28, 9), utc(2025, 3, 29, 9), utc(2025, 3, 31, 9), utc(2025, 4, 2, 9)]
    assert all(in_payday_window(t) for t in retries)
    assert all(t < deadline for t in retries)
    after = utc(2025, 4, 4, 9)
    assert after > deadline
    assert not in_payday_window(after)


# --- properties ---

instants = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 12, 31), timezones=st.just(UTC))


@given(instants)
def test_window_is_the_day_rule(t: datetime) -> None:
    assert in_payday_window(t) == (t.day >= 28 or t.day <= 3)


@given(instants)
def test_next_payday_is_the_first_28th_nine_after_t(t: datetime) -> None:
    payday = next_payday(t)
    assert payday > t
    assert (payday.day, payday.hour, payday.minute, payday.second, payday.microsecond) == (28, 9, 0, 0, 0)
    assert payday.tzinfo is UTC
    # No 28th 09:00 is skipped: the previous month's payday is not after t.
    prev_year, prev_month = (payday.year - 1, 12) if payday.month == 1 else (payday.year, payday.month - 1)
    assert utc(prev_year, prev_month, 28, 9) <= t


@given(instants)
def test_default_escalation_reaches_payday_from_day_14_nine(t: datetime) -> None:
    # 04 §3: with 14 days of escalation, a payday retry fits for failures from day 14 09:00 to the end of day 27.
    if in_payday_window(t):
        return
    fits = next_payday(t) <= t + ESCALATION
    assert fits == (t >= utc(t.year, t.month, 14, 9))
