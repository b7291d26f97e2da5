"""Identity-token surfaces (06 §6, 02 §2–§3): credential kinds, logout, re-verification, payment methods per mode,
CORS."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from duro.db.engine import Database
from duro.identity import auth as identity_auth
from duro.kit.clock import FrozenClock
from tests.conftest import TenantKeys
from tests.http_assertions import err, ok
from tests.identity.conftest import NOW, PHONE, bearer, sign_in

TS = "%Y-%m-%dT%H:%M:%S.000Z"
CARD = {"testCard": {"number": "4242 4242 4242 4242", "expMonth": 12, "expYear": 2030}}
ACCOUNT = {"rail": "transfer", "testAccount": "0123456789"}


@pytest.fixture(autouse=True)
def roomy_identity_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests make more than 10 calls a second with one identity; the limit itself is tested below."""
    monkeypatch.setattr(identity_auth, "IDENTITY_RATE_PER_SECOND", 1000)


async def test_identity_token_is_refused_by_v1(client: httpx.AsyncClient, db: Database, tenant: TenantKeys) -> None:
    token = (await sign_in(client, db))["token"]
    err(await client.get("/v1/customers", headers=bearer(token)), 401, "unauthorized", "wrong_credential_kind")


async def test_merchant_credentials_are_refused_on_identity(
    client: httpx.AsyncClient, db: Database, tenant: TenantKeys
) -> None:
    for headers in (tenant.auth("test"), tenant.auth("live"), tenant.auth("test", "publishable")):
        r = await client.get("/identity/me", headers=headers)
        err(r, 401, "unauthorized", "wrong_credential_kind")
    err(await client.get("/identity/me"), 401, "unauthorized", "missing_credential")
    err(await client.post("/identity/logout"), 401, "unauthorized", "missing_credential")
    err(await client.get("/identity/me", headers=bearer("a.b.c")), 401, "unauthorized", "invalid_credential")
    err(await client.get("/identity/me", headers={"Authorization": "Basic x"}), 401, "unauthorized",
        "invalid_credential")  # fmt: skip
    # A merchant OAuth access token is a JWT of the other kind.
    from duro.kit.jwt import JwtCodec

    codec: JwtCodec = client._transport.app.state.runtime.jwt  # type: ignore[attr-defined]
    claims = {"tenant": tenant.id, "mode": "test", "scope": "*"}
    merchant = codec.issue("merchant", "oac_X", claims, int(NOW.timestamp()))
    err(await client.get("/identity/me", headers=bearer(merchant)), 401, "unauthorized", "wrong_credential_kind")


async def test_token_expires_after_60_minutes(client: httpx.AsyncClient, db: Database, clock: FrozenClock) -> None:
    token = (await sign_in(client, db))["token"]
    clock.advance(timedelta(minutes=60, seconds=30))  # within the 30 s leeway
    ok(await client.get("/identity/me", headers=bearer(token)))
    clock.advance(timedelta(seconds=1))
    err(await client.get("/identity/me", headers=bearer(token)), 401, "unauthorized", "expired_credential")


async def test_logout_invalidates_tokens_and_reverification_returns_the_same_identity(
    client: httpx.AsyncClient, db: Database, clock: FrozenClock
) -> None:
    first = await sign_in(client, db)
    clock.advance(timedelta(minutes=1))
    second = await sign_in(client, db)  # another device
    assert second["identity"]["id"] == first["identity"]["id"]
    assert second["identity"]["verifiedAt"] == NOW.strftime(TS)
    assert second["identity"]["lastVerifiedAt"] == (NOW + timedelta(minutes=1)).strftime(TS)

    clock.advance(timedelta(seconds=5))
    r = await client.post("/identity/logout", headers=bearer(second["token"]))
    assert r.status_code == 204
    assert r.content == b""
    for token in (first["token"], second["token"]):
        err(await client.get("/identity/me", headers=bearer(token)), 401, "unauthorized", "invalid_credential")
    async with db.engine.connect() as conn:
        tva = (await conn.execute(text("SELECT tokens_valid_after FROM core.customer_identities"))).scalar_one()
    assert tva == NOW + timedelta(minutes=1, seconds=5)

    clock.advance(timedelta(seconds=30))
    third = await sign_in(client, db)
    assert third["identity"]["id"] == first["identity"]["id"]
    assert third["identity"]["createdAt"] == NOW.strftime(TS)
    me = ok(await client.get("/identity/me", headers=bearer(third["token"])))
    assert me["identity"]["lastVerifiedAt"] == (NOW + timedelta(minutes=1, seconds=35)).strftime(TS)
    async with db.engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM core.customer_identities"))).scalar_one() == 1


