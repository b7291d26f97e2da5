"""The member's own account (07 §2; 02 §4–5): profile, password change (other sessions end), own sessions,
the security page (recovery codes regenerated with a current TOTP code, single use; disabling where allowed), and
the rate limit of the password-reset request form."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pyotp
from sqlalchemy import select, update

from duro.config import Settings
from duro.dashboard import twofactor
from duro.dashboard.sessions import SessionStore
from duro.db.engine import Database
from duro.kit.clock import FrozenClock
from duro.models.core import members
from duro.models.dashboard import recovery_codes
from duro.models.notifications import platform_notifications
from duro.tenants.passwords import verify_password
from tests.conftest import TenantKeys
from tests.dashboard.conftest import NOW, PASSWORD, audit_actions, form_token, login, session_rows

NEW_PASSWORD = "a much better passphrase 42"
_CODES = re.compile(r'<pre class="recovery-codes">(.*?)</pre>', re.S)


async def member_row(db: Database, member_id: str) -> Any:
    async with db.core_transaction() as conn:
        return (await conn.execute(select(members).where(members.c.id == member_id))).one()


async def second_session(db: Database, clock: FrozenClock, dash: Any) -> str:
    """Another browser of the same member (another row in core.sessions); returns its id."""
    async with db.core_transaction() as conn:
        token = await SessionStore(conn).create(
            member_id=dash.member.id,
            tenant_id=dash.member.tenant_id,
            state="active",
            now=clock.now(),
            ip="10.1.2.3",
            user_agent="Other Browser/1.0",
        )
        return str((await SessionStore(conn).find(token)).id)


async def enrol(db: Database, settings: Settings, member_id: str, codes: tuple[str, ...] = ()) -> str:
    """A real TOTP secret (and the given recovery codes) for the member; returns the secret."""
    secret = twofactor.new_secret()
    async with db.core_transaction() as conn:
        await conn.execute(
            update(members)
            .where(members.c.id == member_id)
            .values(totp_secret_enc=twofactor.seal_at_rest(settings, member_id, secret), totp_enabled_at=NOW)
        )
        for n, code in enumerate(codes):
            await conn.execute(
                recovery_codes.insert().values(
                    id=f"rec_{n}{member_id}",
                    member_id=member_id,
                    code_hmac=twofactor.recovery_hmac(settings, code),
                    created_at=NOW,
                )
            )
    return secret


def totp(secret: str, clock: FrozenClock) -> str:
    return pyotp.TOTP(secret).at(clock.now())


# --- account page ---


async def test_account_page_shows_profile_and_own_sessions_with_the_current_marked(
    dash_as: Any, db: Database, clock: FrozenClock, tenant: TenantKeys
) -> None:
    dev = await dash_as(tenant, "developer")
    other = await second_session(db, clock, dev)
    page = await dev.get("/dashboard/account")
    assert page.status_code == 200
    assert 'value="Dev Eloper"' in page.text
    assert f'data-session="{dev.session_id}"' in page.text
    assert f'data-session="{other}"' in page.text
    assert page.text.count('data-testid="current-session"') == 1
    current_row = page.text.split(f'data-session="{dev.session_id}"', 1)[1].split("</tr>", 1)[0]
    assert 'data-testid="current-session"' in current_row
    assert "10.1.2.3" in page.text
    assert "Other Browser/1.0" in page.text
    assert "Sign out all other sessions" in page.text


async def test_rename_and_its_validation(dash_as: Any, db: Database, tenant: TenantKeys) -> None:
    dev = await dash_as(tenant, "developer")
    saved = await dev.post("/dashboard/account/profile", {"name": "Ngozi Okafor"})
    assert saved.status_code == 303
    assert (await member_row(db, dev.member.id)).name == "Ngozi Okafor"
    bad = await dev.post("/dashboard/account/profile", {"name": "x" * 121})
    assert bad.status_code == 422
    assert 'data-field="name"' in bad.text
    assert (await member_row(db, dev.member.id)).name == "Ngozi Okafor"
    no_csrf = await dev.client.post("/dashboard/account/profile", data={"name": "Hacker"})
    assert no_csrf.status_code == 403
    assert (await member_row(db, dev.member.id)).name == "Ngozi Okafor"


async def test_change_password_needs_the_current_one_and_signs_other_sessions_out(
    dash_as: Any, db: Database, clock: FrozenClock, tenant: TenantKeys
) -> None:
    dev = await dash_as(tenant, "read_only")
    await second_session(db, clock, dev)
    assert len(await session_rows(db, dev.member.id)) == 2

    wrong = await dev.post(
        "/dashboard/account/password",
        {"currentPassword": "not it at all", "newPassword": NEW_PASSWORD, "newPasswordConfirm": NEW_PASSWORD},
    )
    assert wrong.status_code == 422
    assert 'data-field="currentPassword"' in wrong.text
    weak = await dev.post(
        "/dashboard/account/password",
        {"currentPassword": PASSWORD, "newPassword": "1qaz2wsx3edc", "newPasswordConfirm": "1qaz2wsx3edc"},
    )
    assert weak.status_code == 422
    assert "is too common" in weak.text
    mismatch = await dev.post(
        "/dashboard/account/password",
        {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD, "newPasswordConfirm": NEW_PASSWORD + "x"},
    )
    assert mismatch.status_code == 422
    assert 'data-field="newPasswordConfirm"' in mismatch.text
    assert verify_password((await member_row(db, dev.member.id)).password_hash, PASSWORD)
    assert len(await session_rows(db, dev.member.id)) == 2

    done = await dev.post(
        "/dashboard/account/password",
        {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD, "newPasswordConfirm": NEW_PASSWORD},
    )
    assert done.status_code == 303
    row = await member_row(db, dev.member.id)
    assert verify_password(row.password_hash, NEW_PASSWORD)
    assert row.password_hash.startswith("$argon2id$")
    assert [s.id for s in await session_rows(db, dev.member.id)] == [dev.session_id]
    assert (await dev.get("/dashboard/account")).status_code == 200  # this session goes on
    assert "member.password_changed" in await audit_actions(db, tenant.id)


async def test_wrong_current_passwords_are_limited(dash_as: Any, db: Database, tenant: TenantKeys) -> None:
    dev = await dash_as(tenant, "developer")
    form = {"currentPassword": "wrong wrong wrong", "newPassword": NEW_PASSWORD, "newPasswordConfirm": NEW_PASSWORD}
    for _ in range(5):
        assert (await dev.post("/dashboard/account/password", form)).status_code == 422
    limited = await dev.post("/dashboard/account/password", {**form, "currentPassword": PASSWORD})
    assert limited.status_code == 429
    assert verify_password((await member_row(db, dev.member.id)).password_hash, PASSWORD)


async def test_revoke_one_session_then_all_others(
    dash_as: Any, db: Database, clock: FrozenClock, tenant: TenantKeys
) -> None:
    dev = await dash_as(tenant, "finance")
    first = await second_session(db, clock, dev)
    second = await second_session(db, clock, dev)
    one = await dev.post(f"/dashboard/account/sessions/{first}/revoke")
    assert one.status_code == 303
    assert {s.id for s in await session_rows(db, dev.member.id)} == {dev.session_id, second}
    own = await dev.post(f"/dashboard/account/sessions/{dev.session_id}/revoke")
    assert own.status_code == 303
    assert len(await session_rows(db, dev.member.id)) == 2
    everyone = await dev.post("/dashboard/account/sessions/revoke-others")
    assert everyone.status_code == 303
    assert [s.id for s in await session_rows(db, dev.member.id)] == [dev.session_id]
    page = await dev.get("/dashboard/account")
    assert "1 other session signed out." in page.text
    assert "No other sessions are signed in." in page.text


async def test_another_members_session_cannot_be_revoked(dash_as: Any, db: Database, tenant: TenantKeys) -> None:
    dev = await dash_as(tenant, "developer")
    fin = await dash_as(tenant, "finance")
    response = await dev.post(f"/dashboard/account/sessions/{fin.session_id}/revoke")
    assert response.status_code == 303
    assert [s.id for s in await session_rows(db, fin.member.id)] == [fin.session_id]


# --- security page ---


async def test_security_page_without_2fa_links_to_enrolment(dash_as: Any, tenant: TenantKeys) -> None:
    dev = await dash_as(tenant, "developer")
    page = await dev.get("/dashboard/account/security")
    assert page.status_code == 200
    assert 'data-testid="2fa-off"' in page.text
    assert 'href="/dashboard/2fa/enrol"' in page.text


async def test_regenerated_codes_replace_the_old_ones_and_each_works_once(
    dash_as: Any, db: Database, settings: Settings, clock: FrozenClock, tenant: TenantKeys, client: httpx.AsyncClient
) -> None:
    fin = await dash_as(tenant, "finance")
    secret = await enrol(db, settings, fin.member.id, ("abcde-fghj2", "abcde-fghj3", "abcde-fghj4"))
    page = await fin.get("/dashboard/account/security")
    assert "<strong>3</strong> recovery codes left." in page.text
    assert 'action="/dashboard/account/security/disable"' in page.text

    wrong = await fin.post("/dashboard/account/security/recovery-codes", {"code": "000000"})
    assert wrong.status_code == 422
    assert 'data-testid="security-error"' in wrong.text
    made = await fin.post("/dashboard/account/security/recovery-codes", {"code": totp(secret, clock)})
    assert made.status_code == 200
    assert made.headers["cache-control"] == "no-store"
    found = _CODES.search(made.text)
    assert found
    codes = found.group(1).split()
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert "<strong>10</strong> recovery codes left." in made.text
    assert "member.two_factor_enrolled" in await audit_actions(db, tenant.id)
    # The same TOTP code cannot be used twice.
    replay = await fin.post("/dashboard/account/security/recovery-codes", {"code": totp(secret, clock)})
    assert replay.status_code == 422

    download = await fin.post("/dashboard/account/security/recovery-codes.txt", {"codes": " ".join(codes)})
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/plain")
    assert "attachment" in download.headers["content-disposition"]
    assert download.headers["content-disposition"].endswith('.txt"')
    assert all(c in download.text for c in codes)

    async def sign_in_with(code: str) -> httpx.Response:
        client.cookies.clear()
        started = await login(client, fin.member.email)
        assert started.headers["location"] == "/dashboard/2fa/verify"
        token = await form_token(client, "/dashboard/2fa/verify")
        return await client.post("/dashboard/2fa/verify", data={"csrf_token": token, "code": code})

    old = await sign_in_with("abcde-fghj2")
    assert old.status_code == 422  # the old codes stopped working
    new = await sign_in_with(codes[0])
    assert new.status_code == 200, new.text
    assert "9 recovery codes left." in new.text
    again = await sign_in_with(codes[0])
    assert again.status_code == 422  # single use


async def test_disabling_2fa_needs_a_code_and_a_role_that_allows_it(
    dash_as: Any, db: Database, settings: Settings, clock: FrozenClock, tenant: TenantKeys
) -> None:
    fin = await dash_as(tenant, "finance")
    secret = await enrol(db, settings, fin.member.id, ("abcde-fghj2",))
    bad = await fin.post("/dashboard/account/security/disable", {"code": "123456"})
    assert bad.status_code == 422
    assert (await member_row(db, fin.member.id)).totp_enabled_at is not None
    off = await fin.post("/dashboard/account/security/disable", {"code": totp(secret, clock)})
    assert off.status_code == 303
    row = await member_row(db, fin.member.id)
    assert (row.totp_enabled_at, row.totp_secret_enc) == (None, None)
    async with db.core_transaction() as conn:
        assert await twofactor.remaining_recovery_codes(conn, fin.member.id) == 0
    assert 'data-testid="2fa-off"' in (await fin.get("/dashboard/account/security")).text

    admin = await dash_as(tenant, "admin")
    admin_secret = await enrol(db, settings, admin.member.id)
    page = await admin.get("/dashboard/account/security")
    assert 'action="/dashboard/account/security/disable"' not in page.text
    assert "requires two-factor authentication" in page.text
    refused = await admin.post("/dashboard/account/security/disable", {"code": totp(admin_secret, clock)})
    assert refused.status_code == 403
    assert (await member_row(db, admin.member.id)).totp_enabled_at is not None


async def test_security_actions_need_the_csrf_token(
    dash_as: Any, db: Database, settings: Settings, clock: FrozenClock, tenant: TenantKeys
) -> None:
    fin = await dash_as(tenant, "finance")
    secret = await enrol(db, settings, fin.member.id)
    response = await fin.client.post("/dashboard/account/security/disable", data={"code": totp(secret, clock)})
    assert response.status_code == 403
    assert (await member_row(db, fin.member.id)).totp_enabled_at is not None


# --- password reset requests ---


async def reset_emails(db: Database) -> int:
    async with db.core_transaction() as conn:
        stmt = select(platform_notifications.c.id).where(platform_notifications.c.template_key == "password_reset")
        return len((await conn.execute(stmt)).all())


async def test_reset_requests_are_limited_per_email_and_per_ip_without_telling(
    client: httpx.AsyncClient, db: Database, tenant: TenantKeys, add_member: Any
) -> None:
    await add_member(tenant, "known@example.com", "developer")
    token = await form_token(client, "/dashboard/password/forgot")

    async def forgot(email: str) -> str:
        response = await client.post("/dashboard/password/forgot", data={"csrf_token": token, "email": email})
        assert response.status_code == 200
        return response.text

    answers = {await forgot(tenant.owner_email) for _ in range(4)}
    assert await reset_emails(db) == 3  # the fourth for this address sent nothing
    for n in range(6):  # this IP's requests 5-10
        answers.add(await forgot(f"n{n}@example.com"))
    answers.add(await forgot("known@example.com"))  # the eleventh from this IP
    assert await reset_emails(db) == 3
    assert len(answers) == 1  # every answer is the same "sent" page
