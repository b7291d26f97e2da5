"""Request models of /v1/test-clocks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field

from duro.kit.clock import truncate_ms
from duro.kit.validation import RequestModel


def _utc_ms(value: datetime) -> datetime:
    return truncate_ms(value.astimezone(UTC))


Timestamp = Annotated[AwareDatetime, Field(strict=False), AfterValidator(_utc_ms)]


class TestClockCreate(RequestModel):
    frozen_time: Timestamp
    name: Annotated[str, Field(max_length=80)] | None = None


class TestClockAdvance(RequestModel):
    to: Timestamp
