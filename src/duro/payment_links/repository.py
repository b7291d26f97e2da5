"""SQL for payment links."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, bindparam, select

from duro.db.repository import DbRow, TenantRepository, storable
from duro.kit.pagination import Page, PageRequest
from duro.models.checkout import payment_links as t
from duro.models.plans import plans as p

# The pay page's lookup: an active link whose plan is active too (06 §5), in one round trip.
_ACTIVE_BY_SLUG = (
    select(t)
    .join(p, (p.c.tenant_id == t.c.tenant_id) & (p.c.id == t.c.plan_id))
    .where(
        t.c.tenant_id == bindparam("b_tenant_id"),
        p.c.tenant_id == bindparam("b_tenant_id"),
        t.c.slug == bindparam("b_slug"),
        t.c.active.is_(True),
        p.c.active.is_(True),
    )
)


class PaymentLinkRepository(TenantRepository):
    table = t

    async def list_page(self, page: PageRequest, *, active: bool | None, plan_id: str | None) -> Page[DbRow]:
        filters: list[ColumnElement[bool]] = []
        if active is not None:
            filters.append(t.c.active.is_(active))
        if plan_id is not None:
            filters.append(t.c.plan_id == plan_id)
        return await self.page(page, filters)

    async def active_by_slug(self, slug: str) -> DbRow | None:
        if not storable(slug):
            return None
        params = {"b_tenant_id": self.tenant_id, "b_slug": slug}
        row: DbRow | None = (await self.conn.execute(_ACTIVE_BY_SLUG, params)).first()
        return row

    async def set_fields(self, link_id: str, values: dict[str, Any]) -> DbRow | None:
        return await self.update_row(link_id, values)
