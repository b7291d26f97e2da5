"""Completing a paid (or free) checkout session, in one transaction (06 §3 step 9): the customer, the method, then
what the session sells — a subscription, a one-off payment, or an existing invoice — and `checkout_completed`.

The charge (when there was one) is a transaction linked to the session, made before any of this exists; it is
attached to the invoice created or paid here.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from duro.billing.cycles import add_calendar_days, next_boundary
from duro.billing.lifecycle import Event
from duro.billing.proration import discount_for
from duro.checkout.serializers import session_json
from duro.context import RepositoryContext
from duro.customers.repository import CustomerRepository
from duro.customers.schemas import CustomerCreate
from duro.customers.service import create_customer, link_identity, set_default_payment_method
from duro.db.repository import DbRow
from duro.events.service import emit
from duro.invoices.payments import payment_event
from duro.invoices.repository import InvoiceRepository
from duro.invoices.serializers import invoice_json
from duro.kit.errors import DuroError
from duro.kit.ids import new_id
from duro.kit.jsonenc import format_ts
from duro.models.billing import transactions
from duro.models.checkout import checkout_sessions as cs
from duro.models.customers import customers
from duro.models.payment_methods import payment_methods as pm
from duro.notifications.outbox import queue_receipts
from duro.payment_methods.chargeable import is_chargeable_by
from duro.payment_methods.repository import PaymentMethodRepository
from duro.plans.repository import PlanRepository
from duro.promo_codes.service import discount_line, initial_discount_cycles, redeem_for_plan
from duro.recovery.endings import settle_invoice
from duro.subscriptions.repository import DunningScheduleRepository, SubscriptionRepository
from duro.subscriptions.serializers import subscription_json

log = logging.getLogger(__name__)


def redirect_url(success_url: str | None, session_id: str) -> str | None:
    if success_url is None:
        return None
    return f"{success_url}{'&' if '?' in success_url else '?'}session_id={session_id}"


async def _customer(ctx: RepositoryContext, session: DbRow, payer: dict[str, Any]) -> DbRow:
    """The session's customer, else the tenant's customer linked to the presenting identity, else a new customer
    from the payer's details (`customer_created`). With an identity, an unlinked customer is linked to it
    (`customer_updated`): the person consented by verifying their phone and paying (06 §3 step 9)."""
    repo = ctx.repo(CustomerRepository)
    identity_id: str | None = payer.get("identityId")
    customer_id: str | None = session["customer_id"]
    if customer_id is None and identity_id is not None:
        linked = (
            await ctx.conn.execute(
                select(customers.c.id)
                .where(customers.c.tenant_id == ctx.tenant_id, customers.c.identity_id == identity_id)
                .order_by(customers.c.created_at, customers.c.id)
                .limit(1)
            )
        ).first()
        customer_id = linked["id"] if linked is not None else None
    if customer_id is None:
        customer_id = await _new_customer(ctx, session, payer)
    if identity_id is not None:
        await link_identity(ctx, customer_id, identity_id)
    row = await repo.get_row(customer_id, for_update=True)
    assert row is not None  # customers are never deleted
    return row


async def _new_customer(ctx: RepositoryContext, session: DbRow, payer: dict[str, Any]) -> str:
    body = CustomerCreate(
        email=payer.get("email") or session["customer_email"],
        phone=payer.get("phone") or session["customer_phone"],
        name=payer.get("name"),
    )
    made = await create_customer(ctx, body)
    return str(made["id"])


async def _attach(ctx: RepositoryContext, customer: DbRow, method: DbRow | None, at: datetime) -> DbRow | None:
    """The session's pending method becomes the customer's (or the one it already has for that number), and the
    customer's default when it has none that can be charged."""
    if method is None:
        return None
    repo = ctx.repo(PaymentMethodRepository)
    if method["status"] == "pending":
        existing = await repo.by_fingerprint(customer["id"], method["fingerprint"])
        if existing is not None:
            await ctx.conn.execute(
                update(pm)
                .where(pm.c.tenant_id == ctx.tenant_id, pm.c.id == method["id"])
                .values(status="superseded", updated_at=at)
            )
            method = existing
        else:
            method = (
                await ctx.conn.execute(
                    update(pm)
                    .where(pm.c.tenant_id == ctx.tenant_id, pm.c.id == method["id"])
                    .values(customer_id=customer["id"], status="active", updated_at=at)
                    .returning(pm)
                )
            ).one()
    default_id = customer["default_payment_method_id"]
    default = await repo.find_visible(default_id, customer["identity_id"]) if default_id else None
    if (default is None or not is_chargeable_by(default, customer)) and is_chargeable_by(method, customer):
        await set_default_payment_method(ctx, customer, method["id"])
    return method


