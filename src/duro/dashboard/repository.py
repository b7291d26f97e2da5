"""SQL of the dashboard accounts: members by email/id, password resets and core audit rows (02 §4, §9)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from duro.audit.service import record_core
from duro.context import Actor, RequestMeta
from duro.db.executor import Connection
from duro.db.repository import DbRow
from duro.kit.crypto import sha256_hex
from duro.kit.ids import new_id
from duro.models.core import members, tenants
from duro.models.dashboard import password_resets


class AccountStore:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def member_by_email(self, email: str) -> DbRow | None:
        stmt = select(members, tenants.c.name.label("tenant_name")).select_from(
            members.join(tenants, tenants.c.id == members.c.tenant_id)
        )
        return (await self.conn.execute(stmt.where(members.c.email == email))).first()

    async def member_by_id(self, member_id: str, *, for_update: bool = False) -> DbRow | None:
        stmt = select(members).where(members.c.id == member_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.conn.execute(stmt)).first()

    async def set_password_hash(self, member_id: str, password_hash: str, now: datetime) -> None:
        await self.conn.execute(
            update(members).where(members.c.id == member_id).values(password_hash=password_hash, updated_at=now)
        )

    async def create_reset(self, member_id: str, token: str, now: datetime, expires_at: datetime) -> str:
        reset_id = new_id("pwr")
        await self.conn.execute(
            insert(password_resets).values(
                id=reset_id, member_id=member_id, token_hash=sha256_hex(token), expires_at=expires_at, created_at=now
            )
        )
        return reset_id

    async def reset_by_token(self, token: str, *, for_update: bool = False) -> DbRow | None:
        stmt = select(password_resets).where(password_resets.c.token_hash == sha256_hex(token))
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.conn.execute(stmt)).first()

    async def use_resets(self, member_id: str, now: datetime) -> None:
        """Marks every open reset of the member used: one successful reset voids the other links too."""
        await self.conn.execute(
            update(password_resets)
            .where(password_resets.c.member_id == member_id, password_resets.c.used_at.is_(None))
            .values(used_at=now)
        )

    async def audit(
        self,
        tenant_id: str,
        action: str,
        *,
        at: datetime,
        actor: Actor,
        meta: RequestMeta,
        target_type: str,
        target_id: str,
        after: dict[str, Any] | None = None,
    ) -> None:
        """A core audit entry (02 §9) with `mode` null: accounts belong to no mode."""
        await record_core(
            self.conn,
            tenant_id,
            action,
            at=at,
            actor=actor,
            target_type=target_type,
            target_id=target_id,
            after=after,
            ip=meta.ip,
            user_agent=meta.user_agent,
            request_id=meta.request_id,
        )


def member_actor(member: Any) -> Actor:
    return Actor("member", member.id, member.email)
