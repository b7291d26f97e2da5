"""`Idempotency-Key` on /v1 writes (01 §8), through the real ASGI app on real PostgreSQL.

Rows in `idempotency_keys` are planted directly where the spec describes states a test cannot reach through
HTTP alone (an attempt still running, one that crashed 90 s ago, one that expired).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select, text

from duro.config import Settings
from duro.context import RepositoryContext
from duro.credentials.service import create_api_key, create_oauth_client
from duro.customers import service as customer_service
from duro.db.engine import Database, Mode
from duro.idempotency import store
from duro.kit import jsonenc
from duro.kit.clock import SystemClock
from duro.models.customers import customers
from duro.models.events import events
from duro.models.idempotency import idempotency_keys
from duro.tenants.service import CLI_ACTOR
from tests.conftest import TenantKeys

KEY = "3b1f1d9e-6c55-4a4e-9a57-1f0f5f5f7e01"


def with_key(tenant: TenantKeys, key: str = KEY, mode: str = "test", kind: str = "secret") -> dict[str, str]:
    return {**tenant.auth(mode, kind), "Idempotency-Key": key}


async def customer_count(db: Database, tenant_id: str, mode: Mode = "test") -> int:
    async with db.transaction(mode) as conn:
        stmt = select(func.count()).select_from(customers).where(customers.c.tenant_id == tenant_id)
        return int((await conn.execute(stmt)).scalar_one())


async def all_idempotency_rows(db: Database, mode: Mode = "test") -> list[Any]:
    """Every row of the mode's table, all tenants: used to prove that nothing was stored at all."""
    schema = "sandbox" if mode == "test" else "live"
    async with db.transaction(mode) as conn:
        result = await conn.execute(
            text(f"SELECT /* unscoped: test inspection */ tenant_id, key, state FROM {schema}.idempotency_keys")
        )
        return list(result.all())


async def idempotency_row(db: Database, tenant_id: str, key: str, mode: Mode = "test") -> Any:
    async with db.transaction(mode) as conn:
        stmt = select(idempotency_keys).where(idempotency_keys.c.tenant_id == tenant_id, idempotency_keys.c.key == key)
        return (await conn.execute(stmt)).first()


async def plant_row(
    db: Database,
    tenant_id: str,
    *,
    key: str = KEY,
    body: dict[str, Any] | None = None,
    fingerprint: str | None = None,
    state: str = "in_progress",
    started_ago: timedelta = timedelta(0),
    expires_in: timedelta = store.RETENTION,
    response_status: int | None = None,
    response_body: bytes | None = None,
    mode: Mode = "test",
) -> None:
    now = SystemClock().now()
    if fingerprint is None:
        fingerprint = store.fingerprint("POST", "/v1/customers", "", jsonenc.canonical(body or {}))
    async with db.transaction(mode) as conn:
        await conn.execute(
            insert(idempotency_keys).values(
                tenant_id=tenant_id,
                key=key,
                fingerprint=fingerprint,
                state=state,
                request_id="req_01JGFK0Q3S6W4ZB1N8Y2C7D9EH",
                response_status=response_status,
                response_body=response_body,
                created_at=now - started_ago,
                started_at=now - started_ago,
                expires_at=now + expires_in,
            )
        )


def assert_replay_of(replay: httpx.Response, original: httpx.Response) -> None:
    assert replay.status_code == original.status_code
    assert replay.content == original.content
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.headers["original-request-id"] == original.headers["x-request-id"]
    assert replay.headers["x-request-id"].startswith("req_")
    assert replay.headers["x-request-id"] != original.headers["x-request-id"]


# --- the basic contract ---


async def test_replay_is_byte_identical_with_new_request_id(client: Any, tenant: TenantKeys, db: Database) -> None:
    body = {"email": "ada@example.com", "name": "Ada", "metadata": {"plan": "pro"}}
    first = await client.post("/v1/customers", json=body, headers=with_key(tenant))
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    assert "original-request-id" not in first.headers

    second = await client.post("/v1/customers", json=body, headers=with_key(tenant))
    assert_replay_of(second, first)
    assert await customer_count(db, tenant.id) == 1

    row = await idempotency_row(db, tenant.id, KEY)
    assert row.state == "completed"
    assert row.response_status == 201
    assert bytes(row.response_body) == first.content
    assert row.request_id == first.headers["x-request-id"]
    assert row.expires_at - row.created_at == timedelta(hours=24)


