"""Base of every tenant-scoped repository: the tenant id is fixed at construction and every statement a
subclass builds through these helpers filters on it. There is deliberately no way to ask for "any tenant"."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, TypeAlias, Unpack

from sqlalchemy import ColumnElement, Row, Table, and_, func, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from duro.kit.errors import bad_request
from duro.kit.pagination import Page, PageRequest, page_from_rows

# A result row of any shape (SQLAlchemy 2.1 types rows by their column tuple).
DbRow: TypeAlias = Row[Unpack[tuple[Any, ...]]]


def storable(value: str) -> bool:
    """False for text PostgreSQL cannot hold (U+0000): no row can have it, so lookups find nothing instead of
    failing with a database error. Path ids and cursors reach queries unvalidated."""
    return "\x00" not in value


class TenantRepository:
    table: ClassVar[Table]

    def __init__(self, conn: AsyncConnection, tenant_id: str) -> None:
        if not tenant_id:
            raise ValueError("a tenant repository needs a tenant id")
        self.conn = conn
        self.tenant_id = tenant_id

    def scoped(self, *clauses: ColumnElement[bool]) -> ColumnElement[bool]:
        return and_(self.table.c.tenant_id == self.tenant_id, *clauses)

    async def get_row(self, row_id: str, *, for_update: bool = False) -> DbRow | None:
        if not storable(row_id):
            return None
        stmt = select(self.table).where(self.scoped(self.table.c.id == row_id))
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.conn.execute(stmt)).first()

    async def insert_row(self, values: Mapping[str, Any]) -> DbRow:
        stmt = insert(self.table).values(tenant_id=self.tenant_id, **values).returning(self.table)
        row: DbRow = (await self.conn.execute(stmt)).one()
        return row

    async def update_row(self, row_id: str, values: Mapping[str, Any]) -> DbRow | None:
        if not storable(row_id):
            return None
        stmt = update(self.table).where(self.scoped(self.table.c.id == row_id)).values(**values).returning(self.table)
        row: DbRow | None = (await self.conn.execute(stmt)).first()
        return row

    async def count(self, *clauses: ColumnElement[bool]) -> int:
        stmt = select(func.count()).select_from(self.table).where(self.scoped(*clauses))
        return int((await self.conn.execute(stmt)).scalar_one())

    async def page(self, page: PageRequest, filters: Sequence[ColumnElement[bool]] = ()) -> Page[DbRow]:
        """A keyset page ordered `created_at desc, id desc` (01 §7)."""
        t = self.table
        where = [*filters]
        if page.cursor is not None:
            if not storable(page.cursor):
                raise bad_request("invalid_cursor", "cursor is not an item of this list")
            anchor = (
                await self.conn.execute(
                    select(t.c.created_at, t.c.id).where(self.scoped(t.c.id == page.cursor, *filters))
                )
            ).first()
            if anchor is None:
                raise bad_request("invalid_cursor", "cursor is not an item of this list")
            where.append(tuple_(t.c.created_at, t.c.id) < tuple_(anchor.created_at, anchor.id))
        stmt = select(t).where(self.scoped(*where)).order_by(t.c.created_at.desc(), t.c.id.desc()).limit(page.limit + 1)
        rows = list((await self.conn.execute(stmt)).all())
        return page_from_rows(rows, page.limit, lambda r: str(r.id))
