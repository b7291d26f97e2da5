"""`POST /v1/invoices/{id}/pay` (03 §11; 04 §4 "Customer- and merchant-initiated payments"): charge an invoice
now, in two transactions around the gateway call (`ApiCall.run_charging`).

First transaction (`prepare_pay`): lock subscription → invoice → dunning schedule (the house order), check that
the invoice is payable and that no charge for it is in flight (a dunning retry holds its schedule `in_flight`; any
other charge holds a `pending` transaction), resolve the method and insert a `pending` transaction with source
`merchant_retry`. It is never a dunning attempt: the schedule is not touched. The transaction id is the idempotency
recovery point. With no method to charge the attempt is recorded as a failed `no_payment_method` transaction and
the call answers 402 at once (its effects commit).

Second transaction (`finish_pay`): record the outcome. Success pays the invoice with the consequences of 03 §4:
`incomplete` → `active` (`pay_incomplete`), or `past_due` → `active` (`recover`, 04 §4 step 4: period set to the
invoice's, schedule `recovered`); either way the paying method becomes the subscription's `paymentMethodId`.
Failure keeps the failed transaction, leaves the schedule unchanged (no attempt counted, no re-decision), emits
`subscription_payment_failed` and answers 402 with `error.payment`.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from duro.api.unit import Done, NeedsCharge, Refused, Step
from duro.billing.lifecycle import Action, Event, can
from duro.charges.service import open_charge, payment_error_details, record_outcome
from duro.context import RepositoryContext
from duro.customers.repository import CustomerRepository
from duro.db.executor import UniqueViolation
from duro.db.repository import DbRow
from duro.events.service import emit
from duro.gateway.protocol import ChargeOutcome
from duro.invoices.payments import payment_event
from duro.invoices.repository import InvoiceRepository, TransactionRepository
from duro.invoices.schemas import PayRequest
from duro.invoices.service import get_invoice
from duro.kit.errors import DuroError, conflict, not_found
from duro.kit.jsonenc import format_ts
from duro.payment_methods.chargeable import disable_method, get_chargeable, resolve_method
from duro.recovery.endings import ACTION_BY_STATUS, settle_invoice
from duro.subscriptions.creation import business_now, pending_charge_for
from duro.subscriptions.repository import DunningScheduleRepository, SubscriptionRepository

log = logging.getLogger(__name__)

SOURCE = "merchant_retry"


def _not_payable(message: str) -> DuroError:
    return conflict("invoice_not_payable", message)


async def _lock(ctx: RepositoryContext, invoice_id: str) -> tuple[DbRow, DbRow | None]:
    """Lock the invoice's subscription, then the invoice (the house order: subscription → invoice)."""
    invoices = ctx.repo(InvoiceRepository)
    peek = await invoices.get_row(invoice_id)
    if peek is None:
        raise not_found("No such invoice")
    sub = None
    if peek["subscription_id"] is not None:
        sub = await ctx.repo(SubscriptionRepository).get_row(peek["subscription_id"], for_update=True)
    invoice = await invoices.get_row(invoice_id, for_update=True)
    assert invoice is not None  # invoices are never deleted
    return invoice, sub


async def _lock_schedule(ctx: RepositoryContext, invoice: DbRow) -> DbRow | None:
    if invoice["dunning_schedule_id"] is None:
        return None
    return await ctx.repo(DunningScheduleRepository).get_row(invoice["dunning_schedule_id"], for_update=True)


def _check_payable(invoice: DbRow, sub: DbRow | None, now: datetime) -> None:
    """`open` invoices, and `uncollectible` ones whose subscription is still `past_due` (03 §1.5, §11)."""
    status = invoice["status"]
    if status not in ("open", "uncollectible"):
        raise _not_payable(f"The invoice is {status}")
    if sub is None:  # a one-off invoice: nothing but the invoice changes
        if status != "open":
            raise _not_payable(f"The invoice is {status}")
        return
    action = ACTION_BY_STATUS.get(sub["status"])
    if action is None or not can(sub["status"], action) or (status == "uncollectible" and action != Action.RECOVER):
        raise _not_payable(f"The invoice's subscription is {sub['status']}")
    expires = sub["incomplete_expires_at"]
    if action == Action.PAY_INCOMPLETE and expires is not None and expires <= now:
        # Past its 23 h the billing loop is about to void the invoice (03 §5): charging now would race it.
        raise _not_payable("The time to pay this subscription's first invoice has run out")


async def _method_to_charge(
    ctx: RepositoryContext, customer: DbRow, sub: DbRow | None, body: PayRequest
) -> DbRow | None:
    """The explicit method (404 / 422 naming `paymentMethodId`), else the subscription's, else the customer's
    default. A subscription method that is no longer chargeable is not replaced by the default, as in renewals
    (03 §10 step 7): the attempt is then `no_payment_method`, and the merchant can name a method."""
    if body.payment_method_id is not None:
        return await get_chargeable(ctx, customer, body.payment_method_id)
    own = sub["payment_method_id"] if sub is not None else None
    try:
        return await resolve_method(ctx, customer, own)
    except DuroError:  # the subscription's own method is gone or unusable
        return None