async def test_without_header_every_request_runs(client: Any, tenant: TenantKeys, db: Database) -> None:
    body = {"name": "Twice"}
    a = await client.post("/v1/customers", json=body, headers=tenant.auth())
    b = await client.post("/v1/customers", json=body, headers=tenant.auth())
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]
    assert await customer_count(db, tenant.id) == 2
    assert await all_idempotency_rows(db) == []


@pytest.mark.slow
async def test_fifty_concurrent_requests_create_exactly_one_customer(
    client: Any, tenant: TenantKeys, db: Database
) -> None:
    body = {"email": "race@example.com", "merchantRef": "race-1"}
    answers: list[httpx.Response] = await asyncio.gather(
        *(client.post("/v1/customers", json=body, headers=with_key(tenant)) for _ in range(50))
    )

    originals = [r for r in answers if r.status_code == 201 and "idempotent-replayed" not in r.headers]
    replays = [r for r in answers if r.status_code == 201 and r.headers.get("idempotent-replayed") == "true"]
    in_progress = [r for r in answers if r.status_code == 409]
    assert len(originals) == 1
    assert len(originals) + len(replays) + len(in_progress) == 50
    original = originals[0]
    for replay in replays:
        assert_replay_of(replay, original)
    for busy in in_progress:
        error = busy.json()["error"]
        assert (error["code"], error["reason"]) == ("conflict", "idempotency_in_progress")
        assert error["requestId"] == busy.headers["x-request-id"]

    assert await customer_count(db, tenant.id) == 1
    async with db.transaction("test") as conn:
        stmt = select(func.count()).select_from(events).where(events.c.tenant_id == tenant.id)
        assert (await conn.execute(stmt)).scalar_one() == 1  # one customer_created, not fifty

    # Once the dust settles the key replays the single original.
    after = await client.post("/v1/customers", json=body, headers=with_key(tenant))
    assert_replay_of(after, original)


async def test_same_key_different_body_is_rejected(client: Any, tenant: TenantKeys, db: Database) -> None:
    first = await client.post("/v1/customers", json={"name": "One"}, headers=with_key(tenant))
    assert first.status_code == 201
    other = await client.post("/v1/customers", json={"name": "Two"}, headers=with_key(tenant))
    assert other.status_code == 422
    error = other.json()["error"]
    assert (error["code"], error["reason"]) == ("validation_error", "idempotency_key_reused")
    assert "idempotent-replayed" not in other.headers
    assert await customer_count(db, tenant.id) == 1


async def test_same_key_on_another_route_is_rejected(client: Any, tenant: TenantKeys) -> None:
    first = await client.post("/v1/customers", json={"name": "One"}, headers=with_key(tenant))
    assert first.status_code == 201
    plan = {"name": "Pro", "amount": 500000, "interval": "month"}
    other = await client.post("/v1/plans", json=plan, headers=with_key(tenant))
    assert other.status_code == 422
    assert other.json()["error"]["reason"] == "idempotency_key_reused"


async def test_any_credential_of_the_tenant_and_mode_shares_the_key_space(
    client: Any, tenant: TenantKeys, db: Database, settings: Settings
) -> None:

    async with db.transaction("test") as conn:
        ctx = RepositoryContext(conn, tenant.id, "test", SystemClock(), settings, CLI_ACTOR)
        second_key = (await create_api_key(ctx, "secret", "second")).plaintext

    body = {"name": "Shared"}
    first = await client.post("/v1/customers", json=body, headers=with_key(tenant))
    assert first.status_code == 201
    replay = await client.post(
        "/v1/customers", json=body, headers={"Authorization": f"Bearer {second_key}", "Idempotency-Key": KEY}
    )
    assert_replay_of(replay, first)
    assert await customer_count(db, tenant.id) == 1


# --- in-flight, crashed and expired attempts ---


async def test_in_flight_key_answers_409(client: Any, tenant: TenantKeys, db: Database) -> None:
    body = {"name": "Busy"}
    await plant_row(db, tenant.id, body=body, started_ago=timedelta(seconds=5))
    r = await client.post("/v1/customers", json=body, headers=with_key(tenant))
    assert r.status_code == 409
    error = r.json()["error"]
    assert (error["code"], error["reason"]) == ("conflict", "idempotency_in_progress")
    assert await customer_count(db, tenant.id) == 0
    row = await idempotency_row(db, tenant.id, KEY)
    assert row.state == "in_progress"  # the running attempt keeps its claim


