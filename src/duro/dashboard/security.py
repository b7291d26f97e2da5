"""A member's own account (02 §4–5, 07 §2): profile, password change, own sessions, recovery-code regeneration and
voluntary 2FA disabling; plus accepting an invitation (a new member's first session) and the operator's 2FA reset.

Each function is one `core` transaction; argon2 work runs in a worker thread outside it. TOTP checks reuse the
primitives of `twofactor` (same window, same replay rule: a code accepted here advances `totp_last_used_step`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import delete, insert, select, update
from starlette.concurrency import run_in_threadpool

from duro.audit.service import record_core
from duro.config import Settings
from duro.context import RequestMeta
from duro.dashboard import twofactor
from duro.dashboard.repository import AccountStore, member_actor
from duro.dashboard.sessions import TWO_FACTOR_ROLES, SessionState, SessionStore, expired, initial_state
from duro.db.engine import Database
from duro.db.executor import Connection
from duro.kit.clock import Clock
from duro.kit.crypto import is_base62, sha256_hex
from duro.kit.errors import DuroError
from duro.kit.ids import new_id
from duro.kit.jsonenc import format_ts
from duro.models.core import members
from duro.models.dashboard import recovery_codes, sessions
from duro.team import service as team
from duro.team.repository import TeamRepository, invitation_by_token_hash
from duro.tenants.passwords import hash_password, password_problem, verify_password
from duro.tenants.service import CLI_ACTOR

NAME_MAX = 120


# --- profile ---


async def rename(db: Database, clock: Clock, member_id: str, name: str) -> str | None:
    """Sets the member's display name; returns the problem with it, if any. 02 §9 has no action for a name
    change (it grants nothing), so it is not audited."""
    name = name.strip()
    if not 1 <= len(name) <= NAME_MAX:
        return f"must be 1-{NAME_MAX} characters"
    async with db.core_transaction() as conn:
        await conn.execute(update(members).where(members.c.id == member_id).values(name=name, updated_at=clock.now()))
    return None


# --- password ---


async def change_password(
    db: Database,
    clock: Clock,
    *,
    member_id: str,
    session_id: str,
    current: str,
    new: str,
    confirm: str,
    meta: RequestMeta,
) -> dict[str, str]:
    """Checks the current password and the policy of 02 §4, stores the new argon2id hash, deletes the member's
    other sessions (this one stays), voids open reset links and audits `member.password_changed`. Returns the
    field errors ({} on success); `currentPassword` alone means the current password was wrong."""
    async with db.core_transaction() as conn:
        member = await AccountStore(conn).member_by_id(member_id)
    if member is None:
        return {"_form": "Your account no longer exists."}
    if not await run_in_threadpool(verify_password, member.password_hash, current):
        return {"currentPassword": "is not your current password"}
    errors: dict[str, str] = {}
    if problem := password_problem(new, member.email):
        errors["newPassword"] = problem
    elif new != confirm:
        errors["newPasswordConfirm"] = "does not match the new password"
    if errors:
        return errors
    new_hash = await run_in_threadpool(hash_password, new)
    now = clock.now()
    async with db.core_transaction() as conn:
        accounts = AccountStore(conn)
        await accounts.set_password_hash(member.id, new_hash, now)
        await accounts.use_resets(member.id, now)
        revoked = await conn.execute(
            delete(sessions)
            .where(sessions.c.member_id == member.id, sessions.c.id != session_id)
            .returning(sessions.c.id)
        )
        await accounts.audit(
            member.tenant_id,
            "member.password_changed",
            at=now,
            actor=member_actor(member),
            meta=meta,
            target_type="member",
            target_id=member.id,
            after={"via": "account", "otherSessionsRevoked": len(revoked.all())},
        )
    return {}


# --- own sessions ---


@dataclass(frozen=True, slots=True)
class OwnSession:
    id: str
    created_at: str | None
    last_seen_at: str | None
    ip: str | None
    user_agent: str | None
    current: bool


async def own_sessions(db: Database, clock: Clock, member_id: str, current_id: str) -> list[OwnSession]:
    """The member's unexpired sessions, newest first, the current one marked."""
    now = clock.now()
    async with db.core_transaction() as conn:
        stmt = select(sessions).where(sessions.c.member_id == member_id).order_by(sessions.c.created_at.desc())
        rows = (await conn.execute(stmt)).all()
    return [
        OwnSession(
            r.id,
            format_ts(r.created_at),
            format_ts(r.last_seen_at),
            r.ip,
            r.user_agent,
            r.id == current_id,
        )
        for r in rows
        if not expired(r, now)
    ]


