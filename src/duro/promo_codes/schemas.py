"""Request and response models of /v1/promo-codes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, model_validator

from duro.kit.clock import truncate_ms
from duro.kit.validation import CurrencyCode, Metadata, PatchModel, RequestModel

DiscountType = Literal["percentage", "fixed"]
Duration = Literal["once", "forever", "repeating"]


def _upper_code(value: str) -> str:
    return value.upper()


def _utc_ms(value: datetime) -> datetime:
    return truncate_ms(value.astimezone(UTC))


# Codes are matched case-insensitively: they are stored, and looked up, upper case.
Code = Annotated[str, Field(min_length=3, max_length=40, pattern=r"^[A-Za-z0-9_-]+$"), AfterValidator(_upper_code)]
# RFC 3339 with `Z` or an offset; naive values are refused (01 §4). Strings are the JSON form, hence not strict.
Timestamp = Annotated[AwareDatetime, Field(strict=False), AfterValidator(_utc_ms)]
MaxRedemptions = Annotated[int, Field(ge=1)]


class PromoCodeCreate(RequestModel):
    code: Code
    discount_type: DiscountType
    discount_value: Annotated[int, Field(ge=1)]
    currency: CurrencyCode | None = None
    plan_id: str | None = None
    duration: Duration = "once"
    duration_cycles: Annotated[int, Field(ge=1, le=120)] | None = None
    max_redemptions: MaxRedemptions | None = None
    expires_at: Timestamp | None = None
    metadata: Metadata = Field(default_factory=dict)

    @model_validator(mode="after")
    def _cross_field(self) -> PromoCodeCreate:
        if self.discount_type == "percentage" and self.discount_value > 100:
            raise ValueError("discountValue: a percentage must be 1-100")
        if self.discount_type == "fixed" and self.currency is None:
            raise ValueError("currency: required for a fixed discount")
        if self.discount_type == "percentage" and self.currency is not None:
            raise ValueError("currency: must be null for a percentage discount")
        if (self.duration == "repeating") != (self.duration_cycles is not None):
            raise ValueError("durationCycles: required when duration is repeating, and only then")
        return self


class PromoCodeUpdate(PatchModel):
    NON_NULLABLE = frozenset({"active", "metadata"})

    active: bool | None = None
    max_redemptions: MaxRedemptions | None = None
    expires_at: Timestamp | None = None
    metadata: Metadata | None = None


class PromoCodeOut(BaseModel):
    """Documentation shape of a promo code (responses are rendered by `promo_code_json`)."""

    object: Literal["promo_code"]
    id: str
    code: str
    discountType: DiscountType  # noqa: N815
    discountValue: int  # noqa: N815
    currency: str | None
    planId: str | None  # noqa: N815
    duration: Duration
    durationCycles: int | None  # noqa: N815
    maxRedemptions: int | None  # noqa: N815
    redeemedCount: int  # noqa: N815
    remaining: int | None
    active: bool
    expiresAt: str | None  # noqa: N815
    metadata: dict[str, str]
    createdAt: str  # noqa: N815
    updatedAt: str  # noqa: N815
