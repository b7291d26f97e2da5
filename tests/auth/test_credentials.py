"""Machine credentials on /v1 (02 §1-§3): API keys, publishable keys, OAuth client credentials and JWTs."""

from __future__ import annotations

import re
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import select, update

from duro.app import create_app
from duro.config import Settings
from duro.context import RepositoryContext
from duro.credentials.service import CreatedClient, create_oauth_client, revoke_api_key, revoke_oauth_client
from duro.db.engine import Database, Mode
from duro.kit.clock import SystemClock
from duro.kit.crypto import derive_key, random_base62, sha256_hex
from duro.models.credentials import api_keys, oauth_clients
from duro.tenants.service import CLI_ACTOR
from tests.conftest import TenantKeys

TOKEN_URL = "/v1/oauth/token"
# The one /v1 operation a pk_ may call (02 §1); it has its own tests where it lives.
PUBLISHABLE_ALLOWED = {("POST", "/v1/checkout/sessions")}


def ctx_for(conn: Any, tenant_id: str, mode: Mode, settings: Settings) -> RepositoryContext:
    """The same context `duro oauth create` / `duro keys revoke` build (cli.py `_cli_ctx`)."""
    return RepositoryContext(conn, tenant_id, mode, SystemClock(), settings, CLI_ACTOR)


async def new_client(db: Database, settings: Settings, tenant_id: str, mode: Mode = "test") -> CreatedClient:
    async with db.transaction(mode) as conn:
        return await create_oauth_client(ctx_for(conn, tenant_id, mode, settings), "integration")


async def revoke_client(db: Database, settings: Settings, tenant_id: str, client_pk: str, mode: Mode = "test") -> None:
    async with db.transaction(mode) as conn:
        await revoke_oauth_client(ctx_for(conn, tenant_id, mode, settings), client_pk)


async def api_key_row(db: Database, tenant_id: str, plaintext: str, mode: Mode = "test") -> Any:
    async with db.transaction(mode) as conn:
        stmt = select(api_keys).where(api_keys.c.tenant_id == tenant_id, api_keys.c.key_hash == sha256_hex(plaintext))
        return (await conn.execute(stmt)).one()