async def revoke_sessions(db: Database, member_id: str, current_id: str, session_id: str | None) -> int:
    """Deletes one of the member's other sessions (`session_id`), or all of them (None). The current session is
    never revoked here: signing out is the logout button. Returns how many were deleted."""
    where = [sessions.c.member_id == member_id, sessions.c.id != current_id]
    if session_id is not None:
        where.append(sessions.c.id == session_id)
    async with db.core_transaction() as conn:
        gone = await conn.execute(delete(sessions).where(*where).returning(sessions.c.id))
        return len(gone.all())


# --- two-factor self-service ---


@dataclass(frozen=True, slots=True)
class TwoFactorStatus:
    enabled: bool
    enabled_at: str | None
    codes_left: int
    required: bool  # owners and admins must keep it (02 §5)


async def two_factor_status(db: Database, member_id: str, role: str) -> TwoFactorStatus:
    async with db.core_transaction() as conn:
        row = (await conn.execute(select(members.c.totp_enabled_at).where(members.c.id == member_id))).one()
        left = await twofactor.remaining_recovery_codes(conn, member_id)
    enabled_at = row.totp_enabled_at
    return TwoFactorStatus(
        enabled_at is not None,
        format_ts(enabled_at),
        left if enabled_at is not None else 0,
        role in TWO_FACTOR_ROLES,
    )


CodeProblem = Literal["not_enrolled", "invalid_code", "required"]


async def _check_current_code(conn: Connection, settings: Settings, member: Any, code: str, now: datetime) -> bool:
    """A current TOTP code (recovery codes do not count: they are what is being replaced); on success the step
    is consumed so the same code cannot be replayed at login."""
    secret = twofactor.open_at_rest(settings, member.id, member.totp_secret_enc) if member.totp_secret_enc else None
    step = twofactor.match_step(secret, code, now, member.totp_last_used_step) if secret else None
    if step is None:
        return False
    await conn.execute(update(members).where(members.c.id == member.id).values(totp_last_used_step=step))
    return True


async def _locked_member(conn: Connection, member_id: str) -> Any:
    return (await conn.execute(select(members).where(members.c.id == member_id).with_for_update())).first()


async def regenerate_recovery_codes(
    db: Database, settings: Settings, clock: Clock, *, member_id: str, code: str, meta: RequestMeta
) -> list[str] | CodeProblem:
    """Replaces all ten recovery codes (old ones stop working) after a current TOTP code (02 §5). Returns the new
    codes, shown once. 02 §9 has no action of its own for this, so it is audited as `member.two_factor_enrolled`
    with `recoveryCodesRegenerated` (the codes themselves are never recorded)."""
    now = clock.now()
    async with db.core_transaction() as conn:
        member = await _locked_member(conn, member_id)
        if member is None or member.totp_enabled_at is None:
            return "not_enrolled"
        if not await _check_current_code(conn, settings, member, code, now):
            return "invalid_code"
        codes = [twofactor.new_recovery_code() for _ in range(twofactor.RECOVERY_CODE_COUNT)]
        await conn.execute(delete(recovery_codes).where(recovery_codes.c.member_id == member.id))
        await conn.execute(
            insert(recovery_codes).values(
                [
                    {
                        "id": new_id("rec"),
                        "member_id": member.id,
                        "code_hmac": twofactor.recovery_hmac(settings, c),
                        "created_at": now,
                    }
                    for c in codes
                ]
            )
        )
        await AccountStore(conn).audit(
            member.tenant_id,
            "member.two_factor_enrolled",
            at=now,
            actor=member_actor(member),
            meta=meta,
            target_type="member",
            target_id=member.id,
            after={"recoveryCodesRegenerated": True},
        )
    return codes


async def disable_two_factor(
    db: Database, settings: Settings, clock: Clock, *, member_id: str, code: str, meta: RequestMeta
) -> CodeProblem | None:
    """Turns 2FA off for a member whose role does not require it, with a current TOTP code (02 §5): secret and
    recovery codes are deleted. Audited as `member.two_factor_reset` by the member themselves."""
    now = clock.now()
    async with db.core_transaction() as conn:
        member = await _locked_member(conn, member_id)
        if member is None or member.totp_enabled_at is None:
            return "not_enrolled"
        if member.role in TWO_FACTOR_ROLES:
            return "required"
        if not await _check_current_code(conn, settings, member, code, now):
            return "invalid_code"
        await conn.execute(delete(recovery_codes).where(recovery_codes.c.member_id == member.id))
        await conn.execute(
            update(members)
            .where(members.c.id == member.id)
            .values(totp_secret_enc=None, totp_last_used_step=None, totp_enabled_at=None, updated_at=now)
        )
        await AccountStore(conn).audit(
            member.tenant_id,
            "member.two_factor_reset",
            at=now,
            actor=member_actor(member),
            meta=meta,
            target_type="member",
            target_id=member.id,
            after={"twoFactorEnabled": False, "bySelf": True},
        )
    return None


