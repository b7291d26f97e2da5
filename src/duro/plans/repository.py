"""SQL for plans."""

from __future__ import annotations

from sqlalchemy import ColumnElement

from duro.db.repository import DbRow, TenantRepository
from duro.kit.pagination import Page, PageRequest
from duro.models.plans import plans


class PlanRepository(TenantRepository):
    table = plans

    async def list_page(self, page: PageRequest, *, active: bool | None = None) -> Page[DbRow]:
        filters: list[ColumnElement[bool]] = []
        if active is not None:
            filters.append(plans.c.active.is_(active))
        return await self.page(page, filters)
