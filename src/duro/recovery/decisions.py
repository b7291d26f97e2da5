"""Opening a dunning schedule and applying `decide()` to it (04 §2, §4).

Both run inside the transaction that recorded the failure (the renewal's T2, or a dunning attempt's T2), after
the rows are locked: subscription → invoice → schedule. Settings are read live at each decision (04 §2), except
`escalationAt`, fixed when the schedule opens. The events and customer messages of each outcome are written here
too, so a decision and what it tells the merchant and the customer cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert

from duro.billing.dunning import Decision, RecoverySettings, decide
from duro.billing.lifecycle import Event
from duro.checkout.sessions import create_invoice_session
from duro.context import RepositoryContext
from duro.customers.repository import CustomerRepository
from duro.db.repository import DbRow
from duro.events.service import emit
from duro.invoices.payments import payment_event
from duro.invoices.repository import InvoiceRepository
from duro.invoices.serializers import invoice_json
from duro.kit.ids import new_id
from duro.kit.jsonenc import format_ts
from duro.models.billing import dunning_schedules
from duro.recovery import messages
from duro.recovery.endings import exhaust
from duro.recovery.inputs import failed_attempt, methods_for
from duro.settings.service import load_recovery_settings
from duro.subscriptions.repository import DunningScheduleRepository

DUNNING_OFF_REASON = "Automatic retries are off: waiting for the customer to pay"
# With `keep`, the escalation deadline does not end dunning, so the update link lives this long instead (04 §4).
KEEP_LINK_DAYS = 30

_STATE_BY_ACTION = {
    "retry": "scheduled",
    "retry_payday": "scheduled",
    "switch_rail": "scheduled",
    "request_card_update": "awaiting_customer",
    "exhaust": "exhausted",
}


@dataclass(frozen=True, slots=True)
class Opened:
    """What the renewal's failure transaction needs to write its events after the schedule opened."""

    schedule: DbRow
    next_attempt_at: datetime | None


def _changes(decision: Decision, settings: RecoverySettings, at: datetime) -> dict[str, Any]:
    return {
        "state": _STATE_BY_ACTION[decision.action],
        "next_attempt_at": decision.next_attempt_at,
        "payment_method_id": decision.payment_method_id,
        "rail": decision.rail,
        "last_action": decision.action,
        "last_reason": decision.reason,
        "max_attempts": settings.max_attempts,
        "lease_until": None,
        "updated_at": at,
    }


