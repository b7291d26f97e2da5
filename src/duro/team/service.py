"""Team management (02 §8): invite, resend, revoke, accept, change role, remove, reset 2FA.

Every operation runs inside the caller's `core` transaction and never commits. The acting member is re-read from
`core.members` on every call and its permissions computed from that row (02 §8.6): a member demoted or removed a
moment ago cannot act on a stale role. Every change writes its audit entry (02 §9) in the same transaction.

Rules: only roles in `ASSIGNABLE_ROLES` can be granted (nobody grants `owner`); the owner cannot be demoted,
removed or have 2FA reset (403 `owner_protected`); nobody changes their own role, removes themselves or resets
their own 2FA from the team screen (403 `cannot_modify_self`). Members and invitations of another tenant answer
404, so ids cannot be probed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from duro.auth.permissions import ASSIGNABLE_ROLES, Permission, check_permission
from duro.context import RequestMeta
from duro.db.executor import Connection, UniqueViolation
from duro.db.repository import DbRow
from duro.kit.clock import Clock
from duro.kit.crypto import is_base62, random_base62, sha256_hex
from duro.kit.errors import Detail, DuroError, conflict, forbidden, invalid_field, not_found, unauthorized, validation
from duro.kit.ids import new_id
from duro.kit.jsonenc import format_ts
from duro.kit.validation import check_email
from duro.notifications.outbox import notify_platform
from duro.team.repository import TeamRepository, acting_member, email_is_member, invitation_by_token_hash
from duro.tenants.passwords import hash_password, password_problem

INVITE_TTL = timedelta(days=7)
INVITE_TOKEN_LENGTH = 43
NAME_MAX = 120


class ActingMember(Protocol):
    """Who is acting: only the id is trusted; role and tenant are re-read from the database."""

    @property
    def id(self) -> str: ...


@dataclass(frozen=True, slots=True)
class IssuedInvitation:
    """An invitation with its plaintext token and link; the token exists only here and in the queued email."""

    invitation: DbRow
    token: str
    link: str


@dataclass(frozen=True, slots=True)
class HashedPassword:
    """A new member's password with its argon2id hash, made by `hash_new_password` before the caller opens its
    transaction, so `accept` does no slow work while the transaction (and its connection) is held."""

    plaintext: str
    hash: str


async def hash_new_password(password: str) -> HashedPassword:
    """argon2id is slow on purpose: it runs in a worker thread, never on the event loop."""
    return HashedPassword(password, await asyncio.to_thread(hash_password, password))


# --- errors ---


def owner_protected() -> DuroError:
    return forbidden("owner_protected", "The owner cannot be demoted, removed or have two-factor reset.")


def cannot_modify_self() -> DuroError:
    return forbidden("cannot_modify_self", "You cannot change your own role, remove yourself or reset your own 2FA.")


def duplicate_email() -> DuroError:
    return conflict("duplicate_email", "A member with this email already exists.")


def invitation_missing() -> DuroError:
    return not_found("No such invitation.")


def invitation_used() -> DuroError:
    return conflict("invitation_used", "This invitation has already been accepted.")


def invitation_expired() -> DuroError:
    return conflict("invitation_expired", "This invitation has expired. Ask for a new one.")


# --- helpers ---


async def _authorize(conn: Connection, actor: ActingMember, permission: Permission) -> tuple[DbRow, TeamRepository]:
    """The actor's current row (every call, 02 §8.6) and a repository scoped to the actor's tenant."""
    row = await acting_member(conn, actor.id)
    if row is None:
        raise unauthorized("invalid_credential", "Your account no longer exists.")
    check_permission(row, permission)
    return row, TeamRepository(conn, row.tenant_id)


def _check_role(role: str) -> str:
    if role not in ASSIGNABLE_ROLES:
        raise invalid_field("role", f"must be one of {', '.join(ASSIGNABLE_ROLES)}")
    return role


def _new_token() -> tuple[str, str]:
    token = random_base62(INVITE_TOKEN_LENGTH)
    return token, sha256_hex(token)


def _link(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/dashboard/invite/{token}"


async def _audit(
    repo: TeamRepository,
    clock: Clock,
    meta: RequestMeta | None,
    actor: DbRow,
    action: str,
    target_type: str,
    target_id: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    meta = meta or RequestMeta()
    await repo.insert_audit(
        {
            "id": new_id("aud"),
            "at": clock.now(),
            "actor_type": "member",
            "actor_id": actor.id,
            "actor_label": actor.email,
            "action": action,
            "target_type": target_type,
            "target_id": target_id,
            "mode": None,  # team changes touch core, not a mode
            "before": before,
            "after": after,
            "ip": meta.ip,
            "user_agent": (meta.user_agent or "")[:512] or None,
            "request_id": meta.request_id,
        }
    )


async def _send_invite(
    conn: Connection, repo: TeamRepository, invitation: DbRow, token: str, public_url: str, clock: Clock
) -> str:
    link = _link(public_url, token)
    await notify_platform(
        conn,
        "member_invite",
        recipient=invitation.email,
        channel="email",
        values={"tenant_name": await repo.tenant_name(), "invite_link": link},
        # one message per issued token: a resend is a new cause, a replay of the same issue is not
        dedup_key=f"member_invite:{invitation.id}:{invitation.token_hash[:16]}",
        tenant_id=repo.tenant_id,
        at=clock.now(),
    )
    return link


async def _target_member(repo: TeamRepository, actor: DbRow, member_id: str) -> DbRow:
    target = await repo.member(member_id, for_update=True)
    if target is None:
        raise not_found("No such member.")
    if target.id == actor.id:
        raise cannot_modify_self()
    if target.role == "owner":
        raise owner_protected()
    return target


async def _pending_invitation(repo: TeamRepository, invitation_id: str) -> DbRow:
    invitation = await repo.invitation(invitation_id, for_update=True)
    if invitation is None or invitation.revoked_at is not None:
        raise invitation_missing()
    if invitation.accepted_at is not None:
        raise invitation_used()
    return invitation


# --- reads ---


async def list_members(conn: Connection, actor: ActingMember) -> list[DbRow]:
    """The actor's tenant's members, oldest first (needs `read`)."""
    _, repo = await _authorize(conn, actor, "read")
    return await repo.list_members()


async def list_pending_invitations(conn: Connection, actor: ActingMember, clock: Clock) -> list[DbRow]:
    """Invitations neither accepted, revoked nor expired (needs `read`)."""
    _, repo = await _authorize(conn, actor, "read")
    return await repo.pending_invitations(clock.now())


async def list_open_invitations(conn: Connection, actor: ActingMember) -> list[DbRow]:
    """Invitations neither accepted nor revoked, expired ones included: the team screen shows those marked
    expired, since `resend` and `revoke` still apply to them (needs `read`)."""
    _, repo = await _authorize(conn, actor, "read")
    return await repo.open_invitations()


# --- invitations ---


async def invite(
    conn: Connection,
    actor: ActingMember,
    clock: Clock,
    meta: RequestMeta | None,
    *,
    email: str,
    role: str,
    public_url: str,
) -> IssuedInvitation:
    """Invite `email` as `role` (needs `member:manage`). Queues the `member_invite` email with a link valid
    7 days; audits `member.invited`. 409 `duplicate_email` when the email is a member of any tenant."""
    me, repo = await _authorize(conn, actor, "member:manage")
    problems: list[Detail] = []
    try:
        email = check_email(email)
    except ValueError as exc:
        problems.append(Detail("email", str(exc)))
    if role not in ASSIGNABLE_ROLES:
        problems.append(Detail("role", f"must be one of {', '.join(ASSIGNABLE_ROLES)}"))
    if problems:
        raise validation("invalid invitation", problems)
    if await email_is_member(conn, email):
        raise duplicate_email()
    now = clock.now()
    token, token_hash = _new_token()
    invitation = await repo.insert_invitation(
        {
            "id": new_id("invite"),
            "email": email,
            "role": role,
            "token_hash": token_hash,
            "invited_by": me.id,
            "expires_at": now + INVITE_TTL,
            "created_at": now,
        }
    )
    link = await _send_invite(conn, repo, invitation, token, public_url, clock)
    await _audit(
        repo,
        clock,
        meta,
        me,
        "member.invited",
        "invitation",
        invitation.id,
        after={"email": email, "role": role, "expiresAt": format_ts(invitation.expires_at)},
    )
    return IssuedInvitation(invitation, token, link)


async def resend(
    conn: Connection,
    actor: ActingMember,
    clock: Clock,
    meta: RequestMeta | None,
    *,
    invitation_id: str,
    public_url: str,
) -> IssuedInvitation:
    """Issue a new token (the old one stops working) valid 7 days from now, and email it again. Works on an
    expired invitation; 404 for a revoked one, 409 `invitation_used` for an accepted one. 02 §9 has no separate
    action for this, so it is audited as `member.invited` with `resent: true`."""
    me, repo = await _authorize(conn, actor, "member:manage")
    invitation = await _pending_invitation(repo, invitation_id)
    if await email_is_member(conn, invitation.email):
        raise duplicate_email()
    now = clock.now()
    token, token_hash = _new_token()
    updated = await repo.update_invitation(invitation.id, {"token_hash": token_hash, "expires_at": now + INVITE_TTL})
    link = await _send_invite(conn, repo, updated, token, public_url, clock)
    await _audit(
        repo,
        clock,
        meta,
        me,
        "member.invited",
        "invitation",
        invitation.id,
        before={"expiresAt": format_ts(invitation.expires_at)},
        after={"expiresAt": format_ts(updated.expires_at), "resent": True},
    )
    return IssuedInvitation(updated, token, link)


async def revoke(
    conn: Connection, actor: ActingMember, clock: Clock, meta: RequestMeta | None, *, invitation_id: str
) -> DbRow:
    """Revoke a pending invitation; its token stops working. Audits `member.invite_revoked`."""
    me, repo = await _authorize(conn, actor, "member:manage")
    invitation = await _pending_invitation(repo, invitation_id)
    updated = await repo.update_invitation(invitation.id, {"revoked_at": clock.now()})
    await _audit(
        repo,
        clock,
        meta,
        me,
        "member.invite_revoked",
        "invitation",
        invitation.id,
        before={"email": invitation.email, "role": invitation.role},
        after={"revokedAt": format_ts(updated.revoked_at)},
    )
    return updated


async def accept(
    conn: Connection,
    token: str,
    name: str,
    password: str | HashedPassword,
    clock: Clock,
    meta: RequestMeta | None = None,
) -> DbRow:
    """Accept an invitation: creates the member with the invited role and returns the row (starting a session is
    the caller's job). Single use; unknown or revoked tokens answer 404, used ones 409 `invitation_used`, expired
    ones 409 `invitation_expired`; an email that became a member meanwhile 409 `duplicate_email`. Audits
    `member.joined` with the new member as actor.

    `password` is best passed already hashed (`hash_new_password`, before the transaction opens); a plain string
    is hashed here, in a worker thread, once every check has passed."""
    prepared = password if isinstance(password, HashedPassword) else None
    password = password.plaintext if isinstance(password, HashedPassword) else password
    if len(token) != INVITE_TOKEN_LENGTH or not is_base62(token):
        raise invitation_missing()
    invitation = await invitation_by_token_hash(conn, sha256_hex(token))
    if invitation is None or invitation.revoked_at is not None:
        raise invitation_missing()
    if invitation.accepted_at is not None:
        raise invitation_used()
    now = clock.now()
    if now >= invitation.expires_at:
        raise invitation_expired()
    name = name.strip()
    problems: list[Detail] = []
    if not 1 <= len(name) <= NAME_MAX:
        problems.append(Detail("name", f"must be 1-{NAME_MAX} characters"))
    if issue := password_problem(password, invitation.email):
        problems.append(Detail("password", issue))
    if problems:
        raise validation("invalid invitation acceptance", problems)
    if await email_is_member(conn, invitation.email):
        raise duplicate_email()
    repo = TeamRepository(conn, invitation.tenant_id)
    if prepared is None:
        prepared = await hash_new_password(password)
    try:
        member = await repo.insert_member(
            {
                "id": new_id("mem"),
                "email": invitation.email,
                "name": name,
                "password_hash": prepared.hash,
                "role": invitation.role,
                "created_at": now,
                "updated_at": now,
            }
        )
    except UniqueViolation as exc:  # the email joined elsewhere concurrently
        raise duplicate_email() from exc
    await repo.update_invitation(invitation.id, {"accepted_at": now})
    await _audit(
        repo,
        clock,
        meta,
        member,
        "member.joined",
        "member",
        member.id,
        after={"email": member.email, "name": name, "role": member.role, "invitationId": invitation.id},
    )
    return member


# --- members ---


async def change_role(
    conn: Connection, actor: ActingMember, clock: Clock, meta: RequestMeta | None, *, member_id: str, role: str
) -> DbRow:
    """Give a member another assignable role; applies at their next request. Audits `member.role_changed`
    (nothing is written when the role is unchanged)."""
    me, repo = await _authorize(conn, actor, "member:manage")
    role = _check_role(role)
    target = await _target_member(repo, me, member_id)
    if target.role == role:
        return target
    updated = await repo.update_member(target.id, {"role": role, "updated_at": clock.now()})
    await _audit(
        repo,
        clock,
        meta,
        me,
        "member.role_changed",
        "member",
        target.id,
        before={"role": target.role},
        after={"role": role},
    )
    return updated


async def remove(
    conn: Connection, actor: ActingMember, clock: Clock, meta: RequestMeta | None, *, member_id: str
) -> DbRow:
    """Delete a member and all their sessions (and, by cascade, recovery codes and reset tokens); the email is
    free again. Returns the deleted row. Audits `member.removed` with the email kept in `before`."""
    me, repo = await _authorize(conn, actor, "member:manage")
    target = await _target_member(repo, me, member_id)
    await repo.delete_sessions(target.id)
    await repo.delete_member(target.id)
    await _audit(
        repo,
        clock,
        meta,
        me,
        "member.removed",
        "member",
        target.id,
        before={"email": target.email, "name": target.name, "role": target.role},
    )
    return target


async def reset_two_factor(
    conn: Connection, actor: ActingMember, clock: Clock, meta: RequestMeta | None, *, member_id: str
) -> DbRow:
    """Delete a member's TOTP secret, recovery codes and sessions (02 §5). Audits `member.two_factor_reset`."""
    me, repo = await _authorize(conn, actor, "member:manage")
    target = await _target_member(repo, me, member_id)
    await repo.delete_recovery_codes(target.id)
    await repo.delete_sessions(target.id)
    updated = await repo.update_member(
        target.id,
        {"totp_secret_enc": None, "totp_last_used_step": None, "totp_enabled_at": None, "updated_at": clock.now()},
    )
    await _audit(
        repo,
        clock,
        meta,
        me,
        "member.two_factor_reset",
        "member",
        target.id,
        before={"twoFactorEnabled": target.totp_enabled_at is not None},
        after={"twoFactorEnabled": False},
    )
    return updated
