"""Password reset (02 §4): same answer for any email, 43-char single-use link valid 30 min, sessions dropped."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from duro.db.engine import Database
from duro.kit.clock import FrozenClock
from duro.models.core import members
from duro.models.notifications import platform_notifications
from tests.conftest import TenantKeys
from tests.dashboard.conftest import PASSWORD, audit_actions, form_token, login, session_rows

NEW_PASSWORD = "a much better passphrase 42"


async def notifications(db: Database) -> list[Any]:
    async with db.core_transaction() as conn:
        return list((await conn.execute(select(platform_notifications))).all())


async def forgot(client: httpx.AsyncClient, email: str) -> httpx.Response:
    token = await form_token(client, "/dashboard/password/forgot")
    return await client.post("/dashboard/password/forgot", data={"csrf_token": token, "email": email})


async def reset_token(client: httpx.AsyncClient, db: Database, email: str) -> str:
    assert (await forgot(client, email)).status_code == 200
    [sent] = [n for n in await notifications(db) if n.template_key == "password_reset"]
    found = re.search(r"http://localhost:8000/dashboard/password/reset/([0-9A-Za-z]+)", sent.body_text)
    assert found
    return found.group(1)


async def choose(client: httpx.AsyncClient, token: str, password: str, confirm: str | None = None) -> httpx.Response:
    csrf = await form_token(client, "/dashboard/password/forgot")
    return await client.post(
        f"/dashboard/password/reset/{token}",
        data={"csrf_token": csrf, "password": password, "password_confirm": confirm or password},
    )


async def test_the_request_answers_the_same_whatever_the_email(
    client: httpx.AsyncClient, db: Database, tenant: TenantKeys
) -> None:
    known = await forgot(client, tenant.owner_email)
    unknown = await forgot(client, "nobody@example.com")
    assert known.status_code == unknown.status_code == 200
    assert known.text == unknown.text
    [sent] = await notifications(db)
    assert (sent.template_key, sent.recipient, sent.tenant_id) == ("password_reset", tenant.owner_email, tenant.id)


async def test_reset_sets_the_password_once_and_signs_every_session_out(
    client: httpx.AsyncClient, db: Database, tenant: TenantKeys, add_member: Any
) -> None:
    member = await add_member(tenant, "dev@example.com")
    other_browser = await login(client, "dev@example.com")
    assert other_browser.status_code == 303
    token = await reset_token(client, db, "dev@example.com")
    assert len(token) == 43
    assert (await client.get(f"/dashboard/password/reset/{token}")).status_code == 200

    weak = await choose(client, token, "qwerty123456")
    assert weak.status_code == 422
    assert "too common" in weak.text
    mismatch = await choose(client, token, NEW_PASSWORD, NEW_PASSWORD + "!")
    assert mismatch.status_code == 422
    assert "do not match" in mismatch.text

    done = await choose(client, token, NEW_PASSWORD)
    assert (done.status_code, done.headers["location"]) == (303, "/dashboard/login?reset=done")
    assert await session_rows(db, member.id) == []
    assert "member.password_changed" in await audit_actions(db, tenant.id)

    again = await choose(client, token, "yet another passphrase 7")
    assert again.status_code == 404
    assert "invalid or has expired" in again.text
    assert (await client.get(f"/dashboard/password/reset/{token}")).status_code == 404
    assert (await login(client, "dev@example.com", PASSWORD)).status_code == 401
    assert (await login(client, "dev@example.com", NEW_PASSWORD)).status_code == 303


async def test_a_reset_link_expires_after_30_minutes(
    client: httpx.AsyncClient, db: Database, clock: FrozenClock, tenant: TenantKeys
) -> None:
    token = await reset_token(client, db, tenant.owner_email)
    async with db.core_transaction() as conn:
        before = (await conn.execute(select(members.c.password_hash))).scalar_one()

    clock.advance(timedelta(minutes=30))
    assert (await client.get(f"/dashboard/password/reset/{token}")).status_code == 404
    assert (await choose(client, token, NEW_PASSWORD)).status_code == 404
    async with db.core_transaction() as conn:
        assert (await conn.execute(select(members.c.password_hash))).scalar_one() == before


async def test_unknown_reset_token_and_missing_csrf(
    client: httpx.AsyncClient, db: Database, tenant: TenantKeys
) -> None:
    assert (await client.get("/dashboard/password/reset/" + "C" * 43)).status_code == 404
    refused = await client.post("/dashboard/password/forgot", data={"email": tenant.owner_email})
    assert refused.status_code == 403
    assert "csrf_failed" in refused.text
    assert await notifications(db) == []