async def open_schedule(ctx: RepositoryContext, sub: DbRow, invoice: DbRow, txn: DbRow, now: datetime) -> Opened:
    """The single entry point from billing into recovery (03 §10 step 11, 04 §4 "Opening"). Writes the schedule,
    its first decision and the first customer message; the caller writes `subscription_payment_failed` (with the
    returned `next_attempt_at`) and `subscription_past_due`, then calls `announce_opening`."""
    settings = await load_recovery_settings(ctx)
    schedule_id = new_id("dun")
    base: dict[str, Any] = {
        "id": schedule_id,
        "tenant_id": ctx.tenant_id,
        "invoice_id": invoice["id"],
        "subscription_id": sub["id"],
        "customer_id": sub["customer_id"],
        "amount": invoice["amount"],
        "currency": invoice["currency"],
        "attempts_made": 0,
        "max_attempts": settings.max_attempts,
        "payment_method_id": txn["payment_method_id"],
        "rail": txn["rail"],
        "last_failure_code": txn["failure_code"],
        "last_failure_category": txn["failure_category"],
        "started_at": now,
        "escalation_at": now + timedelta(days=settings.dunning_escalation_days),
        "test_clock_id": sub["test_clock_id"],
        "created_at": now,
        "updated_at": now,
    }
    if not settings.dunning_enabled:
        # Not a decide() outcome: the schedule waits for an explicit payment (portal, hosted page, merchant).
        action, next_at, reason = "await_customer", None, DUNNING_OFF_REASON
        state, pm_id, rail = "awaiting_customer", txn["payment_method_id"], txn["rail"]
    else:
        failure = await failed_attempt(ctx, txn, base, attempts_made=0, at=now)
        customer = await ctx.repo(CustomerRepository).get_row(sub["customer_id"])
        assert customer is not None  # customers are never deleted
        decision = decide(failure, settings, await methods_for(ctx, customer), now)
        action, next_at, reason = decision.action, decision.next_attempt_at, decision.reason
        state, pm_id, rail = _STATE_BY_ACTION[action], decision.payment_method_id, decision.rail
    entry = messages.decision_entry(
        at=now,
        attempts_made=0,
        failure_code=txn["failure_code"],
        action=action,
        next_attempt_at=next_at,
        rail=rail,
        payment_method_id=pm_id,
        reason=reason,
    )
    row = (
        await ctx.conn.execute(
            pg_insert(dunning_schedules)
            .values(
                {
                    **base,
                    "state": state,
                    "next_attempt_at": next_at,
                    "payment_method_id": pm_id,
                    "rail": rail,
                    "last_action": action,
                    "last_reason": reason,
                    "decisions": [entry],
                }
            )
            .returning(dunning_schedules)
        )
    ).one()
    await ctx.repo(InvoiceRepository).update_row(invoice["id"], {"dunning_schedule_id": schedule_id, "updated_at": now})
    # The invoice's hosted payment page: the update link of customers without a phone (04 §4). It lives until the
    # escalation deadline, or 30 days with `keep`, whose deadline does not end dunning.
    link_until = (
        now + timedelta(days=KEEP_LINK_DAYS) if settings.dunning_escalation == "keep" else base["escalation_at"]
    )
    await create_invoice_session(ctx, invoice, expires_at=link_until, at=now, test_clock_id=sub["test_clock_id"])
    return Opened(row, next_at)


async def announce_opening(ctx: RepositoryContext, opened: Opened, sub: DbRow, invoice: DbRow, now: datetime) -> None:
    """After the renewal's failure events: `subscription_payment_action_required` when the first decision asks
    for a new method, and the first message (`payment_action_required`, else `dunning_1`) (03 §10, 04 §8)."""
    schedule = opened.schedule
    customer = await ctx.repo(CustomerRepository).get_row(schedule["customer_id"])
    assert customer is not None
    link = messages.update_link(ctx, customer, invoice)
    if schedule["last_action"] == "request_card_update":
        await _action_required(ctx, schedule, sub, invoice, now, link)
        return
    await _dunning_message(ctx, schedule, sub, invoice, now, link, number=1)


async def _action_required(
    ctx: RepositoryContext, schedule: DbRow, sub: DbRow, invoice: DbRow, at: datetime, link: str | None
) -> None:
    reason: str = schedule["last_reason"]
    extra = messages.action_required_extra(schedule, reason, link)
    await emit(ctx, Event.SUBSCRIPTION_PAYMENT_ACTION_REQUIRED, invoice_json(invoice), **extra)
    await messages.send(
        ctx,
        "payment_action_required",
        f"action_{schedule['id']}_{schedule['attempts_made']}",
        schedule=schedule,
        sub=sub,
        invoice=invoice,
        at=at,
        link=link,
        reason=reason,
    )


async def _dunning_message(
    ctx: RepositoryContext,
    schedule: DbRow,
    sub: DbRow,
    invoice: DbRow,
    at: datetime,
    link: str | None,
    *,
    number: int,
) -> None:
    queued = await messages.send(
        ctx,
        f"dunning_{number}",
        f"dunning_{schedule['id']}_{number}",
        schedule=schedule,
        sub=sub,
        invoice=invoice,
        at=at,
        link=link,
        next_attempt=messages.next_attempt_text(schedule["next_attempt_at"]),
        reason=schedule["last_reason"] or "",
        attempt_number=str(schedule["attempts_made"] + 1),
    )
    # Counted even when the customer has no address (nothing queued): the number is the message's place in the
    # sequence, and a customer who adds an email later should not receive dunning_1 late.
    del queued
    await ctx.repo(DunningScheduleRepository).update_row(
        schedule["id"], {"dunning_messages_sent": number, "last_message_at": at}
    )


