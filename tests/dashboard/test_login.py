"""Login (02 §4, 01 §9): one answer for every failure, audit, cookie flags, no fixation, rate limits, CSRF."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from duro.app import create_app
from duro.dashboard import accounts
from duro.db.engine import Database
from duro.kit.clock import FrozenClock
from duro.kit.crypto import sha256_hex
from duro.models.core import members
from duro.tenants.passwords import dummy_hash, verify_password
from tests.conftest import TenantKeys, make_settings
from tests.dashboard.conftest import PASSWORD, audit_actions, form_token, login, session_rows

INVALID = "Invalid email or password."


async def test_owner_login_starts_an_enrolment_session_and_audits(
    client: httpx.AsyncClient, db: Database, tenant: TenantKeys
) -> None:
    response = await login(client, tenant.owner_email)

    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/2fa/enrol"
    token = response.cookies["duro_session"]
    assert len(token) == 43
    assert token.isalnum()
    async with db.core_transaction() as conn:
        owner = (await conn.execute(select(members).where(members.c.email == tenant.owner_email))).one()
    [row] = await session_rows(db, owner.id)
    assert row.token_hash == sha256_hex(token)
    assert row.state == "enrolment_required"
    assert row.current_mode == "test"
    assert (row.absolute_expires_at - row.created_at).total_seconds() == 12 * 3600
    assert (row.idle_expires_at - row.created_at).total_seconds() == 600
    assert await audit_actions(db, tenant.id) == ["session.login_succeeded"]


async def test_member_without_2fa_role_gets_an_active_session_and_the_home_page(
    client: httpx.AsyncClient, tenant: TenantKeys, add_member: Any
) -> None:
    await add_member(tenant, "dev@example.com")
    response = await login(client, "DEV@example.com", next="/dashboard")
    assert (response.status_code, response.headers["location"]) == (303, "/dashboard")

    home = await client.get("/dashboard")
    assert home.status_code == 200
    assert "dev@example.com" in home.text
    assert "Acme Ltd" in home.text
    assert "Test mode" in home.text
    assert 'action="/dashboard/logout"' in home.text


async def test_next_is_only_followed_to_dashboard_paths(
    client: httpx.AsyncClient, tenant: TenantKeys, add_member: Any
) -> None:
    await add_member(tenant, "dev@example.com")
    response = await login(client, "dev@example.com", next="https://evil.example/dashboard")
    assert response.headers["location"] == "/dashboard"
    response = await login(client, "dev@example.com", next="//evil.example/x")
    assert response.headers["location"] == "/dashboard"


async def test_member_with_totp_must_verify_within_five_minutes(
    client: httpx.AsyncClient, db: Database, clock: FrozenClock, tenant: TenantKeys, add_member: Any
) -> None:
    from datetime import timedelta

    member = await add_member(tenant, "fin@example.com", role="finance", totp=True)
    response = await login(client, "fin@example.com")
    assert response.headers["location"] == "/dashboard/2fa/verify"
    assert (await client.get("/dashboard")).headers["location"] == "/dashboard/2fa/verify"
    assert (await client.get("/dashboard", headers={"X-Requested-With": "fetch"})).status_code == 401
    assert (await client.get("/dashboard/2fa/verify")).status_code == 200

    clock.advance(timedelta(minutes=5))
    expired = await client.get("/dashboard/2fa/verify")
    assert expired.status_code == 303
    assert expired.headers["location"].startswith("/dashboard/login?next=")
    assert await session_rows(db, member.id) == []


async def test_every_failure_shows_the_same_message_and_known_members_are_audited(
    client: httpx.AsyncClient, db: Database, tenant: TenantKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    verified: list[str] = []

    def spy(password_hash: str, password: str) -> bool:
        verified.append(password_hash)
        return verify_password(password_hash, password)

    monkeypatch.setattr(accounts, "verify_password", spy)

    wrong = await login(client, tenant.owner_email, "not the right password")
    unknown = await login(client, "nobody@example.com", PASSWORD)
    empty = await login(client, "", "")

    for response in (wrong, unknown, empty):
        assert response.status_code == 401
        assert INVALID in response.text
        assert "duro_session" not in response.cookies
    assert verified[1:] == [dummy_hash(), dummy_hash()]  # unknown emails still cost one argon2 verification
    assert verified[0] != dummy_hash()
    assert await audit_actions(db, tenant.id) == ["session.login_failed"]


async def test_login_rehashes_a_password_hashed_with_old_parameters(
    client: httpx.AsyncClient, db: Database, tenant: TenantKeys
) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    async with db.core_transaction() as conn:
        await conn.execute(update(members).where(members.c.email == tenant.owner_email).values(password_hash=weak))

    assert (await login(client, tenant.owner_email)).status_code == 303

    async with db.core_transaction() as conn:
        stored = (await conn.execute(select(members.c.password_hash))).scalar_one()
    assert stored != weak
    assert "m=65536,t=3,p=4" in stored
    assert verify_password(stored, PASSWORD)


def _set_cookie(response: httpx.Response) -> str:
    [header] = [h for h in response.headers.get_list("set-cookie") if h.startswith("duro_session=")]
    return header


async def test_session_cookie_flags_over_http_in_test(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    header = _set_cookie(await login(client, tenant.owner_email))
    attrs = {a.strip().split("=")[0].lower(): a.strip() for a in header.split(";")[1:]}
    assert "httponly" in attrs
    assert attrs["samesite"].lower() == "samesite=lax"
    assert attrs["path"] == "Path=/"
    assert "domain" not in attrs
    assert "secure" not in attrs
    assert "max-age" not in attrs


@pytest.mark.parametrize(
    "overrides", [{"public_url": "https://duro.example"}, {"env": "development", "public_url": "https://duro.example"}]
)
async def test_session_cookie_is_secure_for_https(db: Database, tenant: TenantKeys, overrides: dict[str, str]) -> None:
    app = create_app(make_settings(**overrides), db=db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver") as client:
        header = _set_cookie(await login(client, tenant.owner_email))
        login_page = await client.get("/dashboard/login")
    await app.state.runtime.close()
    assert "; secure" in header.lower()
    assert "strict-transport-security" in login_page.headers
    csrf_cookie = [h for h in login_page.headers.get_list("set-cookie") if h.startswith("duro_csrf=")]
    assert all("samesite=strict" in h.lower() and "secure" in h.lower() for h in csrf_cookie)


async def test_login_always_issues_a_new_token_and_drops_the_old_row(
    client: httpx.AsyncClient, db: Database, tenant: TenantKeys, add_member: Any
) -> None:
    member = await add_member(tenant, "dev@example.com")
    planted = "A" * 43
    client.cookies.set("duro_session", planted)
    first = (await login(client, "dev@example.com")).cookies["duro_session"]
    assert first != planted

    second = (await login(client, "dev@example.com")).cookies["duro_session"]
    assert second != first
    [row] = await session_rows(db, member.id)
    assert row.token_hash == sha256_hex(second)


async def test_login_form_needs_the_double_submit_cookie_and_a_same_origin(
    client: httpx.AsyncClient, db: Database, tenant: TenantKeys
) -> None:
    token = await form_token(client, "/dashboard/login")
    creds = {"email": tenant.owner_email, "password": PASSWORD}

    missing_field = await client.post("/dashboard/login", data=creds)
    wrong_field = await client.post("/dashboard/login", data={**creds, "csrf_token": token[::-1]})
    foreign = await client.post(
        "/dashboard/login", data={**creds, "csrf_token": token}, headers={"Origin": "https://evil.example"}
    )
    client.cookies.delete("duro_csrf")
    no_cookie = await client.post("/dashboard/login", data={**creds, "csrf_token": token})

    for response in (missing_field, wrong_field, foreign, no_cookie):
        assert response.status_code == 403
        assert "csrf_failed" in response.text
        assert "duro_session" not in response.cookies
    assert await audit_actions(db, tenant.id) == []

    token = await form_token(client, "/dashboard/login")
    ok = await client.post(
        "/dashboard/login", data={**creds, "csrf_token": token}, headers={"Origin": "http://localhost:8000"}
    )
    assert ok.status_code == 303


async def test_five_failures_lock_the_email_for_a_while(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    for _ in range(5):
        assert (await login(client, tenant.owner_email, "wrong password!!")).status_code == 401
    locked = await login(client, tenant.owner_email)  # even the right password
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) >= 1
    assert "duro_session" not in locked.cookies


async def test_thirty_attempts_per_ip_then_429(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    for n in range(30):
        assert (await login(client, f"nobody{n}@example.com")).status_code == 401
    limited = await login(client, tenant.owner_email)
    assert limited.status_code == 429
    assert "Too many sign-in attempts" in limited.text
