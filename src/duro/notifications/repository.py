"""SQL of /v1/notifications: the mode's `notifications` outbox of one tenant."""

from __future__ import annotations

from sqlalchemy import ColumnElement

from duro.db.repository import DbRow, TenantRepository
from duro.kit.pagination import Page, PageRequest
from duro.models.notifications import notifications


class NotificationRepository(TenantRepository):
    table = notifications

    async def list_page(
        self,
        page: PageRequest,
        *,
        customer_id: str | None = None,
        subscription_id: str | None = None,
        invoice_id: str | None = None,
        template_key: str | None = None,
        status: str | None = None,
    ) -> Page[DbRow]:
        t = notifications
        filters: list[ColumnElement[bool]] = []
        for column, value in (
            (t.c.customer_id, customer_id),
            (t.c.subscription_id, subscription_id),
            (t.c.invoice_id, invoice_id),
            (t.c.template_key, template_key),
            (t.c.status, status),
        ):
            if value is not None:
                filters.append(column == value)
        return await self.page(page, filters)
