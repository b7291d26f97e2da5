"""`POST /v1/subscriptions` (03 §5): validate, create, and charge the first period in two transactions.

First transaction: the subscription (status `incomplete` until paid, or `trialing`), its invoice and a `pending`
transaction; the subscription id is the idempotency recovery point. The gateway is called outside any transaction.
Second transaction: `finish_create` records the outcome and activates the subscription, or leaves it `incomplete`.
`resume_create` re-enters the flow from the database alone, for a retry that takes over a crashed request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from duro.api.unit import Done, NeedsCharge, Step
from duro.billing.cycles import add_calendar_days, next_boundary
from duro.billing.lifecycle import Event
from duro.billing.proration import discount_for
from duro.charges.service import PendingCharge, open_charge, record_outcome
from duro.context import RepositoryContext
from duro.customers.repository import CustomerRepository
from duro.db.repository import DbRow
from duro.events.service import emit
from duro.gateway.protocol import ChargeMethod, ChargeOutcome
from duro.invoices.payments import mark_paid, payment_event
from duro.invoices.repository import InvoiceRepository, TransactionRepository
from duro.invoices.serializers import invoice_json
from duro.kit.errors import conflict, forbidden, not_found
from duro.kit.ids import new_id
from duro.kit.jsonenc import format_ts
from duro.notifications.outbox import queue_receipts
from duro.payment_methods.chargeable import disable_method, gateway_token_of, get_chargeable, resolve_method
from duro.plans.repository import PlanRepository
from duro.promo_codes.service import discount_line, initial_discount_cycles, redeem_for_plan
from duro.subscriptions.repository import SubscriptionRepository, TestClockRepository
from duro.subscriptions.schemas import SubscriptionCreate
from duro.subscriptions.serializers import subscription_json
from duro.test_clocks.capacity import lock_clock_for_attach

INCOMPLETE_LIFETIME = timedelta(hours=23)
log = logging.getLogger(__name__)


async def business_now(ctx: RepositoryContext, test_clock_id: str | None) -> datetime:
    """ "Now" for a subscription: its test clock's frozen time when attached, else the request clock (03 §12)."""
    if test_clock_id is None:
        return ctx.clock.now()
    clock = await ctx.repo(TestClockRepository).get_row(test_clock_id)
    if clock is None:
        raise not_found("No such test clock", path="testClockId")
    frozen: datetime = clock["frozen_time"]
    return frozen


