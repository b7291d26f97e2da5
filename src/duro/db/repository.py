"""Base of every tenant-scoped repository: the tenant id is fixed at construction and every statement a
subclass builds through these helpers filters on it. There is deliberately no way to ask for "any tenant"."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, TypeAlias

from sqlalchemy import ColumnElement, Table, and_, bindparam, func, insert, select, tuple_, update

from duro.db.executor import Connection, Record
from duro.kit.errors import bad_request
from duro.kit.pagination import Page, PageRequest, page_from_rows

# A result row (attribute and key access).
DbRow: TypeAlias = Record


def storable(value: str) -> bool:
    """False for text PostgreSQL cannot hold (U+0000): no row can have it, so lookups find nothing instead of
    failing with a database error. Path ids and cursors reach queries unvalidated."""
    return "\x00" not in value


# Statements reused on every request are built once per table and executed with bound parameters: building
# and cache-keying a fresh statement costs more than executing a cached one. Tenant id is always a parameter.
_STATEMENTS: dict[tuple[str, str], Any] = {}


def _cached(table: Table, op: str) -> Any:
    key = (table.name, op)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        by_id = and_(table.c.tenant_id == bindparam("b_tenant_id"), table.c.id == bindparam("b_id"))
        if op == "get":
            stmt = select(table).where(by_id)
        elif op == "get_for_update":
            stmt = select(table).where(by_id).with_for_update()
        elif op == "insert":
            stmt = insert(table).returning(table)
        elif op == "update":
            stmt = update(table).where(by_id).returning(table)
        else:
            raise KeyError(op)
        _STATEMENTS[key] = stmt
    return stmt


class TenantRepository:
    table: ClassVar[Table]

    def __init__(self, conn: Connection, tenant_id: str) -> None:
        if not tenant_id:
            raise ValueError("a tenant repository needs a tenant id")
        self.conn = conn
        self.tenant_id = tenant_id

    def scoped(self, *clauses: ColumnElement[bool]) -> ColumnElement[bool]:
        return and_(self.table.c.tenant_id == self.tenant_id, *clauses)

    async def get_row(self, row_id: str, *, for_update: bool = False) -> DbRow | None:
        if not storable(row_id):
            return None
        stmt = _cached(self.table, "get_for_update" if for_update else "get")
        row: DbRow | None = (await self.conn.execute(stmt, {"b_tenant_id": self.tenant_id, "b_id": row_id})).first()
        return row

    async def insert_row(self, values: Mapping[str, Any]) -> DbRow:
        params = {**values, "tenant_id": self.tenant_id}
        row: DbRow = (await self.conn.execute(_cached(self.table, "insert"), params)).one()
        return row

    async def update_row(self, row_id: str, values: Mapping[str, Any]) -> DbRow | None:
        if not storable(row_id):
            return None
        params = {**values, "b_tenant_id": self.tenant_id, "b_id": row_id}
        row: DbRow | None = (await self.conn.execute(_cached(self.table, "update"), params)).first()
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
