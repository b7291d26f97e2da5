"""`renew()` (03 §10): one period of one subscription, exactly once, whatever crashes and however many workers.

T1 locks the subscription (`SKIP LOCKED`: a busy row is someone else's), re-checks that it is due, handles
cancel-at-period-end, `maxCycles` and a scheduled plan change, then creates the period's invoice under the unique
key `renewal_{subId}_{periodStart}` and a `pending` transaction. The gateway is called with no transaction open.
T2 records the outcome: success assigns the invoice's period to the subscription (never an increment, so nothing
is advanced twice); failure moves it to `past_due` and opens the dunning schedule.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from duro.billing.cycles import next_boundary
from duro.billing.lifecycle import Event
from duro.billing.proration import discount_for, renewal_amount
from duro.charges.service import PendingCharge, open_charge, record_outcome
from duro.context import RepositoryContext
from duro.customers.repository import CustomerRepository
from duro.db.repository import DbRow
from duro.events.service import emit
from duro.gateway.protocol import ChargeOutcome
from duro.invoices.payments import mark_paid, payment_event
from duro.invoices.repository import InvoiceRepository
from duro.invoices.serializers import invoice_json
from duro.kit.errors import DuroError
from duro.kit.ids import new_id
from duro.kit.jsonenc import format_ts
from duro.models.billing import invoices, subscriptions
from duro.notifications.outbox import queue_receipts
from duro.payment_methods.chargeable import disable_method, resolve_method
from duro.plans.repository import PlanRepository
from duro.promo_codes.repository import PromoCodeRepository
from duro.promo_codes.service import discount_line
from duro.recovery.decisions import announce_opening, open_schedule
from duro.subscriptions.repository import SubscriptionRepository
from duro.subscriptions.serializers import subscription_json

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Finished:
    """T1 finished the renewal (or found nothing to do); `outcome` says what happened, for logs and metrics."""

    outcome: str


@dataclass(frozen=True, slots=True)
class Charge:
    pending: PendingCharge
    subscription_id: str


# The two statements every renewal runs are built once (values are bound per call): building and cache-keying a
# fresh statement costs more CPU than executing a cached one (the invoice insert has twenty columns).
_LOCK_SKIP_LOCKED = (
    select(subscriptions)
    .where(subscriptions.c.tenant_id == bindparam("b_tenant_id"), subscriptions.c.id == bindparam("b_id"))
    .with_for_update(skip_locked=True)
)
_INSERT_INVOICE_ONCE = (
    pg_insert(invoices).on_conflict_do_nothing(index_elements=["tenant_id", "idempotency_key"]).returning(invoices)
)


async def _lock_due(ctx: RepositoryContext, sub_id: str, now: datetime) -> DbRow | None:
    params = {"b_tenant_id": ctx.tenant_id, "b_id": sub_id}
    sub: DbRow | None = (await ctx.conn.execute(_LOCK_SKIP_LOCKED, params)).first()
    if sub is None or sub["status"] not in ("active", "trialing") or sub["current_period_end"] > now:
        return None
    return sub


async def begin_renewal(ctx: RepositoryContext, sub_id: str, now: datetime) -> Finished | Charge:
    """T1. `now` is the wall clock, or the subscription's test clock time."""
    sub = await _lock_due(ctx, sub_id, now)
    if sub is None:
        return Finished("not_due")
    subs = ctx.repo(SubscriptionRepository)
    plan = await ctx.repo(PlanRepository).get_row(sub["plan_id"])
    assert plan is not None
    end = sub["current_period_end"]

    if sub["cancel_at_period_end"]:
        by = sub["cancel_requested_by"] or "merchant"
        row = await subs.update_row(
            sub_id,
            {
                "status": "canceled",
                "ended_at": end,
                "canceled_at": end,
                "ended_reason": f"canceled_by_{by}",
                "updated_at": now,
            },
        )
        assert row is not None
        cancellation = {"initiatedBy": by, "atPeriodEnd": True, "reason": sub["cancel_reason"]}
        await emit(ctx, Event.SUBSCRIPTION_CANCELLED, subscription_json(row), cancellation=cancellation)
        return Finished("canceled")

    if plan["max_cycles"] is not None and sub["cycles_completed"] >= plan["max_cycles"]:
        row = await subs.update_row(
            sub_id, {"status": "expired", "ended_at": end, "ended_reason": "max_cycles", "updated_at": now}
        )
        assert row is not None
        await emit(ctx, Event.SUBSCRIPTION_EXPIRED, subscription_json(row))
        return Finished("expired")

    anchor = sub["billing_anchor"]
    promo_cycles = sub["discount_cycles_remaining"]
    if sub["scheduled_plan_id"] is not None:
        new_plan = await ctx.repo(PlanRepository).get_row(sub["scheduled_plan_id"])
        assert new_plan is not None
        if (new_plan["interval"], new_plan["interval_count"]) != (plan["interval"], plan["interval_count"]):
            anchor = end  # a new interval starts from this boundary (03 §8)
        previous = plan["id"]
        plan = new_plan
        row = await subs.update_row(
            sub_id, {"plan_id": plan["id"], "scheduled_plan_id": None, "billing_anchor": anchor, "updated_at": now}
        )
        assert row is not None
        sub = row
        await emit(
            ctx,
            Event.SUBSCRIPTION_PLAN_CHANGED,
            subscription_json(row),
            previousPlanId=previous,
            proration={"amount": 0, "kind": "none", "behavior": "none"},
        )

    period_start = end
    period_end = next_boundary(anchor, plan["interval"], plan["interval_count"], period_start)
    lines: list[dict[str, Any]] = [
        {
            "type": "plan",
            "description": plan["name"],
            "amount": plan["amount"],
            "periodStart": format_ts(period_start),
            "periodEnd": format_ts(period_end),
        },
    ]
    if sub["pending_charge"] > 0:
        lines.append(
            {
                "type": "proration",
                "description": "Plan change proration",
                "amount": sub["pending_charge"],
                "periodStart": None,
                "periodEnd": None,
            }
        )
    discount = 0
    promo = await _applicable_promo(ctx, sub, plan)
    if promo is not None:
        discount = discount_for(plan["amount"], promo["discount_type"], promo["discount_value"])
        lines.append(discount_line(promo, discount))
        if promo_cycles is not None:
            promo_cycles -= 1
    money = renewal_amount(plan["amount"], sub["pending_charge"], discount, sub["balance"])
    if money.credit_applied:
        lines.append(
            {
                "type": "credit",
                "description": "Account credit",
                "amount": -money.credit_applied,
                "periodStart": None,
                "periodEnd": None,
            }
        )

    invoice_id = new_id("inv")
    key = f"renewal_{sub_id}_{format_ts(period_start)}"
    inserted = (
        await ctx.conn.execute(
            _INSERT_INVOICE_ONCE,
            {
                "id": invoice_id,
                "tenant_id": ctx.tenant_id,
                "customer_id": sub["customer_id"],
                "subscription_id": sub_id,
                "kind": "renewal",
                "status": "open",
                "currency": plan["currency"],
                "subtotal": money.subtotal,
                "discount": discount,
                "credit_applied": money.credit_applied,
                "amount": money.amount,
                "amount_paid": 0,
                "amount_refunded": 0,
                "lines": lines,
                "period_start": period_start,
                "period_end": period_end,
                "promo_code_id": sub["promo_code_id"] if promo is not None else None,
                "idempotency_key": key,
                "created_at": now,
                "updated_at": now,
            },
        )
    ).first()
    if inserted is None:
        # This period was invoiced by a run that crashed after T1: its pending charge belongs to crash recovery.
        log.warning("renewal invoice %s already exists; leaving it to crash recovery", key)
        return Finished("already_invoiced")
    invoice: DbRow = inserted
    sub_after = await subs.update_row(
        sub_id,
        {
            "balance": money.new_balance,
            "pending_charge": 0,
            "discount_cycles_remaining": promo_cycles,
            "latest_invoice_id": invoice_id,
            "updated_at": now,
        },
    )
    assert sub_after is not None
    await emit(ctx, Event.INVOICE_CREATED, invoice_json(invoice))

    if money.amount == 0:
        await _succeeded(ctx, sub_after, invoice, None, now)
        return Finished("renewed")
    customer = await ctx.repo(CustomerRepository).get_row(sub["customer_id"])
    assert customer is not None
    try:
        method = await resolve_method(ctx, customer, sub["payment_method_id"])
    except DuroError:  # the subscription's own method is gone or unusable: nothing to charge (no fallback)
        method = None
    pending, txn = await open_charge(
        ctx, invoice=invoice, method=method, source="renewal", at=now, synchronous=False, new_invoice=True
    )
    if pending is None:
        await _failed(ctx, sub_after, invoice, txn, now)
        return Finished("failed")
    return Charge(pending, sub_id)


