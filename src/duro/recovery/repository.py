"""SQL for reading dunning schedules through the API (04 §7) and the dashboard's recovery ledger (07 §7)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, select

from duro.db.repository import DbRow
from duro.kit.pagination import Page, PageRequest
from duro.models.billing import dunning_schedules as t
from duro.models.billing import subscriptions as s
from duro.models.billing import test_clocks as tc
from duro.models.customers import customers as c
from duro.models.plans import plans as p
from duro.subscriptions.repository import DunningScheduleRepository


class ScheduleRepository(DunningScheduleRepository):
    """The schedule repository plus the API's filtered list. Each API filter has a `(tenant_id, column, created_at,
    id)` index (migration 0004), so a filtered page is one index range scan. The ledger's extra filters
    (`failure_code`, `rail`) ride on the tenant's list index: they only narrow a merchant's own schedules."""

    async def list_page(
        self,
        page: PageRequest,
        *,
        state: str | None = None,
        subscription_id: str | None = None,
        customer_id: str | None = None,
        failure_code: str | None = None,
        rail: str | None = None,
    ) -> Page[DbRow]:
        filters: list[ColumnElement[bool]] = []
        if state is not None:
            filters.append(t.c.state == state)
        if subscription_id is not None:
            filters.append(t.c.subscription_id == subscription_id)
        if customer_id is not None:
            filters.append(t.c.customer_id == customer_id)
        if failure_code is not None:
            filters.append(t.c.last_failure_code == failure_code)
        if rail is not None:
            filters.append(t.c.rail == rail)
        return await self.page(page, filters)

    async def ledger_labels(self, subscription_ids: Sequence[str]) -> list[DbRow]:
        """Customer and plan names of a page of schedules, in one statement (the ledger shows names, not ids)."""
        if not subscription_ids:
            return []
        stmt = (
            select(
                s.c.id.label("subscription_id"),
                s.c.status.label("subscription_status"),
                s.c.test_clock_id,
                c.c.name.label("customer_name"),
                c.c.email.label("customer_email"),
                c.c.phone.label("customer_phone"),
                p.c.name.label("plan_name"),
                tc.c.frozen_time.label("clock_time"),
            )
            .select_from(
                s.join(c, (c.c.tenant_id == s.c.tenant_id) & (c.c.id == s.c.customer_id))
                .join(p, (p.c.tenant_id == s.c.tenant_id) & (p.c.id == s.c.plan_id))
                # A clock-attached schedule lives in the clock's time: "next attempt in 2 h" is relative to it.
                .outerjoin(tc, (tc.c.tenant_id == s.c.tenant_id) & (tc.c.id == s.c.test_clock_id))
            )
            .where(s.c.tenant_id == self.tenant_id, s.c.id.in_(list(subscription_ids)))
        )
        return list((await self.conn.execute(stmt)).all())
