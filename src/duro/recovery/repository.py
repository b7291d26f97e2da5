"""SQL for reading dunning schedules through the API (04 §7)."""

from __future__ import annotations

from sqlalchemy import ColumnElement

from duro.db.repository import DbRow
from duro.kit.pagination import Page, PageRequest
from duro.models.billing import dunning_schedules as t
from duro.subscriptions.repository import DunningScheduleRepository


class ScheduleRepository(DunningScheduleRepository):
    """The schedule repository plus the API's filtered list. Each filter has a `(tenant_id, column, created_at,
    id)` index (migration 0004), so a filtered page is one index range scan."""

    async def list_page(
        self,
        page: PageRequest,
        *,
        state: str | None = None,
        subscription_id: str | None = None,
        customer_id: str | None = None,
    ) -> Page[DbRow]:
        filters: list[ColumnElement[bool]] = []
        if state is not None:
            filters.append(t.c.state == state)
        if subscription_id is not None:
            filters.append(t.c.subscription_id == subscription_id)
        if customer_id is not None:
            filters.append(t.c.customer_id == customer_id)
        return await self.page(page, filters)
