"""Fixtures for team management: a tenant with one member of every role, and helpers to run a service call in
its own committed `core` transaction (a refusal rolls that transaction back, as a request would)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from sqlalchemy import insert, select

from duro.context import RequestMeta
from duro.db.engine import Database
from duro.db.repository import DbRow
from duro.kit.clock import FrozenClock
from duro.kit.ids import new_id
from duro.models.core import audit_logs, members
from duro.models.dashboard import recovery_codes, sessions
from tests.conftest import TenantKeys

T = TypeVar("T")
PUBLIC_URL = "http://localhost:8000"
META = RequestMeta(ip="203.0.113.7", user_agent="pytest-browser", request_id="req_team_test")
ROLES = ["owner", "admin", "developer", "finance", "read_only"]


@dataclass
class Team:
    tenant_id: str
    by_role: dict[str, DbRow]  # one member per role; the owner is the signup member

    def __getitem__(self, role: str) -> DbRow:
        return self.by_role[role]


async def in_core(db: Database, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    async with db.core_transaction() as conn:
        return await fn(conn, *args, **kwargs)


async def add_member(db: Database, tenant_id: str, role: str, email: str, *, with_2fa: bool = False) -> DbRow:
    """A member row as if they had joined (the password hash is never checked in these tests)."""
    now = datetime.now(UTC)
    async with db.core_transaction() as conn:
        row: DbRow = (
            await conn.execute(
                insert(members)
                .values(
                    id=new_id("mem"),
                    tenant_id=tenant_id,
                    email=email,
                    name=role.title(),
                    password_hash="$argon2id$unused",
                    role=role,
                    totp_secret_enc=b"secret" if with_2fa else None,
                    totp_last_used_step=123 if with_2fa else None,
                    totp_enabled_at=now if with_2fa else None,
                    created_at=now,
                    updated_at=now,
                )
                .returning(members)
            )
        ).one()
    return row


async def add_session(db: Database, member: DbRow) -> str:
    now = datetime.now(UTC)
    session_id = new_id("ses")
    async with db.core_transaction() as conn:
        await conn.execute(
            insert(sessions).values(
                id=session_id,
                token_hash=new_id("hash"),
                member_id=member.id,
                tenant_id=member.tenant_id,
                state="active",
                created_at=now,
                last_seen_at=now,
                idle_expires_at=now,
                absolute_expires_at=now,
            )
        )
    return session_id


async def add_recovery_code(db: Database, member: DbRow) -> None:
    async with db.core_transaction() as conn:
        await conn.execute(
            insert(recovery_codes).values(
                id=new_id("rc"), member_id=member.id, code_hmac=new_id("hmac"), created_at=datetime.now(UTC)
            )
        )


async def fetch(db: Database, stmt: Any) -> list[DbRow]:
    async with db.core_transaction() as conn:
        return list((await conn.execute(stmt)).all())


async def audit_rows(db: Database, tenant_id: str) -> list[DbRow]:
    stmt = select(audit_logs).where(audit_logs.c.tenant_id == tenant_id).order_by(audit_logs.c.at, audit_logs.c.id)
    return [r for r in await fetch(db, stmt) if r.action != "tenant.created"]


async def member_row(db: Database, member_id: str) -> DbRow | None:
    rows = await fetch(db, select(members).where(members.c.id == member_id))
    return rows[0] if rows else None


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2025, 3, 1, 9, 0, tzinfo=UTC))


@pytest.fixture
async def team(db: Database, tenant: TenantKeys) -> Team:
    owner = (await fetch(db, select(members).where(members.c.email == tenant.owner_email)))[0]
    by_role = {"owner": owner}
    for role in ROLES[1:]:
        by_role[role] = await add_member(db, tenant.id, role, f"{role}@acme.example")
    return Team(tenant.id, by_role)
