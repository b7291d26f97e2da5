"""The one place that reads the system clock. Everything else asks a `Clock`."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


def truncate_ms(value: datetime) -> datetime:
    """Timestamps leave the API with millisecond precision; store them that way so reads equal writes."""
    return value.replace(microsecond=(value.microsecond // 1000) * 1000)


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return truncate_ms(datetime.now(UTC))


class FrozenClock:
    """A manually advanced clock for tests and test clocks."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")
        self._at = truncate_ms(at.astimezone(UTC))

    def now(self) -> datetime:
        return self._at

    def advance(self, delta: timedelta) -> None:
        if delta < timedelta(0):
            raise ValueError("a clock never moves backwards")
        self._at = truncate_ms(self._at + delta)


def monotonic() -> float:
    """Seconds on a monotonic clock, for measuring durations and process-local throttles."""
    return time.monotonic()


def epoch_seconds() -> float:
    """Wall-clock seconds since the epoch, for libraries that speak epoch time (rate-limit windows)."""
    return time.time()
