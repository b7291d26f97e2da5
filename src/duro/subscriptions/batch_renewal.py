"""Batched renewals for the billing loop: the common case, many subscriptions per statement (03 §10).

The common case is a due `active`/`trialing` subscription with nothing special about this period: no
cancel-at-period-end, no `maxCycles` reached, no scheduled plan change, no promo with cycles left, no pending
charge or balance, no test clock, a positive plan amount and a chargeable tenant-owned method (its own or the
customer's default). Everything else is handed back to the caller, which renews it one at a time with `renew_one`.

The steps and guarantees are those of `renewal.py`, with one statement per step for the whole batch: T1 (run by
the caller inside the scan's transaction, which already holds the rows' locks) inserts the invoices `ON CONFLICT
(tenant_id, idempotency_key) DO NOTHING` and, for the invoices actually inserted, the `invoice_created` events, the
`pending` transactions and the subscriptions' `latest_invoice_id`; the gateway is called with no transaction open;
T2 locks the subscriptions in id order, then one statement finishes the still-pending transactions (`WHERE status
= 'pending'`), marks their invoices paid and assigns the invoices' periods to the subscriptions (never an
increment). Failures go through the one-at-a-time failure path of `finish_renewal` in the same transaction. A
crash after T1 leaves pending transactions for crash recovery, exactly as the one-at-a-time path does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import any_, bindparam, case, cast, func, insert, literal_column, or_, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.types import BigInteger, DateTime, Text

from duro.billing.cycles import next_boundary
from duro.billing.lifecycle import Event
from duro.charges.service import PendingCharge, release_live_volume, reserve_live_volume
from duro.context import RepositoryContext
from duro.db.bulk import unnest_params, unnest_rows, unnest_source
from duro.db.repository import DbRow
from duro.gateway.protocol import ChargeMethod, ChargeOutcome
from duro.invoices.serializers import invoice_json, transaction_json
from duro.kit.ids import new_id
from duro.kit.jsonenc import format_ts
from duro.models.billing import invoices as i
from duro.models.billing import subscriptions as s
from duro.models.billing import transactions as t
from duro.models.customers import customers as c
from duro.models.events import events as e
from duro.models.payment_methods import payment_methods as pm
from duro.models.plans import plans as p
from duro.notifications.outbox import queue_receipts
from duro.payment_methods.chargeable import is_chargeable_by
from duro.subscriptions.renewal import finish_renewal
from duro.subscriptions.serializers import subscription_json

# Every statement below has a fixed shape (arrays, not one placeholder per row): compiled once per process,
# whatever the batch size (db/bulk.py).
_IDS: BindParameter[Any] = bindparam("b_ids")
_TENANT: BindParameter[str] = bindparam("b_tenant_id", type_=Text())
_NOW: BindParameter[Any] = bindparam("b_now", type_=DateTime(timezone=True))
_EVENT_AT: BindParameter[Any] = bindparam("b_event_at", type_=DateTime(timezone=True))

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
_PLANS = select(p).where(p.c.tenant_id == _TENANT, p.c.id == any_(_IDS))
_CUSTOMERS = select(c).where(c.c.tenant_id == _TENANT, c.c.id == any_(_IDS))
_METHODS = select(pm).where(pm.c.tenant_id == _TENANT, pm.c.id == any_(_IDS))


def _t1_statement() -> Select[Any]:
    """T1's writes for the whole batch in one statement (one round trip, one plan): the invoices `ON CONFLICT
    (tenant_id, idempotency_key) DO NOTHING`, and only for the invoices actually inserted, their
    `invoice_created` events, their `pending` transactions and the subscriptions' `latest_invoice_id`. Returns
    the subscription ids whose invoice was inserted; a conflicting key was invoiced by a run that crashed after
    T1, and its pending charge belongs to crash recovery."""
    v = select(
        unnest_source(
            [
                ("invoice_id", Text()),
                ("customer_id", Text()),
                ("subscription_id", Text()),
                ("currency", Text()),
                ("amount", BigInteger()),
                ("lines", Text()),
                ("period_start", DateTime(timezone=True)),
                ("period_end", DateTime(timezone=True)),
                ("idempotency_key", Text()),
                ("event_id", Text()),
                ("event_data", Text()),
                ("transaction_id", Text()),
                ("payment_method_id", Text()),
                ("rail", Text()),
            ]
        )
    ).cte("v")
    zero: ColumnElement[Any] = literal_column("0")
    ins = (
        pg_insert(i)
        .from_select(
            [
                *("id", "tenant_id", "customer_id", "subscription_id", "kind", "status", "currency", "subtotal"),
                *("discount", "credit_applied", "amount", "amount_paid", "amount_refunded", "lines"),
                *("period_start", "period_end", "idempotency_key", "created_at", "updated_at"),
            ],
            select(
                v.c.invoice_id,
                _TENANT,
                v.c.customer_id,
                v.c.subscription_id,
                literal_column("'renewal'"),
                literal_column("'open'"),
                v.c.currency,
                v.c.amount,
                zero,
                zero,
                v.c.amount,
                zero,
                zero,
                cast(v.c.lines, JSONB),
                v.c.period_start,
                v.c.period_end,
                v.c.idempotency_key,
                _NOW,
                _NOW,
            ),
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "idempotency_key"])
        .returning(i.c.id, i.c.subscription_id)
        .cte("ins")
    )
    mine = v.join(ins, ins.c.id == v.c.invoice_id)
    created = insert(e).from_select(
        ["id", "tenant_id", "type", "data", "created_at"],
        select(
            v.c.event_id,
            _TENANT,
            literal_column(f"'{Event.INVOICE_CREATED}'"),
            cast(v.c.event_data, JSONB),
            _EVENT_AT,
        ).select_from(mine),
    )
    pending = insert(t).from_select(
        [
            *("id", "tenant_id", "invoice_id", "subscription_id", "customer_id", "payment_method_id", "rail"),
            *("status", "amount", "currency", "source", "attempt_number", "created_at", "updated_at"),
        ],
        select(
            v.c.transaction_id,
            _TENANT,
            v.c.invoice_id,
            v.c.subscription_id,
            v.c.customer_id,
            v.c.payment_method_id,
            v.c.rail,
            literal_column("'pending'"),
            v.c.amount,
            v.c.currency,
            literal_column("'renewal'"),
            literal_column("1"),
            _NOW,
            _NOW,
        ).select_from(mine),
    )
    point = (
        update(s)
        .where(s.c.tenant_id == _TENANT, s.c.id == ins.c.subscription_id)
        .values(latest_invoice_id=ins.c.id, pending_charge=0, updated_at=_NOW)
    )
    return select(ins.c.subscription_id).add_cte(created.cte("created"), pending.cte("pending"), point.cte("point"))


_T1 = _t1_statement()
_T1_COLUMNS = [
    "invoice_id",
    "customer_id",
    "subscription_id",
    "currency",
    "amount",
    "lines",
    "period_start",
    "period_end",
    "idempotency_key",
    "event_id",
    "event_data",
    "transaction_id",
    "payment_method_id",
    "rail",
]

_LOCK_ORDERED = (
    select(s.c.id, s.c.status).where(s.c.tenant_id == _TENANT, s.c.id == any_(_IDS)).order_by(s.c.id).with_for_update()
)


def _t2_statement() -> Select[Any]:
    """T2's writes for the successes of a batch in one statement: the still-`pending` transactions succeed, their
    invoices are paid, and the subscriptions take the paid invoices' periods (assignment, never an increment).
    Returns each paid invoice (`i_*`) with its transaction (`t_*`) for the events."""
    succeeded = (
        update(t)
        .where(t.c.tenant_id == _TENANT, t.c.id == any_(_IDS), t.c.status == "pending")
        .values(status="succeeded", processed_at=_NOW, updated_at=_NOW)
        .returning(*t.c)
        .cte("succeeded")
    )
    paid = (
        update(i)
        .where(i.c.tenant_id == _TENANT, i.c.id == succeeded.c.invoice_id)
        .values(status="paid", amount_paid=i.c.amount, paid_at=_NOW, updated_at=_NOW)
        .returning(*i.c)
        .cte("paid")
    )
    advanced = (
        update(s)
        .where(s.c.tenant_id == _TENANT, s.c.id == paid.c.subscription_id)
        .values(
            # Only a renewing subscription becomes active; assignment from the paid invoice, never an increment.
            status=case((or_(s.c.status == "active", s.c.status == "trialing"), "active"), else_=s.c.status),
            current_period_start=paid.c.period_start,
            current_period_end=paid.c.period_end,
            cycles_completed=s.c.cycles_completed + 1,
            activated_at=func.coalesce(s.c.activated_at, _NOW),
            updated_at=_NOW,
        )
    )
    columns = [paid.c[x.name].label(f"i_{x.name}") for x in i.c]
    columns += [succeeded.c[x.name].label(f"t_{x.name}") for x in t.c]
    return (
        select(*columns)
        .select_from(paid.join(succeeded, succeeded.c.invoice_id == paid.c.id))
        .add_cte(advanced.cte("advanced"))
    )


_T2 = _t2_statement()
_INVOICE_COLUMNS = [(x.name, f"i_{x.name}") for x in i.c]
_TRANSACTION_COLUMNS = [(x.name, f"t_{x.name}") for x in t.c]
_SUBSCRIPTIONS = select(s).where(s.c.tenant_id == _TENANT, s.c.id == any_(_IDS))
_EVENT_COLUMNS = ["id", "type", "data"]
_EVENT_CONSTANTS = ["tenant_id", "created_at"]
_INSERT_EVENTS = insert(e).from_select(
    [*_EVENT_COLUMNS, *_EVENT_CONSTANTS], unnest_rows(e, _EVENT_COLUMNS, _EVENT_CONSTANTS)
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


async def begin_batch(ctx: RepositoryContext, subs: Sequence[DbRow], now: datetime) -> Begun:
    """T1 for a batch of one tenant, in the caller's transaction. `subs` are the due subscriptions' rows, locked
    (`FOR UPDATE`) by the caller in this transaction and not yet invoiced for their current period."""
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
    for _sub, plan, _method in ready:
        # Never in test mode. In live mode a refusal rolls the batch back and the caller renews one at a time,
        # where the refusal is recorded as `kyc_required`.
        if not await reserve_live_volume(ctx, plan["amount"], plan["currency"]):
            raise RuntimeError("live volume refused inside a batch")

    rows: list[tuple[Any, ...]] = []
    charges: dict[str, BatchCharge] = {}
    for sub, plan, method in ready:
        start = sub["current_period_end"]
        end = next_boundary(sub["billing_anchor"], plan["interval"], plan["interval_count"], start)
        amount, currency = plan["amount"], plan["currency"]
        lines = [
            {
                "type": "plan",
                "description": plan["name"],
                "amount": amount,
                "periodStart": format_ts(start),
                "periodEnd": format_ts(end),
            }
        ]
        invoice_id, txn_id = new_id("inv"), new_id("txn")
        key = f"renewal_{sub['id']}_{format_ts(start)}"
        # The row as inserted (the statement sets exactly these columns; the others are NULL): the
        # `invoice_created` event carries it, serialised once here instead of read back and re-encoded.
        invoice = {
            "id": invoice_id,
            "customer_id": sub["customer_id"],
            "subscription_id": sub["id"],
            "kind": "renewal",
            "status": "open",
            "currency": currency,
            "subtotal": amount,
            "discount": 0,
            "credit_applied": 0,
            "amount": amount,
            "amount_paid": 0,
            "amount_refunded": 0,
            "lines": lines,
            "period_start": start,
            "period_end": end,
            "promo_code_id": None,
            "dunning_schedule_id": None,
            "idempotency_key": key,
            "hosted_payment_url": None,
            "paid_at": None,
            "voided_at": None,
            "uncollectible_at": None,
            "created_at": now,
            "updated_at": now,
        }
        event = orjson.dumps({"object": invoice_json(cast_row(invoice))}).decode()
        rows.append(
            (
                invoice_id,
                sub["customer_id"],
                sub["id"],
                currency,
                amount,
                orjson.dumps(lines).decode(),
                start,
                end,
                key,
                new_id("evt"),
                event,
                txn_id,
                method["id"],
                method["rail"],
            )
        )
        gateway_method = ChargeMethod(method["rail"], method["gateway_token"], method["id"])
        pending = PendingCharge(txn_id, gateway_method, amount, currency, now, 1)
        charges[sub["id"]] = BatchCharge(ctx.tenant_id, sub["id"], pending)
    params = unnest_params(rows, _T1_COLUMNS)
    params.update(b_tenant_id=ctx.tenant_id, b_now=now, b_event_at=ctx.clock.now())
    inserted = {r["subscription_id"] for r in (await ctx.conn.execute(_T1, params)).all()}
    for sub_id, charge in charges.items():
        if sub_id not in inserted:
            await release_live_volume(ctx, charge.pending.amount)  # nothing to charge: give the reservation back
    return Begun([x for sub_id, x in charges.items() if sub_id in inserted], 0, leftover)


def cast_row(values: dict[str, Any]) -> DbRow:
    """A dict where the serialisers expect a row: they only read it by key."""
    row: DbRow = values  # type: ignore[assignment]
    return row


def _method_id(sub: DbRow, customers: dict[str, DbRow]) -> str | None:
    if sub["payment_method_id"] is not None:
        return str(sub["payment_method_id"])
    customer = customers.get(sub["customer_id"])
    return None if customer is None else customer["default_payment_method_id"]


async def _insert_events(ctx: RepositoryContext, items: list[tuple[str, dict[str, Any]]]) -> None:
    """One statement for the batch's events; each `data` document is serialised once, here."""
    if not items:
        return
    rows = [(new_id("evt"), type_, orjson.dumps(data).decode()) for type_, data in items]
    params = unnest_params(rows, _EVENT_COLUMNS, {"tenant_id": ctx.tenant_id, "created_at": ctx.clock.now()})
    await ctx.conn.execute(_INSERT_EVENTS, params)


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
    subscriptions (in id order), then transactions, then invoices."""
    status = {r["id"]: r["status"] for r in await _rows(ctx, _LOCK_ORDERED, sorted(x.subscription_id for x in charges))}
    good = [x for x, o in zip(charges, outcomes, strict=True) if o.succeeded and x.subscription_id in status]
    bad = [(x, o) for x, o in zip(charges, outcomes, strict=True) if not o.succeeded]
    counts = {"renewed": 0, "failed": 0, "already_finished": 0}
    if good:
        finished = await _rows(ctx, _T2, [x.pending.transaction_id for x in good], b_now=now)
        counts["already_finished"] += len(good) - len(finished)
        trialing = [r["i_subscription_id"] for r in finished if status[r["i_subscription_id"]] == "trialing"]
        activated = {r["id"]: r for r in await _rows(ctx, _SUBSCRIPTIONS, trialing)}
        items: list[tuple[str, dict[str, Any]]] = []
        paid: list[Any] = []
        for r in finished:
            invoice = {name: r[label] for name, label in _INVOICE_COLUMNS}
            paid.append(cast_row(invoice))
            txn = {name: r[label] for name, label in _TRANSACTION_COLUMNS}
            obj = invoice_json(cast_row(invoice))  # built once, carried by both events
            items.append((Event.INVOICE_PAID, {"object": obj}))
            # `invoices.payments.payment_event`'s shape, without rendering the invoice a second time.
            payment = {
                "object": obj,
                "transaction": transaction_json(cast_row(txn)),
                "subscriptionId": invoice["subscription_id"],
                "invoiceId": invoice["id"],
                "amount": invoice["amount"],
                "currency": invoice["currency"],
            }
            items.append((Event.SUBSCRIPTION_PAYMENT_SUCCESS, payment))
            sub_id = invoice["subscription_id"]
            if sub_id in activated:
                sub_obj = subscription_json(activated[sub_id])
                items.append((Event.SUBSCRIPTION_ACTIVATED, {"object": sub_obj, "invoiceId": invoice["id"]}))
        await _insert_events(ctx, items)
        await queue_receipts(ctx, paid, now)  # 03 §10 step 10: a few statements for the whole batch
        counts["renewed"] += len(finished)
    for x, outcome in bad:
        result = await finish_renewal(ctx, x.subscription_id, x.pending.transaction_id, outcome, now)
        counts[result if result in counts else "already_finished"] += 1
    return counts
