"""Dashboard account tests: the real app over ASGI on a frozen clock, real PostgreSQL, cookies in the client jar."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select, update

from duro.app import create_app
from duro.config import Settings
from duro.dashboard.sessions import SESSION_COOKIE, SessionStore, csrf_token
from duro.db.engine import Database
from duro.kit.clock import FrozenClock
from duro.kit.crypto import sha256_hex
from duro.kit.ids import new_id
from duro.models.core import audit_logs, members
from duro.models.dashboard import sessions
from duro.tenants.passwords import hash_password
from tests.conftest import TenantKeys

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
async def client(db: Database, settings: Settings, clock: FrozenClock) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, db=db, clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c
    await app.state.runtime.close()


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no csrf_token field in the page"
    return found.group(1)


async def form_token(client: httpx.AsyncClient, path: str) -> str:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return csrf_of(response.text)


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD, **extra: str) -> httpx.Response:
    token = await form_token(client, "/dashboard/login")
    return await client.post(
        "/dashboard/login", data={"csrf_token": token, "email": email, "password": password, **extra}
    )


@dataclass
class Member:
    id: str
    email: str
    tenant_id: str


@pytest.fixture
def add_member(db: Database) -> Any:
    """A member of `tenant` with a role of our choosing (provisioning only makes owners)."""

    async def make(tenant: TenantKeys, email: str, role: str = "developer", totp: bool = False) -> Member:
        member_id = new_id("mem")
        async with db.core_transaction() as conn:
            await conn.execute(
                insert(members).values(
                    id=member_id,
                    tenant_id=tenant.id,
                    email=email,
                    name="Dev Eloper",
                    password_hash=hash_password(PASSWORD),
                    role=role,
                    totp_secret_enc=b"x" if totp else None,
                    totp_enabled_at=NOW if totp else None,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
        return Member(member_id, email, tenant.id)

    return make


async def session_rows(db: Database, member_id: str) -> list[Any]:
    async with db.core_transaction() as conn:
        stmt = select(sessions).where(sessions.c.member_id == member_id).order_by(sessions.c.created_at)
        return list((await conn.execute(stmt)).all())


async def audit_actions(db: Database, tenant_id: str) -> list[str]:
    async with db.core_transaction() as conn:
        stmt = select(audit_logs.c.action).where(audit_logs.c.tenant_id == tenant_id).order_by(audit_logs.c.id)
        return [r.action for r in (await conn.execute(stmt)).all()]


# --- signed-in screens ---


class Dash:
    """A signed-in dashboard client: the session row is written directly (state `active`, the role chosen), so
    screen tests need no password hashing or TOTP round trips. `post` adds the session's CSRF token."""

    def __init__(self, client: httpx.AsyncClient, settings: Settings, session_id: str, member: Member) -> None:
        self.client = client
        self.member = member
        self.session_id = session_id
        self.csrf = csrf_token(settings, session_id)

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.get(path, **kwargs)

    async def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        return await self.client.post(path, data={"csrf_token": self.csrf, **(data or {})}, **kwargs)

    async def switch(self, mode: str) -> None:
        response = await self.post("/dashboard/mode", {"mode": mode, "next": "/dashboard"})
        assert response.status_code == 303, response.text


@pytest.fixture
async def dash_as(db: Database, settings: Settings, clock: FrozenClock, add_member: Any) -> AsyncIterator[Any]:
    """`await dash_as(tenant, "finance")` → a `Dash` for a new member of that role (owners are the tenant's owner
    row). Each call gets its own client and cookie jar on one shared app."""
    app = create_app(settings, db=db, clock=clock)
    clients: list[httpx.AsyncClient] = []

    async def make(tenant: TenantKeys, role: str = "owner", mode: str = "test") -> Dash:
        if role == "owner":
            async with db.core_transaction() as conn:
                row = (
                    await conn.execute(
                        select(members.c.id, members.c.email).where(
                            members.c.tenant_id == tenant.id, members.c.role == "owner"
                        )
                    )
                ).one()
                await conn.execute(
                    update(members).where(members.c.id == row.id).values(totp_secret_enc=b"x", totp_enabled_at=NOW)
                )
            member = Member(row.id, row.email, tenant.id)
        else:
            member = await add_member(tenant, f"{role}.{new_id('m')[-6:].lower()}@example.com", role, role == "admin")
        async with db.core_transaction() as conn:
            token = await SessionStore(conn).create(
                member_id=member.id, tenant_id=tenant.id, state="active", now=clock.now(), ip=None, user_agent=None
            )
            session_id = (
                await conn.execute(select(sessions.c.id).where(sessions.c.token_hash == sha256_hex(token)))
            ).scalar()
            if mode != "test":
                await conn.execute(update(sessions).where(sessions.c.id == session_id).values(current_mode=mode))
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        c.cookies.set(SESSION_COOKIE, token)
        clients.append(c)
        assert session_id is not None
        return Dash(c, settings, session_id, member)

    yield make
    for c in clients:
        await c.aclose()
    await app.state.runtime.close()