async def after_failed_retry(
    ctx: RepositoryContext, sub: DbRow, invoice: DbRow, schedule: DbRow, txn: DbRow, now: datetime
) -> str:
    """04 §4 step 5: a dunning retry failed. `attemptsMade += 1`, then escalation (an in-flight schedule past its
    deadline is escalated after its failed attempt, 04 §5) or `decide()`, then the events and messages.
    Returns the outcome for the loop's counters."""
    settings = await load_recovery_settings(ctx)
    attempts = schedule["attempts_made"] + 1
    failure_fields = {
        "last_failure_code": txn["failure_code"],
        "last_failure_category": txn["failure_category"],
    }
    repo = ctx.repo(DunningScheduleRepository)
    if settings.dunning_escalation != "keep" and now >= schedule["escalation_at"]:
        await repo.update_row(schedule["id"], failure_fields)
        obj, extra = payment_event(invoice, txn, failureCode=txn["failure_code"], nextAttemptAt=None)
        await emit(ctx, Event.SUBSCRIPTION_PAYMENT_FAILED, obj, **extra)
        entry = escalation_entry(schedule, now, attempts, txn["failure_code"])
        await exhaust(
            ctx,
            sub,
            invoice,
            schedule,
            reason="escalation",
            entry=entry,
            settings=settings,
            at=now,
            attempts_made=attempts,
        )
        return "exhausted"
    customer = await ctx.repo(CustomerRepository).get_row(schedule["customer_id"])
    assert customer is not None
    failure = await failed_attempt(ctx, txn, schedule, attempts_made=attempts, at=now)
    decision = decide(failure, settings, await methods_for(ctx, customer), now)
    entry = messages.decision_entry(
        at=now,
        attempts_made=attempts,
        failure_code=txn["failure_code"],
        action=decision.action,
        next_attempt_at=decision.next_attempt_at,
        rail=decision.rail,
        payment_method_id=decision.payment_method_id,
        reason=decision.reason,
    )
    obj, extra = payment_event(
        invoice, txn, failureCode=txn["failure_code"], nextAttemptAt=format_ts(decision.next_attempt_at)
    )
    if decision.action == "exhaust":
        await repo.update_row(schedule["id"], failure_fields)
        await emit(ctx, Event.SUBSCRIPTION_PAYMENT_FAILED, obj, **extra)
        await exhaust(
            ctx,
            sub,
            invoice,
            schedule,
            reason="max_attempts",
            entry=entry,
            settings=settings,
            at=now,
            attempts_made=attempts,
        )
        return "exhausted"
    changes = _changes(decision, settings, now)
    row = await repo.update_row(
        schedule["id"],
        {**changes, **failure_fields, "attempts_made": attempts, "decisions": [*schedule["decisions"], entry]},
    )
    assert row is not None
    await emit(ctx, Event.SUBSCRIPTION_PAYMENT_FAILED, obj, **extra)
    link = messages.update_link(ctx, customer, invoice)
    if decision.action == "request_card_update":
        await _action_required(ctx, row, sub, invoice, now, link)
        return "awaiting_customer"
    number = row["dunning_messages_sent"] + 1
    last = row["last_message_at"]
    spaced = last is None or now - last >= timedelta(hours=messages.DUNNING_MESSAGE_SPACING_HOURS)
    if number <= messages.LAST_DUNNING_MESSAGE and spaced:
        await _dunning_message(ctx, row, sub, invoice, now, link, number=number)
    return "rescheduled"


def escalation_entry(schedule: DbRow, at: datetime, attempts: int, failure_code: str | None) -> dict[str, Any]:
    days = (schedule["escalation_at"] - schedule["started_at"]).days
    return messages.decision_entry(
        at=at,
        attempts_made=attempts,
        failure_code=failure_code,
        action="exhaust",
        next_attempt_at=None,
        rail=schedule["rail"],
        payment_method_id=schedule["payment_method_id"],
        reason=f"Escalated: not recovered within {days} days",
    )