async def token_for(client: httpx.AsyncClient, made: CreatedClient) -> str:
    r = await client.post(
        TOKEN_URL,
        json={
            "grant_type": "client_credentials",
            "client_id": made.row.client_id,
            "client_secret": made.client_secret,
        },
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_of(r: httpx.Response) -> tuple[int, str, str | None]:
    body = r.json()["error"]
    assert body["requestId"] == r.headers["x-request-id"]
    return r.status_code, body["code"], body["reason"]


@asynccontextmanager
async def fresh_app(db: Database, settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """A second app on the same database: its own runtime, so nothing cached from the first."""
    app = create_app(settings, db=db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield app, c
    await app.state.runtime.close()


# --- API keys ---


async def test_secret_key_authenticates_in_its_mode(client: Any, tenant: TenantKeys) -> None:
    for mode in ("test", "live"):
        r = await client.get("/v1/customers", headers=tenant.auth(mode))
        assert r.status_code == 200, r.text
        assert r.json()["object"] == "list"


async def test_bearer_scheme_is_case_insensitive(client: Any, tenant: TenantKeys) -> None:
    r = await client.get("/v1/customers", headers={"Authorization": f"bearer {tenant.test_secret}"})
    assert r.status_code == 200


async def test_missing_credential(client: Any, tenant: TenantKeys) -> None:
    r = await client.get("/v1/customers")
    assert error_of(r) == (401, "unauthorized", "missing_credential")
    r = await client.post("/v1/customers", json={"name": "X"})
    assert error_of(r) == (401, "unauthorized", "missing_credential")


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("Basic {sk}", id="basic-scheme"),
        pytest.param("Token {sk}", id="token-scheme"),
        pytest.param("{sk}", id="no-scheme"),
        pytest.param("Bearer", id="scheme-only"),
        pytest.param("Bearer garbage", id="garbage"),
        pytest.param("Bearer a.b.c", id="garbage-jwt-shape"),
        pytest.param("Bearer sk_test_" + "A" * 43, id="unknown-sk"),
        pytest.param("Bearer pk_test_" + "A" * 43, id="unknown-pk"),
        pytest.param("Bearer sk_live_" + "A" * 43, id="unknown-sk-live"),
        pytest.param("Bearer {sk}x", id="one-char-too-long"),
        pytest.param("Bearer {sk_short}", id="one-char-too-short"),
        pytest.param("Bearer sk_test_" + "-" * 43, id="not-base62"),
        pytest.param("Bearer sk_prod_" + "A" * 43, id="unknown-mode"),
        pytest.param("Bearer {sk_as_live}", id="right-secret-wrong-mode-prefix"),
        pytest.param("Bearer {sk_as_pk}", id="right-secret-wrong-kind-prefix"),
    ],
)
async def test_invalid_credential(client: Any, tenant: TenantKeys, header: str) -> None:
    sk = tenant.test_secret
    value = header.format(
        sk=sk,
        sk_short=sk[:-1],
        sk_as_live=sk.replace("sk_test_", "sk_live_"),
        sk_as_pk=sk.replace("sk_test_", "pk_test_"),
    )
    r = await client.get("/v1/customers", headers={"Authorization": value})
    assert error_of(r) == (401, "unauthorized", "invalid_credential")


async def test_revoked_key_is_refused_immediately(
    client: Any, tenant: TenantKeys, db: Database, settings: Settings
) -> None:
    assert (await client.get("/v1/customers", headers=tenant.auth())).status_code == 200
    row = await api_key_row(db, tenant.id, tenant.test_secret)
    async with db.transaction("test") as conn:
        await revoke_api_key(ctx_for(conn, tenant.id, "test", settings), row.id)
    r = await client.get("/v1/customers", headers=tenant.auth())
    assert error_of(r) == (401, "unauthorized", "invalid_credential")
    # The live key of the same tenant is a different credential and keeps working.
    assert (await client.get("/v1/customers", headers=tenant.auth("live"))).status_code == 200


def v1_operations(app: Any) -> list[tuple[str, str]]:
    """Every documented /v1 operation except the token endpoint, path parameters filled with a dummy id."""
    ops = []
    for path, methods in app.openapi()["paths"].items():
        if not path.startswith("/v1/") or path == TOKEN_URL:
            continue
        concrete = re.sub(r"\{[^}]+\}", "x_01JGFJJZ4V8Q2M6T3X9K0D5R7B", path)
        ops.extend((m.upper(), concrete) for m in sorted(methods) if (m.upper(), path) not in PUBLISHABLE_ALLOWED)
    return ops


@pytest.mark.parametrize("mode", ["test", "live"])
async def test_publishable_key_is_refused_on_every_v1_route(
    client: Any, app: Any, tenant: TenantKeys, mode: str
) -> None:
    ops = v1_operations(app)
    assert ("POST", "/v1/customers") in ops
    assert ("GET", "/v1/events") in ops
    assert len(ops) >= 10
    for method, path in ops:
        body = {"name": "X"} if method in ("POST", "PATCH") else None
        r = await client.request(method, path, json=body, headers=tenant.auth(mode, "publishable"))
        assert error_of(r) == (403, "forbidden", "publishable_key_not_allowed"), (method, path)
    # Refused before routing too: a pk_ learns nothing about which paths exist.
    r = await client.get("/v1/nothing-here", headers=tenant.auth(mode, "publishable"))
    assert error_of(r) == (403, "forbidden", "publishable_key_not_allowed")


# --- OAuth token endpoint ---


def assert_token_response(r: httpx.Response, made: CreatedClient, tenant_id: str, mode: str) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "*"
    header = jwt.get_unverified_header(body["access_token"])
    assert header["kid"] == "merchant"
    assert header["alg"] == "HS256"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["aud"] == "duro:v1"
    assert claims["iss"] == "http://localhost:8000"
    assert claims["sub"] == made.row.id
    assert claims["tenant"] == tenant_id
    assert claims["mode"] == mode
    assert claims["scope"] == "*"
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["nbf"] == claims["iat"]
    assert len(claims["jti"]) == 26
    return body


async def test_token_with_json_body(client: Any, tenant: TenantKeys, db: Database, settings: Settings) -> None:
    made = await new_client(db, settings, tenant.id)
    r = await client.post(
        TOKEN_URL,
        json={"grant_type": "client_credentials", "client_id": made.row.client_id, "client_secret": made.client_secret},
    )
    assert_token_response(r, made, tenant.id, "test")


async def test_token_with_form_body(client: Any, tenant: TenantKeys, db: Database, settings: Settings) -> None:
    made = await new_client(db, settings, tenant.id, "live")
    r = await client.post(
        TOKEN_URL,
        data={
            "grant_type": "client_credentials",
            "client_id": made.row.client_id,
            "client_secret": made.client_secret,
            "scope": "*",
        },
    )
    assert r.request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert_token_response(r, made, tenant.id, "live")


async def test_token_with_http_basic(client: Any, tenant: TenantKeys, db: Database, settings: Settings) -> None:
    made = await new_client(db, settings, tenant.id)
    r = await client.post(
        TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(made.row.client_id, made.client_secret)
    )
    assert_token_response(r, made, tenant.id, "test")
    r = await client.post(
        TOKEN_URL, json={"grant_type": "client_credentials"}, auth=(made.row.client_id, made.client_secret)
    )
    assert_token_response(r, made, tenant.id, "test")


async def test_token_request_touches_the_client(
    client: Any, tenant: TenantKeys, db: Database, settings: Settings
) -> None:
    made = await new_client(db, settings, tenant.id)
    assert made.row.last_used_at is None
    await token_for(client, made)
    async with db.transaction("test") as conn:
        stmt = select(oauth_clients.c.last_used_at).where(
            oauth_clients.c.tenant_id == tenant.id, oauth_clients.c.id == made.row.id
        )
        assert (await conn.execute(stmt)).scalar_one() is not None


async def test_access_token_sees_only_its_tenant_and_mode(
    client: Any, make_tenant: Any, db: Database, settings: Settings
) -> None:
    acme: TenantKeys = await make_tenant("Acme")
    globex: TenantKeys = await make_tenant("Globex")
    acme_test = (await client.post("/v1/customers", json={"name": "acme test"}, headers=acme.auth("test"))).json()
    acme_live = (await client.post("/v1/customers", json={"name": "acme live"}, headers=acme.auth("live"))).json()
    globex_test = (await client.post("/v1/customers", json={"name": "globex"}, headers=globex.auth())).json()

    token = await token_for(client, await new_client(db, settings, acme.id, "test"))
    listed = await client.get("/v1/customers", headers=bearer(token))
    assert listed.status_code == 200
    assert [c["id"] for c in listed.json()["items"]] == [acme_test["id"]]
    assert (await client.get(f"/v1/customers/{acme_test['id']}", headers=bearer(token))).status_code == 200
    for foreign in (acme_live["id"], globex_test["id"]):
        r = await client.get(f"/v1/customers/{foreign}", headers=bearer(token))
        assert error_of(r) == (404, "not_found", "resource_missing")

    created = await client.post("/v1/customers", json={"name": "via oauth"}, headers=bearer(token))
    assert created.status_code == 201
    seen_by_key = await client.get(f"/v1/customers/{created.json()['id']}", headers=acme.auth("test"))
    assert seen_by_key.status_code == 200
    assert (await client.get(f"/v1/customers/{created.json()['id']}", headers=acme.auth("live"))).status_code == 404

    live_token = await token_for(client, await new_client(db, settings, acme.id, "live"))
    live_list = await client.get("/v1/customers", headers=bearer(live_token))
    assert [c["id"] for c in live_list.json()["items"]] == [acme_live["id"]]


@pytest.mark.parametrize("case", ["wrong-secret", "unknown-client", "malformed-client-id", "secret-of-other-mode"])
async def test_invalid_client(client: Any, tenant: TenantKeys, db: Database, settings: Settings, case: str) -> None:
    made = await new_client(db, settings, tenant.id)
    client_id, secret = made.row.client_id, made.client_secret
    if case == "wrong-secret":
        secret = "csec_test_" + random_base62(43)
    elif case == "unknown-client":
        client_id = "cid_test_" + random_base62(24)
    elif case == "malformed-client-id":
        client_id = "not-a-client-id"
    else:
        secret = secret.replace("csec_test_", "csec_live_")
    r = await client.post(
        TOKEN_URL, json={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    )
    assert error_of(r) == (401, "unauthorized", "invalid_client")
    assert r.headers["cache-control"] == "no-store"


async def test_invalid_client_over_basic(client: Any, tenant: TenantKeys, db: Database, settings: Settings) -> None:
    made = await new_client(db, settings, tenant.id)
    r = await client.post(
        TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(made.row.client_id, "csec_test_" + "x" * 43)
    )
    assert error_of(r) == (401, "unauthorized", "invalid_client")


async def test_revoked_client_cannot_get_a_token(
    client: Any, tenant: TenantKeys, db: Database, settings: Settings
) -> None:
    made = await new_client(db, settings, tenant.id)
    await token_for(client, made)
    await revoke_client(db, settings, tenant.id, made.row.id)
    r = await client.post(
        TOKEN_URL,
        json={"grant_type": "client_credentials", "client_id": made.row.client_id, "client_secret": made.client_secret},
    )
    assert error_of(r) == (401, "unauthorized", "invalid_client")


@pytest.mark.parametrize("grant", ["password", "authorization_code", "CLIENT_CREDENTIALS"])
async def test_unsupported_grant_type(
    client: Any, tenant: TenantKeys, db: Database, settings: Settings, grant: str
) -> None:
    made = await new_client(db, settings, tenant.id)
    r = await client.post(
        TOKEN_URL, json={"grant_type": grant, "client_id": made.row.client_id, "client_secret": made.client_secret}
    )
    assert error_of(r) == (400, "bad_request", "unsupported_grant_type")
    assert r.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("body", "paths"),
    [
        ({}, {"grant_type", "client_id", "client_secret"}),
        ({"grant_type": "client_credentials"}, {"client_id", "client_secret"}),
        ({"grant_type": "client_credentials", "client_id": "cid_test_" + "a" * 24}, {"client_secret"}),
        ({"grant_type": "client_credentials", "client_id": 5, "client_secret": "x"}, {"client_id"}),
        ({"grant_type": "client_credentials", "client_id": "c", "client_secret": "s", "scope": "read"}, {"scope"}),
    ],
)
async def test_token_request_validation(client: Any, body: dict[str, Any], paths: set[str]) -> None:
    r = await client.post(TOKEN_URL, json=body)
    assert error_of(r) == (422, "validation_error", None)
    assert {d["path"] for d in r.json()["error"]["details"]} == paths
    assert r.headers["cache-control"] == "no-store"


async def test_token_request_with_an_unsupported_content_type(client: Any) -> None:
    r = await client.post(TOKEN_URL, content=b"grant_type=client_credentials", headers={"Content-Type": "text/plain"})
    assert error_of(r) == (400, "bad_request", "unsupported_media_type")


# --- OAuth access tokens on /v1 ---


async def test_revoked_clients_token_is_refused(
    client: Any, app: Any, tenant: TenantKeys, db: Database, settings: Settings
) -> None:
    made = await new_client(db, settings, tenant.id)
    token = await token_for(client, made)
    assert (await client.get("/v1/customers", headers=bearer(token))).status_code == 200
    await revoke_client(db, settings, tenant.id, made.row.id)

    # A process that has never seen the client looks it up and refuses at once.
    async with fresh_app(db, settings) as (_, other):
        r = await other.get("/v1/customers", headers=bearer(token))
        assert error_of(r) == (401, "unauthorized", "invalid_credential")

    # The first app cached "alive" on the first call; the spec allows that answer to live for up to 30 s
    # (02 §3). We do not wait: forgetting the cache entry is what expiry of the entry does.
    app.state.runtime.resolver.forget_client("test", made.row.id)
    r = await client.get("/v1/customers", headers=bearer(token))
    assert error_of(r) == (401, "unauthorized", "invalid_credential")


def merchant_claims(settings: Settings, sub: str, tenant_id: str, now: int, **extra: Any) -> dict[str, Any]:
    return {
        "iss": settings.public_url,
        "aud": "duro:v1",
        "sub": sub,
        "tenant": tenant_id,
        "mode": "test",
        "scope": "*",
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "jti": "01JGFJJZ4V8Q2M6T3X9K0D5R7B",
        **extra,
    }


async def test_expired_token(client: Any, app: Any, tenant: TenantKeys, db: Database, settings: Settings) -> None:
    made = await new_client(db, settings, tenant.id)
    now = int(SystemClock().now().timestamp())
    issued_long_ago = app.state.runtime.jwt.issue(
        "merchant", made.row.id, {"tenant": tenant.id, "mode": "test", "scope": "*"}, now - 3600 - 120
    )
    r = await client.get("/v1/customers", headers=bearer(issued_long_ago))
    assert error_of(r) == (401, "unauthorized", "expired_credential")


async def test_token_just_past_exp_is_within_the_leeway(
    client: Any, app: Any, tenant: TenantKeys, db: Database, settings: Settings
) -> None:
    made = await new_client(db, settings, tenant.id)
    now = int(SystemClock().now().timestamp())
    # exp is 5 s ago: inside the 30 s leeway of 02 §3.
    token = app.state.runtime.jwt.issue(
        "merchant", made.row.id, {"tenant": tenant.id, "mode": "test", "scope": "*"}, now - 3600 - 5
    )
    assert (await client.get("/v1/customers", headers=bearer(token))).status_code == 200


@pytest.mark.parametrize(
    "case",
    [
        "bad-signature",
        "other-secret",
        "wrong-aud",
        "wrong-iss",
        "alg-none",
        "alg-hs512",
        "not-yet-valid",
        "no-kid",
        "unknown-kid",
        "missing-tenant",
        "bad-mode",
        "mode-of-the-other-schema",
        "tenant-not-the-clients",
        "unknown-client",
        "sub-not-a-client",
    ],
)
async def test_forged_or_broken_tokens_are_invalid(
    client: Any, make_tenant: Any, db: Database, settings: Settings, case: str
) -> None:
    tenant: TenantKeys = await make_tenant("Acme")
    made = await new_client(db, settings, tenant.id)
    key = derive_key(settings.root_secret, "jwt-merchant")
    now = int(SystemClock().now().timestamp())
    claims = merchant_claims(settings, made.row.id, tenant.id, now)
    headers: dict[str, Any] = {"kid": "merchant"}
    alg = "HS256"
    if case == "other-secret":
        key = derive_key(b"another-root-secret-of-sufficient-length", "jwt-merchant")
    elif case == "wrong-aud":
        claims["aud"] = "duro:identity"
    elif case == "wrong-iss":
        claims["iss"] = "https://evil.example"
    elif case == "alg-hs512":
        alg = "HS512"
    elif case == "not-yet-valid":
        claims.update(iat=now + 600, nbf=now + 600, exp=now + 4200)
    elif case == "no-kid":
        headers = {}
    elif case == "unknown-kid":
        headers = {"kid": "admin"}
    elif case == "missing-tenant":
        del claims["tenant"]
    elif case == "bad-mode":
        claims["mode"] = "prod"
    elif case == "mode-of-the-other-schema":
        claims["mode"] = "live"  # the client lives in sandbox: a live token naming it must not resolve
    elif case == "tenant-not-the-clients":
        other: TenantKeys = await make_tenant("Globex")
        claims["tenant"] = other.id
    elif case == "unknown-client":
        claims["sub"] = "oac_01JGFJJZ4V8Q2M6T3X9K0D5R7B"
    elif case == "sub-not-a-client":
        claims["sub"] = "key_01JGFJJZ4V8Q2M6T3X9K0D5R7B"

    if case == "alg-none":
        token = jwt.encode(claims, None, algorithm="none", headers=headers)
    else:
        with warnings.catch_warnings():
            # HS512 with our 32-byte key draws PyJWT's key-length warning; the point here is the algorithm.
            warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
            token = jwt.encode(claims, key, algorithm=alg, headers=headers)
    if case == "bad-signature":
        head, payload, sig = token.split(".")
        token = f"{head}.{payload}.{'A' if sig[0] != 'A' else 'B'}{sig[1:]}"

    r = await client.get("/v1/customers", headers=bearer(token))
    assert error_of(r) == (401, "unauthorized", "invalid_credential")


async def test_well_formed_hand_signed_token_is_accepted(
    client: Any, tenant: TenantKeys, db: Database, settings: Settings
) -> None:
    """The control for the forgery cases above: the same construction, unmodified, works."""
    made = await new_client(db, settings, tenant.id)
    key = derive_key(settings.root_secret, "jwt-merchant")
    now = int(SystemClock().now().timestamp())
    token = jwt.encode(merchant_claims(settings, made.row.id, tenant.id, now), key, "HS256", {"kid": "merchant"})
    assert (await client.get("/v1/customers", headers=bearer(token))).status_code == 200


async def test_identity_token_is_the_wrong_kind(client: Any, app: Any, tenant: TenantKeys) -> None:
    now = int(SystemClock().now().timestamp())
    token = app.state.runtime.jwt.issue("identity", "idn_01JGFJJZ4V8Q2M6T3X9K0D5R7B", {"phone": "+2348012345678"}, now)
    r = await client.get("/v1/customers", headers=bearer(token))
    assert error_of(r) == (401, "unauthorized", "wrong_credential_kind")


# --- lastUsedAt ---


async def test_last_used_at_is_written_after_a_request_at_most_once_a_minute(
    client: Any, app: Any, tenant: TenantKeys, db: Database, settings: Settings
) -> None:
    before = await api_key_row(db, tenant.id, tenant.test_secret)
    assert before.last_used_at is None

    assert (await client.get("/v1/customers", headers=tenant.auth())).status_code == 200
    await app.state.runtime.usage.drain()
    first = (await api_key_row(db, tenant.id, tenant.test_secret)).last_used_at
    assert first is not None
    assert abs(SystemClock().now() - first) < timedelta(minutes=5)
    # Only the key that was used.
    assert (await api_key_row(db, tenant.id, tenant.live_secret, "live")).last_used_at is None

    # Same process, within 60 s: no second write.
    assert (await client.get("/v1/customers", headers=tenant.auth())).status_code == 200
    await app.state.runtime.usage.drain()
    assert (await api_key_row(db, tenant.id, tenant.test_secret)).last_used_at == first

    # Another process has no memory of the first write; the database guard still holds it to once a minute.
    async with fresh_app(db, settings) as (other_app, other):
        assert (await other.get("/v1/customers", headers=tenant.auth())).status_code == 200
        await other_app.state.runtime.usage.drain()
    assert (await api_key_row(db, tenant.id, tenant.test_secret)).last_used_at == first

    # Once the stored value is more than a minute old, the next process writes again.
    async with db.transaction("test") as conn:
        await conn.execute(
            update(api_keys)
            .where(api_keys.c.tenant_id == tenant.id, api_keys.c.id == before.id)
            .values(last_used_at=first - timedelta(minutes=2))
        )
    async with fresh_app(db, settings) as (third_app, third):
        assert (await third.get("/v1/customers", headers=tenant.auth())).status_code == 200
        await third_app.state.runtime.usage.drain()
    assert (await api_key_row(db, tenant.id, tenant.test_secret)).last_used_at > first - timedelta(minutes=2)


async def test_last_used_at_is_not_written_for_refused_requests(
    client: Any, app: Any, tenant: TenantKeys, db: Database
) -> None:
    r = await client.get("/v1/customers", headers=tenant.auth("test", "publishable"))
    assert r.status_code == 403
    await app.state.runtime.usage.drain()
    assert (await api_key_row(db, tenant.id, tenant.test_publishable)).last_used_at is None


async def test_oauth_token_use_touches_the_client(
    client: Any, app: Any, tenant: TenantKeys, db: Database, settings: Settings
) -> None:
    made = await new_client(db, settings, tenant.id)
    token = await token_for(client, made)
    async with db.transaction("test") as conn:
        await conn.execute(
            update(oauth_clients)
            .where(oauth_clients.c.tenant_id == tenant.id, oauth_clients.c.id == made.row.id)
            .values(last_used_at=None)
        )
    assert (await client.get("/v1/customers", headers=bearer(token))).status_code == 200
    await app.state.runtime.usage.drain()
    async with db.transaction("test") as conn:
        stmt = select(oauth_clients.c.last_used_at).where(
            oauth_clients.c.tenant_id == tenant.id, oauth_clients.c.id == made.row.id
        )
        assert (await conn.execute(stmt)).scalar_one() is not None
