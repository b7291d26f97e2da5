"""SQL for customers."""

from __future__ import annotations

from sqlalchemy import ColumnElement, bindparam, select

from duro.db.repository import DbRow, TenantRepository, storable
from duro.kit.pagination import Page, PageRequest
from duro.models.customers import customers

_BY_REF = select(customers).where(
    customers.c.tenant_id == bindparam("b_tenant_id"), customers.c.merchant_ref == bindparam("b_ref")
)
_BY_REF_FOR_UPDATE = _BY_REF.with_for_update()


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
        stmt = _BY_REF_FOR_UPDATE if for_update else _BY_REF
        row: DbRow | None = (
            await self.conn.execute(stmt, {"b_tenant_id": self.tenant_id, "b_ref": merchant_ref})
        ).first()
        return row
