"""Request and response models of /v1/plans."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from duro.kit.money import MAX_AMOUNT
from duro.kit.validation import CurrencyCode, Metadata, PatchModel, RequestModel

Interval = Literal["hour", "day", "week", "month", "quarter", "biannual", "year"]

# Longest allowed `intervalCount` per interval: no period is longer than three years (03 §1.1).
MAX_INTERVAL_COUNT: dict[str, int] = {
    "hour": 8760,
    "day": 1095,
    "week": 156,
    "month": 36,
    "quarter": 12,
    "biannual": 6,
    "year": 3,
}

Name = Annotated[str, Field(min_length=1, max_length=120)]
Description = Annotated[str, Field(max_length=500)]
TrialDays = Annotated[int, Field(ge=0, le=730)]


class PlanCreate(RequestModel):
    name: Name
    amount: Annotated[int, Field(ge=0, le=MAX_AMOUNT)]
    interval: Interval
    currency: CurrencyCode | None = None
    interval_count: Annotated[int, Field(ge=1)] = 1
    trial_days: TrialDays = 0
    max_cycles: Annotated[int, Field(ge=1, le=1000)] | None = None
    description: Description | None = None
    metadata: Metadata = Field(default_factory=dict)

    @field_validator("interval_count")
    @classmethod
    def _count_fits_interval(cls, value: int, info: ValidationInfo) -> int:
        # A field validator (not a model validator) so the error's path is `intervalCount` (01 §5).
        # `interval` is declared first, so it is in `info.data` whenever it was valid.
        interval = info.data.get("interval")
        top = MAX_INTERVAL_COUNT.get(interval) if isinstance(interval, str) else None
        if top is not None and value > top:
            raise ValueError(f"must be at most {top} for interval {interval}")
        return value


class PlanUpdate(PatchModel):
    NON_NULLABLE = frozenset({"name", "trial_days", "active", "metadata"})

    name: Name | None = None
    description: Description | None = None
    trial_days: TrialDays | None = None
    active: bool | None = None
    metadata: Metadata | None = None


class PlanOut(BaseModel):
    """Documentation shape of a plan (responses are rendered by `plan_json`)."""

    object: Literal["plan"]
    id: str
    name: str
    description: str | None
    amount: int
    currency: str
    interval: Interval
    intervalCount: int  # noqa: N815
    trialDays: int  # noqa: N815
    maxCycles: int | None  # noqa: N815
    active: bool
    metadata: dict[str, str]
    createdAt: str  # noqa: N815
    updatedAt: str  # noqa: N815
