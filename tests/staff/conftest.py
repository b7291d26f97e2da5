"""Staff console tests: the real app over ASGI with DURO_STAFF_KEY set, files in a per-test directory."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from duro.app import create_app
from duro.config import Settings
from duro.context import Actor
from duro.db.engine import Database
from duro.kit.clock import FrozenClock
from duro.kyc import service
from duro.models.core import members
from duro.storage import LocalStorage
from tests.conftest import TenantKeys, make_settings
from tests.kyc.files import JPEG, PDF, PNG

STAFF_KEY = "staff-key-0123456789-abcdefghijklmnopqrstuvwxyz"
NOW = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)
_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_in(html: str) -> str:
    found = _FIELD.search(html)
    assert found, "no csrf_token field"
    return found.group(1)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(storage_dir=tmp_path / "uploads", staff_key=STAFF_KEY)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
async def app(db: Database, settings: Settings, clock: FrozenClock) -> Any:
    return create_app(settings, db=db, clock=clock)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c
    await app.state.runtime.close()


async def staff_login(client: httpx.AsyncClient, key: str = STAFF_KEY) -> httpx.Response:
    form = await client.get("/staff/login")
    assert form.status_code == 200
    return await client.post("/staff/login", data={"csrf_token": csrf_in(form.text), "key": key})


@pytest.fixture
def submitted(db: Database, settings: Settings, clock: FrozenClock) -> Any:
    """`await submitted(tenant)` uploads the three documents as the owner and submits them."""

    async def make(tenant: TenantKeys) -> dict[str, Any]:
        storage = LocalStorage(settings.effective_storage_dir)
        async with db.core_transaction() as conn:
            owner = (await conn.execute(select(members).where(members.c.tenant_id == tenant.id))).one()
        origin = service.Origin(Actor("member", owner.id, owner.email))
        for t, data, name in (("cac", PDF, "cac.pdf"), ("memart", PNG, "memart.pdf"), ("status_report", JPEG, "s.jpg")):
            await service.upload_document(db, storage, clock, tenant.id, t, file_name=name, data=data, origin=origin)
        async with db.core_transaction() as conn:
            return await service.submit(conn, clock, tenant.id, origin)

    return make
