"""Documentation shapes of /v1/recovery responses (rendered by `recovery.serializers`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from duro.billing.dunning import Action

ScheduleState = Literal["scheduled", "in_flight", "awaiting_customer", "recovered", "exhausted", "canceled"]


class DunningDecisionOut(BaseModel):
    at: str
    attemptsMade: int  # noqa: N815
    failureCode: str | None  # noqa: N815
    action: Action
    nextAttemptAt: str | None  # noqa: N815
    rail: str | None
    paymentMethodId: str | None  # noqa: N815
    reason: str


class DunningScheduleOut(BaseModel):
    object: Literal["dunning_schedule"]
    id: str
    invoiceId: str  # noqa: N815
    subscriptionId: str  # noqa: N815
    customerId: str  # noqa: N815
    state: ScheduleState
    amount: int
    currency: str
    attemptsMade: int  # noqa: N815
    maxAttempts: int | None  # noqa: N815
    nextAttemptAt: str | None  # noqa: N815
    paymentMethodId: str | None  # noqa: N815
    rail: str | None
    lastFailureCode: str | None  # noqa: N815
    lastFailureCategory: str | None  # noqa: N815
    lastAction: Action | None  # noqa: N815
    lastReason: str | None  # noqa: N815
    startedAt: str  # noqa: N815
    escalationAt: str  # noqa: N815
    recoveredAt: str | None  # noqa: N815
    exhaustedAt: str | None  # noqa: N815
    exhaustReason: Literal["max_attempts", "escalation"] | None  # noqa: N815
    canceledAt: str | None  # noqa: N815
    decisions: list[DunningDecisionOut]
    createdAt: str  # noqa: N815
    updatedAt: str  # noqa: N815
