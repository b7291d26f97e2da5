"""What `decide()` needs to know that only the database can tell (04 §2 inputs): the customer's chargeable methods
in creation order, and the schedule's history of failures on the invoice.

The history is read from the invoice's transactions rather than kept on the schedule: one schedule per invoice, and
every automatic attempt (the renewal that opened it, each dunning retry) is a transaction row, so the count can never
drift from what actually happened. Customer- and merchant-initiated payments are left out: they are not dunning
attempts (04 §4) and do not steer the rail chain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from duro.billing.dunning import ChargeableMethod, FailedAttempt
from duro.billing.failures import classify
from duro.context import RepositoryContext
from duro.db.repository import DbRow
from duro.models.billing import transactions as t
from duro.payment_methods.chargeable import chargeable_methods

AUTOMATIC_SOURCES = ("renewal", "dunning")


@dataclass(frozen=True, slots=True)
class History:
    hard_declines_on_method: int
    failed_method_ids: frozenset[str]


async def methods_for(ctx: RepositoryContext, customer: DbRow) -> list[ChargeableMethod]:
    """The customer's chargeable methods, ranked by creation (older first, so `created_order` grows newer)."""
    rows = sorted(await chargeable_methods(ctx, customer), key=lambda r: (r["created_at"], r["id"]))
    return [ChargeableMethod(r["id"], r["rail"], i) for i, r in enumerate(rows)]


async def history(ctx: RepositoryContext, invoice_id: str, method_id: str | None) -> History:
    """Hard declines of `method_id` in this schedule (the one being decided included, as it is already recorded),
    and the methods that already failed hard or needed replacing."""
    rows = await ctx.conn.execute(
        select(t.c.payment_method_id, t.c.failure_code).where(
            t.c.tenant_id == ctx.tenant_id,
            t.c.invoice_id == invoice_id,
            t.c.status == "failed",
            t.c.source.in_(AUTOMATIC_SOURCES),
        )
    )
    hard = 0
    failed: set[str] = set()
    for row in rows:
        klass = classify(row["failure_code"]).klass
        pm_id = row["payment_method_id"]
        if klass == "hard_decline" and pm_id is not None and pm_id == method_id:
            hard += 1
        if klass in ("hard_decline", "needs_new_method") and pm_id is not None:
            failed.add(pm_id)
    return History(hard, frozenset(failed))


async def failed_attempt(
    ctx: RepositoryContext, txn: DbRow, schedule: Mapping[str, Any], *, attempts_made: int, at: datetime
) -> FailedAttempt:
    """The failure `txn` as `decide()` sees it. A failure without a gateway call (`no_payment_method`,
    `kyc_required`) may carry no rail; the schedule's method and rail stand in for it then."""
    method_id = txn["payment_method_id"] or schedule["payment_method_id"]
    rail = txn["rail"] or (schedule["rail"] if method_id == schedule["payment_method_id"] else None)
    past = await history(ctx, txn["invoice_id"], method_id)
    klass = classify(txn["failure_code"]).klass
    return FailedAttempt.from_code(
        txn["failure_code"],
        attempts_made=attempts_made,
        last_attempt_at=at,
        escalation_at=schedule["escalation_at"],
        payment_method_id=method_id,
        rail=rail,
        # A hard decline always counts itself, even when its method is gone from the history (deleted since).
        hard_declines_on_method=max(past.hard_declines_on_method, 1) if klass == "hard_decline" else 0,
        failed_method_ids=past.failed_method_ids,
    )
