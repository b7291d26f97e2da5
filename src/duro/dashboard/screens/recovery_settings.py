"""Dashboard screen: recovery settings (07 §3, 04 §6), mounted on the recovery router.

The form saves through the service of `PATCH /v1/settings/recovery` (same request model, same rules, same audit
entry), and the page previews the retry schedule those settings give a failure happening now: the pure `decide()`
of 04 §2 is replayed with every retry failing again, so the preview cannot drift from what the dunning loop does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from duro.billing.dunning import ESCALATIONS, FailedAttempt, RecoverySettings, decide
from duro.billing.failures import classify
from duro.dashboard.shell import DashCall, checked, dash, dash_post, field_errors, integer, parse, text
from duro.kit.errors import DuroError
from duro.kit.jsonenc import format_ts
from duro.settings import service
from duro.settings.schemas import RecoverySettingsUpdate

router = APIRouter(include_in_schema=False)

PATH: Final = "/dashboard/settings/recovery"
# One failure per class of 04 §1, the ones whose schedules differ.
PREVIEW_CODES: Final[tuple[str, ...]] = ("insufficient_funds", "processor_error", "do_not_honor", "expired_card")
PREVIEW_METHOD: Final = "pm_preview"
_SPLIT = re.compile(r"[\s,;]+")


@dataclass(frozen=True, slots=True)
class PreviewStep:
    label: str
    at: datetime
    action: str
    next_attempt_at: datetime | None
    reason: str


def preview(settings: RecoverySettings, now: datetime, code: str) -> list[PreviewStep]:
    """The schedule a renewal failing at `now` with `code` would follow if every retry failed the same way, on a
    card with no other method to switch to; it ends at the first decision that schedules nothing, or when the
    escalation deadline (fixed at opening, 04 §4) comes before the next retry."""
    escalation_at = now + timedelta(days=settings.dunning_escalation_days)
    if not settings.dunning_enabled:
        return [PreviewStep("Renewal fails", now, "request_card_update", None, "Automatic retries are off")]
    hard = classify(code).klass == "hard_decline"
    steps: list[PreviewStep] = []
    at, attempts, declines = now, 0, 0
    while True:
        declines += 1 if hard else 0
        failure = FailedAttempt.from_code(
            code,
            attempts_made=attempts,
            last_attempt_at=at,
            escalation_at=escalation_at,
            payment_method_id=PREVIEW_METHOD,
            rail="card",
            hard_declines_on_method=declines,
        )
        decision = decide(failure, settings, [], at)
        label = "Renewal fails" if attempts == 0 else f"Retry {attempts} fails"
        steps.append(PreviewStep(label, at, decision.action, decision.next_attempt_at, decision.reason))
        nxt = decision.next_attempt_at
        ends_by_time = settings.dunning_escalation != "keep"
        if nxt is None:
            if ends_by_time and decision.action == "request_card_update":
                steps.append(_escalation(escalation_at, settings))
            break
        if ends_by_time and nxt > escalation_at:
            steps.append(_escalation(escalation_at, settings))
            break
        at, attempts = nxt, attempts + 1
    return steps


def _escalation(at: datetime, settings: RecoverySettings) -> PreviewStep:
    return PreviewStep(
        "Escalation deadline", at, "exhaust", None, f"Dunning ends; subscription: {settings.dunning_escalation}"
    )


def _shown(step: PreviewStep) -> dict[str, Any]:
    return {
        "label": step.label,
        "at": format_ts(step.at),
        "action": step.action,
        "nextAttemptAt": format_ts(step.next_attempt_at),
        "reason": step.reason,
    }


def _settings_of(values: dict[str, Any]) -> RecoverySettings:
    return RecoverySettings(
        dunning_enabled=values["dunningEnabled"],
        max_attempts=values["maxAttempts"],
        retry_offsets_hours=tuple(values["retryOffsetsHours"]),
        payday_aware=values["paydayAware"],
        dunning_escalation_days=values["dunningEscalationDays"],
        dunning_escalation=values["dunningEscalation"],
        renewal_reminders=values["renewalReminders"],
        renewal_reminder_days=values["renewalReminderDays"],
    )


def _offsets(raw: str) -> list[int | str]:
    """`0, 24, 72` → [0, 24, 72]; an item that is not a number stays text so the rules name its position."""
    out: list[int | str] = []
    for item in (i for i in _SPLIT.split(raw) if i):
        try:
            out.append(int(item))
        except ValueError:
            out.append(item)
    return out


def _form_values(form: FormData) -> dict[str, Any]:
    return {
        "dunningEnabled": checked(form, "dunningEnabled"),
        "maxAttempts": integer(form, "maxAttempts"),
        "retryOffsetsHours": _offsets(text(form, "retryOffsetsHours")),
        "paydayAware": checked(form, "paydayAware"),
        "dunningEscalationDays": integer(form, "dunningEscalationDays"),
        "dunningEscalation": text(form, "dunningEscalation"),
        "renewalReminders": checked(form, "renewalReminders"),
        "renewalReminderDays": integer(form, "renewalReminderDays"),
    }


def _inline(exc: DuroError) -> dict[str, str]:
    """`retryOffsetsHours.2` is an item of the one offsets field: show it there, naming the position."""
    errors = field_errors(exc)
    for path, issue in list(errors.items()):
        head, dot, index = path.partition(".")
        if dot and index.isdigit():
            errors.setdefault(head, f"item {int(index) + 1}: {issue}")
    return errors


async def _render(call: DashCall, values: dict[str, Any], errors: dict[str, str], status: int = 200) -> Response:
    stored = await call.read(service.get_recovery_settings)
    now = call.runtime.clock.now()
    settings = _settings_of(stored)
    previews = [
        (code, classify(code).klass, [_shown(step) for step in preview(settings, now, code)]) for code in PREVIEW_CODES
    ]
    shown = {**values, "retryOffsetsHours": ", ".join(str(v) for v in values["retryOffsetsHours"])}
    return await call.screen(
        "screens/recovery/settings.html",
        status,
        values=shown,
        stored=stored,
        errors=errors,
        escalations=ESCALATIONS,
        previews=previews,
        preview_now=format_ts(now),
    )


@router.get("/settings/recovery")
async def settings_page(request: Request) -> Response:
    call = await dash(request)
    stored = await call.read(service.get_recovery_settings)
    return await _render(call, stored, {})


@router.post("/settings/recovery")
async def save_settings(request: Request) -> Response:
    call, form = await dash_post(request, "recovery_settings.update")
    values = _form_values(form)
    try:
        body = parse(RecoverySettingsUpdate, values)
        service.check_fields(body)
        await call.write(lambda ctx: service.update_recovery_settings(ctx, body))
    except DuroError as exc:
        return await _render(call, values, _inline(exc), 422)
    return call.done(PATH, "Recovery settings saved.")
