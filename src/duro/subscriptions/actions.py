"""Lifecycle actions on an existing subscription (03 §4, §7, §13.3): cancel (now or at period end), pause, resume,
PATCH and cancel-scheduled-change.

Every action is one unit of work inside `ApiCall.run` (idempotency and one transaction) and takes the same steps:

1. lock the subscription row `FOR UPDATE` before reading anything else, so concurrent actions on one subscription
   run one after the other and each decides on the other's result (the loser of two cancels gets the 409);
2. read "now" from the subscription's clock (`business_now`: the test clock's frozen time when attached);
3. ask `billing.lifecycle` whether the action is allowed; otherwise raise its 409 `illegal_transition` before
   anything is written, so a refused action changes nothing;
4. write the change, then the lifecycle's events for it, in its order, in the same transaction.

Lock order, as everywhere: subscription → invoices (id order) → dunning schedules.

A change that changes nothing (a repeated `cancel {atPeriodEnd: true}`, a PATCH with the current values) is a
200 with the subscription as it is: no event and `updatedAt` kept. The legality check still runs first, so e.g.
`PATCH {cancelAtPeriodEnd: false}` on a canceled subscription is a 409 even though the flag is already false
(lifecycle: clearing is refused exactly where setting is).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

from duro.api.unit import Done, NeedsCharge, Step
from duro.billing.lifecycle import Action, Event, Transition, transition
from duro.context import RepositoryContext
from duro.customers.repository import CustomerRepository
from duro.db.repository import DbRow
from duro.events.service import emit
from duro.gateway.protocol import ChargeOutcome
from duro.invoices.repository import InvoiceRepository, TransactionRepository
from duro.kit.errors import Detail, DuroError, conflict, not_found
from duro.notifications.outbox import notify_customer
from duro.payment_methods.service import get_chargeable
from duro.subscriptions.creation import business_now, resume_pending
from duro.subscriptions.renewal import Charge, begin_renewal, finish_renewal
from duro.subscriptions.repository import DunningScheduleRepository, SubscriptionRepository
from duro.subscriptions.schemas import CancelRequest, SubscriptionUpdate
from duro.subscriptions.serializers import subscription_json

RequestedBy = Literal["merchant", "customer"]

# The renewal engine's entry point for "renew now" (resume after the period ended, 03 §7). Looked up at call time
# so this module works before that engine exists; see `resume_subscription`.


async def _lock(ctx: RepositoryContext, sub_id: str) -> DbRow:
    row = await ctx.repo(SubscriptionRepository).get_row(sub_id, for_update=True)
    if row is None:
        raise not_found("No such subscription")
    return row


def _previous(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """`previousAttributes` (05 §1): the old JSON value of every field that changed, `updatedAt` aside."""
    return {k: v for k, v in before.items() if k != "updatedAt" and after.get(k) != v}


def _merged_events(transitions: Iterable[Transition]) -> list[Event]:
    """The events of several transitions of one change, in order, each once: a PATCH that sets metadata and
    `cancelAtPeriodEnd` is one change and gets one `subscription_updated`."""
    out: list[Event] = []
    for t in transitions:
        out.extend(e for e in t.events if e not in out)
    return out


async def _emit_all(
    ctx: RepositoryContext, events: Iterable[Event], obj: dict[str, Any], extras: Mapping[Event, dict[str, Any]]
) -> None:
    for event in events:
        await emit(ctx, event, obj, **extras.get(event, {}))


async def _apply(
    ctx: RepositoryContext, sub: DbRow, changes: Mapping[str, Any], at: datetime
) -> tuple[DbRow, dict[str, Any]]:
    """Write the columns of `changes` whose values differ; returns the row and `previousAttributes`.

    Nothing differs → nothing is written and `previousAttributes` is empty (the caller then emits nothing)."""
    real = {k: v for k, v in changes.items() if sub[k] != v}
    if not real:
        return sub, {}
    row = await ctx.repo(SubscriptionRepository).update_row(sub["id"], {**real, "updated_at": at})
    assert row is not None  # locked by the caller
    return row, _previous(subscription_json(sub), subscription_json(row))


# --- cancel -----------------------------------------------------------------------------------------------------


async def cancel_subscription(
    ctx: RepositoryContext, sub_id: str, body: CancelRequest, *, requested_by: RequestedBy = "merchant"
) -> dict[str, Any]:
    """`POST /v1/subscriptions/{id}/cancel` (03 §7). `requested_by` is `customer` when the portal cancels.

    The stored `cancel_reason` is the latest reason given; a request without one keeps an earlier one from the
    same requester (set with `atPeriodEnd: true`), so the eventual `subscription_cancelled` reports it, but never
    reports the customer's words as the merchant's. The renewal engine reads `cancel_requested_by` and
    `cancel_reason` for the `cancellation` of a period-end cancel."""
    sub = await _lock(ctx, sub_id)
    now = await business_now(ctx, sub["test_clock_id"])
    reason = body.reason
    if reason is None and sub["cancel_requested_by"] == requested_by:
        reason = sub["cancel_reason"]
    if body.at_period_end:
        return await _cancel_at_period_end(ctx, sub, requested_by, reason, now)
    return await _cancel_now(ctx, sub, requested_by, reason, now)


async def _cancel_at_period_end(
    ctx: RepositoryContext, sub: DbRow, requested_by: RequestedBy, reason: str | None, now: datetime
) -> dict[str, Any]:
    t = transition(sub["status"], Action.CANCEL_AT_PERIOD_END)
    if sub["cancel_reason"] != reason:
        # Not a /v1 field: stored without an event or a new `updatedAt` when it is the only difference.
        stored = await ctx.repo(SubscriptionRepository).update_row(sub["id"], {"cancel_reason": reason})
        assert stored is not None
        sub = stored
    row, previous = await _apply(ctx, sub, {"cancel_at_period_end": True, "cancel_requested_by": requested_by}, now)
    out = subscription_json(row)
    if previous:
        await _emit_all(ctx, t.events, out, {Event.SUBSCRIPTION_UPDATED: {"previousAttributes": previous}})
        await _canceled_message(ctx, row, now)
    return out


async def _canceled_message(ctx: RepositoryContext, row: DbRow, at: datetime) -> None:
    """`subscription_canceled` (04 §8) when the merchant or the customer asks, immediately or at period end: the
    customer learns it when it is decided, with the date access ends. One per subscription (dedup key)."""
    await notify_customer(
        ctx,
        "subscription_canceled",
        dedup_key=f"canceled_{row['id']}",
        customer_id=row["customer_id"],
        at=at,
        subscription=row,
    )


async def _cancel_now(
    ctx: RepositoryContext, sub: DbRow, requested_by: RequestedBy, reason: str | None, now: datetime
) -> dict[str, Any]:
    t = transition(sub["status"], Action.CANCEL)
    await _refuse_while_charging(ctx, sub, "cancel")
    credit = await void_open_invoices(ctx, sub["id"], now)
    await ctx.repo(DunningScheduleRepository).cancel_live_for_subscription(sub["id"], now)
    balance, pending_charge = return_credit(sub["balance"], sub["pending_charge"], credit)
    row = await ctx.repo(SubscriptionRepository).update_row(
        sub["id"],
        {
            "status": t.to.value,
            "canceled_at": now,
            "ended_at": now,
            "cancel_requested_by": requested_by,
            "ended_reason": f"canceled_by_{requested_by}",
            "cancel_reason": reason,
            # Fields that describe a status the subscription has left (03 §1.4): "while paused", "while incomplete".
            "paused_at": None,
            "incomplete_expires_at": None,
            "balance": balance,
            "pending_charge": pending_charge,
            "updated_at": now,
        },
    )
    assert row is not None
    out = subscription_json(row)
    cancellation = {"initiatedBy": requested_by, "atPeriodEnd": False, "reason": reason}
    await _emit_all(ctx, t.events, out, {Event.SUBSCRIPTION_CANCELLED: {"cancellation": cancellation}})
    await _canceled_message(ctx, row, now)
    return out


async def _refuse_while_charging(ctx: RepositoryContext, sub: DbRow, action: str) -> None:
    """A charge between its two transactions holds no lock: canceling or pausing then would let its second step
    pay a voided invoice or revive the subscription. Such a window lasts seconds; the caller retries."""
    if await ctx.repo(TransactionRepository).has_pending_for_subscription(sub["id"]):
        raise DuroError(
            409,
            "A payment for this subscription is in progress; retry in a few seconds",
            "illegal_transition",
            [Detail("status", f"{sub['status']} cannot {action} while a payment is in progress")],
        )


async def void_open_invoices(ctx: RepositoryContext, subscription_id: str, at: datetime) -> int:
    """Void every `open` invoice of the subscription (03 §11); returns the sum of their `creditApplied`, which
    goes back to the subscription balance. The caller holds the subscription lock; invoices are locked in id order.

    `hostedPaymentUrl` exists "while the invoice is open and customer-payable" (03 §1.5), so it is cleared. No
    event: the catalog has none for a void (05 §1); the subscription's own event describes the change."""
    invoices = ctx.repo(InvoiceRepository)
    credit = 0
    for invoice in await invoices.open_for_subscription(subscription_id):
        await invoices.update_row(
            invoice["id"], {"status": "void", "voided_at": at, "hosted_payment_url": None, "updated_at": at}
        )
        credit += invoice["credit_applied"]
    return credit


