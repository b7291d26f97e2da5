"""Payday window (04 §3): salaries land around month end, so insufficient-funds retries aim for it.

The window is the last days of a month (from the 28th) plus the first three days of the next, judged on the
UTC calendar day. ``next_payday`` is the retry target the dunning strategy uses outside the window.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from duro.billing.cycles import as_utc

PAYDAY_DAY: Final = 28
PAYDAY_HOUR: Final = 9
# Days 1..3 still count: salaries paid on the last working day often clear in the first days of the month.
WINDOW_LAST_EARLY_DAY: Final = 3


def in_payday_window(t: datetime) -> bool:
    """True when the UTC day of month of ``t`` is ≥ 28 or ≤ 3 (04 §3).

    Only the day matters: 3rd 23:59:59 is inside, 4th 00:00 is outside, 27th 23:59:59 is outside and 28th
    00:00 is inside, whatever the month's length.
    """
    day = as_utc(t, "t").day
    return day >= PAYDAY_DAY or day <= WINDOW_LAST_EARLY_DAY


def next_payday(t: datetime) -> datetime:
    """The 28th of ``t``'s UTC month at 09:00 UTC if ``t`` is strictly before it, else the 28th of the next
    month at 09:00 UTC (04 §3). Every month has a 28th, so no clamping is needed.
    """
    t = as_utc(t, "t")
    this_month = datetime(t.year, t.month, PAYDAY_DAY, PAYDAY_HOUR, tzinfo=UTC)
    if t < this_month:
        return this_month
    year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
    return datetime(year, month, PAYDAY_DAY, PAYDAY_HOUR, tzinfo=UTC)
