"""Session lifetime, state gating and CSRF on session-bound forms (02 §2, §4)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update

from duro.db.engine import Database
from duro.kit.clock import FrozenClock
from duro.models.core import members
from tests.conftest import TenantKeys
from tests.dashboard.conftest import csrf_of, login, session_rows

LOGIN_REDIRECT = "/dashboard/login?next=%2Fdashboard"


async def signed_in(client: httpx.AsyncClient, tenant: TenantKeys, add_member: Any) -> Any:
    member = await add_member(tenant, "dev@example.com")
    assert (await login(client, "dev@example.com")).status_code == 303
    return member


async def test_no_session_redirects_html_and_answers_401_to_fetch(client: httpx.AsyncClient) -> None:
    html = await client.get("/dashboard?x=1")
    assert (html.status_code, html.headers["location"]) == (303, "/dashboard/login?next=%2Fdashboard%3Fx%3D1")
    assert (await client.get("/dashboard", headers={"X-Requested-With": "fetch"})).status_code == 401
    client.cookies.set("duro_session", "B" * 43)
    assert (await client.get("/dashboard")).headers["location"] == LOGIN_REDIRECT


async def test_idle_expiry_slides_with_activity_and_is_written_at_most_every_30_s(
    client: httpx.AsyncClient, db: Database, clock: FrozenClock, tenant: TenantKeys, add_member: Any
) -> None:
    member = await signed_in(client, tenant, add_member)
    [created] = await session_rows(db, member.id)

    clock.advance(timedelta(seconds=20))
    assert (await client.get("/dashboard")).status_code == 200
    [row] = await session_rows(db, member.id)
    assert row.last_seen_at == created.last_seen_at  # not written within 30 s

    clock.advance(timedelta(minutes=9))
    assert (await client.get("/dashboard")).status_code == 200
    [row] = await session_rows(db, member.id)
    assert row.last_seen_at == clock.now()
    assert row.idle_expires_at == clock.now() + timedelta(minutes=10)

    clock.advance(timedelta(minutes=9, seconds=59))
    assert (await client.get("/dashboard")).status_code == 200  # past the first 10 min, kept alive by the slide

    clock.advance(timedelta(minutes=10))
    response = await client.get("/dashboard")
    assert (response.status_code, response.headers["location"]) == (303, LOGIN_REDIRECT)
    assert await session_rows(db, member.id) == []


async def test_absolute_expiry_after_twelve_hours_despite_activity(
    client: httpx.AsyncClient, db: Database, clock: FrozenClock, tenant: TenantKeys, add_member: Any
) -> None:
    member = await signed_in(client, tenant, add_member)
    for _ in range(79):  # 79 × 9 min = 11 h 51 min
        clock.advance(timedelta(minutes=9))
        assert (await client.get("/dashboard")).status_code == 200
    clock.advance(timedelta(minutes=9))
    assert (await client.get("/dashboard")).headers["location"] == LOGIN_REDIRECT
    assert await session_rows(db, member.id) == []


async def test_a_member_promoted_to_admin_without_2fa_is_restricted_at_the_next_request(
    client: httpx.AsyncClient, db: Database, tenant: TenantKeys, add_member: Any
) -> None:
    member = await signed_in(client, tenant, add_member)
    async with db.core_transaction() as conn:
        await conn.execute(update(members).where(members.c.id == member.id).values(role="admin"))
    assert (await client.get("/dashboard")).headers["location"] == "/dashboard/2fa/enrol"
    [row] = await session_rows(db, member.id)
    assert row.state == "enrolment_required"


async def test_logout_requires_the_session_csrf_token_and_a_same_origin(
    client: httpx.AsyncClient, db: Database, tenant: TenantKeys, add_member: Any
) -> None:
    member = await signed_in(client, tenant, add_member)
    token = csrf_of((await client.get("/dashboard")).text)

    refused = [
        await client.post("/dashboard/logout", data={}),
        await client.post("/dashboard/logout", data={"csrf_token": "x" + token[1:]}),
        await client.post("/dashboard/logout", headers={"X-CSRF-Token": token + "A"}),
        await client.post("/dashboard/logout", data={"csrf_token": token}, headers={"Origin": "https://evil.example"}),
        await client.post("/dashboard/logout", data={"csrf_token": token}, headers={"Origin": "http://localhost:9999"}),
    ]
    for response in refused:
        assert response.status_code == 403
        assert "csrf_failed" in response.text
    assert len(await session_rows(db, member.id)) == 1  # nothing changed
    fetch = await client.post("/dashboard/logout", headers={"X-Requested-With": "fetch"})
    assert fetch.json()["error"]["reason"] == "csrf_failed"

    out = await client.post("/dashboard/logout", headers={"X-CSRF-Token": token, "Origin": "http://localhost:8000"})
    assert (out.status_code, out.headers["location"]) == (303, "/dashboard/login")
    assert any(h.startswith('duro_session=""') for h in out.headers.get_list("set-cookie"))
    assert await session_rows(db, member.id) == []
    assert (await client.get("/dashboard")).headers["location"] == LOGIN_REDIRECT


async def test_a_csrf_token_of_another_session_is_refused(
    client: httpx.AsyncClient, db: Database, tenant: TenantKeys, add_member: Any
) -> None:
    member = await signed_in(client, tenant, add_member)
    old_token = csrf_of((await client.get("/dashboard")).text)
    assert (await login(client, "dev@example.com")).status_code == 303  # new session, new CSRF token

    response = await client.post("/dashboard/logout", data={"csrf_token": old_token})
    assert response.status_code == 403
    assert len(await session_rows(db, member.id)) == 1


async def test_enrolment_session_can_log_out(client: httpx.AsyncClient, db: Database, tenant: TenantKeys) -> None:
    assert (await login(client, tenant.owner_email)).status_code == 303
    page = await client.get("/dashboard/2fa/enrol")
    response = await client.post("/dashboard/logout", data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 303
    assert (await client.get("/dashboard/2fa/enrol")).headers["location"].startswith("/dashboard/login")