def return_credit(balance: int, pending_charge: int, credit: int) -> tuple[int, int]:
    """(balance, pendingCharge) after `credit` comes back: it first nets a pending proration debit, so the two are
    never both above zero (03 §1.4)."""
    netted = min(pending_charge, credit)
    return balance + credit - netted, pending_charge - netted


# --- pause and resume -------------------------------------------------------------------------------------------


async def pause_subscription(ctx: RepositoryContext, sub_id: str) -> dict[str, Any]:
    """`active` → `paused` (03 §7): `pausedAt` = now; the period end is kept. The billing loop only renews
    `active`/`trialing` subscriptions, so nothing is billed while paused."""
    sub = await _lock(ctx, sub_id)
    now = await business_now(ctx, sub["test_clock_id"])
    t = transition(sub["status"], Action.PAUSE)
    await _refuse_while_charging(ctx, sub, "pause")
    row = await ctx.repo(SubscriptionRepository).update_row(
        sub["id"], {"status": t.to.value, "paused_at": now, "updated_at": now}
    )
    assert row is not None
    out = subscription_json(row)
    await _emit_all(ctx, t.events, out, {})
    return out


async def prepare_resume(ctx: RepositoryContext, sub_id: str) -> Step:
    """`paused` → `active` (03 §7): `pausedAt` = null, event `subscription_resumed`.

    Before `currentPeriodEnd`, billing simply continues at `currentPeriodEnd`. At or after it, the subscription is
    renewed at once, in the request: `billingAnchor` = `currentPeriodEnd` = now, then the renewal algorithm (03 §10)
    in this same transaction; its charge runs after the commit (two steps, like every charge). A failed charge
    leaves the subscription `past_due` with dunning, and the answer is still 200 with that status.
    """
    sub = await _lock(ctx, sub_id)
    now = await business_now(ctx, sub["test_clock_id"])
    t = transition(sub["status"], Action.RESUME)
    subs = ctx.repo(SubscriptionRepository)
    values: dict[str, Any] = {"status": t.to.value, "paused_at": None, "updated_at": now}
    renew = now >= sub["current_period_end"]
    if renew:
        values.update(billing_anchor=now, current_period_end=now)
    row = await subs.update_row(sub["id"], values)
    assert row is not None
    await _emit_all(ctx, t.events, subscription_json(row), {})
    if not renew:
        return Done(subscription_json(row))
    step = await begin_renewal(ctx, sub_id, now)  # this transaction holds the row, so SKIP LOCKED finds it
    if isinstance(step, Charge):
        return NeedsCharge(step.pending, sub_id, _resume_finisher(sub_id, step.pending.transaction_id, now))
    return Done(await _current(ctx, sub_id))


