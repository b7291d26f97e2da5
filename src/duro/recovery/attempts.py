"""Executing a due dunning schedule (04 §4 "Executing"), in the house pattern for network I/O (01 §12):

1. Claim (`claim_due` for the loop, `claim_one` for a test clock): `scheduled` and due → `in_flight` with a 5-minute
   lease, committed on its own.
2. T1 (`begin_attempt`): lock subscription → invoice → schedule, re-check (canceled subscription → `canceled`,
   paid invoice → `recovered`, subscription no longer `past_due` → `canceled`), then a `pending` transaction (source
   `dunning`, KYC reservation in live mode). Commit.
3. The gateway call, with no transaction open, the transaction id as its idempotency reference.
4. T2 (`finish_attempt`): record the outcome only if the transaction is still `pending` (crash recovery may have
   finished it), then recover or re-decide.

A worker that dies anywhere leaves either a `scheduled` row (nothing happened), an `in_flight` row without a
transaction (the lease expires and maintenance returns it to `scheduled`), or a `pending` transaction that crash
recovery finishes with the same gateway reference — never a second charge.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from duro.billing.lifecycle import Action, can
from duro.charges.service import PendingCharge, open_charge, record_outcome
from duro.context import RepositoryContext
from duro.customers.repository import CustomerRepository
from duro.db.executor import Connection
from duro.db.repository import DbRow
from duro.gateway.protocol import ChargeOutcome
from duro.invoices.repository import InvoiceRepository, TransactionRepository
from duro.models.billing import dunning_schedules as d
from duro.payment_methods.chargeable import disable_method, is_chargeable_by
from duro.payment_methods.repository import PaymentMethodRepository
from duro.recovery.decisions import after_failed_retry, escalation_entry
from duro.recovery.endings import exhaust, settle_invoice
from duro.settings.service import load_recovery_settings
from duro.subscriptions.repository import DunningScheduleRepository, SubscriptionRepository

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
SOURCE = "dunning"
UNSCOPED = "/* unscoped: dunning scanner */"
_TERMINAL_SUB = ("canceled", "expired", "incomplete_expired")


@dataclass(frozen=True, slots=True)
class Finished:
    outcome: str


@dataclass(frozen=True, slots=True)
class Charge:
    pending: PendingCharge
    schedule_id: str


async def claim_due(conn: Connection, now: datetime, batch: int) -> list[DbRow]:
    """The loop's claim over all tenants of a mode: due `scheduled` rows → `in_flight` (04 §4 step 1). Test-clock
    schedules move only when their clock advances (03 §12)."""
    due = (
        select(d.c.id)
        .where(d.c.state == "scheduled", d.c.next_attempt_at <= now, d.c.test_clock_id.is_(None))
        .order_by(d.c.next_attempt_at)
        .limit(batch)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    stmt = (
        update(d)
        .where(d.c.id.in_(due), d.c.state == "scheduled")
        .values(state="in_flight", lease_until=now + LEASE, updated_at=now)
        .returning(d.c.id, d.c.tenant_id)
        .prefix_with(UNSCOPED)
    )
    return list((await conn.execute(stmt)).all())


async def claim_one(ctx: RepositoryContext, schedule_id: str, now: datetime) -> bool:
    """Claim one schedule of this tenant if it is still `scheduled` and due at `now` (test-clock advance)."""
    stmt = (
        update(d)
        .where(
            d.c.tenant_id == ctx.tenant_id, d.c.id == schedule_id, d.c.state == "scheduled", d.c.next_attempt_at <= now
        )
        .values(state="in_flight", lease_until=now + LEASE, updated_at=now)
        .returning(d.c.id)
    )
    return (await ctx.conn.execute(stmt)).first() is not None


async def _locked(ctx: RepositoryContext, schedule_id: str) -> tuple[DbRow, DbRow, DbRow] | None:
    """Subscription → invoice → schedule, the house lock order (the pay path takes the same)."""
    repo = ctx.repo(DunningScheduleRepository)
    peek = await repo.get_row(schedule_id)
    if peek is None:
        return None
    sub = await ctx.repo(SubscriptionRepository).get_row(peek["subscription_id"], for_update=True)
    invoice = await ctx.repo(InvoiceRepository).get_row(peek["invoice_id"], for_update=True)
    schedule = await repo.get_row(schedule_id, for_update=True)
    assert sub is not None
    assert invoice is not None
    assert schedule is not None
    return sub, invoice, schedule


async def _end_quietly(ctx: RepositoryContext, schedule: DbRow, state: str, at: datetime) -> None:
    field = "recovered_at" if state == "recovered" else "canceled_at"
    await ctx.repo(DunningScheduleRepository).update_row(
        schedule["id"], {"state": state, field: at, "next_attempt_at": None, "lease_until": None, "updated_at": at}
    )


async def _method(ctx: RepositoryContext, sub: DbRow, schedule: DbRow) -> DbRow | None:
    """The schedule's method while it is chargeable, else the subscription's, else the customer's default."""
    customer = await ctx.repo(CustomerRepository).get_row(sub["customer_id"])
    assert customer is not None
    repo = ctx.repo(PaymentMethodRepository)
    for pm_id in (schedule["payment_method_id"], sub["payment_method_id"], customer["default_payment_method_id"]):
        if pm_id is None:
            continue
        method = await repo.find_visible(pm_id, customer["identity_id"])
        if method is not None and is_chargeable_by(method, customer):
            await repo.lock_for_use(method["id"])
            return method
    return None


