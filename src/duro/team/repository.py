"""SQL for team management on `core`: members, invitations, their sessions and recovery codes, audit entries.

`TeamRepository` is scoped to one tenant at construction; every member/invitation/session statement filters on
it. Two lookups are deliberately global and live outside it: an email is unique across all tenants (02 §4), and an
invitation token is the credential that tells us the tenant in the first place.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from duro.db.executor import Connection
from duro.db.repository import DbRow, storable
from duro.models.core import audit_logs, members, tenants
from duro.models.dashboard import invitations, recovery_codes, sessions


async def email_is_member(conn: Connection, email: str) -> bool:
    """True when any tenant has a member with this (normalised) email."""
    found = await conn.execute(select(members.c.id).where(members.c.email == email))
    return found.first() is not None


async def acting_member(conn: Connection, member_id: str) -> DbRow | None:
    """The acting member's current row, by id alone: its tenant is what scopes everything after."""
    if not storable(member_id):
        return None
    row: DbRow | None = (await conn.execute(select(members).where(members.c.id == member_id))).first()
    return row


async def invitation_by_token_hash(conn: Connection, token_hash: str) -> DbRow | None:
    """The invitation holding this token hash, locked so two acceptances of one token serialise."""
    stmt = select(invitations).where(invitations.c.token_hash == token_hash).with_for_update()
    row: DbRow | None = (await conn.execute(stmt)).first()
    return row


class TeamRepository:
    def __init__(self, conn: Connection, tenant_id: str) -> None:
        if not tenant_id:
            raise ValueError("a team repository needs a tenant id")
        self.conn = conn
        self.tenant_id = tenant_id

    # --- tenant ---

    async def tenant_name(self) -> str:
        name = (await self.conn.execute(select(tenants.c.name).where(tenants.c.id == self.tenant_id))).scalar_one()
        return str(name)

    # --- members ---

    async def member(self, member_id: str, *, for_update: bool = False) -> DbRow | None:
        if not storable(member_id):
            return None
        stmt = select(members).where(members.c.tenant_id == self.tenant_id, members.c.id == member_id)
        if for_update:
            stmt = stmt.with_for_update()
        row: DbRow | None = (await self.conn.execute(stmt)).first()
        return row

    async def list_members(self) -> list[DbRow]:
        stmt = select(members).where(members.c.tenant_id == self.tenant_id).order_by(members.c.created_at, members.c.id)
        return list((await self.conn.execute(stmt)).all())

    async def insert_member(self, values: Mapping[str, Any]) -> DbRow:
        stmt = insert(members).values(**values, tenant_id=self.tenant_id).returning(members)
        row: DbRow = (await self.conn.execute(stmt)).one()
        return row

    async def update_member(self, member_id: str, values: Mapping[str, Any]) -> DbRow:
        stmt = (
            update(members)
            .where(members.c.tenant_id == self.tenant_id, members.c.id == member_id)
            .values(**values)
            .returning(members)
        )
        row: DbRow = (await self.conn.execute(stmt)).one()
        return row

    async def delete_member(self, member_id: str) -> None:
        await self.conn.execute(delete(members).where(members.c.tenant_id == self.tenant_id, members.c.id == member_id))

    async def delete_sessions(self, member_id: str) -> int:
        stmt = (
            delete(sessions)
            .where(sessions.c.tenant_id == self.tenant_id, sessions.c.member_id == member_id)
            .returning(sessions.c.id)
        )
        return len((await self.conn.execute(stmt)).all())

    async def delete_recovery_codes(self, member_id: str) -> None:
        # recovery_codes has no tenant column; callers pass a member already loaded through this tenant.
        await self.conn.execute(delete(recovery_codes).where(recovery_codes.c.member_id == member_id))

    # --- invitations ---

    async def invitation(self, invitation_id: str, *, for_update: bool = False) -> DbRow | None:
        if not storable(invitation_id):
            return None
        stmt = select(invitations).where(invitations.c.tenant_id == self.tenant_id, invitations.c.id == invitation_id)
        if for_update:
            stmt = stmt.with_for_update()
        row: DbRow | None = (await self.conn.execute(stmt)).first()
        return row

    async def pending_invitations(self, now: datetime) -> list[DbRow]:
        stmt = (
            select(invitations)
            .where(
                invitations.c.tenant_id == self.tenant_id,
                invitations.c.accepted_at.is_(None),
                invitations.c.revoked_at.is_(None),
                invitations.c.expires_at > now,
            )
            .order_by(invitations.c.created_at, invitations.c.id)
        )
        return list((await self.conn.execute(stmt)).all())

    async def open_invitations(self) -> list[DbRow]:
        """Neither accepted nor revoked, expired or not (an expired one can still be resent or revoked)."""
        stmt = (
            select(invitations)
            .where(
                invitations.c.tenant_id == self.tenant_id,
                invitations.c.accepted_at.is_(None),
                invitations.c.revoked_at.is_(None),
            )
            .order_by(invitations.c.created_at, invitations.c.id)
        )
        return list((await self.conn.execute(stmt)).all())

    async def insert_invitation(self, values: Mapping[str, Any]) -> DbRow:
        stmt = insert(invitations).values(**values, tenant_id=self.tenant_id).returning(invitations)
        row: DbRow = (await self.conn.execute(stmt)).one()
        return row

    async def update_invitation(self, invitation_id: str, values: Mapping[str, Any]) -> DbRow:
        stmt = (
            update(invitations)
            .where(invitations.c.tenant_id == self.tenant_id, invitations.c.id == invitation_id)
            .values(**values)
            .returning(invitations)
        )
        row: DbRow = (await self.conn.execute(stmt)).one()
        return row

    # --- audit ---

    async def insert_audit(self, values: Mapping[str, Any]) -> None:
        await self.conn.execute(insert(audit_logs).values(**values, tenant_id=self.tenant_id))