def _resume_finisher(sub_id: str, txn_id: str, now: datetime) -> Any:
    async def finish(ctx: RepositoryContext, outcome: ChargeOutcome) -> Done:
        await finish_renewal(ctx, sub_id, txn_id, outcome, now)
        return Done(await _current(ctx, sub_id))

    return finish


async def resume_after_crash(ctx: RepositoryContext, sub_id: str) -> Step:
    """Take over a crashed resume: finish its renewal charge with the same gateway reference, if one is pending."""
    return await resume_pending(ctx, sub_id, lambda p: _resume_finisher(sub_id, p.transaction_id, p.at))


async def _current(ctx: RepositoryContext, sub_id: str) -> dict[str, Any]:
    row = await ctx.repo(SubscriptionRepository).get_row(sub_id)
    assert row is not None
    return subscription_json(row)


# --- PATCH and cancel-scheduled-change --------------------------------------------------------------------------


async def update_subscription(ctx: RepositoryContext, sub_id: str, body: SubscriptionUpdate) -> dict[str, Any]:
    """`PATCH /v1/subscriptions/{id}` (03 §13.3).

    Legality, per field sent (whatever its value): `paymentMethodId` needs `update` (it also covers `metadata`
    sent alongside), `metadata` alone needs `update_metadata` (every status), `cancelAtPeriodEnd` needs
    `cancel_at_period_end`. All are checked before any write, so a refused PATCH changes nothing. A method must be
    chargeable by the subscription's customer (404 naming `paymentMethodId`, 422 `payment_method_unusable`);
    `null` means "the customer's default". `cancelAtPeriodEnd: true` records the merchant as requester, `false`
    clears the requester and the stored reason. One `subscription_updated` for the whole PATCH, with the old values
    of the changed fields; none when nothing changed."""
    fields = body.provided()
    sub = await _lock(ctx, sub_id)
    now = await business_now(ctx, sub["test_clock_id"])
    transitions: list[Transition] = []
    if "payment_method_id" in fields:
        transitions.append(transition(sub["status"], Action.UPDATE))
    elif "metadata" in fields:
        transitions.append(transition(sub["status"], Action.UPDATE_METADATA))
    if "cancel_at_period_end" in fields:
        transitions.append(transition(sub["status"], Action.CANCEL_AT_PERIOD_END))

    changes: dict[str, Any] = {}
    if "metadata" in fields:
        changes["metadata"] = fields["metadata"]
    pm_id = fields.get("payment_method_id")
    if "payment_method_id" in fields:
        if pm_id is not None and pm_id != sub["payment_method_id"]:
            customer = await ctx.repo(CustomerRepository).get_row(sub["customer_id"])
            assert customer is not None  # customers are never deleted
            # FOR KEY SHARE: a concurrent delete of the method waits, then sees this subscription using it.
            await get_chargeable(ctx, customer, pm_id, lock=True)
        changes["payment_method_id"] = pm_id
    if "cancel_at_period_end" in fields:
        at_end: bool = fields["cancel_at_period_end"]
        changes["cancel_at_period_end"] = at_end
        if at_end:
            changes["cancel_requested_by"] = "merchant"
            if sub["cancel_requested_by"] != "merchant":
                changes["cancel_reason"] = None  # a reason the customer gave is not the merchant's
        else:
            changes.update(cancel_requested_by=None, cancel_reason=None)
    row, previous = await _apply(ctx, sub, changes, now)
    if "paymentMethodId" in previous:
        await ctx.repo(DunningScheduleRepository).adopt_method(sub["id"], row["payment_method_id"], now)
    out = subscription_json(row)
    if previous:
        extras = {Event.SUBSCRIPTION_UPDATED: {"previousAttributes": previous}}
        await _emit_all(ctx, _merged_events(transitions), out, extras)
    return out


async def cancel_scheduled_change(ctx: RepositoryContext, sub_id: str) -> dict[str, Any]:
    """Clear `scheduledPlanId` (action `schedule_plan_change`, 03 §4): 409 `illegal_transition` outside
    `active`/`trialing`, then 409 `no_scheduled_change` when none is scheduled."""
    sub = await _lock(ctx, sub_id)
    now = await business_now(ctx, sub["test_clock_id"])
    t = transition(sub["status"], Action.SCHEDULE_PLAN_CHANGE)
    if sub["scheduled_plan_id"] is None:
        raise conflict("no_scheduled_change", "This subscription has no scheduled plan change")
    row, previous = await _apply(ctx, sub, {"scheduled_plan_id": None}, now)
    out = subscription_json(row)
    await _emit_all(ctx, t.events, out, {Event.SUBSCRIPTION_UPDATED: {"previousAttributes": previous}})
    return out
