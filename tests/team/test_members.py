"""Role change, removal and 2FA reset (02 §5, §8): happy paths, audit rows, owner and self protection, and
permissions read from the acting member's current row."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from duro.db.engine import Database
from duro.kit.clock import FrozenClock
from duro.kit.errors import DuroError
from duro.models.dashboard import recovery_codes, sessions
from duro.team import service
from tests.team.conftest import (
    META,
    PUBLIC_URL,
    ROLES,
    Team,
    add_member,
    add_recovery_code,
    add_session,
    audit_rows,
    fetch,
    in_core,
    member_row,
)

MEMBER_OPS = ["change_role", "remove", "reset_two_factor"]


async def run_op(db: Database, op: str, actor: Any, clock: FrozenClock, member_id: str, role: str = "read_only") -> Any:
    if op == "change_role":
        return await in_core(db, service.change_role, actor, clock, META, member_id=member_id, role=role)
    return await in_core(db, getattr(service, op), actor, clock, META, member_id=member_id)


async def sessions_of(db: Database, member_id: str) -> list[Any]:
    return await fetch(db, select(sessions).where(sessions.c.member_id == member_id))


async def codes_of(db: Database, member_id: str) -> list[Any]:
    return await fetch(db, select(recovery_codes).where(recovery_codes.c.member_id == member_id))


# --- change_role ---


async def test_change_role_updates_row_and_audits(db: Database, team: Team, clock: FrozenClock) -> None:
    dev = team["developer"]
    updated = await run_op(db, "change_role", team["admin"], clock, dev.id, "finance")
    assert updated.role == "finance"
    assert (await member_row(db, dev.id)).role == "finance"  # type: ignore[union-attr]
    (entry,) = await audit_rows(db, team.tenant_id)
    assert entry.action == "member.role_changed"
    assert (entry.actor_type, entry.actor_id, entry.actor_label) == ("member", team["admin"].id, "admin@acme.example")
    assert (entry.target_type, entry.target_id) == ("member", dev.id)
    assert (entry.before, entry.after) == ({"role": "developer"}, {"role": "finance"})
    assert (entry.ip, entry.user_agent, entry.request_id) == ("203.0.113.7", "pytest-browser", "req_team_test")


async def test_change_to_same_role_writes_nothing(db: Database, team: Team, clock: FrozenClock) -> None:
    row = await run_op(db, "change_role", team["owner"], clock, team["finance"].id, "finance")
    assert row.role == "finance"
    assert await audit_rows(db, team.tenant_id) == []


@pytest.mark.parametrize("role", ["owner", "superuser", ""])
async def test_nobody_grants_owner_or_unknown_roles(db: Database, team: Team, clock: FrozenClock, role: str) -> None:
    with pytest.raises(DuroError) as caught:
        await run_op(db, "change_role", team["owner"], clock, team["admin"].id, role)
    assert caught.value.status == 422
    assert [d.path for d in caught.value.details] == ["role"]
    assert (await member_row(db, team["admin"].id)).role == "admin"  # type: ignore[union-attr]


async def test_role_change_applies_at_the_next_call(db: Database, team: Team, clock: FrozenClock) -> None:
    """Permissions come from the member row on every call (02 §8.6), never from the object the caller holds."""
    stale_admin = team["admin"]  # the caller still holds the row that says "admin"
    await run_op(db, "change_role", team["owner"], clock, stale_admin.id, "read_only")
    with pytest.raises(DuroError) as caught:
        await run_op(db, "change_role", stale_admin, clock, team["developer"].id, "finance")
    assert (caught.value.status, caught.value.reason) == (403, "insufficient_permission")
    await run_op(db, "change_role", team["owner"], clock, stale_admin.id, "admin")
    await run_op(db, "change_role", stale_admin, clock, team["developer"].id, "finance")
    assert (await member_row(db, team["developer"].id)).role == "finance"  # type: ignore[union-attr]


# --- remove ---


async def test_remove_deletes_member_and_sessions_and_frees_email(db: Database, team: Team, clock: FrozenClock) -> None:
    dev = team["developer"]
    await add_session(db, dev)
    await add_session(db, dev)
    await add_recovery_code(db, dev)
    kept = await add_session(db, team["finance"])
    removed = await run_op(db, "remove", team["admin"], clock, dev.id)
    assert removed.id == dev.id
    assert await member_row(db, dev.id) is None
    assert await sessions_of(db, dev.id) == []
    assert await codes_of(db, dev.id) == []
    assert [s.id for s in await sessions_of(db, team["finance"].id)] == [kept]

    (entry,) = await audit_rows(db, team.tenant_id)
    assert entry.action == "member.removed"
    assert (entry.actor_id, entry.actor_label) == (team["admin"].id, "admin@acme.example")
    assert (entry.target_type, entry.target_id) == ("member", dev.id)
    assert entry.before == {"email": "developer@acme.example", "name": "Developer", "role": "developer"}
    assert entry.after is None

    # The email is free again: it can be invited and join anew.
    issued = await in_core(
        db,
        service.invite,
        team["admin"],
        clock,
        META,
        email="developer@acme.example",
        role="read_only",
        public_url=PUBLIC_URL,
    )
    rejoined = await in_core(db, service.accept, issued.token, "Back Again", "a long enough passphrase", clock)
    assert rejoined.id != dev.id
    assert (rejoined.email, rejoined.role) == ("developer@acme.example", "read_only")


async def test_removed_member_can_no_longer_act(db: Database, team: Team, clock: FrozenClock) -> None:
    admin_two = await add_member(db, team.tenant_id, "admin", "admin2@acme.example")
    await run_op(db, "remove", team["admin"], clock, admin_two.id)
    with pytest.raises(DuroError) as caught:
        await run_op(db, "remove", admin_two, clock, team["developer"].id)
    assert caught.value.status == 401
    assert await member_row(db, team["developer"].id) is not None


# --- reset_two_factor ---


async def test_reset_two_factor_clears_secret_codes_and_sessions(db: Database, team: Team, clock: FrozenClock) -> None:
    target = await add_member(db, team.tenant_id, "finance", "twofa@acme.example", with_2fa=True)
    await add_session(db, target)
    await add_recovery_code(db, target)
    await add_recovery_code(db, target)
    other_code_owner = team["developer"]
    await add_recovery_code(db, other_code_owner)
    updated = await run_op(db, "reset_two_factor", team["admin"], clock, target.id)
    assert (updated.totp_secret_enc, updated.totp_last_used_step, updated.totp_enabled_at) == (None, None, None)
    row = await member_row(db, target.id)
    assert row is not None
    assert row.totp_secret_enc is None
    assert row.role == "finance"
    assert await sessions_of(db, target.id) == []
    assert await codes_of(db, target.id) == []
    assert len(await codes_of(db, other_code_owner.id)) == 1

    (entry,) = await audit_rows(db, team.tenant_id)
    assert entry.action == "member.two_factor_reset"
    assert (entry.actor_id, entry.target_type, entry.target_id) == (team["admin"].id, "member", target.id)
    assert (entry.before, entry.after) == ({"twoFactorEnabled": True}, {"twoFactorEnabled": False})
    assert "secret" not in str(dict(entry))


# --- refusals shared by the three operations ---


@pytest.mark.parametrize("op", MEMBER_OPS)
@pytest.mark.parametrize("actor_role", ["owner", "admin"])
async def test_owner_is_protected(db: Database, team: Team, clock: FrozenClock, op: str, actor_role: str) -> None:
    owner = team["owner"]
    await add_session(db, owner)
    with pytest.raises(DuroError) as caught:
        await run_op(db, op, team[actor_role], clock, owner.id, "admin")
    expected = "cannot_modify_self" if actor_role == "owner" else "owner_protected"
    assert (caught.value.status, caught.value.reason) == (403, expected)
    row = await member_row(db, owner.id)
    assert row is not None
    assert row.role == "owner"
    assert len(await sessions_of(db, owner.id)) == 1
    assert await audit_rows(db, team.tenant_id) == []


@pytest.mark.parametrize("op", MEMBER_OPS)
async def test_owner_is_protected_even_from_a_second_admin(
    db: Database, team: Team, clock: FrozenClock, op: str
) -> None:
    with pytest.raises(DuroError) as caught:
        await run_op(db, op, team["admin"], clock, team["owner"].id, "read_only")
    assert (caught.value.status, caught.value.reason) == (403, "owner_protected")


@pytest.mark.parametrize("op", MEMBER_OPS)
@pytest.mark.parametrize("actor_role", ["owner", "admin"])
async def test_nobody_modifies_themself(db: Database, team: Team, clock: FrozenClock, op: str, actor_role: str) -> None:
    me = team[actor_role]
    with pytest.raises(DuroError) as caught:
        await run_op(db, op, me, clock, me.id, "developer")
    assert (caught.value.status, caught.value.reason) == (403, "cannot_modify_self")
    row = await member_row(db, me.id)
    assert row is not None
    assert row.role == actor_role
    assert await audit_rows(db, team.tenant_id) == []


@pytest.mark.parametrize("op", MEMBER_OPS)
@pytest.mark.parametrize("actor_role", ["developer", "finance", "read_only"])
async def test_roles_without_member_manage_are_refused(
    db: Database, team: Team, clock: FrozenClock, op: str, actor_role: str
) -> None:
    target = team["finance"] if actor_role != "finance" else team["developer"]
    await add_session(db, target)
    with pytest.raises(DuroError) as caught:
        await run_op(db, op, team[actor_role], clock, target.id, "admin")
    assert (caught.value.status, caught.value.reason) == (403, "insufficient_permission")
    row = await member_row(db, target.id)
    assert row is not None
    assert row.role == target.role
    assert len(await sessions_of(db, target.id)) == 1
    assert await audit_rows(db, team.tenant_id) == []


@pytest.mark.parametrize("op", MEMBER_OPS)
async def test_member_of_another_tenant_is_404(
    db: Database, team: Team, clock: FrozenClock, make_tenant: Any, op: str
) -> None:
    other = await make_tenant("Other Co")
    stranger = await add_member(db, other.id, "developer", "stranger@other.example", with_2fa=True)
    with pytest.raises(DuroError) as caught:
        await run_op(db, op, team["admin"], clock, stranger.id, "finance")
    assert (caught.value.status, caught.value.reason) == (404, "resource_missing")
    row = await member_row(db, stranger.id)
    assert row is not None
    assert (row.role, row.totp_enabled_at is not None) == ("developer", True)


@pytest.mark.parametrize("op", MEMBER_OPS)
async def test_unknown_member_is_404(db: Database, team: Team, clock: FrozenClock, op: str) -> None:
    for member_id in ["mem_01JNOSUCHMEMBER0000000000", "bad\x00id"]:
        with pytest.raises(DuroError) as caught:
            await run_op(db, op, team["admin"], clock, member_id, "finance")
        assert caught.value.status == 404


@pytest.mark.parametrize("role", ROLES)
async def test_every_role_can_list_members(db: Database, team: Team, role: str) -> None:
    rows = await in_core(db, service.list_members, team[role])
    assert [r.role for r in rows] == ROLES