async def prepare_pay(
    ctx: RepositoryContext, invoice_id: str, body: PayRequest, *, source: str = SOURCE
) -> Step | Refused:
    """First transaction; see the module docstring. `source` is `portal_retry` when the customer pays from the
    portal (06 §7); everything else is the same."""
    invoice, sub = await _lock(ctx, invoice_id)
    now = await business_now(ctx, sub["test_clock_id"] if sub is not None else None)
    _check_payable(invoice, sub, now)
    schedule = await _lock_schedule(ctx, invoice)
    if schedule is not None and schedule["state"] == "in_flight":
        raise _not_payable("A retry is in progress for this invoice")
    attempts = await ctx.repo(TransactionRepository).for_invoice(invoice["id"])
    if any(t["status"] == "pending" for t in attempts):
        raise _not_payable("A payment for this invoice is in progress")
    customer = await ctx.repo(CustomerRepository).get_row(invoice["customer_id"])
    assert customer is not None  # customers are never deleted
    method = await _method_to_charge(ctx, customer, sub, body)
    try:
        # Live mode: the KYC reservation refuses with 403 `kyc_required` and everything rolls back (02 §10).
        pending, txn = await open_charge(ctx, invoice=invoice, method=method, source=source, at=now, synchronous=True)
    except UniqueViolation as exc:  # another path opened a charge for this invoice despite the checks above
        raise _not_payable("A payment for this invoice is in progress") from exc
    if pending is None:  # nothing to charge: the failed attempt is kept and the caller gets its 402
        return Refused(await _failed(ctx, invoice, txn, schedule))
    return NeedsCharge(pending, txn["id"], _finisher(txn["id"], refuse=True))


def _finisher(txn_id: str, *, refuse: bool) -> Any:
    async def finish(ctx: RepositoryContext, outcome: ChargeOutcome) -> Done | Refused:
        return await finish_pay(ctx, txn_id, outcome, refuse=refuse)

    return finish


async def finish_pay(
    ctx: RepositoryContext, txn_id: str, outcome: ChargeOutcome, *, refuse: bool = False
) -> Done | Refused:
    """Second transaction: lock subscription → transaction → invoice → schedule, record the outcome and apply it.

    `refuse=False` (crash takeover, maintenance) answers a failure with the invoice as it is instead of the 402
    (01 §8 rule 6: a takeover answers the resource's current state with the success status). A transaction no
    longer `pending` was finished elsewhere: nothing more is done."""
    peek = await ctx.repo(TransactionRepository).get_row(txn_id)
    if peek is None or peek["invoice_id"] is None:
        raise not_found("No such transaction")
    invoice_id: str = peek["invoice_id"]
    sub = None
    if peek["subscription_id"] is not None:
        sub = await ctx.repo(SubscriptionRepository).get_row(peek["subscription_id"], for_update=True)
    at = await business_now(ctx, sub["test_clock_id"] if sub is not None else None)
    txn = await record_outcome(ctx, txn_id, outcome, at)
    if txn is None:
        return Done(await get_invoice(ctx, invoice_id))
    invoice = await ctx.repo(InvoiceRepository).get_row(invoice_id, for_update=True)
    assert invoice is not None
    schedule = await _lock_schedule(ctx, invoice)
    if txn["status"] == "succeeded":
        await settle_invoice(ctx, invoice, sub, schedule, txn, at)
        return Done(await get_invoice(ctx, invoice_id))
    if txn["failure_code"] == "stolen_card" and txn["payment_method_id"]:
        await disable_method(ctx, txn["payment_method_id"], at)
    error = await _failed(ctx, invoice, txn, schedule)
    return Refused(error) if refuse else Done(await get_invoice(ctx, invoice_id))


async def _failed(ctx: RepositoryContext, invoice: DbRow, txn: DbRow, schedule: DbRow | None) -> DuroError:
    """`subscription_payment_failed` with the schedule's next retry (unchanged by this attempt), and the 402."""
    next_at = schedule["next_attempt_at"] if schedule is not None and schedule["state"] == "scheduled" else None
    obj, extra = payment_event(invoice, txn, failureCode=txn["failure_code"], nextAttemptAt=format_ts(next_at))
    await emit(ctx, Event.SUBSCRIPTION_PAYMENT_FAILED, obj, **extra)
    message = txn["failure_message"] or "The payment was declined"
    return DuroError(402, message, txn["failure_code"], payment=payment_error_details(txn))


async def resume_pay(ctx: RepositoryContext, txn_id: str) -> Step:
    """Take over a crashed pay request (01 §8 rule 6): finish its pending charge with the same gateway reference,
    else answer the invoice as it is."""
    txn = await ctx.repo(TransactionRepository).get_row(txn_id)
    if txn is None or txn["invoice_id"] is None:
        raise not_found("No such transaction")
    if txn["status"] == "pending":
        pending = await pending_charge_for(ctx, txn["invoice_id"])
        if pending is not None and pending.transaction_id == txn_id:
            return NeedsCharge(pending, txn_id, _finisher(txn_id, refuse=False))
    return Done(await get_invoice(ctx, txn["invoice_id"]))
