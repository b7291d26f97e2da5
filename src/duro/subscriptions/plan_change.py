"""Changing plan (03 §8): `POST /v1/subscriptions/{id}/change-plan` and its side-effect-free preview.

The arithmetic is `billing.proration.quote_change` (pure); this module applies a quote. A change that must charge
now (`prorate_now` charge case, `full_now`) runs in two transactions around the gateway call and is applied only
when the charge succeeds: on failure the invoice is voided, the failed transaction kept, and the call answers 402.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from duro.api.unit import Done, NeedsCharge, Refused, Step
from duro.billing.cycles import next_boundary
from duro.billing.lifecycle import Action, Event, can, illegal_transition
from duro.billing.proration import ProrationQuote, discount_for, quote_change, renewal_amount
from duro.charges.service import open_charge, payment_error_details, record_outcome
from duro.context import RepositoryContext
from duro.customers.repository import CustomerRepository
from duro.db.repository import DbRow
from duro.events.service import emit
from duro.gateway.protocol import ChargeOutcome
from duro.invoices.payments import mark_paid, payment_event
from duro.invoices.repository import InvoiceRepository
from duro.invoices.serializers import invoice_json
from duro.kit.errors import Detail, DuroError, conflict, invalid_field, not_found
from duro.kit.ids import new_id, new_ulid
from duro.kit.jsonenc import format_ts
from duro.kit.validation import RequestModel
from duro.notifications.outbox import queue_receipts
from duro.payment_methods.chargeable import disable_method, resolve_method
from duro.plans.repository import PlanRepository
from duro.promo_codes.repository import PromoCodeRepository
from duro.subscriptions.creation import business_now, pending_charge_for
from duro.subscriptions.repository import SubscriptionRepository
from duro.subscriptions.serializers import subscription_json


class PlanChangeRequest(RequestModel):
    plan_id: str = Field(min_length=1, max_length=64)
    proration_behavior: Literal["prorate_now", "prorate_next_invoice", "full_now", "none"] = "prorate_now"
    effective: Literal["now", "period_end"] = "now"


async def _load(
    ctx: RepositoryContext, sub_id: str, body: PlanChangeRequest, *, lock: bool
) -> tuple[DbRow, DbRow, DbRow, datetime, ProrationQuote]:
    sub = await ctx.repo(SubscriptionRepository).get_row(sub_id, for_update=lock)
    if sub is None:
        raise not_found("No such subscription")
    action = Action.SCHEDULE_PLAN_CHANGE if body.effective == "period_end" else Action.CHANGE_PLAN
    if not can(sub["status"], action):
        raise illegal_transition(sub["status"], action)
    new_plan = await ctx.repo(PlanRepository).get_row(body.plan_id)
    if new_plan is None:
        raise not_found("No such plan", path="planId")
    if not new_plan["active"]:
        raise conflict("plan_inactive", "This plan is archived")
    old_plan = await ctx.repo(PlanRepository).get_row(sub["plan_id"])
    assert old_plan is not None
    if new_plan["currency"] != old_plan["currency"]:
        raise invalid_field("planId", f"must be a plan in {old_plan['currency']}", reason="currency_mismatch")
    if new_plan["id"] == old_plan["id"]:
        raise invalid_field("planId", "is already the subscription's plan", reason="same_plan")
    now = await business_now(ctx, sub["test_clock_id"])
    quote = quote_change(
        period_start=sub["current_period_start"],
        period_end=sub["current_period_end"],
        now=max(now, sub["current_period_start"]),
        old_amount=old_plan["amount"],
        new_amount=new_plan["amount"],
        behavior=body.proration_behavior,
        effective=body.effective,
        trialing=sub["status"] == "trialing",
        balance=sub["balance"],
        pending_charge=sub["pending_charge"],
    )
    return sub, old_plan, new_plan, now, quote


async def preview(ctx: RepositoryContext, sub_id: str, body: PlanChangeRequest) -> dict[str, Any]:
    sub, _old_plan, new_plan, now, quote = await _load(ctx, sub_id, body, lock=False)
    next_date = sub["current_period_end"]
    if quote.resets_period:
        next_date = next_boundary(now, new_plan["interval"], new_plan["interval_count"], now)
    discount = await _next_discount(ctx, sub, new_plan)  # the next invoice bills the new plan either way
    nxt = renewal_amount(new_plan["amount"], quote.pending_charge_after, discount, quote.balance_after)
    return {
        "object": "plan_change_preview",
        "proration": quote.preview_proration_object(),
        "amountDueNow": quote.amount_due_now,
        "balanceAfter": quote.balance_after,
        "pendingChargeAfter": quote.pending_charge_after,
        "nextInvoice": {"date": format_ts(next_date), "amount": nxt.amount},
    }


async def _next_discount(ctx: RepositoryContext, sub: DbRow, plan: DbRow) -> int:
    if sub["promo_code_id"] is None or sub["discount_cycles_remaining"] == 0:
        return 0
    promo = await ctx.repo(PromoCodeRepository).get_row(sub["promo_code_id"])
    if promo is None or (promo["plan_id"] is not None and promo["plan_id"] != plan["id"]):
        return 0
    if promo["discount_type"] == "fixed" and promo["currency"] != plan["currency"]:
        return 0
    return discount_for(plan["amount"], promo["discount_type"], promo["discount_value"])


def _response(sub: DbRow, quote: ProrationQuote, invoice: DbRow | None) -> dict[str, Any]:
    return {
        "subscription": subscription_json(sub),
        "proration": quote.proration_object(),
        "invoice": invoice_json(invoice) if invoice is not None else None,
    }


async def prepare_change(ctx: RepositoryContext, sub_id: str, body: PlanChangeRequest) -> Step | Refused:
    sub, old_plan, new_plan, now, quote = await _load(ctx, sub_id, body, lock=True)
    subs = ctx.repo(SubscriptionRepository)
    if not quote.swaps_plan_now:
        if sub["scheduled_plan_id"] == new_plan["id"]:
            return Done(_response(sub, quote, None))
        row = await subs.update_row(sub_id, {"scheduled_plan_id": new_plan["id"], "updated_at": now})
        assert row is not None
        await emit(
            ctx,
            Event.SUBSCRIPTION_UPDATED,
            subscription_json(row),
            previousAttributes={"scheduledPlanId": sub["scheduled_plan_id"]},
        )
        return Done(_response(row, quote, None))
    if quote.invoice_kind is None:
        row = await _apply(ctx, sub, old_plan, new_plan, quote, now)
        return Done(_response(row, quote, None))

    # An invoice now: the proration charge, or the full new price (`plan_reset`). The row lock is released while
    # the gateway is called, so a second change must not start meanwhile: it would be quoted on stale figures.
    for other in await ctx.repo(InvoiceRepository).open_for_subscription(sub_id):
        if other["kind"] in ("proration", "plan_reset"):
            raise DuroError(
                409,
                "A plan change is already being charged",
                "illegal_transition",
                [Detail("status", f"{sub['status']} cannot change_plan while a plan change is being charged")],
            )
    if quote.resets_period:
        period_start = now
        period_end = next_boundary(now, new_plan["interval"], new_plan["interval_count"], now)
        line = {
            "type": "plan",
            "description": new_plan["name"],
            "amount": quote.invoice_subtotal,
            "periodStart": format_ts(period_start),
            "periodEnd": format_ts(period_end),
        }
    else:
        period_start, period_end = now, sub["current_period_end"]
        line = {
            "type": "proration",
            "description": f"{old_plan['name']} → {new_plan['name']} (prorated)",
            "amount": quote.invoice_subtotal,
            "periodStart": format_ts(now),
            "periodEnd": format_ts(sub["current_period_end"]),
        }
    lines: list[dict[str, Any]] = [line]
    if quote.credit_applied:
        lines.append(
            {
                "type": "credit",
                "description": "Account credit",
                "amount": -quote.credit_applied,
                "periodStart": None,
                "periodEnd": None,
            }
        )
    invoice_id = new_id("inv")
    invoice = await ctx.repo(InvoiceRepository).insert_row(
        {
            "id": invoice_id,
            "customer_id": sub["customer_id"],
            "subscription_id": sub_id,
            "kind": quote.invoice_kind,
            "status": "open",
            "currency": new_plan["currency"],
            "subtotal": quote.invoice_subtotal,
            "discount": 0,
            "credit_applied": quote.credit_applied,
            "amount": quote.amount_due_now,
            "amount_paid": 0,
            "amount_refunded": 0,
            "lines": lines,
            "period_start": period_start,
            "period_end": period_end,
            "idempotency_key": f"planchange_{sub_id}_{new_ulid()}",
            "created_at": now,
            "updated_at": now,
        }
    )
    if quote.amount_due_now == 0:  # the credit balance covers it: paid without a transaction
        row = await _apply(ctx, sub, old_plan, new_plan, quote, now, invoice=invoice, txn=None)
        fresh = await ctx.repo(InvoiceRepository).get_row(invoice_id)
        return Done(_response(row, quote, fresh))
    customer = await ctx.repo(CustomerRepository).get_row(sub["customer_id"])
    assert customer is not None
    try:
        method = await resolve_method(ctx, customer, sub["payment_method_id"])
    except DuroError:
        method = None
    pending, txn = await open_charge(
        ctx, invoice=invoice, method=method, source="plan_change", at=now, synchronous=True
    )
    if pending is None:
        return await _refuse(ctx, invoice, txn, now)
    return NeedsCharge(pending, sub_id, _finisher(sub_id, body, pending.transaction_id))


def _finisher(sub_id: str, body: PlanChangeRequest, txn_id: str) -> Any:
    async def finish(ctx: RepositoryContext, outcome: ChargeOutcome) -> Done | Refused:
        return await finish_change(ctx, sub_id, body, txn_id, outcome)

    return finish


async def finish_change(
    ctx: RepositoryContext, sub_id: str, body: PlanChangeRequest, txn_id: str, outcome: ChargeOutcome
) -> Done | Refused:
    sub = await ctx.repo(SubscriptionRepository).get_row(sub_id, for_update=True)
    if sub is None:
        raise not_found("No such subscription")
    now = await business_now(ctx, sub["test_clock_id"])
    txn = await record_outcome(ctx, txn_id, outcome, now)
    if txn is None:
        return Done({"subscription": subscription_json(sub), "proration": None, "invoice": None})
    invoice = await ctx.repo(InvoiceRepository).get_row(txn["invoice_id"], for_update=True)
    assert invoice is not None
    if txn["status"] != "succeeded":
        if txn["failure_code"] == "stolen_card" and txn["payment_method_id"]:
            await disable_method(ctx, txn["payment_method_id"], now)
        return await _refuse(ctx, invoice, txn, now)
    old_plan = await ctx.repo(PlanRepository).get_row(sub["plan_id"])
    new_plan = await ctx.repo(PlanRepository).get_row(body.plan_id)
    assert old_plan is not None
    assert new_plan is not None
    # Re-quote against the locked row: it is what the first step charged for (the period has not moved since).
    quote = quote_change(
        period_start=sub["current_period_start"],
        period_end=sub["current_period_end"],
        now=max(invoice["created_at"], sub["current_period_start"]),
        old_amount=old_plan["amount"],
        new_amount=new_plan["amount"],
        behavior=body.proration_behavior,
        effective=body.effective,
        trialing=False,
        balance=sub["balance"],
        pending_charge=sub["pending_charge"],
    )
    row = await _apply(ctx, sub, old_plan, new_plan, quote, invoice["created_at"], invoice=invoice, txn=txn)
    fresh = await ctx.repo(InvoiceRepository).get_row(invoice["id"])
    return Done(_response(row, quote, fresh))


async def _refuse(ctx: RepositoryContext, invoice: DbRow, txn: DbRow, now: datetime) -> Refused:
    """The change is not applied: void the invoice, keep the failed transaction, answer 402 (03 §8)."""
    voided = await ctx.repo(InvoiceRepository).update_row(
        invoice["id"], {"status": "void", "voided_at": now, "updated_at": now}
    )
    assert voided is not None
    await emit(ctx, Event.INVOICE_CREATED, invoice_json(invoice))
    obj, extra = payment_event(voided, txn, failureCode=txn["failure_code"], nextAttemptAt=None)
    await emit(ctx, Event.SUBSCRIPTION_PAYMENT_FAILED, obj, **extra)
    message = txn["failure_message"] or "The charge for the plan change was declined"
    error = DuroError(402, message, txn["failure_code"], payment=payment_error_details(txn))
    return Refused(error)


async def _apply(
    ctx: RepositoryContext,
    sub: DbRow,
    old_plan: DbRow,
    new_plan: DbRow,
    quote: ProrationQuote,
    now: datetime,
    *,
    invoice: DbRow | None = None,
    txn: DbRow | None = None,
) -> DbRow:
    values: dict[str, Any] = {
        "plan_id": new_plan["id"],
        "scheduled_plan_id": None,
        "balance": quote.balance_after,
        "pending_charge": quote.pending_charge_after,
        "updated_at": now,
    }
    if quote.resets_period:
        values.update(
            billing_anchor=now,
            current_period_start=now,
            current_period_end=next_boundary(now, new_plan["interval"], new_plan["interval_count"], now),
            cycles_completed=sub["cycles_completed"] + 1,
        )
    elif sub["status"] == "active" and (new_plan["interval"], new_plan["interval_count"]) != (
        old_plan["interval"],
        old_plan["interval_count"],
    ):
        values["billing_anchor"] = sub["current_period_end"]  # the next period has the new length (03 §8)
    if invoice is not None:
        values["latest_invoice_id"] = invoice["id"]
    row = await ctx.repo(SubscriptionRepository).update_row(sub["id"], values)
    assert row is not None
    await emit(
        ctx,
        Event.SUBSCRIPTION_PLAN_CHANGED,
        subscription_json(row),
        previousPlanId=old_plan["id"],
        proration=quote.proration_object(),
    )
    if invoice is not None:
        await emit(ctx, Event.INVOICE_CREATED, invoice_json(invoice))
        paid = await mark_paid(ctx, invoice, now)
        await emit(ctx, Event.INVOICE_PAID, invoice_json(paid))
        obj, extra = payment_event(paid, txn)
        await emit(ctx, Event.SUBSCRIPTION_PAYMENT_SUCCESS, obj, **extra)
        if txn is not None:  # a charge, not a zero-amount invoice (04 §8)
            await queue_receipts(ctx, [paid], now)
    return row


async def resume_change(ctx: RepositoryContext, sub_id: str, body: PlanChangeRequest) -> Step:
    """Take over a crashed change: finish its pending charge with the same gateway reference."""
    sub = await ctx.repo(SubscriptionRepository).get_row(sub_id)
    if sub is None:
        raise not_found("No such subscription")
    invoices = await ctx.repo(InvoiceRepository).open_for_subscription(sub_id)
    for invoice in invoices:
        pending = await pending_charge_for(ctx, invoice["id"])
        if pending is not None:
            return NeedsCharge(pending, sub_id, _finisher(sub_id, body, pending.transaction_id))
    return Done({"subscription": subscription_json(sub), "proration": None, "invoice": None})
