"""Team and audit log screens (07 §3, §13; 02 §8–9) and the invitation accept page (07 §2): every change goes
through the team service, refusals come back with its status, each change is audited and shows on the audit page."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from duro.audit.service import record_core
from duro.context import Actor
from duro.db.engine import Database
from duro.kit.clock import FrozenClock
from duro.models.core import audit_logs, members
from duro.models.dashboard import invitations
from duro.models.notifications import platform_notifications
from tests.conftest import TenantKeys
from tests.dashboard.conftest import NOW, PASSWORD, csrf_of, session_rows

_LINK = re.compile(r"/dashboard/invite/([0-9A-Za-z]{43})")


async def member_row(db: Database, email: str) -> Any:
    async with db.core_transaction() as conn:
        return (await conn.execute(select(members).where(members.c.email == email))).first()


async def invitation_rows(db: Database, tenant_id: str) -> list[Any]:
    async with db.core_transaction() as conn:
        stmt = select(invitations).where(invitations.c.tenant_id == tenant_id).order_by(invitations.c.created_at)
        return list((await conn.execute(stmt)).all())


async def invite_token(db: Database, email: str) -> str:
    async with db.core_transaction() as conn:
        stmt = (
            select(platform_notifications.c.body_text)
            .where(
                platform_notifications.c.recipient == email, platform_notifications.c.template_key == "member_invite"
            )
            .order_by(platform_notifications.c.id.desc())
        )
        row = (await conn.execute(stmt)).first()
    assert row is not None
    body = row.body_text
    assert body is not None
    found = _LINK.search(body)
    assert found
    return found.group(1)


async def audit_rows(db: Database, tenant_id: str, action: str) -> list[Any]:
    async with db.core_transaction() as conn:
        stmt = select(audit_logs).where(audit_logs.c.tenant_id == tenant_id, audit_logs.c.action == action)
        return list((await conn.execute(stmt.order_by(audit_logs.c.id))).all())


def fresh_client(dash: Any) -> httpx.AsyncClient:
    """A browser with no session on the same app as `dash`."""
    return httpx.AsyncClient(transport=dash.client._transport, base_url="http://testserver")


async def accept(client: httpx.AsyncClient, token: str, name: str = "New Person", **extra: str) -> httpx.Response:
    page = await client.get(f"/dashboard/invite/{token}")
    assert page.status_code == 200, page.text
    data = {"csrf_token": csrf_of(page.text), "name": name, "password": PASSWORD, "password_confirm": PASSWORD}
    return await client.post(f"/dashboard/invite/{token}", data={**data, **extra})


# --- the team page ---


async def test_team_page_lists_members_marks_the_owner_and_who_lacks_2fa(
    dash_as: Any, tenant: TenantKeys, add_member: Any
) -> None:
    owner = await dash_as(tenant, "owner")
    dev = await add_member(tenant, "dev@example.com", "developer")
    page = await owner.get("/dashboard/team")
    assert page.status_code == 200
    html = page.text
    assert tenant.owner_email in html
    assert "dev@example.com" in html
    assert 'data-testid="owner-protected"' in html
    # The owner row carries no change/remove/reset form; the developer's row does.
    assert f"/dashboard/team/members/{owner.member.id}/" not in html
    assert f"/dashboard/team/members/{dev.id}/role" in html
    assert f"/dashboard/team/members/{dev.id}/remove" in html
    assert 'data-testid="no-2fa"' in html  # the developer has no 2FA
    assert 'data-testid="lacking-2fa"' in html
    assert 'action="/dashboard/team/invite"' in html
    assert "No pending invitations" in html


async def test_members_without_member_manage_see_the_team_but_no_buttons_and_are_refused(
    dash_as: Any, db: Database, tenant: TenantKeys, add_member: Any
) -> None:
    dev = await dash_as(tenant, "developer")
    other = await add_member(tenant, "fin@example.com", "finance")
    page = await dev.get("/dashboard/team")
    assert page.status_code == 200
    assert 'action="/dashboard/team/invite"' not in page.text
    assert f"/dashboard/team/members/{other.id}/" not in page.text
    assert "Audit log" not in page.text  # nav item hidden
    refused = await dev.post("/dashboard/team/invite", {"email": "x@example.com", "role": "finance"})
    assert refused.status_code == 403
    assert await invitation_rows(db, tenant.id) == []
    refused = await dev.post(f"/dashboard/team/members/{other.id}/remove")
    assert refused.status_code == 403
    assert await member_row(db, "fin@example.com") is not None


async def test_csrf_is_required_for_team_changes(dash_as: Any, db: Database, tenant: TenantKeys) -> None:
    owner = await dash_as(tenant, "owner")
    response = await owner.client.post("/dashboard/team/invite", data={"email": "x@example.com", "role": "finance"})
    assert response.status_code == 403
    assert await invitation_rows(db, tenant.id) == []


# --- invitations ---


async def test_invite_accept_signs_the_new_member_in_with_the_invited_role(
    dash_as: Any, db: Database, tenant: TenantKeys
) -> None:
    owner = await dash_as(tenant, "owner")
    sent = await owner.post("/dashboard/team/invite", {"email": "New.Fin@Example.com", "role": "finance"})
    assert sent.status_code == 303
    assert sent.headers["location"] == "/dashboard/team"
    team_page = await owner.get("/dashboard/team")
    assert "Invitation sent to new.fin@example.com" in team_page.text
    assert "new.fin@example.com" in team_page.text.split("Pending invitations", 1)[1]
    token = await invite_token(db, "new.fin@example.com")

    async with fresh_client(owner) as browser:
        form = await browser.get(f"/dashboard/invite/{token}")
        assert form.status_code == 200
        assert "new.fin@example.com" in form.text
        assert "finance" in form.text
        joined = await accept(browser, token, "Fin Person")
        assert joined.status_code == 303, joined.text
        assert joined.headers["location"] == "/dashboard"
        home = await browser.get("/dashboard")
        assert home.status_code == 200
        assert "(finance)" in home.text
    member = await member_row(db, "new.fin@example.com")
    assert (member.role, member.name, member.tenant_id) == ("finance", "Fin Person", tenant.id)
    [session] = await session_rows(db, member.id)
    assert session.state == "active"
    [joined_entry] = await audit_rows(db, tenant.id, "member.joined")
    assert joined_entry.actor_id == member.id
    # The link is single use.
    async with fresh_client(owner) as again:
        used = await again.get(f"/dashboard/invite/{token}")
        assert used.status_code == 409
        assert "already accepted" in used.text


async def test_an_invited_admin_goes_straight_to_2fa_enrolment(dash_as: Any, db: Database, tenant: TenantKeys) -> None:
    owner = await dash_as(tenant, "owner")
    assert (
        await owner.post("/dashboard/team/invite", {"email": "adm@example.com", "role": "admin"})
    ).status_code == 303
    token = await invite_token(db, "adm@example.com")
    async with fresh_client(owner) as browser:
        joined = await accept(browser, token)
        assert joined.headers["location"] == "/dashboard/2fa/enrol"
        assert (await browser.get("/dashboard/2fa/enrol")).status_code == 200
        assert (await browser.get("/dashboard/team")).headers["location"] == "/dashboard/2fa/enrol"


async def test_accept_validation_and_bad_links(dash_as: Any, db: Database, tenant: TenantKeys) -> None:
    owner = await dash_as(tenant, "owner")
    await owner.post("/dashboard/team/invite", {"email": "v@example.com", "role": "developer"})
    token = await invite_token(db, "v@example.com")
    async with fresh_client(owner) as browser:
        weak = await accept(browser, token, password="password", password_confirm="password")
        assert weak.status_code == 422
        assert 'data-field="password"' in weak.text
        mismatch = await accept(browser, token, password_confirm="something else entirely")
        assert mismatch.status_code == 422
        assert 'data-field="password_confirm"' in mismatch.text
        no_name = await accept(browser, token, name=" ")
        assert no_name.status_code == 422
        assert 'data-field="name"' in no_name.text
        assert await member_row(db, "v@example.com") is None
        unknown = await browser.get("/dashboard/invite/" + "A" * 43)
        assert unknown.status_code == 404
        assert (await browser.get("/dashboard/invite/short")).status_code == 404
        page = await browser.get(f"/dashboard/invite/{token}")
        no_csrf = await browser.post(f"/dashboard/invite/{token}", data={"name": "x", "password": PASSWORD})
        assert no_csrf.status_code == 403
        assert page.status_code == 200


async def test_expired_invitation_link(dash_as: Any, db: Database, tenant: TenantKeys, clock: FrozenClock) -> None:
    owner = await dash_as(tenant, "owner")
    await owner.post("/dashboard/team/invite", {"email": "late@example.com", "role": "developer"})
    token = await invite_token(db, "late@example.com")
    clock.advance(timedelta(days=7, seconds=1))
    async with fresh_client(owner) as browser:
        expired = await browser.get(f"/dashboard/invite/{token}")
        assert expired.status_code == 409
        assert "expired" in expired.text


async def test_invite_validation_and_duplicate_email_are_inline(
    dash_as: Any, db: Database, tenant: TenantKeys, add_member: Any
) -> None:
    owner = await dash_as(tenant, "owner")
    bad = await owner.post("/dashboard/team/invite", {"email": "not-an-email", "role": "owner"})
    assert bad.status_code == 422
    assert 'data-field="email"' in bad.text
    assert 'data-field="role"' in bad.text
    assert 'value="not-an-email"' in bad.text
    await add_member(tenant, "taken@example.com", "finance")
    dup = await owner.post("/dashboard/team/invite", {"email": "taken@example.com", "role": "finance"})
    assert dup.status_code == 409
    assert "A member with this email already exists." in dup.text
    assert await invitation_rows(db, tenant.id) == []


async def test_resend_and_revoke_an_invitation(dash_as: Any, db: Database, tenant: TenantKeys) -> None:
    admin = await dash_as(tenant, "admin")
    await admin.post("/dashboard/team/invite", {"email": "r@example.com", "role": "developer"})
    first = await invite_token(db, "r@example.com")
    [inv] = await invitation_rows(db, tenant.id)
    resent = await admin.post(f"/dashboard/team/invites/{inv.id}/resend")
    assert resent.status_code == 303
    second = await invite_token(db, "r@example.com")
    assert second != first
    async with fresh_client(admin) as browser:
        assert (await browser.get(f"/dashboard/invite/{first}")).status_code == 404
        assert (await browser.get(f"/dashboard/invite/{second}")).status_code == 200
    revoked = await admin.post(f"/dashboard/team/invites/{inv.id}/revoke")
    assert revoked.status_code == 303
    [inv] = await invitation_rows(db, tenant.id)
    assert inv.revoked_at is not None
    page = await admin.get("/dashboard/team")
    assert "Invitation for r@example.com revoked." in page.text
    assert "No pending invitations" in page.text
    async with fresh_client(admin) as browser:
        assert (await browser.get(f"/dashboard/invite/{second}")).status_code == 404
    again = await admin.post(f"/dashboard/team/invites/{inv.id}/revoke")
    assert again.status_code == 404
    assert [r.action for r in await audit_rows(db, tenant.id, "member.invite_revoked")] == ["member.invite_revoked"]


# --- members ---


async def test_the_owner_is_protected_on_the_server_too(dash_as: Any, db: Database, tenant: TenantKeys) -> None:
    admin = await dash_as(tenant, "admin")
    owner = await member_row(db, tenant.owner_email)
    demote = await admin.post(f"/dashboard/team/members/{owner.id}/role", {"role": "developer"})
    assert demote.status_code == 403
    assert "The owner cannot be demoted" in demote.text
    assert (await admin.post(f"/dashboard/team/members/{owner.id}/remove")).status_code == 403
    assert (await admin.post(f"/dashboard/team/members/{owner.id}/reset-2fa")).status_code == 403
    after = await member_row(db, tenant.owner_email)
    assert (after.role, after.totp_enabled_at) == ("owner", owner.totp_enabled_at)


async def test_nobody_removes_themselves_or_changes_their_own_role(
    dash_as: Any, db: Database, tenant: TenantKeys
) -> None:
    admin = await dash_as(tenant, "admin")
    page = await admin.get("/dashboard/team")
    assert f"/dashboard/team/members/{admin.member.id}/" not in page.text
    removed = await admin.post(f"/dashboard/team/members/{admin.member.id}/remove")
    assert removed.status_code == 403
    assert "You cannot change your own role, remove yourself" in removed.text
    role = await admin.post(f"/dashboard/team/members/{admin.member.id}/role", {"role": "finance"})
    assert role.status_code == 403
    assert (await member_row(db, admin.member.email)).role == "admin"


async def test_each_team_change_is_audited_and_shown_on_the_audit_screen(
    dash_as: Any, db: Database, tenant: TenantKeys, add_member: Any
) -> None:
    owner = await dash_as(tenant, "owner")
    target = await add_member(tenant, "t@example.com", "developer", totp=True)
    changed = await owner.client.post(
        f"/dashboard/team/members/{target.id}/role",
        data={"csrf_token": owner.csrf, "role": "finance"},
        headers={"user-agent": "pytest-browser"},
    )
    assert changed.status_code == 303
    assert (await member_row(db, "t@example.com")).role == "finance"
    [entry] = await audit_rows(db, tenant.id, "member.role_changed")
    assert (entry.actor_type, entry.actor_id, entry.actor_label) == ("member", owner.member.id, tenant.owner_email)
    assert (entry.target_type, entry.target_id) == ("member", target.id)
    assert (entry.before, entry.after) == ({"role": "developer"}, {"role": "finance"})
    assert entry.ip == "127.0.0.1"
    assert entry.user_agent == "pytest-browser"
    assert entry.request_id == changed.headers["x-request-id"]

    reset = await owner.post(f"/dashboard/team/members/{target.id}/reset-2fa")
    assert reset.status_code == 303
    assert (await member_row(db, "t@example.com")).totp_enabled_at is None
    removed = await owner.post(f"/dashboard/team/members/{target.id}/remove")
    assert removed.status_code == 303
    assert await member_row(db, "t@example.com") is None
    [gone] = await audit_rows(db, tenant.id, "member.removed")
    assert gone.before["email"] == "t@example.com"

    audit = await owner.get("/dashboard/team/audit")
    assert audit.status_code == 200
    html = audit.text
    for action in ("member.role_changed", "member.two_factor_reset", "member.removed"):
        assert f"<code>{action}</code>" in html
    assert entry.request_id in html
    # The role change's before/after is rendered as a field diff.
    row = html.split(f'data-entry="{entry.id}"', 1)[1].split("</tr>\n</tbody>", 1)[0]
    assert '<td>role</td><td class="diff-before">developer</td><td class="diff-after">finance</td>' in row


async def test_audit_page_needs_member_manage(dash_as: Any, tenant: TenantKeys) -> None:
    for role in ("read_only", "developer", "finance"):
        dash = await dash_as(tenant, role)
        assert (await dash.get("/dashboard/team/audit")).status_code == 403
    admin = await dash_as(tenant, "admin")
    assert (await admin.get("/dashboard/team/audit")).status_code == 200


async def test_audit_filters_and_pagination(dash_as: Any, db: Database, tenant: TenantKeys) -> None:
    owner = await dash_as(tenant, "owner")
    actor = Actor("system", None, "cli")
    async with db.core_transaction() as conn:
        for n in range(23):
            await record_core(
                conn, tenant.id, "api_key.created", at=NOW - timedelta(days=n % 3), actor=actor,
                target_type="api_key", target_id=f"key_{n:02d}", after={"n": n},
            )  # fmt: skip
        member = Actor("member", "mem_x", "z@x.io")
        await record_core(
            conn, tenant.id, "customer.blacklisted", at=NOW - timedelta(days=10), actor=member,
            target_type="customer", target_id="cus_1", before={"blacklisted": False}, after={"blacklisted": True},
        )  # fmt: skip
    first = await owner.get("/dashboard/team/audit")
    assert first.text.count("<tr data-entry=") == 20
    nxt = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert nxt
    second = await owner.get(nxt.group(1).replace("&amp;", "&"))
    assert second.text.count("<tr data-entry=") >= 4
    assert not set(re.findall(r'data-entry="(aud_\w+)"', first.text)) & set(
        re.findall(r'data-entry="(aud_\w+)"', second.text)
    )

    by_action = await owner.get("/dashboard/team/audit", params={"action": "customer.blacklisted"})
    assert by_action.text.count("<tr data-entry=") == 1
    assert "cus_1" in by_action.text
    by_actor = await owner.get("/dashboard/team/audit", params={"actor": "Z@X.IO"})
    assert by_actor.text.count("<tr data-entry=") == 1
    by_target = await owner.get("/dashboard/team/audit", params={"target": "key_07"})
    assert by_target.text.count("<tr data-entry=") == 1
    day = (NOW - timedelta(days=10)).date().isoformat()
    by_date = await owner.get("/dashboard/team/audit", params={"since": day, "until": day})
    assert by_date.text.count("<tr data-entry=") == 1
    none = await owner.get("/dashboard/team/audit", params={"action": "kyc.approved"})
    assert "No entries match these filters." in none.text
    bad = await owner.get("/dashboard/team/audit", params={"since": "yesterday"})
    assert bad.status_code == 200
    assert 'data-field="since"' in bad.text


async def test_expired_invitations_are_listed_marked_and_can_be_resent_or_revoked(
    dash_as: Any, db: Database, tenant: TenantKeys, clock: FrozenClock
) -> None:
    admin = await dash_as(tenant, "admin")
    viewer = await dash_as(tenant, "read_only")
    await admin.post("/dashboard/team/invite", {"email": "late@example.com", "role": "developer"})
    await admin.post("/dashboard/team/invite", {"email": "gone@example.com", "role": "finance"})
    late, gone = await invitation_rows(db, tenant.id)
    before = await admin.get("/dashboard/team")
    assert 'data-expired="yes"' not in before.text

    # Expire both links without moving the clock (the dashboard sessions would idle out): expiry is exclusive, a
    # link whose expires_at is now no longer works.
    async with db.core_transaction() as conn:
        await conn.execute(update(invitations).where(invitations.c.tenant_id == tenant.id).values(expires_at=NOW))
    page = await admin.get("/dashboard/team")
    assert page.status_code == 200
    assert f'<tr data-invitation="{late.id}" data-expired="yes">' in page.text
    assert f'<tr data-invitation="{gone.id}" data-expired="yes">' in page.text
    assert '<span class="badge status-expired">expired</span>' in page.text
    assert f'action="/dashboard/team/invites/{late.id}/resend"' in page.text
    assert f'action="/dashboard/team/invites/{late.id}/revoke"' in page.text
    # Without member:manage the expired invitation is listed, with no buttons.
    seen = await viewer.get("/dashboard/team")
    assert f'<tr data-invitation="{late.id}" data-expired="yes">' in seen.text
    assert f"/dashboard/team/invites/{late.id}/" not in seen.text

    resent = await admin.post(f"/dashboard/team/invites/{late.id}/resend")
    assert resent.status_code == 303
    [row] = [r for r in await invitation_rows(db, tenant.id) if r.id == late.id]
    assert row.expires_at == clock.now() + timedelta(days=7)
    page = await admin.get("/dashboard/team")
    assert "Invitation sent again to late@example.com" in page.text
    assert f'<tr data-invitation="{late.id}">' in page.text  # no longer marked
    async with fresh_client(admin) as browser:
        assert (await accept(browser, await invite_token(db, "late@example.com"))).status_code == 303
    assert await member_row(db, "late@example.com") is not None

    revoked = await admin.post(f"/dashboard/team/invites/{gone.id}/revoke")
    assert revoked.status_code == 303
    [row] = [r for r in await invitation_rows(db, tenant.id) if r.id == gone.id]
    assert row.revoked_at is not None
    page = await admin.get("/dashboard/team")
    assert "No pending invitations" in page.text  # accepted and revoked ones leave the list
