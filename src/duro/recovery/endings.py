"""How a dunning schedule ends (04 §4 step 4, §5): recovered by a payment, or exhausted.

`settle_invoice` is the one place an invoice charge success is applied for a subscription that is `incomplete`
or `past_due`, whoever charged it (a dunning retry, `POST /v1/invoices/{id}/pay`, later the portal and the hosted
invoice page), so the recovery consequences cannot differ between paths. `exhaust` ends a schedule by retries or
by time and applies the tenant's escalation to the subscription.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from duro.billing.dunning import RecoverySettings
from duro.billing.lifecycle import Action, Event, can, transition
from duro.context import RepositoryContext
from duro.customers.repository import CustomerRepository
from duro.db.repository import DbRow
from duro.events.service import emit
from duro.invoices.payments import mark_paid, payment_event
from duro.invoices.repository import InvoiceRepository
from duro.invoices.serializers import invoice_json
from duro.notifications.outbox import notify_customer, queue_receipts
from duro.payment_methods.repository import PaymentMethodRepository
from duro.recovery import messages
from duro.subscriptions.repository import DunningScheduleRepository, SubscriptionRepository
from duro.subscriptions.serializers import subscription_json

log = logging.getLogger(__name__)

# The subscription statuses whose invoice a payment settles, and the lifecycle action it takes (03 §4).
ACTION_BY_STATUS = {"incomplete": Action.PAY_INCOMPLETE, "past_due": Action.RECOVER}

# dunningEscalation → (lifecycle action, new status fields) (04 §5).
_ESCALATION_ACTIONS = {"mark_unpaid": Action.MARK_UNPAID, "cancel": Action.DUNNING_CANCEL, "keep": Action.DUNNING_KEEP}
_ENDED_REASONS = {"mark_unpaid": "dunning_unpaid", "cancel": "dunning_canceled"}


async def settle_invoice(
    ctx: RepositoryContext,
    invoice: DbRow,
    sub: DbRow | None,
    schedule: DbRow | None,
    txn: DbRow,
    at: datetime,
    *,
    dunning_attempts: int | None = None,
) -> None:
    """Apply a succeeded charge of `invoice` (all rows locked by the caller, subscription → invoice → schedule).

    `incomplete` → `active`, or `past_due` → `active` (`recover()`: the period becomes the invoice's, by
    assignment, never an increment; the schedule `recovered`); either way the paying method becomes the
    subscription's. `dunning_attempts` is the schedule's new `attemptsMade` when a dunning retry paid."""
    if invoice["status"] not in ("open", "uncollectible"):
        # Voided while the charge was in flight (a cancel or the incomplete expiry does not wait for charges): the
        # succeeded transaction records the money taken; the invoice cannot leave `void`.
        log.error("charge %s succeeded for invoice %s, which is now %s", txn["id"], invoice["id"], invoice["status"])
        return
    paid = await mark_paid(ctx, invoice, at)
    if sub is None:
        await emit(ctx, Event.INVOICE_PAID, invoice_json(paid))
        obj, extra = payment_event(paid, txn)
        await emit(ctx, Event.SUBSCRIPTION_PAYMENT_SUCCESS, obj, **extra)
        await _receipt(ctx, paid, None, at)
        return
    action = ACTION_BY_STATUS.get(sub["status"])
    if action is None or not can(sub["status"], action):
        log.warning("charge %s paid invoice %s of a subscription now %s", txn["id"], invoice["id"], sub["status"])
        await emit(ctx, Event.INVOICE_PAID, invoice_json(paid))
        return
    t = transition(sub["status"], action)
    method_id = await _adopted_method(ctx, sub, txn)
    values: dict[str, Any] = {
        "status": t.to.value,
        "activated_at": sub["activated_at"] or at,
        "payment_method_id": method_id,
        "updated_at": at,
    }
    schedule_id = schedule["id"] if schedule is not None else None
    payloads: dict[Event, tuple[dict[str, Any], dict[str, Any]]] = {Event.INVOICE_PAID: (invoice_json(paid), {})}
    recovered_schedule: DbRow | None = None
    if action == Action.PAY_INCOMPLETE:
        # The period stays the one computed at creation (03 §5 item 5); it is the first paid period.
        values.update(cycles_completed=sub["cycles_completed"] + 1, incomplete_expires_at=None)
        payloads[Event.SUBSCRIPTION_PAYMENT_SUCCESS] = payment_event(paid, txn)
    else:
        if paid["period_start"] is not None and paid["period_end"] is not None:
            values.update(
                current_period_start=paid["period_start"],
                current_period_end=paid["period_end"],
                cycles_completed=sub["cycles_completed"] + 1,
            )
        if schedule is not None:
            changes: dict[str, Any] = {
                "state": "recovered",
                "recovered_at": at,
                "next_attempt_at": None,
                "lease_until": None,
                "updated_at": at,
            }
            if dunning_attempts is not None:
                changes["attempts_made"] = dunning_attempts
            recovered_schedule = await ctx.repo(DunningScheduleRepository).update_row(schedule["id"], changes)
        payloads[Event.SUBSCRIPTION_PAYMENT_RECOVERED] = payment_event(paid, txn, scheduleId=schedule_id)
    row = await ctx.repo(SubscriptionRepository).update_row(sub["id"], values)
    assert row is not None  # locked by the caller
    out = subscription_json(row)
    payloads[Event.SUBSCRIPTION_ACTIVATED] = (out, {"invoiceId": paid["id"]})
    payloads[Event.SUBSCRIPTION_RECOVERED] = (out, {"invoiceId": paid["id"], "scheduleId": schedule_id})
    for event in t.events:  # the lifecycle table's order (03 §4)
        obj, extra = payloads[event]
        await emit(ctx, event, obj, **extra)
    if method_id != sub["payment_method_id"]:
        for optional in t.optional_events:  # `subscription_updated`: the paying method was adopted
            await emit(ctx, optional.event, out, previousAttributes={"paymentMethodId": sub["payment_method_id"]})
    if action == Action.PAY_INCOMPLETE:
        await _receipt(ctx, paid, row, at)
    elif recovered_schedule is not None:
        await notify_customer(
            ctx,
            "payment_recovered",
            dedup_key=f"recovered_{recovered_schedule['id']}",
            customer_id=paid["customer_id"],
            at=at,
            subscription=row,
            invoice=paid,
            schedule=recovered_schedule,
        )
    else:
        await _receipt(ctx, paid, row, at)


async def _receipt(ctx: RepositoryContext, invoice: DbRow, sub: DbRow | None, at: datetime) -> None:
    del sub  # the receipt reads the invoice's subscription itself
    await queue_receipts(ctx, [invoice], at)


async def _adopted_method(ctx: RepositoryContext, sub: DbRow, txn: DbRow) -> str | None:
    """The paying method becomes the subscription's (03 §5 item 5, 04 §2), unless it was deleted while the charge
    was in flight. `FOR KEY SHARE` keeps a concurrent delete waiting until the subscription uses it."""
    current: str | None = sub["payment_method_id"]
    pm_id: str | None = txn["payment_method_id"]
    if pm_id is None:
        return current
    repo = ctx.repo(PaymentMethodRepository)
    await repo.lock_for_use(pm_id)
    return pm_id if await repo.find_any(pm_id) is not None else current


async def exhaust(
    ctx: RepositoryContext,
    sub: DbRow,
    invoice: DbRow,
    schedule: DbRow,
    *,
    reason: str,
    entry: dict[str, Any],
    settings: RecoverySettings,
    at: datetime,
    attempts_made: int | None = None,
) -> DbRow:
    """`exhaust(reason)` (04 §5): schedule `exhausted` with its final `exhaust` decision entry, invoice
    `uncollectible`, then the subscription per `dunningEscalation`, with the lifecycle table's events, and the
    `dunning_exhausted` message. Rows locked by the caller. Returns the schedule."""
    changes: dict[str, Any] = {
        "state": "exhausted",
        "exhausted_at": at,
        "exhaust_reason": reason,
        "next_attempt_at": None,
        "lease_until": None,
        "last_action": "exhaust",
        "last_reason": entry["reason"],
        "max_attempts": settings.max_attempts,
        "decisions": [*schedule["decisions"], entry],
        "updated_at": at,
    }
    if attempts_made is not None:
        changes["attempts_made"] = attempts_made
    done = await ctx.repo(DunningScheduleRepository).update_row(schedule["id"], changes)
    assert done is not None
    bad = await ctx.repo(InvoiceRepository).update_row(
        invoice["id"], {"status": "uncollectible", "uncollectible_at": at, "updated_at": at}
    )
    assert bad is not None
    escalation = settings.dunning_escalation
    action = _ESCALATION_ACTIONS[escalation]
    row = sub
    if can(sub["status"], action):
        t = transition(sub["status"], action)
        if t.to is not None and t.to.value != sub["status"]:
            values: dict[str, Any] = {"status": t.to.value, "ended_at": at, "updated_at": at}
            values["ended_reason"] = _ENDED_REASONS[escalation]
            if escalation == "cancel":
                values.update(canceled_at=at, cancel_requested_by=None)
            updated = await ctx.repo(SubscriptionRepository).update_row(sub["id"], values)
            assert updated is not None
            row = updated
        for event in t.events:
            if event == Event.INVOICE_UNCOLLECTIBLE:
                await emit(ctx, event, invoice_json(bad), scheduleId=schedule["id"])
            else:
                await emit(ctx, event, subscription_json(row))
    else:
        await emit(ctx, Event.INVOICE_UNCOLLECTIBLE, invoice_json(bad), scheduleId=schedule["id"])
    customer = await ctx.repo(CustomerRepository).get_row(schedule["customer_id"])
    assert customer is not None  # customers are never deleted
    await messages.send(
        ctx,
        "dunning_exhausted",
        f"exhausted_{schedule['id']}",
        schedule=done,
        sub=row,
        invoice=bad,
        at=at,
        link=messages.update_link(ctx, customer, bad),
    )
    return done