async def _applicable_promo(ctx: RepositoryContext, sub: DbRow, plan: DbRow) -> DbRow | None:
    if sub["promo_code_id"] is None or sub["discount_cycles_remaining"] == 0:
        return None
    promo = await ctx.repo(PromoCodeRepository).get_row(sub["promo_code_id"])
    if promo is None:
        return None
    if promo["plan_id"] is not None and promo["plan_id"] != plan["id"]:
        return None  # a code scoped to another plan stops applying after a plan change (03 §8)
    if promo["discount_type"] == "fixed" and promo["currency"] != plan["currency"]:
        return None
    return promo


async def finish_renewal(
    ctx: RepositoryContext, sub_id: str, txn_id: str, outcome: ChargeOutcome, now: datetime
) -> str:
    """T2: lock the subscription, then the transaction; a transaction no longer pending was finished elsewhere."""
    sub = await ctx.repo(SubscriptionRepository).get_row(sub_id, for_update=True)
    if sub is None:
        return "gone"
    txn = await record_outcome(ctx, txn_id, outcome, now)
    if txn is None:
        return "already_finished"
    invoice = await ctx.repo(InvoiceRepository).get_row(txn["invoice_id"], for_update=True)
    assert invoice is not None
    if txn["status"] == "succeeded":
        await _succeeded(ctx, sub, invoice, txn, now)
        return "renewed"
    if txn["failure_code"] == "stolen_card" and txn["payment_method_id"]:
        await disable_method(ctx, txn["payment_method_id"], now)
    await _failed(ctx, sub, invoice, txn, now)
    return "failed"