async def prepare_create(ctx: RepositoryContext, body: SubscriptionCreate) -> Step:
    customer = await ctx.repo(CustomerRepository).get_row(body.customer_id)
    if customer is None:
        raise not_found("No such customer", path="customerId")
    plan = await ctx.repo(PlanRepository).get_row(body.plan_id)
    if plan is None:
        raise not_found("No such plan", path="planId")
    if not plan["active"]:
        raise conflict("plan_inactive", "This plan is archived and cannot start new subscriptions")
    if customer["blacklisted"]:
        raise forbidden("customer_blacklisted", "This customer is blacklisted")
    if body.test_clock_id is not None and ctx.mode == "live":
        raise forbidden("test_mode_only", "Test clocks exist in test mode only")
    if body.test_clock_id is not None:
        # Locked first (before the method and the promo code) and until this transaction commits: 03 §12 limit.
        clock = await lock_clock_for_attach(ctx, body.test_clock_id)
        now: datetime = clock["frozen_time"]
    else:
        now = ctx.clock.now()
    method = await get_chargeable(ctx, customer, body.payment_method_id, lock=True) if body.payment_method_id else None
    promo = await redeem_for_plan(ctx, body.promo_code, plan, now) if body.promo_code else None

    trial_days = body.trial_days if body.trial_days is not None else int(plan["trial_days"])
    sub_id = new_id("sub")
    base: dict[str, Any] = {
        "id": sub_id,
        "customer_id": customer["id"],
        "plan_id": plan["id"],
        "payment_method_id": body.payment_method_id,
        "promo_code_id": promo["id"] if promo is not None else None,
        "discount_cycles_remaining": initial_discount_cycles(promo) if promo is not None else None,
        "test_clock_id": body.test_clock_id,
        "metadata": body.metadata,
        "balance": 0,
        "pending_charge": 0,
        "created_at": now,
        "updated_at": now,
    }
    subs = ctx.repo(SubscriptionRepository)
    if trial_days > 0:
        trial_end = add_calendar_days(now, trial_days)
        row = await subs.insert_row(
            {
                **base,
                "status": "trialing",
                "current_period_start": now,
                "current_period_end": trial_end,
                "billing_anchor": trial_end,
                "trial_start": now,
                "trial_end": trial_end,
                "cycles_completed": 0,
            }
        )
        await emit(ctx, Event.SUBSCRIPTION_CREATED, subscription_json(row))
        return Done(subscription_json(row))

    period_end = next_boundary(now, plan["interval"], plan["interval_count"], now)
    invoice_id = new_id("inv")
    discount = 0
    lines: list[dict[str, Any]] = [
        {
            "type": "plan",
            "description": plan["name"],
            "amount": plan["amount"],
            "periodStart": format_ts(now),
            "periodEnd": format_ts(period_end),
        }
    ]
    cycles_left = base["discount_cycles_remaining"]
    if promo is not None:
        discount = discount_for(plan["amount"], promo["discount_type"], promo["discount_value"])
        lines.append(discount_line(promo, discount))
        if cycles_left is not None:
            cycles_left -= 1  # the counter drops when an invoice carrying the discount is created (§9)
    amount = plan["amount"] - discount
    sub = await subs.insert_row(
        {
            **base,
            "discount_cycles_remaining": cycles_left,
            "status": "incomplete",
            "current_period_start": now,
            "current_period_end": period_end,
            "billing_anchor": now,
            "cycles_completed": 0,
            "latest_invoice_id": invoice_id,
            "incomplete_expires_at": now + INCOMPLETE_LIFETIME,
        }
    )
    invoice = await ctx.repo(InvoiceRepository).insert_row(
        {
            "id": invoice_id,
            "customer_id": customer["id"],
            "subscription_id": sub_id,
            "kind": "subscription_create",
            "status": "open",
            "currency": plan["currency"],
            "subtotal": plan["amount"],
            "discount": discount,
            "credit_applied": 0,
            "amount": amount,
            "amount_paid": 0,
            "amount_refunded": 0,
            "lines": lines,
            "period_start": now,
            "period_end": period_end,
            "promo_code_id": base["promo_code_id"],
            "idempotency_key": f"create_{sub_id}",
            "created_at": now,
            "updated_at": now,
        }
    )
    if amount == 0:
        # A zero-amount invoice is paid at creation without a transaction (03 §1.5): created and active at once.
        await emit(ctx, Event.SUBSCRIPTION_CREATED, subscription_json(sub))
        await emit(ctx, Event.INVOICE_CREATED, invoice_json(invoice))
        return Done(await _activate(ctx, sub, invoice, None, now))

    await emit(ctx, Event.SUBSCRIPTION_CREATED, subscription_json(sub))
    await emit(ctx, Event.INVOICE_CREATED, invoice_json(invoice))
    # FOR KEY SHARE on the method: a concurrent DELETE waits, then sees this subscription using it.
    method = method or await resolve_method(ctx, customer, None, lock=True)
    pending, txn = await open_charge(
        ctx, invoice=invoice, method=method, source="subscription_create", at=now, synchronous=True
    )
    if pending is None:  # nothing to charge: the subscription stays incomplete (201, inspect `status`)
        await _payment_failed(ctx, invoice, txn)
        return Done(subscription_json(sub))
    return NeedsCharge(pending, sub_id, _finisher(sub_id, pending.transaction_id))


def _finisher(sub_id: str, txn_id: str) -> Any:
    async def finish(ctx: RepositoryContext, outcome: ChargeOutcome) -> Done:
        return await finish_create(ctx, sub_id, txn_id, outcome)

    return finish


async def finish_create(ctx: RepositoryContext, sub_id: str, txn_id: str, outcome: ChargeOutcome) -> Done:
    """Second transaction. Locks subscription → transaction → invoice (the house lock order)."""
    subs = ctx.repo(SubscriptionRepository)
    sub = await subs.get_row(sub_id, for_update=True)
    if sub is None:
        raise not_found("No such subscription")
    at = await business_now(ctx, sub["test_clock_id"])
    txn = await record_outcome(ctx, txn_id, outcome, at)
    if txn is None:  # already finished by crash recovery or a concurrent retry: answer the current state
        return Done(subscription_json(sub))
    invoice = await ctx.repo(InvoiceRepository).get_row(txn["invoice_id"], for_update=True)
    assert invoice is not None
    if txn["status"] == "succeeded":
        if sub["status"] != "incomplete" or invoice["status"] != "open":
            # Cancel and pause refuse while a charge is pending, so this is only reachable by a bug: keep the
            # money's record, change nothing else, and make it visible.
            log.error("charge %s succeeded for %s in status %s", txn_id, sub_id, sub["status"])
            return Done(subscription_json(sub))
        paid = await mark_paid(ctx, invoice, at)
        await emit(ctx, Event.INVOICE_PAID, invoice_json(paid))
        obj, extra = payment_event(paid, txn)
        await emit(ctx, Event.SUBSCRIPTION_PAYMENT_SUCCESS, obj, **extra)
        activated = await _activate(ctx, sub, paid, txn, at, emit_invoice_events=False)
        await queue_receipts(ctx, [paid], at)  # a successful charge (04 §8)
        return Done(activated)
    if txn["failure_code"] == "stolen_card" and txn["payment_method_id"]:
        await disable_method(ctx, txn["payment_method_id"], at)
    await _payment_failed(ctx, invoice, txn)
    return Done(subscription_json(sub))