async def test_in_flight_key_with_other_body_is_reused_not_in_progress(
    client: Any, tenant: TenantKeys, db: Database
) -> None:
    await plant_row(db, tenant.id, body={"name": "Busy"})
    r = await client.post("/v1/customers", json={"name": "Different"}, headers=with_key(tenant))
    assert r.status_code == 422  # fingerprint is checked first (01 §8 rule 5)
    assert r.json()["error"]["reason"] == "idempotency_key_reused"


async def test_in_progress_older_than_90s_is_taken_over(client: Any, tenant: TenantKeys, db: Database) -> None:
    body = {"name": "Crashed earlier"}
    await plant_row(db, tenant.id, body=body, started_ago=timedelta(seconds=91))
    r = await client.post("/v1/customers", json=body, headers=with_key(tenant))
    assert r.status_code == 201, r.text
    assert "idempotent-replayed" not in r.headers
    assert await customer_count(db, tenant.id) == 1

    row = await idempotency_row(db, tenant.id, KEY)
    assert row.state == "completed"
    assert row.request_id == r.headers["x-request-id"]
    assert bytes(row.response_body) == r.content
    again = await client.post("/v1/customers", json=body, headers=with_key(tenant))
    assert_replay_of(again, r)


async def test_in_progress_just_under_90s_is_still_in_flight(client: Any, tenant: TenantKeys, db: Database) -> None:
    body = {"name": "Slow"}
    await plant_row(db, tenant.id, body=body, started_ago=timedelta(seconds=80))
    r = await client.post("/v1/customers", json=body, headers=with_key(tenant))
    assert r.status_code == 409
    assert await customer_count(db, tenant.id) == 0


async def test_expired_completed_row_is_treated_as_absent(client: Any, tenant: TenantKeys, db: Database) -> None:
    # An old answer under this key, for another body: were it alive this would be 422 or a replay.
    await plant_row(
        db,
        tenant.id,
        body={"name": "Yesterday"},
        state="completed",
        started_ago=timedelta(hours=25),
        expires_in=-timedelta(hours=1),
        response_status=201,
        response_body=b'{"stale":true}',
    )
    r = await client.post("/v1/customers", json={"name": "Today"}, headers=with_key(tenant))
    assert r.status_code == 201, r.text
    assert "idempotent-replayed" not in r.headers
    assert r.json()["name"] == "Today"
    assert await customer_count(db, tenant.id) == 1

    row = await idempotency_row(db, tenant.id, KEY)
    assert row.state == "completed"
    assert bytes(row.response_body) == r.content
    assert row.expires_at > SystemClock().now()
    again = await client.post("/v1/customers", json={"name": "Today"}, headers=with_key(tenant))
    assert_replay_of(again, r)


async def test_expired_in_progress_row_is_treated_as_absent(client: Any, tenant: TenantKeys, db: Database) -> None:
    body = {"name": "Fresh"}
    await plant_row(db, tenant.id, body=body, started_ago=timedelta(seconds=1), expires_in=-timedelta(seconds=1))
    r = await client.post("/v1/customers", json=body, headers=with_key(tenant))
    assert r.status_code == 201
    assert await customer_count(db, tenant.id) == 1


# --- scope ---


async def test_two_tenants_use_the_same_key_independently(client: Any, make_tenant: Any, db: Database) -> None:
    acme: TenantKeys = await make_tenant("Acme")
    globex: TenantKeys = await make_tenant("Globex")
    body = {"name": "Same body"}
    a = await client.post("/v1/customers", json=body, headers=with_key(acme))
    b = await client.post("/v1/customers", json=body, headers=with_key(globex))
    assert a.status_code == b.status_code == 201
    assert "idempotent-replayed" not in b.headers
    assert a.json()["id"] != b.json()["id"]
    # A different body under the same key is fine for the other tenant too.
    c = await make_tenant("Initech")
    r = await client.post("/v1/customers", json={"name": "Other"}, headers=with_key(c))
    assert r.status_code == 201
    assert await customer_count(db, acme.id) == 1
    assert await customer_count(db, globex.id) == 1
    assert await customer_count(db, c.id) == 1