async def _subscription(
    ctx: RepositoryContext, session: DbRow, customer: DbRow, method: DbRow | None, txn: DbRow | None, at: datetime
) -> tuple[str, str | None]:
    """A subscription from the session's plan: `trialing` with a trial, else `active` with its first period paid
    by the checkout charge (invoice keyed `checkout_{chkId}`). Returns (subscription id, invoice id)."""
    plan = await ctx.repo(PlanRepository).get_row(session["plan_id"])
    assert plan is not None  # plans are never deleted
    promo = None
    if session["promo_code"] is not None:
        try:
            promo = await redeem_for_plan(ctx, session["promo_code"], plan, at)
        except DuroError:
            # Checked before the charge; lost since to a race for the last redemption. The customer paid the
            # discounted price, so the subscription starts without the code rather than failing after payment.
            log.warning(
                "checkout %s: promo %s could not be redeemed at completion", session["id"], session["promo_code"]
            )
    sub_id = new_id("sub")
    base: dict[str, Any] = {
        "id": sub_id,
        "customer_id": customer["id"],
        "plan_id": plan["id"],
        "payment_method_id": method["id"] if method is not None else None,
        "promo_code_id": promo["id"] if promo is not None else None,
        "discount_cycles_remaining": initial_discount_cycles(promo) if promo is not None else None,
        "metadata": session["metadata"],
        "balance": 0,
        "pending_charge": 0,
        "created_at": at,
        "updated_at": at,
    }
    subs = ctx.repo(SubscriptionRepository)
    if plan["trial_days"] > 0:
        trial_end = add_calendar_days(at, plan["trial_days"])
        row = await subs.insert_row(
            {
                **base,
                "status": "trialing",
                "current_period_start": at,
                "current_period_end": trial_end,
                "billing_anchor": trial_end,
                "trial_start": at,
                "trial_end": trial_end,
                "cycles_completed": 0,
            }
        )
        await emit(ctx, Event.SUBSCRIPTION_CREATED, subscription_json(row))
        return sub_id, None
    period_end = next_boundary(at, plan["interval"], plan["interval_count"], at)
    lines: list[dict[str, Any]] = [
        {
            "type": "plan",
            "description": plan["name"],
            "amount": plan["amount"],
            "periodStart": format_ts(at),
            "periodEnd": format_ts(period_end),
        }
    ]
    cycles_left = base["discount_cycles_remaining"]
    discount = session["discount"]
    if promo is not None:
        discount = discount_for(plan["amount"], promo["discount_type"], promo["discount_value"])
        lines.append(discount_line(promo, discount))
        if cycles_left is not None:
            cycles_left -= 1
    invoice_id = new_id("inv")
    sub = await subs.insert_row(
        {
            **base,
            "discount_cycles_remaining": cycles_left,
            "status": "active",
            "current_period_start": at,
            "current_period_end": period_end,
            "billing_anchor": at,
            "cycles_completed": 1,
            "activated_at": at,
            "latest_invoice_id": invoice_id,
        }
    )
    invoice = await ctx.repo(InvoiceRepository).insert_row(
        {
            "id": invoice_id,
            "customer_id": customer["id"],
            "subscription_id": sub_id,
            "kind": "subscription_create",
            "status": "paid",
            "currency": plan["currency"],
            "subtotal": plan["amount"],
            "discount": session["discount"],
            "credit_applied": 0,
            "amount": session["amount"],
            "amount_paid": session["amount"],
            "amount_refunded": 0,
            "lines": lines,
            "period_start": at,
            "period_end": period_end,
            "promo_code_id": base["promo_code_id"],
            "idempotency_key": f"checkout_{session['id']}",
            "paid_at": at,
            "created_at": at,
            "updated_at": at,
        }
    )
    txn = await _link(ctx, txn, invoice_id, sub_id, customer["id"], at)
    out = subscription_json(sub)
    # 03 §4 `create_paid`: created, invoice created and paid, payment success, activated.
    await emit(ctx, Event.SUBSCRIPTION_CREATED, out)
    await emit(ctx, Event.INVOICE_CREATED, invoice_json(invoice))
    await emit(ctx, Event.INVOICE_PAID, invoice_json(invoice))
    obj, extra = payment_event(invoice, txn)
    await emit(ctx, Event.SUBSCRIPTION_PAYMENT_SUCCESS, obj, **extra)
    await emit(ctx, Event.SUBSCRIPTION_ACTIVATED, out, invoiceId=invoice_id)
    if txn is not None:
        await queue_receipts(ctx, [invoice], at)
    return sub_id, invoice_id


