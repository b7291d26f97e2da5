"""Batched renewals for the billing loop: the common case, many subscriptions per statement (03 §10).

The common case is a due `active`/`trialing` subscription with nothing special about this period: no
cancel-at-period-end, no `maxCycles` reached, no scheduled plan change, no promo with cycles left, no pending
charge or balance, no test clock, a positive plan amount and a chargeable tenant-owned method (its own or the
customer's default). Everything else is handed back to the caller, which renews it one at a time with `renew_one`.

The steps and guarantees are those of `renewal.py`, with multi-row statements: T1 (run by the caller inside the
scan's transaction, which already holds the rows' locks) inserts the invoices `ON CONFLICT (tenant_id,
idempotency_key) DO NOTHING`, the `invoice_created` events, the `pending` transactions and the subscriptions'
`latest_invoice_id`; the gateway is called with no transaction open; T2 locks the subscriptions, finishes the
still-pending transactions (one `UPDATE … WHERE status = 'pending'`), marks the invoices paid and assigns the
invoices' periods to the subscriptions (never an increment). Failures go through the one-at-a-time failure path of
`finish_renewal` in the same transaction. A crash after T1 leaves pending transactions for crash recovery, exactly
as the one-at-a-time path does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import any_, bindparam, case, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.sql.elements import BindParameter

from duro.billing.cycles import next_boundary
from duro.billing.lifecycle import Event
from duro.charges.service import PendingCharge, reserve_live_volume
from duro.context import RepositoryContext
from duro.db.repository import DbRow
from duro.gateway.protocol import ChargeMethod, ChargeOutcome
from duro.invoices.payments import payment_event
from duro.invoices.serializers import invoice_json
from duro.kit.ids import new_id
from duro.kit.jsonenc import format_ts
from duro.models.billing import invoices as i
from duro.models.billing import subscriptions as s
from duro.models.billing import transactions as t
from duro.models.customers import customers as c
from duro.models.events import events as e
from duro.models.payment_methods import payment_methods as pm
from duro.models.plans import plans as p
from duro.payment_methods.chargeable import is_chargeable_by
from duro.subscriptions.renewal import finish_renewal
from duro.subscriptions.serializers import subscription_json

_IDS: BindParameter[Any] = bindparam("b_ids")
_TENANT: BindParameter[str] = bindparam("b_tenant_id")

# The current period already has its renewal invoice (T1 ran; T2 or crash recovery will finish it).
PERIOD_INVOICED = (
    select(i.c.id)
    .where(
        i.c.tenant_id == s.c.tenant_id,
        i.c.id == s.c.latest_invoice_id,
        i.c.kind == "renewal",
        i.c.period_start == s.c.current_period_end,
    )
    .exists()
)
# The caller's scan holds these rows' locks already; SKIP LOCKED keeps this safe when it does not.
_LOCK = (
    select(s)
    .where(s.c.tenant_id == _TENANT, s.c.id == any_(_IDS), ~PERIOD_INVOICED)
    .with_for_update(of=s, skip_locked=True)
)
_PLANS = select(p).where(p.c.tenant_id == _TENANT, p.c.id == any_(_IDS))
_CUSTOMERS = select(c).where(c.c.tenant_id == _TENANT, c.c.id == any_(_IDS))
_METHODS = select(pm).where(pm.c.tenant_id == _TENANT, pm.c.id == any_(_IDS))
_LOCK_ORDERED = select(s).where(s.c.tenant_id == _TENANT, s.c.id == any_(_IDS)).order_by(s.c.id).with_for_update()
_POINT_AT_INVOICE = (
    update(s)
    .where(
        s.c.tenant_id == _TENANT,
        s.c.id == any_(_IDS),
        i.c.tenant_id == _TENANT,
        i.c.id == any_(bindparam("b_invoice_ids")),
        i.c.subscription_id == s.c.id,
    )
    .values(latest_invoice_id=i.c.id, pending_charge=0, updated_at=bindparam("b_now"))
    .returning(s)
)
_SUCCEED = (
    update(t)
    .where(t.c.tenant_id == _TENANT, t.c.id == any_(_IDS), t.c.status == "pending")
    .values(status="succeeded", processed_at=bindparam("b_now"), updated_at=bindparam("b_now"))
    .returning(t)
)
_PAY = (
    update(i)
    .where(i.c.tenant_id == _TENANT, i.c.id == any_(_IDS))
    .values(status="paid", amount_paid=i.c.amount, paid_at=bindparam("b_now"), updated_at=bindparam("b_now"))
    .returning(i)
)
_ADVANCE = (
    update(s)
    .where(
        s.c.tenant_id == _TENANT,
        s.c.id == any_(_IDS),
        i.c.tenant_id == _TENANT,
        i.c.id == any_(bindparam("b_invoice_ids")),
        i.c.subscription_id == s.c.id,
    )
    .values(
        # Only a renewing subscription becomes active; assignment from the paid invoice, never an increment.
        status=case((or_(s.c.status == "active", s.c.status == "trialing"), "active"), else_=s.c.status),
        current_period_start=i.c.period_start,
        current_period_end=i.c.period_end,
        cycles_completed=s.c.cycles_completed + 1,
        activated_at=func.coalesce(s.c.activated_at, bindparam("b_now")),
        updated_at=bindparam("b_now"),
    )
    .returning(s)
)


@dataclass(frozen=True, slots=True)
class BatchCharge:
    tenant_id: str
    subscription_id: str
    pending: PendingCharge


@dataclass(slots=True)
class Begun:
    """What T1 did: charges to make, units finished without a charge, and ids left for `renew_one`."""

    charges: list[BatchCharge]
    finished: int
    leftover: list[str]


def _common(sub: DbRow, plan: DbRow | None, now: datetime) -> bool:
    return (
        plan is not None
        and sub["status"] in ("active", "trialing")
        and sub["current_period_end"] <= now
        and not sub["cancel_at_period_end"]
        and (plan["max_cycles"] is None or sub["cycles_completed"] < plan["max_cycles"])
        and sub["scheduled_plan_id"] is None
        and (sub["promo_code_id"] is None or sub["discount_cycles_remaining"] == 0)
        and sub["pending_charge"] == 0
        and sub["balance"] == 0
        and sub["test_clock_id"] is None
        and plan["amount"] > 0
    )


async def _rows(ctx: RepositoryContext, stmt: Any, ids: Sequence[str], **extra: Any) -> list[DbRow]:
    if not ids:
        return []
    params = {"b_tenant_id": ctx.tenant_id, "b_ids": list(ids), **extra}
    return list((await ctx.conn.execute(stmt, params)).all())


async def begin_batch(ctx: RepositoryContext, sub_ids: Sequence[str], now: datetime) -> Begun:
    """T1 for a batch of one tenant, in the caller's transaction."""
    subs = await _rows(ctx, _LOCK, sub_ids)
    plans = {r["id"]: r for r in await _rows(ctx, _PLANS, list({r["plan_id"] for r in subs}))}
    leftover: list[str] = []
    common: list[DbRow] = []
    for sub in subs:
        if not (sub["status"] in ("active", "trialing") and sub["current_period_end"] <= now):
            continue  # renewed meanwhile: nothing to do
        if _common(sub, plans.get(sub["plan_id"]), now):
            common.append(sub)
        else:
            leftover.append(sub["id"])
    # Rows locked elsewhere or already invoiced are not this pass's work (`renew_one` would stop on them too).
    customers = {r["id"]: r for r in await _rows(ctx, _CUSTOMERS, list({r["customer_id"] for r in common}))}
    wanted = {m for m in (_method_id(r, customers) for r in common) if m is not None}
    methods = {r["id"]: r for r in await _rows(ctx, _METHODS, sorted(wanted))}
    ready: list[tuple[DbRow, DbRow, DbRow]] = []
    for sub in common:
        customer = customers.get(sub["customer_id"])
        method = methods.get(_method_id(sub, customers) or "")
        if customer is None or method is None or not is_chargeable_by(method, customer):
            leftover.append(sub["id"])  # no method, another owner, identity-owned: the one-at-a-time path
        else:
            ready.append((sub, plans[sub["plan_id"]], method))
    if not ready:
        return Begun([], 0, leftover)

    values: list[dict[str, Any]] = []
    for sub, plan, _method in ready:
        start = sub["current_period_end"]
        end = next_boundary(sub["billing_anchor"], plan["interval"], plan["interval_count"], start)
        lines = [
            {
                "type": "plan",
                "description": plan["name"],
                "amount": plan["amount"],
                "periodStart": format_ts(start),
                "periodEnd": format_ts(end),
            }
        ]
        values.append(
            {
                "id": new_id("inv"),
                "tenant_id": ctx.tenant_id,
                "customer_id": sub["customer_id"],
                "subscription_id": sub["id"],
                "kind": "renewal",
                "status": "open",
                "currency": plan["currency"],
                "subtotal": plan["amount"],
                "discount": 0,
                "credit_applied": 0,
                "amount": plan["amount"],
                "amount_paid": 0,
                "amount_refunded": 0,
                "lines": lines,
                "period_start": start,
                "period_end": end,
                "promo_code_id": None,
                "idempotency_key": f"renewal_{sub['id']}_{format_ts(start)}",
                "created_at": now,
                "updated_at": now,
            }
        )
    stmt = pg_insert(i).values(values).on_conflict_do_nothing(index_elements=["tenant_id", "idempotency_key"])
    inserted = {r["subscription_id"]: r for r in (await ctx.conn.execute(stmt.returning(i))).all()}
    # A conflicting key was invoiced by a run that crashed after T1: its pending charge belongs to crash recovery.
    ready = [x for x in ready if x[0]["id"] in inserted]
    if not ready:
        return Begun([], 0, leftover)
    ids = [x[0]["id"] for x in ready]
    await _rows(ctx, _POINT_AT_INVOICE, ids, b_invoice_ids=[inserted[x]["id"] for x in ids], b_now=now)
    await _insert_events(ctx, [(Event.INVOICE_CREATED, invoice_json(inserted[x]), {}) for x in ids])

    charges: list[BatchCharge] = []
    txns: list[dict[str, Any]] = []
    for sub, _plan, method in ready:
        invoice = inserted[sub["id"]]
        if not await reserve_live_volume(ctx, invoice["amount"], invoice["currency"]):
            leftover.append(sub["id"])  # never in test mode; in live the one-at-a-time path records kyc_required
            continue
        txn_id = new_id("txn")
        txns.append(
            {
                "id": txn_id,
                "tenant_id": ctx.tenant_id,
                "invoice_id": invoice["id"],
                "subscription_id": sub["id"],
                "customer_id": invoice["customer_id"],
                "payment_method_id": method["id"],
                "rail": method["rail"],
                "status": "pending",
                "amount": invoice["amount"],
                "currency": invoice["currency"],
                "source": "renewal",
                "attempt_number": 1,
                "created_at": now,
                "updated_at": now,
            }
        )
        gateway_method = ChargeMethod(method["rail"], method["gateway_token"], method["id"])
        pending = PendingCharge(txn_id, gateway_method, invoice["amount"], invoice["currency"], now, 1)
        charges.append(BatchCharge(ctx.tenant_id, sub["id"], pending))
    if len(txns) != len(ready):
        raise RuntimeError("live volume refused inside a batch")  # rolls back; the caller renews one at a time
    await ctx.conn.execute(insert(t).values(txns))
    return Begun(charges, 0, leftover)


