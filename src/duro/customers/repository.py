"""SQL for customers."""

from __future__ import annotations

from sqlalchemy import ColumnElement, select

from duro.db.repository import DbRow, TenantRepository, storable
from duro.kit.pagination import Page, PageRequest
from duro.models.customers import customers


class CustomerRepository(TenantRepository):
    table = customers

    async def list_page(
        self,
        page: PageRequest,
        *,
        email: str | None = None,
        phone: str | None = None,
        merchant_ref: str | None = None,
        blacklisted: bool | None = None,
    ) -> Page[DbRow]:
        filters: list[ColumnElement[bool]] = []
        if email is not None:
            filters.append(customers.c.email == email)
        if phone is not None:
            filters.append(customers.c.phone == phone)
        if merchant_ref is not None:
            filters.append(customers.c.merchant_ref == merchant_ref)
        if blacklisted is not None:
            filters.append(customers.c.blacklisted.is_(blacklisted))
        return await self.page(page, filters)

    async def by_merchant_ref(self, merchant_ref: str, *, for_update: bool = False) -> DbRow | None:
        if not storable(merchant_ref):
            return None
        stmt = select(customers).where(self.scoped(customers.c.merchant_ref == merchant_ref))
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.conn.execute(stmt)).first()
