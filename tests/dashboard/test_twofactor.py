"""Two-factor authentication (02 §5, §4): enrolment with a QR code and recovery codes, verification of
`pending_2fa` sessions with TOTP (t-1..t+1, no replay) or recovery codes, lockout, token rotation, expiry."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pyotp
from sqlalchemy import insert, select, update

from duro.config import Settings
from duro.dashboard import twofactor
from duro.db.engine import Database
from duro.kit.clock import FrozenClock
from duro.kit.crypto import sha256_hex
from duro.kit.ids import new_id
from duro.models.core import members, tenants
from duro.models.dashboard import recovery_codes
from duro.models.webhooks import webhook_endpoints
from tests.analytics.seed import Seed
from tests.conftest import TenantKeys
from tests.dashboard.conftest import NOW, PASSWORD, audit_actions, csrf_of, form_token, login, session_rows

SIGNUP = {"business_name": "Acme Two", "name": "Ada Obi", "email": "ada@example.com", "password": PASSWORD}
_SECRET = re.compile(r'<code class="secret">([A-Z2-7]{32})</code>')
_PENDING = re.compile(r'name="pending" value="([^"]+)"')
_CODES = re.compile(r'<pre class="recovery-codes">(.*?)</pre>', re.S)


def code_at(secret: str, at: Any, steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(at + timedelta(seconds=30 * steps))


async def signup(client: httpx.AsyncClient) -> httpx.Response:
    token = await form_token(client, "/dashboard/signup")
    return await client.post("/dashboard/signup", data={**SIGNUP, "csrf_token": token})


async def member_row(db: Database, email: str) -> Any:
    async with db.core_transaction() as conn:
        return (await conn.execute(select(members).where(members.c.email == email))).one()


async def open_enrolment(client: httpx.AsyncClient) -> tuple[str, str, str]:
    page = await client.get("/dashboard/2fa/enrol")
    assert page.status_code == 200, page.text
    secret = _SECRET.search(page.text)
    pending = _PENDING.search(page.text)
    assert secret
    assert pending
    return secret.group(1), pending.group(1), csrf_of(page.text)


async def enrolled_member(db: Database, settings: Settings, add_member: Any, tenant: TenantKeys, email: str) -> str:
    """A finance member with a real TOTP secret and recovery codes `rc-<n>`; returns the secret."""
    member = await add_member(tenant, email, role="finance")
    secret = twofactor.new_secret()
    async with db.core_transaction() as conn:
        await conn.execute(
            update(members)
            .where(members.c.id == member.id)
            .values(totp_secret_enc=twofactor.seal_at_rest(settings, member.id, secret), totp_enabled_at=NOW)
        )
        for n in range(3):
            await conn.execute(
                recovery_codes.insert().values(
                    id=f"rec_{n}{member.id}",
                    member_id=member.id,
                    code_hmac=twofactor.recovery_hmac(settings, f"abcde-fghj{n}"),
                    created_at=NOW,
                )
            )
    return secret


async def submit_code(client: httpx.AsyncClient, code: str) -> httpx.Response:
    page = await client.get("/dashboard/2fa/verify")
    assert page.status_code == 200, page.text
    return await client.post("/dashboard/2fa/verify", data={"csrf_token": csrf_of(page.text), "code": code})


# --- enrolment ---


async def test_owner_signup_must_enrol_then_reaches_home(
    client: httpx.AsyncClient, db: Database, settings: Settings, clock: FrozenClock
) -> None:
    assert (await signup(client)).headers["location"] == "/dashboard/2fa/enrol"
    assert (await client.get("/dashboard")).headers["location"] == "/dashboard/2fa/enrol"
    page = await client.get("/dashboard/2fa/enrol")
    assert page.status_code == 200
    found = _SECRET.search(page.text)
    assert found
    pending_field = _PENDING.search(page.text)
    assert pending_field
    secret, pending, csrf = found.group(1), pending_field.group(1), csrf_of(page.text)
    assert "<svg" in page.text
    assert "<script" not in page.text
    assert f"otpauth://totp/Duro:ada@example.com?secret={secret}&amp;issuer=Duro" in page.text
    old_token = client.cookies["duro_session"]

    wrong = await client.post("/dashboard/2fa/enrol", data={"csrf_token": csrf, "pending": pending, "code": "000000"})
    assert wrong.status_code == 422
    assert "That code is not valid" in wrong.text
    assert secret in wrong.text  # the same secret stays on the page: no need to rescan
    assert (await member_row(db, "ada@example.com")).totp_enabled_at is None

    no_csrf = await client.post("/dashboard/2fa/enrol", data={"pending": pending, "code": code_at(secret, NOW)})
    assert no_csrf.status_code == 403

    done = await client.post(
        "/dashboard/2fa/enrol", data={"csrf_token": csrf, "pending": pending, "code": code_at(secret, NOW)}
    )
    assert done.status_code == 200, done.text
    assert done.headers["cache-control"] == "no-store"
    codes_block = _CODES.search(done.text)
    assert codes_block
    codes = codes_block.group(1).split()
    assert len(codes) == 10
    assert len(set(codes)) == 10

    owner = await member_row(db, "ada@example.com")
    assert owner.totp_enabled_at == NOW
    assert owner.totp_last_used_step == twofactor.current_step(NOW)
    assert secret.encode() not in bytes(owner.totp_secret_enc)
    assert twofactor.open_at_rest(settings, owner.id, owner.totp_secret_enc) == secret
    async with db.core_transaction() as conn:
        stored = [r.code_hmac for r in (await conn.execute(select(recovery_codes))).all()]
    assert sorted(stored) == sorted(twofactor.recovery_hmac(settings, c) for c in codes)
    assert not set(codes) & set(stored)

    new_token = client.cookies["duro_session"]
    assert new_token != old_token
    [row] = await session_rows(db, owner.id)
    assert (row.token_hash, row.state) == (sha256_hex(new_token), "active")
    assert "member.two_factor_enrolled" in await audit_actions(db, owner.tenant_id)
    home = await client.get("/dashboard")
    assert home.status_code == 200
    # Shown once: the enrolment page is gone for an enrolled member, and nothing else shows the codes.
    again = await client.get("/dashboard/2fa/enrol")
    assert (again.status_code, again.headers["location"]) == (303, "/dashboard")


async def test_enrolment_secret_is_bound_to_its_session_and_get_stores_nothing(
    client: httpx.AsyncClient, db: Database
) -> None:
    await signup(client)
    secret, pending, csrf = await open_enrolment(client)
    assert (await member_row(db, "ada@example.com")).totp_secret_enc is None
    tampered = pending[:-4] + ("AAAA" if not pending.endswith("AAAA") else "BBBB")
    response = await client.post(
        "/dashboard/2fa/enrol", data={"csrf_token": csrf, "pending": tampered, "code": code_at(secret, NOW)}
    )
    assert response.status_code == 422
    assert "setup form expired" in response.text
    assert (await member_row(db, "ada@example.com")).totp_enabled_at is None


# --- verification ---


async def test_totp_member_verifies_and_the_token_rotates(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantKeys, add_member: Any
) -> None:
    secret = await enrolled_member(db, settings, add_member, tenant, "fin@example.com")
    response = await login(client, "fin@example.com")
    assert response.headers["location"] == "/dashboard/2fa/verify"
    pending_token = client.cookies["duro_session"]
    member = await member_row(db, "fin@example.com")
    [row] = await session_rows(db, member.id)
    assert row.state == "pending_2fa"

    done = await submit_code(client, code_at(secret, NOW))
    assert (done.status_code, done.headers["location"]) == (303, "/dashboard")
    active_token = client.cookies["duro_session"]
    assert active_token != pending_token
    [row] = await session_rows(db, member.id)
    assert (row.token_hash, row.state) == (sha256_hex(active_token), "active")
    assert (await client.get("/dashboard")).status_code == 200
    # The pending token is dead (fixation): presenting it again leads to the login page.
    client.cookies.set("duro_session", pending_token)
    assert (await client.get("/dashboard")).headers["location"].startswith("/dashboard/login")


async def test_replay_is_refused_and_the_window_is_t_minus_1_to_t_plus_1(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantKeys, add_member: Any
) -> None:
    secret = await enrolled_member(db, settings, add_member, tenant, "fin@example.com")
    await login(client, "fin@example.com")
    assert (await submit_code(client, code_at(secret, NOW, -1))).headers["location"] == "/dashboard"

    await login(client, "fin@example.com")
    replay = await submit_code(client, code_at(secret, NOW, -1))
    assert replay.status_code == 422
    assert "4 attempts left" in replay.text
    assert (await submit_code(client, code_at(secret, NOW, 2))).status_code == 422  # t+2 is outside the window
    assert (await submit_code(client, code_at(secret, NOW, 1))).headers["location"] == "/dashboard"
    assert (await member_row(db, "fin@example.com")).totp_last_used_step == twofactor.current_step(NOW) + 1

    await login(client, "fin@example.com")  # t and t-1 are now older than the last used step
    assert (await submit_code(client, code_at(secret, NOW))).status_code == 422


async def test_match_step_window_and_replay_rule() -> None:
    secret = twofactor.new_secret()
    t = twofactor.current_step(NOW)
    assert len(secret) == 32
    assert twofactor.match_step(secret, code_at(secret, NOW, -1), NOW, None) == t - 1
    assert twofactor.match_step(secret, code_at(secret, NOW), NOW, None) == t
    assert twofactor.match_step(secret, code_at(secret, NOW, 1), NOW, None) == t + 1
    assert twofactor.match_step(secret, code_at(secret, NOW, 2), NOW, None) is None
    assert twofactor.match_step(secret, code_at(secret, NOW, -2), NOW, None) is None
    assert twofactor.match_step(secret, code_at(secret, NOW), NOW, t) is None
    assert twofactor.match_step(secret, code_at(secret, NOW, 1), NOW, t) == t + 1
    assert twofactor.match_step(secret, "12345", NOW, None) is None


async def test_recovery_codes_are_single_use_and_show_the_count(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantKeys, add_member: Any
) -> None:
    await enrolled_member(db, settings, add_member, tenant, "fin@example.com")
    await login(client, "fin@example.com")
    used = await submit_code(client, "ABCDE-FGHJ1")
    assert used.status_code == 200, used.text
    assert "2 recovery codes left." in used.text
    assert (await client.get("/dashboard")).status_code == 200

    await login(client, "fin@example.com")
    again = await submit_code(client, "abcde-fghj1")
    assert again.status_code == 422
    assert "not valid" in again.text
    last = await submit_code(client, "abcdefghj2")
    assert "1 recovery code left." in last.text


async def test_five_wrong_entries_end_the_session_as_a_failed_login(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantKeys, add_member: Any
) -> None:
    secret = await enrolled_member(db, settings, add_member, tenant, "fin@example.com")
    member = await member_row(db, "fin@example.com")
    await login(client, "fin@example.com")
    for left in (4, 3, 2, 1):
        response = await submit_code(client, "000000" if code_at(secret, NOW) != "000000" else "111111")
        assert response.status_code == 422
        assert f"{left} attempt" in response.text
    page = await client.get("/dashboard/2fa/verify")
    last = await client.post("/dashboard/2fa/verify", data={"csrf_token": csrf_of(page.text), "code": "wrong-code"})
    assert (last.status_code, last.headers["location"]) == (303, "/dashboard/login?2fa=failed")
    assert await session_rows(db, member.id) == []
    assert "duro_session" not in client.cookies
    actions = await audit_actions(db, tenant.id)
    assert actions[-1] == "session.login_failed"
    assert "Too many wrong two-factor codes" in (await client.get("/dashboard/login?2fa=failed")).text


async def test_pending_2fa_expires_after_five_minutes(
    client: httpx.AsyncClient, db: Database, settings: Settings, clock: FrozenClock, tenant: TenantKeys, add_member: Any
) -> None:
    secret = await enrolled_member(db, settings, add_member, tenant, "fin@example.com")
    await login(client, "fin@example.com")
    page = await client.get("/dashboard/2fa/verify")
    clock.advance(timedelta(minutes=5))
    late = await client.post(
        "/dashboard/2fa/verify", data={"csrf_token": csrf_of(page.text), "code": code_at(secret, clock.now())}
    )
    assert (late.status_code, late.headers["location"].startswith("/dashboard/login")) == (303, True)
    member = await member_row(db, "fin@example.com")
    assert await session_rows(db, member.id) == []
    assert member.totp_last_used_step is None


async def test_verify_needs_csrf_and_a_pending_session(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: TenantKeys, add_member: Any
) -> None:
    secret = await enrolled_member(db, settings, add_member, tenant, "fin@example.com")
    await login(client, "fin@example.com")
    refused = await client.post("/dashboard/2fa/verify", data={"code": code_at(secret, NOW)})
    assert refused.status_code == 403
    assert (await submit_code(client, code_at(secret, NOW))).headers["location"] == "/dashboard"
    assert (await client.get("/dashboard/2fa/verify")).headers["location"] == "/dashboard"


# --- after enrolment: download and where "Continue" leads ---

_CONTINUE = re.compile(r'<a href="([^"]+)" data-testid="continue">')


async def enrol_after_signup(client: httpx.AsyncClient) -> httpx.Response:
    await signup(client)
    secret, pending, csrf = await open_enrolment(client)
    done = await client.post(
        "/dashboard/2fa/enrol", data={"csrf_token": csrf, "pending": pending, "code": code_at(secret, NOW)}
    )
    assert done.status_code == 200, done.text
    return done


async def test_enrolment_codes_download_as_text_for_the_just_enrolled_session(client: httpx.AsyncClient) -> None:
    done = await enrol_after_signup(client)
    codes_block = _CODES.search(done.text)
    assert codes_block
    codes = codes_block.group(1).split()
    assert 'action="/dashboard/account/security/recovery-codes.txt"' in done.text
    assert f'name="codes" value="{" ".join(codes)}"' in done.text
    csrf = csrf_of(done.text)  # the rotated session's token, carried by the download form

    download = await client.post(
        "/dashboard/account/security/recovery-codes.txt", data={"csrf_token": csrf, "codes": " ".join(codes)}
    )
    assert download.status_code == 200, download.text
    assert download.headers["content-type"].startswith("text/plain")
    assert download.headers["content-disposition"] == 'attachment; filename="duro-recovery-codes.txt"'
    assert download.headers["cache-control"] == "no-store"
    assert download.text.split("\n\n", 1)[1].split() == codes

    no_csrf = await client.post("/dashboard/account/security/recovery-codes.txt", data={"codes": " ".join(codes)})
    assert no_csrf.status_code == 403
    assert codes[0] not in no_csrf.text
    # The pre-rotation session's token does not work either: the form belongs to the new session only.
    stale = await client.post(
        "/dashboard/account/security/recovery-codes.txt", data={"csrf_token": "x" * 43, "codes": " ".join(codes)}
    )
    assert stale.status_code == 403


async def test_a_new_owner_continues_to_onboarding_and_later_logins_land_on_the_overview(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    done = await enrol_after_signup(client)
    found = _CONTINUE.search(done.text)
    assert found
    assert found.group(1) == "/dashboard/onboarding"
    assert (await client.get("/dashboard/onboarding")).status_code == 200

    # A later sign-in goes to the overview as before, though onboarding is still incomplete.
    owner = await member_row(db, "ada@example.com")
    secret = twofactor.open_at_rest(settings, owner.id, owner.totp_secret_enc)
    assert secret
    page = await client.get("/dashboard")
    assert (await client.post("/dashboard/logout", data={"csrf_token": csrf_of(page.text)})).status_code == 303
    assert (await login(client, "ada@example.com")).headers["location"] == "/dashboard/2fa/verify"
    verified = await submit_code(client, code_at(secret, NOW, 1))
    assert (verified.status_code, verified.headers["location"]) == (303, "/dashboard")


async def test_continue_leads_to_the_overview_once_onboarding_is_complete_or_for_other_roles(
    client: httpx.AsyncClient, db: Database, tenant: TenantKeys, add_member: Any
) -> None:
    # An admin must enrol too, but onboarding is the owner's first run: the admin continues to the overview.
    await add_member(tenant, "adm@example.com", role="admin")
    assert (await login(client, "adm@example.com")).headers["location"] == "/dashboard/2fa/enrol"
    secret, pending, csrf = await open_enrolment(client)
    done = await client.post(
        "/dashboard/2fa/enrol", data={"csrf_token": csrf, "pending": pending, "code": code_at(secret, NOW)}
    )
    found = _CONTINUE.search(done.text)
    assert found
    assert found.group(1) == "/dashboard"

    # An owner whose checklist is complete (e.g. re-enrolling after an operator reset) goes to the overview.
    await Seed(db, tenant.id).plan(5_000)
    async with db.transaction("test") as conn:
        await conn.execute(
            insert(webhook_endpoints).values(
                id=new_id("we"),
                tenant_id=tenant.id,
                url="https://example.com/hooks",
                status="enabled",
                secret_ciphertext="x",
                secret_last4="abcd",
                created_at=NOW,
                updated_at=NOW,
            )
        )
    async with db.core_transaction() as conn:
        await conn.execute(
            update(tenants)
            .where(tenants.c.id == tenant.id)
            .values(kyc_status="pending", support_email="help@example.com")
        )
    client.cookies.clear()
    assert (await login(client, tenant.owner_email)).headers["location"] == "/dashboard/2fa/enrol"
    secret, pending, csrf = await open_enrolment(client)
    done = await client.post(
        "/dashboard/2fa/enrol", data={"csrf_token": csrf, "pending": pending, "code": code_at(secret, NOW)}
    )
    found = _CONTINUE.search(done.text)
    assert found
    assert found.group(1) == "/dashboard"