async def test_payment_methods_are_per_mode(client: httpx.AsyncClient, db: Database) -> None:
    token = (await sign_in(client, db))["token"]
    auth = bearer(token)
    card = ok(await client.post("/identity/payment-methods?mode=test", json=CARD, headers=auth), 201)
    assert card["object"] == "payment_method"
    assert card["owner"] == "identity"
    assert card["customerId"] is None
    assert card["isDefault"] is False
    assert (card["rail"], card["brand"], card["last4"], card["expYear"]) == ("card", "visa", "4242", 2030)
    again = ok(await client.post("/identity/payment-methods?mode=test", json=CARD, headers=auth), 200)
    assert again["id"] == card["id"]
    bank = ok(await client.post("/identity/payment-methods", json=ACCOUNT, headers=auth), 201)  # default: live
    assert (bank["rail"], bank["bankName"], bank["last4"]) == ("transfer", "Duro Test Bank", "6789")

    test_list = ok(await client.get("/identity/payment-methods?mode=test", headers=auth))
    live_list = ok(await client.get("/identity/payment-methods", headers=auth))
    assert test_list == {"object": "list", "items": [card], "nextCursor": None, "hasMore": False}
    assert [m["id"] for m in live_list["items"]] == [bank["id"]]
    me = ok(await client.get("/identity/me?mode=test", headers=auth))
    assert me["paymentMethods"] == [card]
    err(await client.get("/identity/me?mode=sandbox", headers=auth), 422, "validation_error")

    # Stored without a tenant, owned by the identity.
    async with db.engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT tenant_id, identity_id FROM sandbox.payment_methods /* unscoped: test */ WHERE id = :i"),
                {"i": card["id"]},
            )
        ).one()
    assert row.tenant_id is None
    assert row.identity_id == me["identity"]["id"]

    # The other mode's id is not found there.
    err(await client.delete(f"/identity/payment-methods/live/{card['id']}", headers=auth), 404, "not_found",
        "resource_missing")  # fmt: skip
    err(await client.delete(f"/identity/payment-methods/prod/{card['id']}", headers=auth), 404, "not_found",
        "resource_missing")  # fmt: skip
    gone = ok(await client.delete(f"/identity/payment-methods/test/{card['id']}", headers=auth))
    assert gone == {"id": card["id"], "deleted": True}
    assert ok(await client.get("/identity/payment-methods?mode=test", headers=auth))["items"] == []


async def test_payment_method_validation(client: httpx.AsyncClient, db: Database) -> None:
    auth = bearer((await sign_in(client, db))["token"])
    real = {"testCard": {"number": "4111111111111111", "expMonth": 12, "expYear": 2030}}
    e = err(await client.post("/identity/payment-methods?mode=live", json=real, headers=auth), 422,
            "validation_error", "unknown_test_number")  # fmt: skip
    assert e["details"][0]["path"] == "testCard.number"
    expired = {"testCard": {"number": "4242424242424242", "expMonth": 2, "expYear": 2026}}  # before March 2026
    err(await client.post("/identity/payment-methods?mode=test", json=expired, headers=auth), 422,
        "validation_error", "invalid_expiry")  # fmt: skip
    err(await client.post("/identity/payment-methods?mode=test", json={**CARD, "setDefault": True}, headers=auth),
        422, "validation_error")  # fmt: skip
    err(await client.post("/identity/payment-methods?mode=test", json={"rail": "ussd"}, headers=auth), 422,
        "validation_error")  # fmt: skip


async def test_fifty_methods_per_identity_and_mode(client: httpx.AsyncClient, db: Database) -> None:
    signed = await sign_in(client, db)
    auth, identity_id = bearer(signed["token"]), signed["identity"]["id"]
    async with db.engine.begin() as conn:
        for n in range(50):
            await conn.execute(
                text(
                    "INSERT INTO sandbox.payment_methods (id, tenant_id, identity_id, rail, last4, gateway_token, "
                    "fingerprint, created_at, updated_at) VALUES (:id, NULL, :idn, 'card', '0000', 'sim:x', :fp, "
                    ":at, :at)"
                ),
                {"id": f"pm_{n:026d}", "idn": identity_id, "fp": f"fp{n}", "at": NOW},
            )
    listed = ok(await client.get("/identity/payment-methods?mode=test", headers=auth))
    assert len(listed["items"]) == 50
    err(await client.post("/identity/payment-methods?mode=test", json=CARD, headers=auth), 409, "conflict",
        "payment_method_limit_reached")  # fmt: skip
    ok(await client.post("/identity/payment-methods?mode=live", json=CARD, headers=auth), 201)  # per mode


