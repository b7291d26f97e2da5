"""The reminders loop (04 §8, 01 §12): renewal reminders and card-expiry notices, over both modes, hourly.

Candidates are found with set-based SQL (all tenants of a mode at once; tenant settings joined in with the spec
defaults for tenants that never saved any), already-notified ones excluded by their dedup key, then queued with
`notify_customer` in one transaction per tenant. Dedup keys make a second run — or a second worker — a no-op.

- `renewal_reminder`: subscription `active`/`trialing` (so not paused), not `cancelAtPeriodEnd`, no test clock,
  `currentPeriodEnd` in (now, now + renewalReminderDays], the period at least 2 × renewalReminderDays days long,
  the tenant's `renewalReminders` on. Dedup `reminder_{subId}_{currentPeriodEnd}`, the period end in the API's
  timestamp format (`2025-02-28T09:00:00.000Z`), so each period is reminded once.
- `card_expiring`: the card a subscription is charged with (its own method, else the customer's default) of an
  `active` subscription expires before the next renewal — a card is valid through its expiry month, so it has
  expired at renewal when the first instant of the following month is ≤ `currentPeriodEnd`. Dedup
  `card_expiring_{pmId}_{yyyymm}` (the card's expiry month): one notice per card and tenant per expiry, even when
  several subscriptions use it. Not governed by `renewalReminders` (it is about a failing charge, not a renewal).

Test-clock subscriptions are skipped here; `reminders_for_clock` runs the same rules for one clock at its time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    and_,
    cast,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.dialects.postgresql import distinct_on

from duro.billing.dunning import RecoverySettings
from duro.context import RepositoryContext
from duro.db.engine import MODES, Mode
from duro.kit.jsonenc import format_ts
from duro.models.billing import subscriptions as s
from duro.models.customers import customers as c
from duro.models.notifications import notifications as n
from duro.models.payment_methods import payment_methods as pm
from duro.models.settings import store_settings as st
from duro.notifications.outbox import notify_customer
from duro.runtime import Runtime
from duro.subscriptions.runner import worker_context

UNSCOPED = "/* unscoped: reminders loop */"
DEFAULTS = RecoverySettings()
ONE_DAY: ColumnElement[Any] = literal_column("interval '1 day'")
ONE_MONTH: ColumnElement[Any] = literal_column("interval '1 month'")


def reminder_dedup_key(subscription_id: str, current_period_end: datetime) -> str:
    return f"reminder_{subscription_id}_{format_ts(current_period_end)}"


def card_dedup_key(payment_method_id: str, exp_year: int, exp_month: int) -> str:
    return f"card_expiring_{payment_method_id}_{exp_year:04d}{exp_month:02d}"


def _iso(column: Any) -> ColumnElement[str]:
    """`format_ts` in SQL, for dedup keys compared inside the scan."""
    return func.to_char(func.timezone("UTC", column), literal('YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))


def _scope(tenant_id: str | None, clock_id: str | None) -> list[ColumnElement[bool]]:
    if tenant_id is None:
        return [s.c.test_clock_id.is_(None)]
    return [s.c.tenant_id == tenant_id, s.c.test_clock_id == clock_id]


def _renewal_candidates(
    now: datetime, limit: int, after: tuple[str, str] | None, tenant_id: str | None = None, clock_id: str | None = None
) -> Select[Any]:
    days = func.coalesce(st.c.renewal_reminder_days, DEFAULTS.renewal_reminder_days)
    dedup = func.concat("reminder_", s.c.id, "_", _iso(s.c.current_period_end))
    done = exists().where(n.c.tenant_id == s.c.tenant_id, n.c.dedup_key == dedup)
    where = [
        *_scope(tenant_id, clock_id),
        s.c.status.in_(("active", "trialing")),
        s.c.cancel_at_period_end.is_(False),
        func.coalesce(st.c.renewal_reminders, DEFAULTS.renewal_reminders).is_(true()),
        s.c.current_period_end > now,
        s.c.current_period_end <= literal(now) + days * ONE_DAY,
        s.c.current_period_end - s.c.current_period_start >= 2 * days * ONE_DAY,
        ~done,
    ]
    if after is not None:
        where.append(tuple_(s.c.tenant_id, s.c.id) > tuple_(literal(after[0]), literal(after[1])))
    stmt = (
        select(s)
        .select_from(s.outerjoin(st, st.c.tenant_id == s.c.tenant_id))
        .where(*where)
        .order_by(s.c.tenant_id, s.c.id)
        .limit(limit)
    )
    return stmt if tenant_id is not None else stmt.prefix_with(UNSCOPED)


def _card_candidates(
    limit: int, after: tuple[str, str] | None, tenant_id: str | None = None, clock_id: str | None = None
) -> Select[Any]:
    method_id = func.coalesce(s.c.payment_method_id, c.c.default_payment_method_id)
    expires = func.make_timestamptz(pm.c.exp_year, pm.c.exp_month, 1, 0, 0, 0, literal("UTC")) + ONE_MONTH
    yyyymm = func.concat(func.lpad(cast(pm.c.exp_year, Text), 4, "0"), func.lpad(cast(pm.c.exp_month, Text), 2, "0"))
    dedup = func.concat("card_expiring_", pm.c.id, "_", yyyymm)
    done = exists().where(n.c.tenant_id == s.c.tenant_id, n.c.dedup_key == dedup)
    where = [
        *_scope(tenant_id, clock_id),
        s.c.status == "active",
        pm.c.rail == "card",
        pm.c.exp_year.is_not(None),
        pm.c.exp_month.is_not(None),
        pm.c.disabled_at.is_(None),
        or_(pm.c.tenant_id == s.c.tenant_id, pm.c.tenant_id.is_(None)),  # identity-owned cards have no tenant
        expires <= s.c.current_period_end,
        ~done,
    ]
    if after is not None:
        where.append(tuple_(s.c.tenant_id, pm.c.id) > tuple_(literal(after[0]), literal(after[1])))
    stmt = (
        select(s, pm.c.id.label("pm_id"), pm.c.exp_year, pm.c.exp_month)
        .select_from(
            s.join(c, and_(c.c.tenant_id == s.c.tenant_id, c.c.id == s.c.customer_id)).join(pm, pm.c.id == method_id)
        )
        .where(*where)
        .ext(distinct_on(s.c.tenant_id, pm.c.id))
        .order_by(s.c.tenant_id, pm.c.id, s.c.current_period_end)
        .limit(limit)
    )
    return stmt if tenant_id is not None else stmt.prefix_with(UNSCOPED)


async def _queue_renewal(ctx: RepositoryContext, sub: Any, at: datetime) -> int:
    key = reminder_dedup_key(sub["id"], sub["current_period_end"])
    ids = await notify_customer(
        ctx, "renewal_reminder", dedup_key=key, customer_id=sub["customer_id"], at=at, subscription=sub
    )
    return len(ids)


async def _queue_card(ctx: RepositoryContext, row: Any, at: datetime) -> int:
    key = card_dedup_key(row["pm_id"], row["exp_year"], row["exp_month"])
    ids = await notify_customer(
        ctx, "card_expiring", dedup_key=key, customer_id=row["customer_id"], at=at, subscription=row
    )
    return len(ids)


async def _scan(runtime: Runtime, mode: Mode, kind: str, now: datetime) -> int:
    batch = runtime.settings.worker_batch
    after: tuple[str, str] | None = None
    queued = 0
    while True:
        stmt = _renewal_candidates(now, batch, after) if kind == "renewal" else _card_candidates(batch, after)
        async with runtime.db.reader(mode) as conn:
            rows = list((await conn.execute(stmt)).all())
        by_tenant: dict[str, list[Any]] = {}
        for row in rows:
            by_tenant.setdefault(row["tenant_id"], []).append(row)
        for tenant_id, group in by_tenant.items():
            async with runtime.db.transaction(mode) as conn:
                ctx = worker_context(runtime, conn, tenant_id, mode)
                for row in group:
                    queue = _queue_renewal if kind == "renewal" else _queue_card
                    queued += await queue(ctx, row, now)
        if len(rows) < batch:
            return queued
        last = rows[-1]
        after = (last["tenant_id"], last["id"] if kind == "renewal" else last["pm_id"])


async def reminders_tick(runtime: Runtime) -> int:
    """One pass over both modes; returns how many notification rows were queued."""
    queued = 0
    for mode in MODES:
        now = runtime.clock.now()
        queued += await _scan(runtime, mode, "renewal", now)
        queued += await _scan(runtime, mode, "card", now)
    return queued


async def reminders_for_clock(ctx: RepositoryContext, clock_id: str, at: datetime) -> int:
    """The reminders due at `at` (the clock's time) for the subscriptions of test clock `clock_id`, in the
    caller's transaction (the test-clock advance, 03 §12). Same rules as the loop; returns rows queued."""
    queued = 0
    rows = (await ctx.conn.execute(_renewal_candidates(at, 1000, None, ctx.tenant_id, clock_id))).all()
    for row in rows:
        queued += await _queue_renewal(ctx, row, at)
    cards = (await ctx.conn.execute(_card_candidates(1000, None, ctx.tenant_id, clock_id))).all()
    for row in cards:
        queued += await _queue_card(ctx, row, at)
    return queued