async def _activate(
    ctx: RepositoryContext,
    sub: DbRow,
    invoice: DbRow,
    txn: DbRow | None,
    at: datetime,
    *,
    emit_invoice_events: bool = True,
) -> dict[str, Any]:
    """`incomplete` → `active` for the period computed at creation (03 §5): events per the §4 table."""
    if emit_invoice_events:  # zero-amount path: the invoice is paid here, without a transaction
        invoice = await mark_paid(ctx, invoice, at)
        await emit(ctx, Event.INVOICE_PAID, invoice_json(invoice))
        obj, extra = payment_event(invoice, txn)
        await emit(ctx, Event.SUBSCRIPTION_PAYMENT_SUCCESS, obj, **extra)
    row = await ctx.repo(SubscriptionRepository).update_row(
        sub["id"],
        {
            "status": "active",
            "cycles_completed": 1,
            "activated_at": sub["activated_at"] or at,
            "incomplete_expires_at": None,
            "updated_at": at,
        },
    )
    assert row is not None
    out = subscription_json(row)
    await emit(ctx, Event.SUBSCRIPTION_ACTIVATED, out, invoiceId=invoice["id"])
    return out


async def _payment_failed(ctx: RepositoryContext, invoice: DbRow, txn: DbRow) -> None:
    """The first charge failed: the subscription stays `incomplete` and its invoice gets a hosted payment page until
    `incompleteExpiresAt` (06 §1 "Invoice payment"), then `subscription_payment_failed`."""
    from duro.checkout.sessions import create_invoice_session

    sub = await ctx.repo(SubscriptionRepository).get_row(invoice["subscription_id"])
    if sub is not None and sub["incomplete_expires_at"] is not None and invoice["hosted_payment_url"] is None:
        now = await business_now(ctx, sub["test_clock_id"])
        await create_invoice_session(
            ctx, invoice, expires_at=sub["incomplete_expires_at"], at=now, test_clock_id=sub["test_clock_id"]
        )
        fresh = await ctx.repo(InvoiceRepository).get_row(invoice["id"])
        assert fresh is not None
        invoice = fresh
    obj, extra = payment_event(invoice, txn, failureCode=txn["failure_code"], nextAttemptAt=None)
    await emit(ctx, Event.SUBSCRIPTION_PAYMENT_FAILED, obj, **extra)


async def resume_pending(ctx: RepositoryContext, sub_id: str, finisher: Callable[[PendingCharge], Any]) -> Step:
    """Take over a crashed request on a subscription (01 §8 rule 6): finish the pending charge of its latest
    invoice with the same gateway reference (`finisher` builds the second step), else answer it as it is."""
    sub = await ctx.repo(SubscriptionRepository).get_row(sub_id)
    if sub is None:
        raise not_found("No such subscription")
    pending = await pending_charge_for(ctx, sub["latest_invoice_id"])
    if pending is None:
        return Done(subscription_json(sub))
    return NeedsCharge(pending, sub_id, finisher(pending))


async def resume_create(ctx: RepositoryContext, sub_id: str) -> Step:
    return await resume_pending(ctx, sub_id, lambda p: _finisher(sub_id, p.transaction_id))


async def pending_charge_for(ctx: RepositoryContext, invoice_id: str | None) -> PendingCharge | None:
    """Rebuild the gateway call of an invoice's `pending` transaction from the database."""
    if invoice_id is None:
        return None
    for txn in await ctx.repo(TransactionRepository).for_invoice(invoice_id):
        if txn["status"] != "pending":
            continue
        token = await _token_of(ctx, txn["payment_method_id"])
        if token is None:
            return None
        method = ChargeMethod(rail=txn["rail"], gateway_token=token, payment_method_id=txn["payment_method_id"])
        return PendingCharge(
            txn["id"], method, txn["amount"], txn["currency"], txn["created_at"], txn["attempt_number"]
        )
    return None


async def _token_of(ctx: RepositoryContext, pm_id: str | None) -> str | None:
    return await gateway_token_of(ctx, pm_id) if pm_id else None