async def begin_attempt(ctx: RepositoryContext, schedule_id: str, now: datetime) -> Finished | Charge:
    """T1 of a claimed schedule (steps 2–3)."""
    rows = await _locked(ctx, schedule_id)
    if rows is None:
        return Finished("gone")
    sub, invoice, schedule = rows
    if schedule["state"] != "in_flight":
        return Finished("not_in_flight")  # finished by someone else since the claim
    if sub["status"] in _TERMINAL_SUB:
        await _end_quietly(ctx, schedule, "canceled", now)  # the merchant canceled meanwhile: stop quietly
        return Finished("canceled")
    if invoice["status"] == "paid":
        await _end_quietly(ctx, schedule, "recovered", now)
        return Finished("recovered")
    if not can(sub["status"], Action.RECOVER):
        await _end_quietly(ctx, schedule, "canceled", now)
        return Finished("canceled")
    method = await _method(ctx, sub, schedule)
    pending, txn = await open_charge(ctx, invoice=invoice, method=method, source=SOURCE, at=now, synchronous=False)
    if pending is None:  # no method, or the KYC cap: a failed attempt without a gateway call
        return Finished(await after_failed_retry(ctx, sub, invoice, schedule, txn, now))
    return Charge(pending, schedule_id)


async def finish_attempt(
    ctx: RepositoryContext, schedule_id: str, txn_id: str, outcome: ChargeOutcome, now: datetime
) -> str:
    """T2 (step 4–5). A transaction no longer `pending` was finished elsewhere (crash recovery): nothing more."""
    repo = ctx.repo(DunningScheduleRepository)
    peek = await repo.get_row(schedule_id)
    if peek is None:
        return "gone"
    sub = await ctx.repo(SubscriptionRepository).get_row(peek["subscription_id"], for_update=True)
    assert sub is not None
    txn = await record_outcome(ctx, txn_id, outcome, now)
    if txn is None:
        return "already_finished"
    invoice = await ctx.repo(InvoiceRepository).get_row(peek["invoice_id"], for_update=True)
    schedule = await repo.get_row(schedule_id, for_update=True)
    assert invoice is not None
    assert schedule is not None
    attempts = schedule["attempts_made"] + 1
    if txn["status"] == "succeeded":
        if schedule["state"] != "in_flight":
            log.error("dunning charge %s succeeded for schedule %s, now %s", txn_id, schedule_id, schedule["state"])
            await repo.update_row(schedule_id, {"attempts_made": attempts, "updated_at": now})
        await settle_invoice(ctx, invoice, sub, schedule, txn, now, dunning_attempts=attempts)
        return "recovered"
    if txn["failure_code"] == "stolen_card" and txn["payment_method_id"]:
        await disable_method(ctx, txn["payment_method_id"], now)  # before choosing the next rail (04 §2)
    if schedule["state"] != "in_flight":  # canceled while the charge was out: count it, decide nothing
        await repo.update_row(schedule_id, {"attempts_made": attempts, "lease_until": None, "updated_at": now})
        return "canceled"
    return await after_failed_retry(ctx, sub, invoice, schedule, txn, now)


async def escalate(ctx: RepositoryContext, schedule_id: str, now: datetime) -> bool:
    """Time-based escalation (04 §5): a `scheduled` or `awaiting_customer` schedule past `escalationAt` is
    exhausted, unless the tenant keeps dunning (`keep`). Re-checked under the locks: a payment may have won."""
    rows = await _locked(ctx, schedule_id)
    if rows is None:
        return False
    sub, invoice, schedule = rows
    if schedule["state"] not in ("scheduled", "awaiting_customer") or schedule["escalation_at"] > now:
        return False
    settings = await load_recovery_settings(ctx)
    if settings.dunning_escalation == "keep":
        return False
    entry = escalation_entry(schedule, now, schedule["attempts_made"], schedule["last_failure_code"])
    await exhaust(ctx, sub, invoice, schedule, reason="escalation", entry=entry, settings=settings, at=now)
    return True


def stale_leases(now: datetime, batch: int) -> Any:
    """`in_flight` schedules whose lease ran out (maintenance, 04 §4 last row), all tenants of a mode."""
    return (
        select(d.c.id, d.c.tenant_id, d.c.invoice_id)
        .where(d.c.state == "in_flight", d.c.lease_until < now)
        .limit(batch)
        .prefix_with("/* unscoped: maintenance */")
    )


async def release_lease(ctx: RepositoryContext, schedule_id: str, now: datetime) -> bool:
    """Return an expired `in_flight` schedule to `scheduled` when its attempt never opened a transaction. One with a
    `pending` dunning transaction is left to crash recovery, which finishes it with the same reference."""
    rows = await _locked(ctx, schedule_id)
    if rows is None:
        return False
    _, invoice, schedule = rows
    if schedule["state"] != "in_flight" or schedule["lease_until"] is None or schedule["lease_until"] >= now:
        return False
    pending = [
        t
        for t in await ctx.repo(TransactionRepository).for_invoice(invoice["id"])
        if t["status"] == "pending" and t["source"] == SOURCE
    ]
    if pending:
        return False
    await ctx.repo(DunningScheduleRepository).update_row(
        schedule_id, {"state": "scheduled", "lease_until": None, "updated_at": now}
    )
    return True


async def schedule_of(ctx: RepositoryContext, invoice_id: str) -> str | None:
    """The schedule of an invoice (one per invoice), for crash recovery of a pending dunning charge."""
    row = (
        await ctx.conn.execute(select(d.c.id).where(d.c.tenant_id == ctx.tenant_id, d.c.invoice_id == invoice_id))
    ).first()
    return None if row is None else str(row["id"])