async def test_other_identity_cannot_see_or_delete(client: httpx.AsyncClient, db: Database, clock: FrozenClock) -> None:
    mine = bearer((await sign_in(client, db))["token"])
    card = ok(await client.post("/identity/payment-methods?mode=test", json=CARD, headers=mine), 201)
    theirs = bearer((await sign_in(client, db, "+2348098765432"))["token"])
    assert ok(await client.get("/identity/payment-methods?mode=test", headers=theirs))["items"] == []
    err(await client.delete(f"/identity/payment-methods/test/{card['id']}", headers=theirs), 404, "not_found",
        "resource_missing")  # fmt: skip
    # The same number saved by the other identity is its own method.
    other = ok(await client.post("/identity/payment-methods?mode=test", json=CARD, headers=theirs), 201)
    assert other["id"] != card["id"]


async def _subscribe_with_identity_method(
    client: httpx.AsyncClient, db: Database, tenant: TenantKeys, identity_id: str, pm_id: str
) -> dict[str, Any]:
    plan = ok(await client.post("/v1/plans", json={"name": "Pro", "amount": 500000, "interval": "month"},
                                headers=tenant.auth()), 201)  # fmt: skip
    cus = ok(await client.post("/v1/customers", json={"phone": PHONE}, headers=tenant.auth()), 201)
    # The link an OTP-verified checkout or portal flow would make (03 §1.2).
    async with db.engine.begin() as conn:
        await conn.execute(
            text("UPDATE sandbox.customers SET identity_id = :i WHERE tenant_id = :t AND id = :c"),
            {"i": identity_id, "t": tenant.id, "c": cus["id"]},
        )
    body = {"customerId": cus["id"], "planId": plan["id"], "paymentMethodId": pm_id}
    sub: dict[str, Any] = ok(await client.post("/v1/subscriptions", json=body, headers=tenant.auth()), 201)
    return sub


async def test_delete_in_use_is_409(client: httpx.AsyncClient, db: Database, tenant: TenantKeys) -> None:
    signed = await sign_in(client, db)
    auth = bearer(signed["token"])
    card = ok(await client.post("/identity/payment-methods?mode=test", json=CARD, headers=auth), 201)
    sub = await _subscribe_with_identity_method(client, db, tenant, signed["identity"]["id"], card["id"])
    assert sub["status"] == "active"
    err(await client.delete(f"/identity/payment-methods/test/{card['id']}", headers=auth), 409, "conflict",
        "payment_method_in_use")  # fmt: skip
    assert len(ok(await client.get("/identity/payment-methods?mode=test", headers=auth))["items"]) == 1
    ok(await client.post(f"/v1/subscriptions/{sub['id']}/cancel", json={"atPeriodEnd": False}, headers=tenant.auth()))
    ok(await client.delete(f"/identity/payment-methods/test/{card['id']}", headers=auth))


async def test_identity_rate_limit_per_second(
    client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(identity_auth, "IDENTITY_RATE_PER_SECOND", 10)
    auth = bearer((await sign_in(client, db))["token"])
    statuses = [(await client.get("/identity/me", headers=auth)).status_code for _ in range(12)]
    assert statuses.count(429) >= 1
    assert statuses[:5] == [200] * 5


async def test_cors_on_identity_only(client: httpx.AsyncClient, db: Database, tenant: TenantKeys) -> None:
    pre = await client.options(
        "/identity/otp",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type, authorization"},
    )  # fmt: skip
    assert pre.status_code == 200
    assert pre.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in pre.headers
    assert "authorization" in pre.headers["access-control-allow-headers"].lower()
    r = await client.post("/identity/otp", json={"phone": PHONE}, headers={"Origin": "https://shop.example"})
    assert r.status_code == 202
    assert r.headers["access-control-allow-origin"] == "*"
    r = await client.get("/v1/customers", headers={**tenant.auth(), "Origin": "https://shop.example"})
    assert "access-control-allow-origin" not in r.headers