async def test_test_and_live_keys_are_unrelated(client: Any, tenant: TenantKeys, db: Database) -> None:
    test_answer = await client.post("/v1/customers", json={"name": "Test"}, headers=with_key(tenant, mode="test"))
    live_answer = await client.post("/v1/customers", json={"name": "Live"}, headers=with_key(tenant, mode="live"))
    assert test_answer.status_code == live_answer.status_code == 201
    assert "idempotent-replayed" not in live_answer.headers
    assert await customer_count(db, tenant.id, "test") == 1
    assert await customer_count(db, tenant.id, "live") == 1
    assert [r.state for r in await all_idempotency_rows(db, "live")] == ["completed"]
    # And each mode replays its own answer.
    again = await client.post("/v1/customers", json={"name": "Live"}, headers=with_key(tenant, mode="live"))
    assert_replay_of(again, live_answer)


# --- what is stored and what is not ---


async def test_nothing_is_stored_when_authentication_fails(client: Any, tenant: TenantKeys, db: Database) -> None:
    bad = await client.post(
        "/v1/customers",
        json={"name": "X"},
        headers={"Authorization": "Bearer sk_test_" + "A" * 43, "Idempotency-Key": KEY},
    )
    assert bad.status_code == 401
    missing = await client.post("/v1/customers", json={"name": "X"}, headers={"Idempotency-Key": KEY})
    assert missing.status_code == 401
    assert await all_idempotency_rows(db) == []
    assert await all_idempotency_rows(db, "live") == []

    ok = await client.post("/v1/customers", json={"name": "X"}, headers=with_key(tenant))
    assert ok.status_code == 201
    assert "idempotent-replayed" not in ok.headers


async def test_nothing_is_stored_for_a_publishable_key(client: Any, tenant: TenantKeys, db: Database) -> None:
    r = await client.post("/v1/customers", json={"name": "X"}, headers=with_key(tenant, kind="publishable"))
    assert r.status_code == 403
    assert r.json()["error"]["reason"] == "publishable_key_not_allowed"
    assert await all_idempotency_rows(db) == []
    assert await customer_count(db, tenant.id) == 0


@pytest.mark.parametrize(
    "payload",
    [
        {"email": "not-an-email"},
        {"name": "X", "unknown": 1},
        {"metadata": {"k": 5}},
    ],
)
async def test_nothing_is_stored_when_validation_fails(
    client: Any, tenant: TenantKeys, db: Database, payload: dict[str, Any]
) -> None:
    r = await client.post("/v1/customers", json=payload, headers=with_key(tenant))
    assert r.status_code == 422
    assert r.json()["error"]["reason"] is None
    assert await all_idempotency_rows(db) == []
    # The key is still free: a corrected request with it runs normally.
    ok = await client.post("/v1/customers", json={"name": "Fixed"}, headers=with_key(tenant))
    assert ok.status_code == 201
    assert "idempotent-replayed" not in ok.headers


