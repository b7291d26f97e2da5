"""Request bodies of the portal actions (06 §7): strict camelCase, unknown fields are 422."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from duro.kit.validation import RequestModel

Id = Annotated[str, Field(min_length=1, max_length=64)]


class PortalCancel(RequestModel):
    """`{atPeriodEnd}` (default true). A merchant whose `cancelMode` is `period_end` always gets true."""

    at_period_end: bool = True


class PortalEmpty(RequestModel):
    """The `{}` body of pause, resume and retry-payment."""


class PortalPaymentMethod(RequestModel):
    """`{paymentMethodId}`: one of the identity's own methods in the same mode."""

    payment_method_id: Id


class PortalSubscriptionOut(BaseModel):
    """A subscription in the portal shape (06 §7): the answer of every action."""

    id: str
    status: str
    cancelAtPeriodEnd: bool  # noqa: N815
    currentPeriodEnd: str  # noqa: N815
    nextChargeAt: str | None  # noqa: N815
    amount: int
    currency: str
    plan: dict[str, Any]
    paymentMethod: dict[str, Any] | None  # noqa: N815


class PortalSubscriptionsOut(BaseModel):
    object: Literal["portal_subscriptions"]
    mode: Literal["test", "live"]
    merchants: list[dict[str, Any]]