def _method_id(sub: DbRow, customers: dict[str, DbRow]) -> str | None:
    if sub["payment_method_id"] is not None:
        return str(sub["payment_method_id"])
    customer = customers.get(sub["customer_id"])
    return None if customer is None else customer["default_payment_method_id"]


async def _insert_events(ctx: RepositoryContext, items: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> None:
    if not items:
        return
    rows = [
        {
            "id": new_id("evt"),
            "tenant_id": ctx.tenant_id,
            "type": type_,
            "data": {"object": obj, **extra},
            "created_at": ctx.clock.now(),
        }
        for type_, obj, extra in items
    ]
    await ctx.conn.execute(insert(e).values(rows))


async def charge_all(gateway: Any, charges: Sequence[BatchCharge]) -> list[ChargeOutcome]:
    """One gateway call for the batch when the gateway has `charge_many`, else one call per charge."""
    requests = [
        (x.pending.method, x.pending.amount, x.pending.currency, x.pending.transaction_id, x.pending.at, 1)
        for x in charges
    ]
    many = getattr(gateway, "charge_many", None)
    if many is not None:
        outcomes: list[ChargeOutcome] = await many(requests)
        return outcomes
    return list(await asyncio.gather(*(gateway.charge(*r) for r in requests)))


async def finish_batch(
    ctx: RepositoryContext, charges: Sequence[BatchCharge], outcomes: Sequence[ChargeOutcome], now: datetime
) -> dict[str, int]:
    """T2 for a batch of one tenant, in the caller's transaction. Lock order as in `finish_renewal`:
    subscriptions, then transactions, then invoices."""
    subs = {r["id"]: r for r in await _rows(ctx, _LOCK_ORDERED, sorted(x.subscription_id for x in charges))}
    good = [x for x, o in zip(charges, outcomes, strict=True) if o.succeeded and x.subscription_id in subs]
    bad = [(x, o) for x, o in zip(charges, outcomes, strict=True) if not o.succeeded]
    counts = {"renewed": 0, "failed": 0, "already_finished": 0}
    txns = await _rows(ctx, _SUCCEED, [x.pending.transaction_id for x in good], b_now=now)
    counts["already_finished"] += len(good) - len(txns)
    if txns:
        by_invoice = {r["invoice_id"]: r for r in txns}
        paid = await _rows(ctx, _PAY, list(by_invoice), b_now=now)
        sub_ids = [r["subscription_id"] for r in paid]
        advanced = {
            r["id"]: r
            for r in await _rows(
                ctx, _ADVANCE, sub_ids, b_invoice_ids=[r["id"] for r in paid], b_now=now, b_activated_at=now
            )
        }
        items: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        for invoice in paid:
            items.append((Event.INVOICE_PAID, invoice_json(invoice), {}))
            obj, extra = payment_event(invoice, by_invoice[invoice["id"]])
            items.append((Event.SUBSCRIPTION_PAYMENT_SUCCESS, obj, extra))
            sub_id = invoice["subscription_id"]
            if subs[sub_id]["status"] == "trialing":
                row = advanced[sub_id]
                items.append((Event.SUBSCRIPTION_ACTIVATED, subscription_json(row), {"invoiceId": invoice["id"]}))
        await _insert_events(ctx, items)
        counts["renewed"] += len(paid)
    for x, outcome in bad:
        result = await finish_renewal(ctx, x.subscription_id, x.pending.transaction_id, outcome, now)
        counts[result if result in counts else "already_finished"] += 1
    return counts