async def test_nothing_is_stored_for_malformed_json(client: Any, tenant: TenantKeys, db: Database) -> None:
    r = await client.post(
        "/v1/customers",
        content=b"{not json",
        headers={**with_key(tenant), "Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json()["error"]["reason"] == "malformed_json"
    assert await all_idempotency_rows(db) == []


async def test_malformed_body_on_a_route_without_a_body_model_is_400_not_500(
    client: Any, tenant: TenantKeys, db: Database
) -> None:
    created = await client.post("/v1/customers", json={"name": "Body-less route"}, headers=tenant.auth())
    cid = created.json()["id"]
    r = await client.request(
        "DELETE",
        f"/v1/customers/{cid}/blacklist",
        content=b"{not json",
        headers={**with_key(tenant), "Content-Type": "application/json"},
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"]["reason"] == "malformed_json"
    assert await all_idempotency_rows(db) == []


async def test_business_conflict_is_stored_and_replayed(client: Any, tenant: TenantKeys, db: Database) -> None:
    existing = await client.post("/v1/customers", json={"merchantRef": "ref-1"}, headers=tenant.auth())
    assert existing.status_code == 201
    body = {"merchantRef": "ref-1", "name": "Dup"}
    first = await client.post("/v1/customers", json=body, headers=with_key(tenant))
    assert first.status_code == 409
    assert first.json()["error"]["reason"] == "duplicate_merchant_ref"
    assert first.json()["error"]["requestId"] == first.headers["x-request-id"]

    # Free the merchantRef: the same request would now succeed, but the key replays the stored 409.
    freed = await client.patch(
        f"/v1/customers/{existing.json()['id']}", json={"merchantRef": "ref-2"}, headers=tenant.auth()
    )
    assert freed.status_code == 200
    replay = await client.post("/v1/customers", json=body, headers=with_key(tenant))
    assert_replay_of(replay, first)
    assert await customer_count(db, tenant.id) == 1

    row = await idempotency_row(db, tenant.id, KEY)
    assert (row.state, row.response_status) == ("completed", 409)


async def test_not_found_on_patch_is_stored_and_replayed(client: Any, tenant: TenantKeys, db: Database) -> None:
    path = "/v1/customers/cus_01JGFJJZ4V8Q2M6T3X9K0D5R7B"
    first = await client.patch(path, json={"name": "Ghost"}, headers=with_key(tenant))
    assert first.status_code == 404
    assert first.json()["error"]["reason"] == "resource_missing"
    replay = await client.patch(path, json={"name": "Ghost"}, headers=with_key(tenant))
    assert_replay_of(replay, first)
    row = await idempotency_row(db, tenant.id, KEY)
    assert (row.state, row.response_status) == ("completed", 404)


async def test_server_error_is_stored_and_replayed(
    client: Any, tenant: TenantKeys, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}

    async def explode(ctx: Any, body: Any) -> Any:
        calls["n"] += 1
        # Write something first: the rollback must take it away with the failed transaction.
        await ctx.conn.execute(
            insert(customers).values(
                id="cus_01JGFJJZ4V8Q2M6T3X9K0D5R7B",
                tenant_id=ctx.tenant_id,
                metadata={},
                created_at=ctx.clock.now(),
                updated_at=ctx.clock.now(),
            )
        )
        raise RuntimeError("boom")

    monkeypatch.setattr(customer_service, "create_customer", explode)
    body = {"name": "Doomed"}
    first = await client.post("/v1/customers", json=body, headers=with_key(tenant))
    assert first.status_code == 500
    error = first.json()["error"]
    assert (error["code"], error["reason"]) == ("internal_error", "internal_error")
    assert "boom" not in first.text
    assert error["requestId"] == first.headers["x-request-id"]
    assert await customer_count(db, tenant.id) == 0

    # Even with the fault gone, the same key replays the stored 500 (a fresh attempt needs a new key).
    monkeypatch.undo()
    replay = await client.post("/v1/customers", json=body, headers=with_key(tenant))
    assert_replay_of(replay, first)
    assert calls["n"] == 1
    assert await customer_count(db, tenant.id) == 0

    fresh = await client.post("/v1/customers", json=body, headers=with_key(tenant, key="a-new-key"))
    assert fresh.status_code == 201
    assert await customer_count(db, tenant.id) == 1


# --- the header itself ---


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"k" * 256, id="256-chars"),
        pytest.param("clé".encode(), id="non-ascii"),
        pytest.param(b"tab\there", id="control-char"),
        pytest.param(b"del\x7f", id="DEL"),
    ],
)
async def test_invalid_idempotency_key_is_400(client: Any, tenant: TenantKeys, db: Database, raw: bytes) -> None:
    r = await client.post("/v1/customers", json={"name": "X"}, headers={**tenant.auth(), "Idempotency-Key": raw})
    assert r.status_code == 400
    error = r.json()["error"]
    assert (error["code"], error["reason"]) == ("bad_request", "invalid_idempotency_key")
    assert await customer_count(db, tenant.id) == 0
    assert await all_idempotency_rows(db) == []


@pytest.mark.parametrize("key", ["k" * 255, "x", " !~printable ASCII edges~! "])
async def test_valid_idempotency_key_edges(client: Any, tenant: TenantKeys, key: str) -> None:
    first = await client.post("/v1/customers", json={"name": "Edge"}, headers=with_key(tenant, key=key))
    assert first.status_code == 201
    replay = await client.post("/v1/customers", json={"name": "Edge"}, headers=with_key(tenant, key=key))
    assert_replay_of(replay, first)


# --- fingerprint ---


