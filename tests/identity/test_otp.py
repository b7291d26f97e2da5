"""OTP request and verification (06 §6): limits, attempts, expiry, reuse, supersession, secrecy, delivery."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import text

from duro.db.engine import Database
from duro.kit.clock import FrozenClock
from duro.kit.crypto import derive_key, hmac_sha256
from tests.conftest import make_settings
from tests.http_assertions import err, ok
from tests.identity.conftest import (
    LOCAL_PHONE,
    NOW,
    PHONE,
    ClientFactory,
    CloudApi,
    bearer,
    cloud_settings,
    request_code,
    sent_code,
)

TS = "%Y-%m-%dT%H:%M:%S.000Z"


async def challenges(db: Database, phone: str = PHONE) -> list[Any]:
    async with db.engine.connect() as conn:
        result = await conn.execute(
            text("SELECT * FROM core.otp_challenges WHERE phone = :p ORDER BY created_at, id"), {"p": phone}
        )
        return list(result.mappings().all())


async def otp_messages(db: Database) -> list[Any]:
    async with db.engine.connect() as conn:
        result = await conn.execute(
            text("SELECT * FROM core.notifications WHERE template_key = 'otp' ORDER BY created_at, id")
        )
        return list(result.mappings().all())


async def verify(client: httpx.AsyncClient, code: str, phone: str = PHONE, **headers: str) -> httpx.Response:
    return await client.post("/identity/verify", json={"phone": phone, "code": code}, headers=headers)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


async def test_happy_path_local_number_console_provider(client: httpx.AsyncClient, db: Database) -> None:
    r = await client.post("/identity/otp", json={"phone": LOCAL_PHONE})
    body = ok(r, 202)
    assert body == {
        "expiresAt": (NOW + timedelta(minutes=10)).strftime(TS),
        "resendAfter": (NOW + timedelta(seconds=30)).strftime(TS),
    }
    (challenge,) = await challenges(db)
    assert challenge["attempts"] == 0
    assert challenge["consumed_at"] is None
    assert challenge["ip"] == "127.0.0.1"
    # Queued in the request's transaction, then sent at once: the console provider captures it.
    (msg,) = await otp_messages(db)
    assert msg["status"] == "captured"
    assert msg["channel"] == "whatsapp"
    assert msg["recipient"] == PHONE
    assert msg["tenant_id"] is None
    assert msg["whatsapp_template"]["name"] == "duro_otp"
    code = await sent_code(db)
    assert len(code) == 6
    assert code.isdigit()

    r = await client.post("/identity/verify", json={"phone": "2348012345678", "code": code})
    out = ok(r)
    assert r.headers["cache-control"] == "no-store"
    identity = out["identity"]
    assert set(identity) == {"object", "id", "phone", "verifiedAt", "lastVerifiedAt", "createdAt"}
    assert identity["object"] == "identity"
    assert identity["id"].startswith("idn_")
    assert identity["phone"] == PHONE
    assert identity["verifiedAt"] == identity["lastVerifiedAt"] == identity["createdAt"] == NOW.strftime(TS)
    assert out["expiresAt"] == (NOW + timedelta(minutes=60)).strftime(TS)

    header = jwt.get_unverified_header(out["token"])
    assert header["kid"] == "identity"
    assert header["alg"] == "HS256"
    key = derive_key(make_settings().root_secret, "jwt-identity")
    claims = jwt.decode(
        out["token"], key, algorithms=["HS256"], audience="duro:identity", options={"verify_exp": False}
    )
    assert claims["sub"] == identity["id"]
    assert claims["phone"] == PHONE
    assert claims["iss"] == "http://localhost:8000"
    assert claims["exp"] == claims["iat"] + 3600 == int(NOW.timestamp()) + 3600
    assert claims["jti"]

    me = ok(await client.get("/identity/me", headers=bearer(out["token"])))
    assert me == {"identity": identity, "paymentMethods": []}
    (challenge,) = await challenges(db)
    assert challenge["consumed_at"] is not None


async def test_cloud_whatsapp_delivery_through_the_stand_in(
    make_client: ClientFactory, db: Database, cloud_api: CloudApi
) -> None:
    client = await make_client(**cloud_settings(cloud_api))
    ok(await client.post("/identity/otp", json={"phone": PHONE}), 202)
    (req,) = cloud_api.requests
    assert req["path"] == "/v21.0/109876543210/messages"
    assert req["authorization"] == "Bearer wa-test-token"
    sent = req["json"]
    assert sent["messaging_product"] == "whatsapp"
    assert sent["to"] == "2348012345678"
    assert sent["type"] == "template"
    assert sent["template"]["name"] == "duro_otp"
    body_params = sent["template"]["components"][0]["parameters"]
    code = body_params[0]["text"]
    assert sent["template"]["components"][1]["parameters"][0]["text"] == code  # the copy-code button
    (msg,) = await otp_messages(db)
    assert msg["status"] == "sent"
    assert msg["provider_message_id"] == "wamid.TEST1"
    ok(await verify(client, code))


async def test_failed_delivery_still_202_and_left_pending_for_the_loop(
    make_client: ClientFactory, db: Database, cloud_api: CloudApi
) -> None:
    cloud_api.status = 503
    cloud_api.body = {"error": {"message": "try later"}}
    client = await make_client(**cloud_settings(cloud_api))
    ok(await client.post("/identity/otp", json={"phone": PHONE}), 202)
    assert len(cloud_api.requests) == 1
    (msg,) = await otp_messages(db)
    assert msg["status"] == "pending"
    assert msg["next_attempt_at"] is not None
    assert "503" in msg["error"]


async def test_invalid_phone_is_422_and_creates_nothing(client: httpx.AsyncClient, db: Database) -> None:
    e = err(await client.post("/identity/otp", json={"phone": "12345"}), 422, "validation_error")
    assert e["details"] == [{"path": "phone", "issue": "not a valid phone number"}]
    err(await client.post("/identity/otp", json={"phone": PHONE, "extra": 1}), 422, "validation_error")
    err(await client.post("/identity/otp", content=b"{", headers={"content-type": "application/json"}), 400,
        "bad_request", "malformed_json")  # fmt: skip
    err(await client.post("/identity/otp", content=b"phone=1", headers={"content-type": "text/plain"}), 400,
        "bad_request", "unsupported_media_type")  # fmt: skip
    assert await challenges(db) == []
    assert await otp_messages(db) == []


async def test_brute_force_stops_after_five_attempts(client: httpx.AsyncClient, db: Database) -> None:
    code = await request_code(client, db)
    for n in range(1, 6):
        e = err(await verify(client, wrong(code)), 401, "unauthorized", "invalid_code")
        assert e["details"] == []
        assert (await challenges(db))[0]["attempts"] == n
    # Locked: even the right code is refused, and the count stays at 5.
    err(await verify(client, code), 401, "unauthorized", "invalid_code")
    assert (await challenges(db))[0]["attempts"] == 5
    assert (await challenges(db))[0]["consumed_at"] is None


async def test_sixth_challenge_in_fifteen_minutes_is_429(
    client: httpx.AsyncClient, db: Database, clock: FrozenClock
) -> None:
    for _ in range(5):
        ok(await client.post("/identity/otp", json={"phone": PHONE}), 202)
        clock.advance(timedelta(seconds=60))
    # Five challenges at t = 0, 60, …, 240 s; now t = 300 s: the first leaves the window at 900 s.
    r = await client.post("/identity/otp", json={"phone": PHONE})
    err(r, 429, "rate_limited", "rate_limited")
    assert r.headers["retry-after"] == "600"
    assert len(await challenges(db)) == 5
    # Another phone is not affected.
    ok(await client.post("/identity/otp", json={"phone": "+2348098765432"}), 202)
    clock.advance(timedelta(seconds=600))
    ok(await client.post("/identity/otp", json={"phone": PHONE}), 202)


async def test_resend_spacing_is_30_seconds(client: httpx.AsyncClient, db: Database, clock: FrozenClock) -> None:
    ok(await client.post("/identity/otp", json={"phone": PHONE}), 202)
    r = await client.post("/identity/otp", json={"phone": LOCAL_PHONE})  # the same phone, written locally
    err(r, 429, "rate_limited", "rate_limited")
    assert r.headers["retry-after"] == "30"
    clock.advance(timedelta(seconds=12))
    r = await client.post("/identity/otp", json={"phone": PHONE})
    assert r.status_code == 429
    assert r.headers["retry-after"] == "18"
    clock.advance(timedelta(seconds=18))
    ok(await client.post("/identity/otp", json={"phone": PHONE}), 202)
    assert len(await challenges(db)) == 2


async def test_otp_per_ip_limit_counts_refused_requests(make_client: ClientFactory, db: Database) -> None:
    client = await make_client(trusted_proxies="127.0.0.1/32")
    ip_a = {"X-Forwarded-For": "203.0.113.7"}
    for _ in range(19):  # invalid phones count too (01 §9)
        assert (await client.post("/identity/otp", json={"phone": "1"}, headers=ip_a)).status_code == 422
    ok(await client.post("/identity/otp", json={"phone": PHONE}, headers=ip_a), 202)
    r = await client.post("/identity/otp", json={"phone": "+2348098765432"}, headers=ip_a)
    err(r, 429, "rate_limited", "rate_limited")
    assert int(r.headers["retry-after"]) >= 1
    # Counted before validation: even a malformed body is refused with 429 now.
    assert (await client.post("/identity/otp", content=b"{", headers=ip_a)).status_code == 429
    # The right-most untrusted X-Forwarded-For hop is the client: another address has its own budget.
    ip_b = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}
    ok(await client.post("/identity/otp", json={"phone": "+2348098765432"}, headers=ip_b), 202)
    ips = {c["ip"] for c in await challenges(db, PHONE)} | {c["ip"] for c in await challenges(db, "+2348098765432")}
    assert ips == {"203.0.113.7", "203.0.113.9"}


async def test_verify_per_ip_limit(client: httpx.AsyncClient, db: Database) -> None:
    code = await request_code(client, db)
    for _ in range(30):
        # Wrong phone formats and unknown phones: each request counts.
        assert (await verify(client, "123456", phone="+2348011111111")).status_code == 401
    r = await verify(client, code)
    err(r, 429, "rate_limited", "rate_limited")
    assert "retry-after" in r.headers
    assert (await challenges(db))[0]["consumed_at"] is None


async def test_expired_code(client: httpx.AsyncClient, db: Database, clock: FrozenClock) -> None:
    code = await request_code(client, db)
    clock.advance(timedelta(minutes=10))
    err(await verify(client, code), 401, "unauthorized", "invalid_code")
    # Just before expiry the same flow works.
    clock.advance(timedelta(seconds=30))
    code = await request_code(client, db)
    clock.advance(timedelta(minutes=9, seconds=59))
    ok(await verify(client, code))


async def test_reused_code_is_refused(client: httpx.AsyncClient, db: Database) -> None:
    code = await request_code(client, db)
    ok(await verify(client, code))
    err(await verify(client, code), 401, "unauthorized", "invalid_code")


async def test_superseded_code_is_refused(client: httpx.AsyncClient, db: Database, clock: FrozenClock) -> None:
    first = await request_code(client, db)
    clock.advance(timedelta(seconds=30))
    second = await request_code(client, db)
    old, new = await challenges(db)
    assert old["superseded_at"] is not None
    assert new["superseded_at"] is None
    if first != second:  # 1 in a million they coincide, and then the first code is the new one too
        err(await verify(client, first), 401, "unauthorized", "invalid_code")
    ok(await verify(client, second))


async def test_unknown_phone_and_no_challenge_are_plain_invalid_code(client: httpx.AsyncClient) -> None:
    e = err(await verify(client, "123456"), 401, "unauthorized", "invalid_code")
    assert e["details"] == []
    err(await client.post("/identity/verify", json={"phone": PHONE}), 422, "validation_error")


async def test_code_is_never_stored_or_logged_in_clear(
    client: httpx.AsyncClient, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    code = await request_code(client, db)
    await verify(client, wrong(code))
    ok(await verify(client, code))
    (challenge,) = await challenges(db)
    for value in challenge.values():
        assert code not in str(value)
    pepper = derive_key(make_settings().root_secret, "otp-pepper")
    assert challenge["code_hash"] == hmac_sha256(pepper, f"{challenge['id']}:{code}").hex()
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "captured" in logged  # the console provider did log its one line
    assert code not in logged
