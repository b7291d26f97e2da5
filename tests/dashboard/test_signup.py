"""Signup (02 §4): tenant + owner through provisioning, audit, welcome email, session in enrolment_required."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from duro.db.engine import Database
from duro.models.core import members, tenants
from duro.models.notifications import platform_notifications
from tests.conftest import make_settings
from tests.dashboard.conftest import PASSWORD, audit_actions, form_token, session_rows

FORM = {"business_name": "Ọjà Café & Co.", "name": "Ada Obi", "email": "Ada@Example.com", "password": PASSWORD}


async def count(db: Database, table: object) -> int:
    async with db.core_transaction() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


async def test_signup_creates_tenant_owner_audit_welcome_and_enrolment_session(
    client: httpx.AsyncClient, db: Database
) -> None:
    token = await form_token(client, "/dashboard/signup")
    response = await client.post("/dashboard/signup", data={**FORM, "csrf_token": token})

    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/2fa/enrol"
    async with db.core_transaction() as conn:
        tenant = (await conn.execute(select(tenants))).one()
        owner = (await conn.execute(select(members))).one()
        welcome = (await conn.execute(select(platform_notifications))).one()
    assert (tenant.name, tenant.slug) == ("Ọjà Café & Co.", "oja-cafe-co")
    assert (owner.email, owner.name, owner.role, owner.tenant_id) == ("ada@example.com", "Ada Obi", "owner", tenant.id)
    assert owner.password_hash.startswith("$argon2id$")
    assert await audit_actions(db, tenant.id) == ["tenant.created"]
    assert (welcome.template_key, welcome.recipient, welcome.channel) == ("welcome", "ada@example.com", "email")
    assert "http://localhost:8000/dashboard/login" in welcome.body_text
    [row] = await session_rows(db, owner.id)
    assert row.state == "enrolment_required"

    # The owner reaches only the enrolment page (a placeholder for now) and logout.
    home = await client.get("/dashboard")
    assert (home.status_code, home.headers["location"]) == (303, "/dashboard/2fa/enrol")
    enrol = await client.get("/dashboard/2fa/enrol")
    assert enrol.status_code == 200
    assert 'action="/dashboard/logout"' in enrol.text
    as_fetch = await client.get("/dashboard", headers={"X-Requested-With": "fetch"})
    assert as_fetch.status_code == 403
    assert as_fetch.json()["error"]["reason"] == "two_factor_enrolment_required"


@pytest.mark.parametrize(
    ("changes", "field", "issue"),
    [
        ({"business_name": "A"}, "business_name", "2-120"),
        ({"name": " "}, "name", "1-120"),
        ({"email": "not-an-email"}, "email", "not a valid email"),
        ({"password": "short"}, "password", "12-128"),
        ({"password": "x" * 129}, "password", "12-128"),
        ({"password": "ada@example.com"}, "password", "must not equal the email"),
        ({"password": "QWERTY123456"}, "password", "too common"),
        ({"password": "1qaz2wsx3edc"}, "password", "too common"),
    ],
)
async def test_signup_validation_shows_field_errors_and_creates_nothing(
    client: httpx.AsyncClient, db: Database, changes: dict[str, str], field: str, issue: str
) -> None:
    token = await form_token(client, "/dashboard/signup")
    response = await client.post("/dashboard/signup", data={**FORM, **changes, "csrf_token": token})

    assert response.status_code == 422
    assert f'id="{field}-error"' in response.text
    assert issue in response.text
    assert await count(db, tenants) == 0
    assert "duro_session" not in response.cookies


async def test_signup_with_a_taken_email_is_refused(
    client: httpx.AsyncClient, db: Database, make_tenant: object
) -> None:
    token = await form_token(client, "/dashboard/signup")
    first = await client.post("/dashboard/signup", data={**FORM, "csrf_token": token})
    assert first.status_code == 303
    client.cookies.delete("duro_session")

    again = await client.post("/dashboard/signup", data={**FORM, "business_name": "Other", "csrf_token": token})
    assert again.status_code == 422
    assert "already exists" in again.text
    assert await count(db, tenants) == 1


async def test_signup_disabled_answers_403_and_creates_nothing(db: Database) -> None:
    from duro.app import create_app

    app = create_app(make_settings(allow_signup=False), db=db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        page = await client.get("/dashboard/signup")
        post = await client.post("/dashboard/signup", data=FORM)
        as_fetch = await client.get("/dashboard/signup", headers={"Accept": "application/json"})
        login_page = await client.get("/dashboard/login")
    await app.state.runtime.close()

    assert page.status_code == 403
    assert "signup_disabled" in page.text
    assert page.headers["content-type"].startswith("text/html")
    assert post.status_code == 403
    assert as_fetch.json()["error"]["reason"] == "signup_disabled"
    assert "/dashboard/signup" not in login_page.text
    assert await count(db, tenants) == 0


async def test_signup_pages_send_the_html_security_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/dashboard/signup")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert response.headers["cache-control"] == "no-store"
