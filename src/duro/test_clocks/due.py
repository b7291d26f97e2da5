"""What is due on a test clock (03 §12 advance step 3): the instants at which something happens to the clock's
subscriptions, and the units of work due at an instant — renewals, expiry of `incomplete` subscriptions, dunning
retries and escalations — in the order they are processed."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import func, select

from duro.context import RepositoryContext
from duro.models.billing import dunning_schedules as d
from duro.models.billing import subscriptions as s
from duro.settings.service import load_recovery_settings

Kind = Literal["renew", "expire", "dunning", "escalate"]
_ESCALATABLE = ("scheduled", "awaiting_customer")


async def due_instant(ctx: RepositoryContext, clock_id: str, frozen: datetime, to: datetime) -> datetime | None:
    """The earliest pending instant ≤ `to`, or None. Escalation counts only when the tenant's setting can end
    dunning by time (with `keep` the deadline does nothing, and counting it would stall the clock on it).
    Reminder instants (`currentPeriodEnd − renewalReminderDays`, 04 §8) count only while still ahead of the clock,
    so each is visited once; the reminders due then are queued by the caller."""
    t = ctx.tenant_id
    settings = await load_recovery_settings(ctx)
    queries = [
        select(func.min(s.c.current_period_end)).where(
            s.c.tenant_id == t, s.c.test_clock_id == clock_id, s.c.status.in_(("active", "trialing"))
        ),
        select(func.min(s.c.incomplete_expires_at)).where(
            s.c.tenant_id == t, s.c.test_clock_id == clock_id, s.c.status == "incomplete"
        ),
        select(func.min(d.c.next_attempt_at)).where(
            d.c.tenant_id == t, d.c.test_clock_id == clock_id, d.c.state == "scheduled"
        ),
    ]
    if settings.dunning_escalation != "keep":
        queries.append(
            select(func.min(d.c.escalation_at)).where(
                d.c.tenant_id == t, d.c.test_clock_id == clock_id, d.c.state.in_(_ESCALATABLE)
            )
        )
    if settings.renewal_reminders:
        lead = timedelta(days=settings.renewal_reminder_days)
        reminder_at = s.c.current_period_end - lead
        queries.append(
            select(func.min(reminder_at)).where(
                s.c.tenant_id == t,
                s.c.test_clock_id == clock_id,
                s.c.status.in_(("active", "trialing")),
                s.c.cancel_at_period_end.is_(False),
                s.c.current_period_end - s.c.current_period_start >= 2 * lead,
                reminder_at > frozen,
            )
        )
    found = [v for q in queries if (v := (await ctx.conn.execute(q)).scalar()) is not None]
    first = min(found) if found else None
    return first if first is not None and first <= to else None


async def due_units(ctx: RepositoryContext, clock_id: str, at: datetime) -> list[tuple[Kind, str]]:
    """Everything due at `at`: subscriptions first (renewals, expiries), then retries, then escalations — a retry
    due at the same instant as the deadline gets its chance before the schedule is escalated."""
    t = ctx.tenant_id
    units: list[tuple[Kind, str]] = []
    rows = await ctx.conn.execute(
        select(s.c.id, s.c.status)
        .where(
            s.c.tenant_id == t,
            s.c.test_clock_id == clock_id,
            (
                (s.c.status.in_(("active", "trialing")) & (s.c.current_period_end <= at))
                | ((s.c.status == "incomplete") & (s.c.incomplete_expires_at <= at))
            ),
        )
        .order_by(s.c.id)
    )
    units.extend(("expire" if r["status"] == "incomplete" else "renew", r["id"]) for r in rows)
    retries = await ctx.conn.execute(
        select(d.c.id)
        .where(d.c.tenant_id == t, d.c.test_clock_id == clock_id, d.c.state == "scheduled", d.c.next_attempt_at <= at)
        .order_by(d.c.next_attempt_at, d.c.id)
    )
    units.extend(("dunning", r["id"]) for r in retries)
    if (await load_recovery_settings(ctx)).dunning_escalation != "keep":
        late = await ctx.conn.execute(
            select(d.c.id)
            .where(
                d.c.tenant_id == t,
                d.c.test_clock_id == clock_id,
                d.c.state.in_(_ESCALATABLE),
                d.c.escalation_at <= at,
            )
            .order_by(d.c.escalation_at, d.c.id)
        )
        units.extend(("escalate", r["id"]) for r in late)
    return units
