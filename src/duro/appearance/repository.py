"""SQL for `core.store_configs` (one row per tenant, shared by both modes) and the appearance audit rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import TIMESTAMP, Select, cast, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from duro.audit.service import record_core
from duro.context import Actor
from duro.db.executor import Connection
from duro.db.repository import DbRow, storable
from duro.models.core import tenants
from duro.models.identity import store_configs


def published_select() -> Select[Any]:
    """Tenants left-joined to their published appearance: callers add the `WHERE` (and any tenant columns they
    need), so a reader of many tenants gets names and appearance in one statement (the portal's 4th query)."""
    return select(
        tenants.c.id.label("tenant_id"),
        tenants.c.name.label("tenant_name"),
        tenants.c.slug.label("tenant_slug"),
        store_configs.c.published,
        store_configs.c.version,
        store_configs.c.published_at,
    ).select_from(tenants.outerjoin(store_configs, store_configs.c.tenant_id == tenants.c.id))


class StoreConfigStore:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def get(self, tenant_id: str) -> DbRow | None:
        """The tenant with its configuration row (null columns when it has none); None for an unknown tenant."""
        if not storable(tenant_id):
            return None
        stmt = select(
            tenants.c.id.label("tenant_id"),
            tenants.c.name.label("tenant_name"),
            store_configs.c.draft,
            store_configs.c.published,
            store_configs.c.version,
            store_configs.c.published_at,
            store_configs.c.published_by,
            store_configs.c.updated_at,
        ).select_from(tenants.outerjoin(store_configs, store_configs.c.tenant_id == tenants.c.id))
        return (await self.conn.execute(stmt.where(tenants.c.id == tenant_id))).first()

    async def lock(self, tenant_id: str, now: datetime) -> DbRow | None:
        """The tenant's row locked `FOR UPDATE`, created empty (= all defaults) first when missing; None for an
        unknown tenant. Creating through `INSERT … SELECT FROM tenants` avoids a foreign-key error (a 500) and
        `ON CONFLICT DO NOTHING` makes two first writers meet on the lock instead of a unique violation."""
        if not storable(tenant_id):
            return None
        at = cast(literal(now), TIMESTAMP(timezone=True))
        source = select(tenants.c.id, at, at).where(tenants.c.id == tenant_id)
        create = (
            pg_insert(store_configs)
            .from_select(["tenant_id", "created_at", "updated_at"], source)  # draft, published: '{}' by default
            .on_conflict_do_nothing(index_elements=["tenant_id"])
        )
        await self.conn.execute(create)
        stmt = (
            select(store_configs, tenants.c.name.label("tenant_name"))
            .join(tenants, tenants.c.id == store_configs.c.tenant_id)
            .where(store_configs.c.tenant_id == tenant_id)
            .with_for_update(of=store_configs)
        )
        return (await self.conn.execute(stmt)).first()

    async def update(self, tenant_id: str, values: Mapping[str, Any]) -> DbRow:
        stmt = update(store_configs).where(store_configs.c.tenant_id == tenant_id).values(**values)
        row: DbRow = (await self.conn.execute(stmt.returning(store_configs))).one()
        return row

    async def published_for(self, tenant_ids: Sequence[str]) -> list[DbRow]:
        ids = sorted({t for t in tenant_ids if storable(t)})
        if not ids:
            return []
        return list((await self.conn.execute(published_select().where(tenants.c.id.in_(ids)))).all())

    async def published_by_slug(self, slug: str) -> DbRow | None:
        if not storable(slug):
            return None
        return (await self.conn.execute(published_select().where(tenants.c.slug == slug))).first()

    async def audit(
        self,
        tenant_id: str,
        action: str,
        *,
        at: datetime,
        actor: Actor,
        before: dict[str, Any],
        after: dict[str, Any],
        request_id: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> None:
        """An audit entry (02 §9) with `mode` null: the appearance belongs to no mode. (`duro.audit.record` takes
        a mode-bound RepositoryContext, which the mode-agnostic dashboard and CLI writes here do not have.)"""
        await record_core(
            self.conn,
            tenant_id,
            action,
            at=at,
            actor=actor,
            target_type="appearance",
            target_id=tenant_id,
            before=before,
            after=after,
            ip=ip,
            user_agent=user_agent,
            request_id=request_id,
        )