async def test_fingerprint_ignores_key_order_and_whitespace(client: Any, tenant: TenantKeys, db: Database) -> None:
    headers = {**with_key(tenant), "Content-Type": "application/json"}
    first = await client.post(
        "/v1/customers",
        content=b'{"name":"Ada","email":"ada@example.com","metadata":{"a":"1","b":"2"}}',
        headers=headers,
    )
    assert first.status_code == 201
    same = await client.post(
        "/v1/customers",
        content=b'{\n  "metadata" : { "b": "2", "a": "1" },\n  "email": "ada@example.com",\t"name": "Ada"\n}',
        headers=headers,
    )
    assert_replay_of(same, first)
    # Same content with a different value is a different request.
    different = await client.post(
        "/v1/customers",
        content=b'{"name":"Ada","email":"ada@example.com","metadata":{"a":"1","b":"3"}}',
        headers=headers,
    )
    assert different.status_code == 422
    assert different.json()["error"]["reason"] == "idempotency_key_reused"
    assert await customer_count(db, tenant.id) == 1


async def test_fingerprint_sorts_the_query_string(client: Any, tenant: TenantKeys) -> None:
    first = await client.post("/v1/customers?b=2&a=1", json={"name": "Q"}, headers=with_key(tenant))
    assert first.status_code == 201
    same = await client.post("/v1/customers?a=1&b=2", json={"name": "Q"}, headers=with_key(tenant))
    assert_replay_of(same, first)
    other = await client.post("/v1/customers?a=1&b=3", json={"name": "Q"}, headers=with_key(tenant))
    assert other.status_code == 422
    assert other.json()["error"]["reason"] == "idempotency_key_reused"
    bare = await client.post("/v1/customers", json={"name": "Q"}, headers=with_key(tenant))
    assert bare.status_code == 422
    assert bare.json()["error"]["reason"] == "idempotency_key_reused"


async def test_fingerprint_covers_method_and_path(client: Any, tenant: TenantKeys) -> None:
    a = await client.post("/v1/customers", json={"name": "A"}, headers=tenant.auth())
    b = await client.post("/v1/customers", json={"name": "B"}, headers=tenant.auth())
    first = await client.patch(f"/v1/customers/{a.json()['id']}", json={"name": "A2"}, headers=with_key(tenant))
    assert first.status_code == 200
    other_path = await client.patch(f"/v1/customers/{b.json()['id']}", json={"name": "A2"}, headers=with_key(tenant))
    assert other_path.status_code == 422
    assert other_path.json()["error"]["reason"] == "idempotency_key_reused"
    check = await client.get(f"/v1/customers/{b.json()['id']}", headers=tenant.auth())
    assert check.json()["name"] == "B"


def test_fingerprint_formula_matches_the_spec() -> None:
    import hashlib

    body = jsonenc.canonical({"b": [1, {"z": 1, "a": "é"}], "a": None})
    assert body == '{"a":null,"b":[1,{"a":"é","z":1}]}'.encode()
    expected = hashlib.sha256(b"POST\n/v1/customers?a=1&b=2\n" + body).hexdigest()
    assert store.fingerprint("post", "/v1/customers", "b=2&a=1", body) == expected
    assert store.fingerprint("DELETE", "/v1/x", "", b"") == hashlib.sha256(b"DELETE\n/v1/x?\n").hexdigest()


# --- where the header does not apply ---


async def test_token_endpoint_ignores_the_header(
    client: Any, tenant: TenantKeys, db: Database, settings: Settings
) -> None:

    async with db.transaction("test") as conn:
        ctx = RepositoryContext(conn, tenant.id, "test", SystemClock(), settings, CLI_ACTOR)
        made = await create_oauth_client(ctx)
    form = {"grant_type": "client_credentials", "client_id": made.row.client_id, "client_secret": made.client_secret}
    a = await client.post("/v1/oauth/token", json=form, headers={"Idempotency-Key": KEY})
    b = await client.post("/v1/oauth/token", json=form, headers={"Idempotency-Key": KEY})
    assert a.status_code == b.status_code == 200
    assert a.json()["access_token"] != b.json()["access_token"]
    assert "idempotent-replayed" not in b.headers
    assert await all_idempotency_rows(db) == []


async def test_reads_ignore_the_header(client: Any, tenant: TenantKeys, db: Database) -> None:
    r = await client.get("/v1/customers", headers={**tenant.auth(), "Idempotency-Key": ""})
    assert r.status_code == 200
    assert await all_idempotency_rows(db) == []
