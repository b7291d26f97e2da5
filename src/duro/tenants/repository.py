"""SQL for `core.tenants` and `core.members`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert, select

from duro.db.executor import Connection
from duro.db.repository import DbRow
from duro.models.core import members, tenants


class TenantStore:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def get(self, tenant_id: str) -> DbRow | None:
        return (await self.conn.execute(select(tenants).where(tenants.c.id == tenant_id))).first()

    async def by_slug(self, slug: str) -> DbRow | None:
        return (await self.conn.execute(select(tenants).where(tenants.c.slug == slug))).first()

    async def taken_slugs(self, slugs: list[str]) -> set[str]:
        rows = await self.conn.execute(select(tenants.c.slug).where(tenants.c.slug.in_(slugs)))
        return {r.slug for r in rows}

    async def insert(self, values: Mapping[str, Any]) -> DbRow:
        row: DbRow = (await self.conn.execute(insert(tenants).values(**values).returning(tenants))).one()
        return row

    async def list_all(self) -> list[DbRow]:
        stmt = select(tenants).order_by(tenants.c.created_at.desc(), tenants.c.id.desc())
        return list((await self.conn.execute(stmt)).all())


class MemberStore:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def by_email(self, email: str) -> DbRow | None:
        return (await self.conn.execute(select(members).where(members.c.email == email))).first()

    async def insert(self, values: Mapping[str, Any]) -> DbRow:
        row: DbRow = (await self.conn.execute(insert(members).values(**values).returning(members))).one()
        return row
