"""Per-credential /v1 rate limits (01 §9): a 1-second moving window of DURO_RATE_LIMIT_TEST / _LIVE requests.

Each test builds its own app so the limiter starts empty, with tiny limits (3 test, 8 live). The `limits`
library's in-memory storage reads `time.time()`; the fixture freezes that clock, so "within one second" holds
however slowly the machine runs, and a test moves it forward explicitly to see the window slide.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import limits.aio.storage.memory
import pytest
from sqlalchemy import text

from duro.app import create_app
from duro.context import RepositoryContext
from duro.credentials.service import create_api_key, create_oauth_client
from duro.customers import service as customer_service
from duro.db.engine import Database
from duro.kit.clock import SystemClock
from duro.tenants.service import CLI_ACTOR
from tests.conftest import TenantKeys, make_settings

TEST_LIMIT = 3
LIVE_LIMIT = 8


class FrozenTime:
    """Stands in for the `time` module inside `limits`' memory storage."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now


@pytest.fixture
def limiter_time(monkeypatch: pytest.MonkeyPatch) -> FrozenTime:
    frozen = FrozenTime()
    monkeypatch.setattr(limits.aio.storage.memory, "time", frozen)
    return frozen


@pytest.fixture
async def limited(db: Database, limiter_time: FrozenTime) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(rate_limit_test=TEST_LIMIT, rate_limit_live=LIVE_LIMIT)
    app = create_app(settings, db=db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c
    await app.state.runtime.close()


def assert_limit_headers(r: httpx.Response, limit: int, remaining: int) -> None:
    assert r.headers["ratelimit-limit"] == str(limit)
    assert r.headers["ratelimit-remaining"] == str(remaining)
    assert int(r.headers["ratelimit-reset"]) >= 1


def assert_limited(r: httpx.Response, limit: int) -> None:
    assert r.status_code == 429, r.text
    error = r.json()["error"]
    assert (error["code"], error["reason"]) == ("rate_limited", "rate_limited")
    assert error["requestId"] == r.headers["x-request-id"]
    retry_after = r.headers["retry-after"]
    assert retry_after.isdigit()
    assert int(retry_after) >= 1
    assert_limit_headers(r, limit, 0)


async def burn(c: httpx.AsyncClient, headers: dict[str, str], n: int, path: str = "/v1/customers") -> None:
    for i in range(n):
        r = await c.get(path, headers=headers)
        assert r.status_code == 200, (i, r.text)


async def test_fourth_test_request_in_a_second_is_429(limited: httpx.AsyncClient, tenant: TenantKeys) -> None:
    for remaining in range(TEST_LIMIT - 1, -1, -1):
        r = await limited.get("/v1/customers", headers=tenant.auth())
        assert r.status_code == 200
        assert_limit_headers(r, TEST_LIMIT, remaining)
    assert_limited(await limited.get("/v1/customers", headers=tenant.auth()), TEST_LIMIT)
    # Writes share the same budget and are refused before anything runs.
    r = await limited.post("/v1/customers", json={"name": "X"}, headers=tenant.auth())
    assert_limited(r, TEST_LIMIT)


async def test_the_window_moves_on(limited: httpx.AsyncClient, tenant: TenantKeys, limiter_time: FrozenTime) -> None:
    await burn(limited, tenant.auth(), TEST_LIMIT)
    limiter_time.now += 0.5
    assert_limited(await limited.get("/v1/customers", headers=tenant.auth()), TEST_LIMIT)
    limiter_time.now += 0.6  # the first three hits are now more than a second old
    r = await limited.get("/v1/customers", headers=tenant.auth())
    assert r.status_code == 200
    assert_limit_headers(r, TEST_LIMIT, TEST_LIMIT - 1)


async def test_live_uses_the_live_limit(limited: httpx.AsyncClient, tenant: TenantKeys) -> None:
    for remaining in range(LIVE_LIMIT - 1, -1, -1):
        r = await limited.get("/v1/customers", headers=tenant.auth("live"))
        assert r.status_code == 200
        assert_limit_headers(r, LIVE_LIMIT, remaining)
    assert_limited(await limited.get("/v1/customers", headers=tenant.auth("live")), LIVE_LIMIT)


async def test_limits_are_per_credential(
    limited: httpx.AsyncClient, make_tenant: Any, db: Database, settings: Any
) -> None:
    acme: TenantKeys = await make_tenant("Acme")
    globex: TenantKeys = await make_tenant("Globex")
    async with db.transaction("test") as conn:
        ctx = RepositoryContext(conn, acme.id, "test", SystemClock(), settings, CLI_ACTOR)
        second = (await create_api_key(ctx, "secret", "second")).plaintext

    await burn(limited, acme.auth(), TEST_LIMIT)
    assert_limited(await limited.get("/v1/customers", headers=acme.auth()), TEST_LIMIT)

    # Another key of the same tenant and mode, the tenant's live key, another tenant: all untouched.
    for headers, limit in (
        ({"Authorization": f"Bearer {second}"}, TEST_LIMIT),
        (acme.auth("live"), LIVE_LIMIT),
        (globex.auth(), TEST_LIMIT),
    ):
        r = await limited.get("/v1/customers", headers=headers)
        assert r.status_code == 200
        assert_limit_headers(r, limit, limit - 1)


async def test_oauth_tokens_share_their_clients_budget(
    limited: httpx.AsyncClient, tenant: TenantKeys, db: Database, settings: Any
) -> None:
    async with db.transaction("test") as conn:
        ctx = RepositoryContext(conn, tenant.id, "test", SystemClock(), settings, CLI_ACTOR)
        made = await create_oauth_client(ctx, "limited")
    form = {"grant_type": "client_credentials", "client_id": made.row.client_id, "client_secret": made.client_secret}
    tokens = []
    for _ in range(2):
        r = await limited.post("/v1/oauth/token", json=form)
        assert r.status_code == 200
        tokens.append(r.json()["access_token"])
    assert tokens[0] != tokens[1]

    await burn(limited, {"Authorization": f"Bearer {tokens[0]}"}, TEST_LIMIT)
    assert_limited(await limited.get("/v1/customers", headers={"Authorization": f"Bearer {tokens[1]}"}), TEST_LIMIT)
    # The secret key of the same tenant is a different credential.
    assert (await limited.get("/v1/customers", headers=tenant.auth())).status_code == 200


async def test_rate_limit_comes_before_authorisation_and_validation(
    limited: httpx.AsyncClient, tenant: TenantKeys, db: Database
) -> None:
    pk = tenant.auth("test", "publishable")
    for i in range(TEST_LIMIT):
        r = await limited.get("/v1/customers", headers=pk)
        assert r.status_code == 403
        assert_limit_headers(r, TEST_LIMIT, TEST_LIMIT - 1 - i)
    assert_limited(await limited.get("/v1/customers", headers=pk), TEST_LIMIT)

    sk = {**tenant.auth(), "Idempotency-Key": "limited-key"}
    for _ in range(TEST_LIMIT):
        r = await limited.post("/v1/customers", json={"email": "nope"}, headers=sk)
        assert r.status_code == 422
    assert_limited(await limited.post("/v1/customers", json={"name": "valid"}, headers=sk), TEST_LIMIT)
    async with db.transaction("test") as conn:
        rows = await conn.execute(text("SELECT /* unscoped: test inspection */ key FROM sandbox.idempotency_keys"))
        assert rows.all() == []  # a 429 stores nothing (01 §8 rule 2)


async def test_unauthenticated_requests_do_not_spend_a_keys_budget(
    limited: httpx.AsyncClient, tenant: TenantKeys
) -> None:
    for _ in range(TEST_LIMIT * 2):
        assert (await limited.get("/v1/customers")).status_code == 401
    await burn(limited, tenant.auth(), TEST_LIMIT)


async def test_every_v1_response_carries_the_headers(
    limited: httpx.AsyncClient, tenant: TenantKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def explode(ctx: Any, customer_id: str) -> Any:
        raise RuntimeError("boom")

    auth = tenant.auth("live")
    missing = "/v1/customers/cus_01JGFJJZ4V8Q2M6T3X9K0D5R7B"
    answers = [
        await limited.get("/v1/customers", headers=auth),
        await limited.post("/v1/customers", json={"name": "X"}, headers=auth),
        await limited.post("/v1/customers", json={"email": "nope"}, headers=auth),
        await limited.get(missing, headers=auth),
        await limited.get("/v1/no-such-route", headers=auth),
    ]
    monkeypatch.setattr(customer_service, "get_customer", explode)
    answers.append(await limited.get(missing, headers=auth))
    monkeypatch.undo()
    assert [r.status_code for r in answers] == [200, 201, 422, 404, 404, 500]
    assert answers[-1].json()["error"]["requestId"] == answers[-1].headers["x-request-id"]
    for spent, r in enumerate(answers, start=1):
        assert_limit_headers(r, LIVE_LIMIT, LIVE_LIMIT - spent)


async def test_non_v1_routes_are_not_limited(limited: httpx.AsyncClient) -> None:
    for _ in range(TEST_LIMIT + 2):
        r = await limited.get("/healthz")
        assert r.status_code == 200
        assert "ratelimit-limit" not in r.headers
