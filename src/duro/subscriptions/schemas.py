"""Request models of /v1/subscriptions."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from duro.kit.validation import Metadata, PatchModel, RequestModel

Id = Annotated[str, Field(min_length=1, max_length=64)]


class SubscriptionCreate(RequestModel):
    customer_id: Id
    plan_id: Id
    payment_method_id: Id | None = None
    promo_code: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    trial_days: Annotated[int, Field(ge=0, le=730)] | None = None
    test_clock_id: Id | None = None
    metadata: Metadata = Field(default_factory=dict)


class CancelRequest(RequestModel):
    """`POST /v1/subscriptions/{id}/cancel` (03 §7). An omitted body means `{}`: cancel now, no reason."""

    at_period_end: bool = False
    reason: Annotated[str, Field(max_length=500)] | None = None


class EmptyRequest(RequestModel):
    """The `{}` body of pause, resume and cancel-scheduled-change: any field is a 422."""


class SubscriptionUpdate(PatchModel):
    """`PATCH /v1/subscriptions/{id}`: `paymentMethodId: null` means "charge the customer's default"; `metadata`
    and `cancelAtPeriodEnd` cannot be null."""

    NON_NULLABLE = frozenset({"metadata", "cancel_at_period_end"})

    metadata: Metadata | None = None
    payment_method_id: Id | None = None
    cancel_at_period_end: bool | None = None