async def _one_off(ctx: RepositoryContext, session: DbRow, customer: DbRow, txn: DbRow | None, at: datetime) -> str:
    invoice_id = new_id("inv")
    line = {"type": "one_off", "description": session["description"] or "Payment", "amount": session["amount"]}
    invoice = await ctx.repo(InvoiceRepository).insert_row(
        {
            "id": invoice_id,
            "customer_id": customer["id"],
            "subscription_id": None,
            "kind": "one_off",
            "status": "paid",
            "currency": session["currency"],
            "subtotal": session["subtotal"],
            "discount": 0,
            "credit_applied": 0,
            "amount": session["amount"],
            "amount_paid": session["amount"],
            "amount_refunded": 0,
            "lines": [{**line, "periodStart": None, "periodEnd": None}],
            "idempotency_key": f"checkout_{session['id']}",
            "paid_at": at,
            "created_at": at,
            "updated_at": at,
        }
    )
    txn = await _link(ctx, txn, invoice_id, None, customer["id"], at)
    await emit(ctx, Event.INVOICE_CREATED, invoice_json(invoice))
    await emit(ctx, Event.INVOICE_PAID, invoice_json(invoice))
    obj, extra = payment_event(invoice, txn)
    await emit(ctx, Event.SUBSCRIPTION_PAYMENT_SUCCESS, obj, **extra)
    await queue_receipts(ctx, [invoice], at)
    return invoice_id


async def _invoice(ctx: RepositoryContext, session: DbRow, txn: DbRow | None, at: datetime) -> tuple[str | None, str]:
    """Invoice kind: pay the existing invoice with the consequences of 03 §4 / 04 §4 (`settle_invoice`)."""
    invoices = ctx.repo(InvoiceRepository)
    peek = await invoices.get_row(session["invoice_id"])
    assert peek is not None
    sub = None
    if peek["subscription_id"] is not None:
        sub = await ctx.repo(SubscriptionRepository).get_row(peek["subscription_id"], for_update=True)
    invoice = await invoices.get_row(session["invoice_id"], for_update=True)
    assert invoice is not None
    schedule = None
    if invoice["dunning_schedule_id"] is not None:
        schedule = await ctx.repo(DunningScheduleRepository).get_row(invoice["dunning_schedule_id"], for_update=True)
    assert txn is not None  # an invoice session always charges something
    await settle_invoice(ctx, invoice, sub, schedule, txn, at)
    return invoice["subscription_id"], invoice["id"]


async def _link(
    ctx: RepositoryContext, txn: DbRow | None, invoice_id: str, sub_id: str | None, customer_id: str, at: datetime
) -> DbRow | None:
    if txn is None:
        return None
    row: DbRow = (
        await ctx.conn.execute(
            update(transactions)
            .where(transactions.c.tenant_id == ctx.tenant_id, transactions.c.id == txn["id"])
            .values(invoice_id=invoice_id, subscription_id=sub_id, customer_id=customer_id, updated_at=at)
            .returning(transactions)
        )
    ).one()
    return row


async def complete(
    ctx: RepositoryContext, session: DbRow, method: DbRow | None, txn: DbRow | None, at: datetime
) -> dict[str, Any]:
    """Step 9 of 06 §3 (the session row locked by the caller). Returns the stored completion answer (step 10)."""
    payer: dict[str, Any] = (session["result"] or {}).get("payer", {})
    sub_id: str | None
    invoice_id: str | None
    if session["kind"] == "invoice":
        sub_id, invoice_id = await _invoice(ctx, session, txn, at)
        customer_id = session["customer_id"]
    else:
        customer = await _customer(ctx, session, payer)
        customer_id = customer["id"]
        method = await _attach(ctx, customer, method, at)
        if session["kind"] == "subscription":
            sub_id, invoice_id = await _subscription(ctx, session, customer, method, txn, at)
        else:
            sub_id, invoice_id = None, await _one_off(ctx, session, customer, txn, at)
    result = {
        "status": "completed",
        "sessionId": session["id"],
        "customerId": customer_id,
        "subscriptionId": sub_id,
        "invoiceId": invoice_id,
        "transactionId": txn["id"] if txn is not None else None,
        "redirectUrl": redirect_url(session["success_url"], session["id"]),
    }
    done = (
        await ctx.conn.execute(
            update(cs)
            .where(cs.c.tenant_id == ctx.tenant_id, cs.c.id == session["id"])
            .values(
                status="completed",
                completed_at=at,
                customer_id=customer_id,
                subscription_id=sub_id,
                invoice_id=invoice_id,
                transaction_id=result["transactionId"],
                last_payment_error=None,
                result=result,
                updated_at=at,
            )
            .returning(cs)
        )
    ).one()
    await emit(ctx, "checkout_completed", session_json(done, ctx.settings.public_url, at))
    return result


async def pending_method_of(ctx: RepositoryContext, method_id: str | None) -> DbRow | None:
    if method_id is None:
        return None
    row: DbRow | None = (
        await ctx.conn.execute(select(pm).where(pm.c.id == method_id).prefix_with("/* unscoped: method by id */"))
    ).first()
    return row
