"""SQL for `store_settings`: one row per tenant and mode, written on the first PATCH that changes something."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert

from duro.db.repository import DbRow, TenantRepository
from duro.models.core import tenants
from duro.models.settings import store_settings as t

# Built once: the dunning engine reads the settings on every decision.
_GET = select(t).where(t.c.tenant_id == bindparam("b_tenant_id"))
_GET_FOR_UPDATE = _GET.with_for_update()
# The tenant row always exists, so the outer join answers exactly one row, with the settings columns null when the
# tenant never saved any; `tenant_created_at` dates those defaults.
_GET_WITH_TENANT = (
    select(t, tenants.c.created_at.label("tenant_created_at"))
    .select_from(tenants.outerjoin(t, t.c.tenant_id == tenants.c.id))
    .where(tenants.c.id == bindparam("b_tenant_id"))
)


class StoreSettingsRepository(TenantRepository):
    table = t

    async def get(self, *, for_update: bool = False) -> DbRow | None:
        stmt = _GET_FOR_UPDATE if for_update else _GET
        row: DbRow | None = (await self.conn.execute(stmt, {"b_tenant_id": self.tenant_id})).first()
        return row

    async def get_with_tenant(self) -> DbRow:
        """The settings columns (all null when there is no row) plus the tenant's `tenant_created_at`."""
        row: DbRow = (await self.conn.execute(_GET_WITH_TENANT, {"b_tenant_id": self.tenant_id})).one()
        return row

    async def insert_if_missing(self, values: Mapping[str, Any]) -> DbRow | None:
        """Insert the tenant's row; None when another transaction inserted it first (the caller re-reads it).

        `ON CONFLICT DO NOTHING` waits for a concurrent inserter to finish, so after None the row is committed and
        a `SELECT … FOR UPDATE` sees it."""
        stmt = (
            insert(t)
            .values({**values, "tenant_id": self.tenant_id})
            .on_conflict_do_nothing(index_elements=[t.c.tenant_id])
            .returning(t)
        )
        row: DbRow | None = (await self.conn.execute(stmt)).first()
        return row

    async def set_fields(self, values: Mapping[str, Any]) -> DbRow:
        stmt = update(t).where(self.scoped()).values(**values).returning(t)
        row: DbRow = (await self.conn.execute(stmt)).one()
        return row
