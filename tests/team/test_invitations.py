"""Invitations (02 §8.1): invite, resend, revoke, accept — happy paths, audit rows and every refusal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from duro.db.engine import Database
from duro.kit.clock import FrozenClock
from duro.kit.crypto import sha256_hex
from duro.kit.errors import DuroError
from duro.models.dashboard import invitations
from duro.models.notifications import platform_notifications
from duro.team import service
from duro.team.service import IssuedInvitation
from duro.tenants.passwords import verify_password
from tests.team.conftest import META, PUBLIC_URL, ROLES, Team, add_member, audit_rows, fetch, in_core

PASSWORD = "a long enough passphrase"


async def invite(db: Database, team: Team, clock: FrozenClock, email: str, role: str = "developer") -> IssuedInvitation:
    return await in_core(db, service.invite, team["admin"], clock, META, email=email, role=role, public_url=PUBLIC_URL)


async def invite_emails(db: Database, tenant_id: str) -> list[str]:
    rows = await fetch(
        db,
        select(platform_notifications)
        .where(
            platform_notifications.c.tenant_id == tenant_id, platform_notifications.c.template_key == "member_invite"
        )
        .order_by(platform_notifications.c.created_at, platform_notifications.c.id),
    )
    return [f"{r.recipient}|{r.body_text}" for r in rows]


async def test_invite_stores_hash_queues_email_and_audits(db: Database, team: Team, clock: FrozenClock) -> None:
    issued = await invite(db, team, clock, "  New.Dev@Example.com ", "finance")
    inv = issued.invitation
    assert inv.id.startswith("invite_")
    assert inv.email == "new.dev@example.com"
    assert inv.role == "finance"
    assert inv.invited_by == team["admin"].id
    assert inv.expires_at == clock.now() + timedelta(days=7)
    assert len(issued.token) == 43
    assert issued.token.isalnum()
    assert inv.token_hash == sha256_hex(issued.token)
    assert issued.link == f"{PUBLIC_URL}/dashboard/invite/{issued.token}"
    stored = await fetch(db, select(invitations).where(invitations.c.id == inv.id))
    assert issued.token not in str(dict(stored[0]))  # only the hash is stored

    (email,) = await invite_emails(db, team.tenant_id)
    assert email.startswith("new.dev@example.com|")
    assert issued.link in email
    assert "Acme Ltd" in email

    (entry,) = await audit_rows(db, team.tenant_id)
    assert entry.action == "member.invited"
    assert (entry.actor_type, entry.actor_id, entry.actor_label) == ("member", team["admin"].id, "admin@acme.example")
    assert (entry.target_type, entry.target_id) == ("invitation", inv.id)
    assert entry.before is None
    assert entry.after == {"email": "new.dev@example.com", "role": "finance", "expiresAt": "2025-03-08T09:00:00.000Z"}
    assert (entry.ip, entry.user_agent, entry.request_id) == ("203.0.113.7", "pytest-browser", "req_team_test")
    assert entry.mode is None
    assert issued.token not in str(dict(entry))


@pytest.mark.parametrize("role", ["admin", "developer", "finance", "read_only"])
async def test_each_assignable_role_can_be_invited(db: Database, team: Team, clock: FrozenClock, role: str) -> None:
    issued = await invite(db, team, clock, f"x-{role}@example.com", role)
    assert issued.invitation.role == role


@pytest.mark.parametrize("role", ["owner", "superuser", "", "Admin"])
async def test_invite_refuses_other_roles(db: Database, team: Team, clock: FrozenClock, role: str) -> None:
    with pytest.raises(DuroError) as caught:
        await invite(db, team, clock, "someone@example.com", role)
    assert caught.value.status == 422
    assert [d.path for d in caught.value.details] == ["role"]
    assert await fetch(db, select(invitations)) == []
    assert await audit_rows(db, team.tenant_id) == []


async def test_invite_refuses_bad_email(db: Database, team: Team, clock: FrozenClock) -> None:
    with pytest.raises(DuroError) as caught:
        await invite(db, team, clock, "not-an-email")
    assert caught.value.status == 422
    assert [d.path for d in caught.value.details] == ["email"]


async def test_invite_refuses_email_of_a_member_in_any_tenant(
    db: Database, team: Team, clock: FrozenClock, make_tenant: object
) -> None:
    other = await make_tenant("Other Co")  # type: ignore[operator]
    for email in ["developer@acme.example", "DEVELOPER@acme.example", other.owner_email]:
        with pytest.raises(DuroError) as caught:
            await invite(db, team, clock, email)
        assert (caught.value.status, caught.value.reason) == (409, "duplicate_email")
    assert await fetch(db, select(invitations)) == []
    assert await invite_emails(db, team.tenant_id) == []
    assert await audit_rows(db, team.tenant_id) == []


@pytest.mark.parametrize("role", ["developer", "finance", "read_only"])
async def test_roles_without_member_manage_cannot_touch_invitations(
    db: Database, team: Team, clock: FrozenClock, role: str
) -> None:
    issued = await invite(db, team, clock, "pending@example.com")
    actor = team[role]
    attempts = [
        lambda conn: service.invite(
            conn, actor, clock, META, email="x@example.com", role="developer", public_url=PUBLIC_URL
        ),
        lambda conn: service.resend(
            conn, actor, clock, META, invitation_id=issued.invitation.id, public_url=PUBLIC_URL
        ),
        lambda conn: service.revoke(conn, actor, clock, META, invitation_id=issued.invitation.id),
    ]
    for attempt in attempts:
        with pytest.raises(DuroError) as caught:
            async with db.core_transaction() as conn:
                await attempt(conn)
        assert (caught.value.status, caught.value.reason) == (403, "insufficient_permission")
    rows = await fetch(db, select(invitations))
    assert [(r.id, r.token_hash, r.revoked_at) for r in rows] == [
        (issued.invitation.id, issued.invitation.token_hash, None)
    ]
    assert len(await audit_rows(db, team.tenant_id)) == 1


async def test_owner_can_invite(db: Database, team: Team, clock: FrozenClock) -> None:
    issued = await in_core(
        db,
        service.invite,
        team["owner"],
        clock,
        META,
        email="by-owner@example.com",
        role="admin",
        public_url=PUBLIC_URL,
    )
    (entry,) = await audit_rows(db, team.tenant_id)
    assert (entry.actor_id, entry.target_id) == (team["owner"].id, issued.invitation.id)


async def test_accept_creates_member_and_audits(db: Database, team: Team, clock: FrozenClock) -> None:
    issued = await invite(db, team, clock, "joiner@example.com", "finance")
    clock.advance(timedelta(days=1))
    member = await in_core(db, service.accept, issued.token, "  Jo Iner ", PASSWORD, clock, META)
    assert member.id.startswith("mem_")
    assert (member.tenant_id, member.email, member.name, member.role) == (
        team.tenant_id,
        "joiner@example.com",
        "Jo Iner",
        "finance",
    )
    assert member.password_hash.startswith("$argon2id$")
    assert verify_password(member.password_hash, PASSWORD)
    assert member.totp_enabled_at is None
    (inv,) = await fetch(db, select(invitations).where(invitations.c.id == issued.invitation.id))
    assert inv.accepted_at == clock.now()

    joined = (await audit_rows(db, team.tenant_id))[-1]
    assert joined.action == "member.joined"
    assert (joined.actor_type, joined.actor_id, joined.actor_label) == ("member", member.id, "joiner@example.com")
    assert (joined.target_type, joined.target_id) == ("member", member.id)
    assert joined.after == {
        "email": "joiner@example.com",
        "name": "Jo Iner",
        "role": "finance",
        "invitationId": issued.invitation.id,
    }
    assert PASSWORD not in str(dict(joined))
    assert member.password_hash not in str(dict(joined))
    assert joined.request_id == "req_team_test"


async def test_accepted_token_is_single_use(db: Database, team: Team, clock: FrozenClock) -> None:
    issued = await invite(db, team, clock, "once@example.com")
    await in_core(db, service.accept, issued.token, "Once", PASSWORD, clock)
    with pytest.raises(DuroError) as caught:
        await in_core(db, service.accept, issued.token, "Twice", PASSWORD + "!", clock)
    assert (caught.value.status, caught.value.reason) == (409, "invitation_used")
    assert [r.action for r in await audit_rows(db, team.tenant_id)] == ["member.invited", "member.joined"]


async def test_token_expires_after_seven_days(db: Database, team: Team, clock: FrozenClock) -> None:
    late = await invite(db, team, clock, "late@example.com")
    just_in_time = await invite(db, team, clock, "ontime@example.com")
    clock.advance(timedelta(days=7) - timedelta(milliseconds=1))
    await in_core(db, service.accept, just_in_time.token, "On Time", PASSWORD, clock)
    clock.advance(timedelta(milliseconds=1))
    with pytest.raises(DuroError) as caught:
        await in_core(db, service.accept, late.token, "Late", PASSWORD, clock)
    assert (caught.value.status, caught.value.reason) == (409, "invitation_expired")
    emails = {r.email for r in await in_core(db, service.list_members, team["admin"])}
    assert "late@example.com" not in emails
    assert "ontime@example.com" in emails


@pytest.mark.parametrize("token", ["", "short", "A" * 43, "!" * 43, "A" * 44])
async def test_unknown_or_malformed_token_is_404(db: Database, team: Team, clock: FrozenClock, token: str) -> None:
    await invite(db, team, clock, "someone@example.com")
    with pytest.raises(DuroError) as caught:
        await in_core(db, service.accept, token, "Someone", PASSWORD, clock)
    assert (caught.value.status, caught.value.reason) == (404, "resource_missing")


@pytest.mark.parametrize(
    ("name", "password", "paths"),
    [
        ("Someone", "short pass", ["password"]),
        ("Someone", "x" * 129, ["password"]),
        ("Someone", "Someone@Example.com", ["password"]),
        ("   ", PASSWORD, ["name"]),
        ("n" * 121, "tiny", ["name", "password"]),
    ],
)
async def test_accept_validates_name_and_password(
    db: Database, team: Team, clock: FrozenClock, name: str, password: str, paths: list[str]
) -> None:
    issued = await invite(db, team, clock, "someone@example.com")
    with pytest.raises(DuroError) as caught:
        await in_core(db, service.accept, issued.token, name, password, clock)
    assert caught.value.status == 422
    assert [d.path for d in caught.value.details] == paths
    # the token was not consumed: a valid retry works
    member = await in_core(db, service.accept, issued.token, "Someone", PASSWORD, clock)
    assert member.email == "someone@example.com"


async def test_password_of_exactly_12_and_128_characters_is_accepted(
    db: Database, team: Team, clock: FrozenClock
) -> None:
    a = await invite(db, team, clock, "a@example.com")
    b = await invite(db, team, clock, "b@example.com")
    assert (await in_core(db, service.accept, a.token, "A", "x" * 12, clock)).email == "a@example.com"
    assert (await in_core(db, service.accept, b.token, "B", "y" * 128, clock)).email == "b@example.com"


async def test_accept_refuses_email_that_joined_meanwhile(db: Database, team: Team, clock: FrozenClock) -> None:
    first = await invite(db, team, clock, "twice@example.com")
    second = await invite(db, team, clock, "twice@example.com", "read_only")
    await in_core(db, service.accept, first.token, "Twice", PASSWORD, clock)
    with pytest.raises(DuroError) as caught:
        await in_core(db, service.accept, second.token, "Twice", PASSWORD, clock)
    assert (caught.value.status, caught.value.reason) == (409, "duplicate_email")


async def test_resend_issues_new_token_and_kills_the_old_one(db: Database, team: Team, clock: FrozenClock) -> None:
    issued = await invite(db, team, clock, "resend@example.com")
    clock.advance(timedelta(days=8))  # an expired invitation can be resent
    again = await in_core(
        db, service.resend, team["admin"], clock, META, invitation_id=issued.invitation.id, public_url=PUBLIC_URL
    )
    assert again.invitation.id == issued.invitation.id
    assert again.token != issued.token
    assert again.invitation.token_hash == sha256_hex(again.token)
    assert again.invitation.expires_at == clock.now() + timedelta(days=7)
    emails = await invite_emails(db, team.tenant_id)
    assert len(emails) == 2
    assert again.link in emails[1]

    entry = (await audit_rows(db, team.tenant_id))[-1]
    assert entry.action == "member.invited"
    assert (entry.target_type, entry.target_id) == ("invitation", issued.invitation.id)
    assert entry.before == {"expiresAt": "2025-03-08T09:00:00.000Z"}
    assert entry.after == {"expiresAt": "2025-03-16T09:00:00.000Z", "resent": True}

    with pytest.raises(DuroError) as caught:
        await in_core(db, service.accept, issued.token, "Old", PASSWORD, clock)
    assert caught.value.status == 404
    member = await in_core(db, service.accept, again.token, "New", PASSWORD, clock)
    assert member.email == "resend@example.com"


async def test_revoke_kills_the_token_and_audits(db: Database, team: Team, clock: FrozenClock) -> None:
    issued = await invite(db, team, clock, "revoked@example.com", "admin")
    revoked = await in_core(db, service.revoke, team["admin"], clock, META, invitation_id=issued.invitation.id)
    assert revoked.revoked_at == clock.now()
    entry = (await audit_rows(db, team.tenant_id))[-1]
    assert entry.action == "member.invite_revoked"
    assert (entry.actor_id, entry.target_type, entry.target_id) == (
        team["admin"].id,
        "invitation",
        issued.invitation.id,
    )
    assert entry.before == {"email": "revoked@example.com", "role": "admin"}
    assert entry.after == {"revokedAt": "2025-03-01T09:00:00.000Z"}
    with pytest.raises(DuroError) as caught:
        await in_core(db, service.accept, issued.token, "Nope", PASSWORD, clock)
    assert caught.value.status == 404
    assert await in_core(db, service.list_pending_invitations, team["read_only"], clock) == []


async def test_revoke_and_resend_refuse_finished_invitations(db: Database, team: Team, clock: FrozenClock) -> None:
    revoked = await invite(db, team, clock, "r@example.com")
    accepted = await invite(db, team, clock, "a@example.com")
    await in_core(db, service.revoke, team["admin"], clock, META, invitation_id=revoked.invitation.id)
    await in_core(db, service.accept, accepted.token, "A", PASSWORD, clock)
    admin = team["admin"]
    for inv_id, expected in [
        (revoked.invitation.id, (404, "resource_missing")),
        (accepted.invitation.id, (409, "invitation_used")),
    ]:
        for call in (
            lambda c, i=inv_id: service.revoke(c, admin, clock, META, invitation_id=i),
            lambda c, i=inv_id: service.resend(c, admin, clock, META, invitation_id=i, public_url=PUBLIC_URL),
        ):
            with pytest.raises(DuroError) as caught:
                async with db.core_transaction() as conn:
                    await call(conn)
            assert (caught.value.status, caught.value.reason) == expected


async def test_other_tenants_invitation_is_404(
    db: Database, team: Team, clock: FrozenClock, make_tenant: object
) -> None:
    issued = await invite(db, team, clock, "mine@example.com")
    other = await make_tenant("Other Co")  # type: ignore[operator]
    intruder = await add_member(db, other.id, "admin", "intruder@other.example")
    with pytest.raises(DuroError) as caught:
        await in_core(db, service.revoke, intruder, clock, META, invitation_id=issued.invitation.id)
    assert caught.value.status == 404
    (row,) = await fetch(db, select(invitations).where(invitations.c.id == issued.invitation.id))
    assert row.revoked_at is None


async def test_pending_list_excludes_accepted_revoked_and_expired(db: Database, team: Team, clock: FrozenClock) -> None:
    keep = await invite(db, team, clock, "keep@example.com")
    gone = await invite(db, team, clock, "gone@example.com")
    used = await invite(db, team, clock, "used@example.com")
    await in_core(db, service.revoke, team["admin"], clock, META, invitation_id=gone.invitation.id)
    await in_core(db, service.accept, used.token, "Used", PASSWORD, clock)
    for role in ROLES:
        pending = await in_core(db, service.list_pending_invitations, team[role], clock)
        assert [p.id for p in pending] == [keep.invitation.id]
    clock.advance(timedelta(days=7))
    assert await in_core(db, service.list_pending_invitations, team["admin"], clock) == []


async def test_open_list_keeps_expired_invitations_for_resend(db: Database, team: Team, clock: FrozenClock) -> None:
    keep = await invite(db, team, clock, "keep@example.com")
    gone = await invite(db, team, clock, "gone@example.com")
    used = await invite(db, team, clock, "used@example.com")
    await in_core(db, service.revoke, team["admin"], clock, META, invitation_id=gone.invitation.id)
    await in_core(db, service.accept, used.token, "Used", PASSWORD, clock)
    clock.advance(timedelta(days=7))
    for role in ROLES:
        listed = await in_core(db, service.list_open_invitations, team[role])
        assert [p.id for p in listed] == [keep.invitation.id]
    assert listed[0].expires_at <= clock.now()
