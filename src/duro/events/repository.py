"""SQL for events of one tenant and mode."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement

from duro.db.repository import DbRow, TenantRepository
from duro.kit.pagination import Page, PageRequest
from duro.models.events import events


class EventRepository(TenantRepository):
    table = events

    async def list_page(
        self,
        page: PageRequest,
        *,
        type_: str | None = None,
        created_gte: datetime | None = None,
        created_lt: datetime | None = None,
    ) -> Page[DbRow]:
        filters: list[ColumnElement[bool]] = []
        if type_ is not None:
            filters.append(events.c.type == type_)
        if created_gte is not None:
            filters.append(events.c.created_at >= created_gte)
        if created_lt is not None:
            filters.append(events.c.created_at < created_lt)
        return await self.page(page, filters)