async def _succeeded(ctx: RepositoryContext, sub: DbRow, invoice: DbRow, txn: DbRow | None, now: datetime) -> None:
    paid = await mark_paid(ctx, invoice, now)
    was_trialing = sub["status"] == "trialing"
    row = await ctx.repo(SubscriptionRepository).update_row(
        sub["id"],
        {
            # Only a renewing subscription becomes active; the status never changes behind a cancel or pause.
            "status": "active" if sub["status"] in ("active", "trialing") else sub["status"],
            # Assignment from the paid invoice, never an increment: a replay cannot advance twice (03 §10).
            "current_period_start": paid["period_start"],
            "current_period_end": paid["period_end"],
            "cycles_completed": sub["cycles_completed"] + 1,
            "activated_at": sub["activated_at"] or now,
            "updated_at": now,
        },
    )
    assert row is not None
    await emit(ctx, Event.INVOICE_PAID, invoice_json(paid))
    obj, extra = payment_event(paid, txn)
    await emit(ctx, Event.SUBSCRIPTION_PAYMENT_SUCCESS, obj, **extra)
    if was_trialing:
        await emit(ctx, Event.SUBSCRIPTION_ACTIVATED, subscription_json(row), invoiceId=paid["id"])
    await queue_receipts(ctx, [paid], now)  # 03 §10 step 10


async def _failed(ctx: RepositoryContext, sub: DbRow, invoice: DbRow, txn: DbRow, now: datetime) -> None:
    """Step 11, in one transaction: past_due, the dunning schedule (04 §4), then the events, the
    action-required event when the schedule waits for a new method, and the first dunning message (03 §10)."""
    opened = await open_schedule(ctx, sub, invoice, txn, now)
    schedule_id = opened.schedule["id"]
    row = await ctx.repo(SubscriptionRepository).update_row(sub["id"], {"status": "past_due", "updated_at": now})
    assert row is not None
    fresh = await ctx.repo(InvoiceRepository).get_row(invoice["id"])
    assert fresh is not None
    obj, extra = payment_event(
        fresh, txn, failureCode=txn["failure_code"], nextAttemptAt=format_ts(opened.next_attempt_at)
    )
    await emit(ctx, Event.SUBSCRIPTION_PAYMENT_FAILED, obj, **extra)
    await emit(
        ctx, Event.SUBSCRIPTION_PAST_DUE, subscription_json(row), invoiceId=invoice["id"], scheduleId=schedule_id
    )
    await announce_opening(ctx, opened, row, fresh, now)
