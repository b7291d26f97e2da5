"""Dashboard account tests: the real app over ASGI on a frozen clock, real PostgreSQL, cookies in the client jar."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select

from duro.app import create_app
from duro.config import Settings
from duro.db.engine import Database
from duro.kit.clock import FrozenClock
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
