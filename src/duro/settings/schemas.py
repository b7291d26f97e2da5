"""Request and response models of /v1/settings/recovery (04 §6).

The request fields are typed `Any` on purpose: the rules (types, ranges, the escalation enum) live in one place,
`RecoverySettings.validate()` (billing/dunning.py), which the dunning engine and the dashboard form share; the model
only refuses unknown fields and `null` (no field is nullable, 01 §4). `WithJsonSchema` documents the real types.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, WithJsonSchema

from duro.billing.dunning import (
    ESCALATION_DAYS_RANGE,
    ESCALATIONS,
    MAX_ATTEMPTS_RANGE,
    OFFSET_HOURS_RANGE,
    REMINDER_DAYS_RANGE,
    Escalation,
)
from duro.kit.validation import PatchModel

Flag = Annotated[Any, WithJsonSchema({"type": "boolean"})]
MaxAttempts = Annotated[
    Any, WithJsonSchema({"type": "integer", "minimum": MAX_ATTEMPTS_RANGE[0], "maximum": MAX_ATTEMPTS_RANGE[1]})
]
Offsets = Annotated[
    Any,
    WithJsonSchema(
        {
            "type": "array",
            "minItems": 1,
            "items": {"type": "integer", "minimum": OFFSET_HOURS_RANGE[0], "maximum": OFFSET_HOURS_RANGE[1]},
            "description": "Strictly increasing, at least maxAttempts values",
        }
    ),
]
EscalationDays = Annotated[
    Any,
    WithJsonSchema({"type": "integer", "minimum": ESCALATION_DAYS_RANGE[0], "maximum": ESCALATION_DAYS_RANGE[1]}),
]
EscalationKind = Annotated[Any, WithJsonSchema({"type": "string", "enum": list(ESCALATIONS)})]
ReminderDays = Annotated[
    Any, WithJsonSchema({"type": "integer", "minimum": REMINDER_DAYS_RANGE[0], "maximum": REMINDER_DAYS_RANGE[1]})
]


class RecoverySettingsUpdate(PatchModel):
    """`PATCH /v1/settings/recovery`: any subset of the fields; `provided()` maps them by `RecoverySettings` name."""

    NON_NULLABLE = frozenset(
        {
            "dunning_enabled",
            "max_attempts",
            "retry_offsets_hours",
            "payday_aware",
            "dunning_escalation_days",
            "dunning_escalation",
            "renewal_reminders",
            "renewal_reminder_days",
        }
    )

    dunning_enabled: Flag = None
    max_attempts: MaxAttempts = None
    retry_offsets_hours: Offsets = None
    payday_aware: Flag = None
    dunning_escalation_days: EscalationDays = None
    dunning_escalation: EscalationKind = None
    renewal_reminders: Flag = None
    renewal_reminder_days: ReminderDays = None


class RecoverySettingsOut(BaseModel):
    """Documentation shape of the settings (responses are rendered by `recovery_settings_json`)."""

    object: Literal["recovery_settings"]
    dunningEnabled: bool  # noqa: N815
    maxAttempts: int  # noqa: N815
    retryOffsetsHours: list[int]  # noqa: N815
    paydayAware: bool  # noqa: N815
    dunningEscalationDays: int  # noqa: N815
    dunningEscalation: Escalation  # noqa: N815
    renewalReminders: bool  # noqa: N815
    renewalReminderDays: int  # noqa: N815
    updatedAt: str  # noqa: N815
