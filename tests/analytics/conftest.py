"""Analytics tests run the real app on a frozen clock: "now" is 2025-01-31T09:00:00Z (04 §7 examples)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from duro.app import create_app
from duro.config import Settings
from duro.db.engine import Database
from duro.kit.clock import FrozenClock
from tests.analytics.seed import Seed, at
from tests.conftest import TenantKeys

NOW = at("2025-01-31T09:00:00.000Z")
T0 = at("2025-01-01T09:00:00.000Z")  # now − 30 days


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
async def client(db: Database, settings: Settings, clock: FrozenClock) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, db=db, clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
    await app.state.runtime.close()


@pytest.fixture
def seed(db: Database, tenant: TenantKeys) -> Seed:
    return Seed(db, tenant.id)


async def get_json(client: httpx.AsyncClient, path: str, keys: TenantKeys, mode: str = "test", **query: Any) -> Any:
    response = await client.get(path, params=query, headers=keys.auth(mode))
    assert response.status_code == 200, response.text
    return response.json()
