"""SQL behind the dashboard's test clock screens (07 §10): attached-subscription counts, the attached
subscriptions with their open dunning schedule, and the events one advance produced."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from sqlalchemy import func, or_, select

from duro.db.repository import DbRow, TenantRepository
from duro.models.billing import dunning_schedules as d
from duro.models.billing import subscriptions as s
from duro.models.billing import test_clocks
from duro.models.customers import customers as c
from duro.models.events import events as e
from duro.models.plans import plans as p
from duro.subscriptions.repository import LIVE_DUNNING_STATES

# A clock carries at most 100 subscriptions (03 §12); one advance over them rarely makes more events than this,
# and the screen says when the list is cut.
MAX_ADVANCE_EVENTS: Final = 200


class ClockViewRepository(TenantRepository):
    table = test_clocks

    async def attached_counts(self, clock_ids: Sequence[str]) -> dict[str, int]:
        """Attached subscriptions per clock, terminal ones included (they stay attached for life)."""
        if not clock_ids:
            return {}
        stmt = (
            select(s.c.test_clock_id, func.count())
            .where(s.c.tenant_id == self.tenant_id, s.c.test_clock_id.in_(list(clock_ids)))
            .group_by(s.c.test_clock_id)
        )
        return {row[0]: int(row[1]) for row in await self.conn.execute(stmt)}

    async def attached(self, clock_id: str) -> list[DbRow]:
        """The clock's subscriptions, newest first, with customer and plan names and the next attempt of their open
        dunning schedule (at most one per subscription: one per invoice, and one open invoice at a time)."""
        open_schedule = (
            select(d.c.subscription_id, func.min(d.c.next_attempt_at).label("next_attempt_at"))
            .where(d.c.tenant_id == self.tenant_id, d.c.state.in_(LIVE_DUNNING_STATES))
            .group_by(d.c.subscription_id)
            .subquery()
        )
        stmt = (
            select(
                s.c.id,
                s.c.status,
                s.c.current_period_end,
                s.c.customer_id,
                c.c.name.label("customer_name"),
                c.c.email.label("customer_email"),
                p.c.name.label("plan_name"),
                open_schedule.c.next_attempt_at,
            )
            .select_from(
                s.join(c, (c.c.tenant_id == s.c.tenant_id) & (c.c.id == s.c.customer_id))
                .join(p, (p.c.tenant_id == s.c.tenant_id) & (p.c.id == s.c.plan_id))
                .outerjoin(open_schedule, open_schedule.c.subscription_id == s.c.id)
            )
            .where(s.c.tenant_id == self.tenant_id, s.c.test_clock_id == clock_id)
            .order_by(s.c.created_at.desc(), s.c.id.desc())
        )
        return list((await self.conn.execute(stmt)).all())

    async def events_between(self, subscription_ids: Sequence[str], after_id: str, before_id: str) -> list[DbRow]:
        """Events about these subscriptions (the subscription itself, or an object naming it: invoices,
        transactions) whose id lies between two markers taken around an advance. Event ids are monotonic ULIDs, so
        the markers bracket exactly what was written in between, whatever the clock time inside the data."""
        if not subscription_ids:
            return []
        ids = list(subscription_ids)
        obj = e.c.data["object"]
        stmt = (
            select(e.c.id, e.c.type, e.c.created_at, obj["id"].astext.label("object_id"))
            .where(
                e.c.tenant_id == self.tenant_id,
                e.c.id > after_id,
                e.c.id < before_id,
                or_(obj["id"].astext.in_(ids), obj["subscriptionId"].astext.in_(ids)),
            )
            .order_by(e.c.id)
            .limit(MAX_ADVANCE_EVENTS + 1)
        )
        return list((await self.conn.execute(stmt)).all())