# --- invitations ---


@dataclass(frozen=True, slots=True)
class InvitationView:
    email: str
    role: str
    tenant_name: str


async def open_invitation(db: Database, clock: Clock, token: str) -> InvitationView | DuroError:
    """What the accept page shows for a token, or the team service's refusal (404 unknown/revoked, 409 used or
    expired) without changing anything."""
    if len(token) != team.INVITE_TOKEN_LENGTH or not is_base62(token):
        return team.invitation_missing()
    async with db.core_transaction() as conn:
        invitation = await invitation_by_token_hash(conn, sha256_hex(token))
        if invitation is None or invitation.revoked_at is not None:
            return team.invitation_missing()
        if invitation.accepted_at is not None:
            return team.invitation_used()
        if clock.now() >= invitation.expires_at:
            return team.invitation_expired()
        tenant_name = await TeamRepository(conn, invitation.tenant_id).tenant_name()
    return InvitationView(invitation.email, invitation.role, tenant_name)


@dataclass(frozen=True, slots=True)
class Joined:
    token: str
    state: SessionState
    member_id: str


async def accept_invitation(
    db: Database,
    clock: Clock,
    *,
    token: str,
    email: str,
    name: str,
    password: str,
    old_token: str | None,
    meta: RequestMeta,
) -> Joined:
    """The team service's `accept` (member row, `member.joined` audit) and, in the same transaction, the new
    member's first session, started as login does (02 §4): a new token, the browser's previous row deleted, an
    admin in `enrolment_required`. Raises the service's DuroError (404/409/422).

    The password is hashed in a worker thread before the transaction opens. `email` is the invitation's, as the
    accept page read it: a password the policy refuses for it is not hashed at all (the service refuses it)."""
    given: str | team.HashedPassword = password
    if password_problem(password, email) is None:
        given = await team.hash_new_password(password)
    async with db.core_transaction() as conn:
        member = await team.accept(conn, token, name, given, clock, meta)
        store = SessionStore(conn)
        if old_token:
            await store.delete_token(old_token)
        state = initial_state(member.role, has_totp=False)
        session_token = await store.create(
            member_id=member.id,
            tenant_id=member.tenant_id,
            state=state,
            now=clock.now(),
            ip=meta.ip,
            user_agent=meta.user_agent,
        )
    return Joined(session_token, state, member.id)


# --- operator ---


@dataclass(frozen=True, slots=True)
class OperatorReset:
    member_id: str
    email: str
    tenant_id: str
    role: str
    sessions_deleted: int


async def operator_reset_two_factor(db: Database, clock: Clock, member: str) -> OperatorReset | None:
    """`duro tenant reset-2fa` (02 §5): clears a member's TOTP secret and recovery codes and deletes all their
    sessions, the owner's included (the team screen refuses the owner; the operator is the way back in).
    `member` is a `mem_` id or an email. Audits `member.two_factor_reset` with actor `system`/`cli`. None when no
    such member exists."""
    now = clock.now()
    async with db.core_transaction() as conn:
        column = members.c.id if member.startswith("mem_") else members.c.email
        key = member if member.startswith("mem_") else member.strip().lower()
        row = (await conn.execute(select(members).where(column == key).with_for_update())).first()
        if row is None:
            return None
        await conn.execute(delete(recovery_codes).where(recovery_codes.c.member_id == row.id))
        gone = await conn.execute(delete(sessions).where(sessions.c.member_id == row.id).returning(sessions.c.id))
        await conn.execute(
            update(members)
            .where(members.c.id == row.id)
            .values(totp_secret_enc=None, totp_last_used_step=None, totp_enabled_at=None, updated_at=now)
        )
        await record_core(
            conn,
            row.tenant_id,
            "member.two_factor_reset",
            at=now,
            actor=CLI_ACTOR,
            target_type="member",
            target_id=row.id,
            before={"twoFactorEnabled": row.totp_enabled_at is not None},
            after={"twoFactorEnabled": False},
        )
    return OperatorReset(row.id, row.email, row.tenant_id, row.role, len(gone.all()))
