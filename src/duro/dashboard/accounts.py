"""Dashboard accounts (02 §4): signup, login, password reset. Each is one transaction on `core`; argon2 work
runs in a worker thread and outside any transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from starlette.concurrency import run_in_threadpool

from duro.config import Settings
from duro.context import Actor, RequestMeta
from duro.dashboard.repository import AccountStore, member_actor
from duro.dashboard.sessions import SessionState, SessionStore, initial_state, new_token
from duro.db.engine import Database
from duro.db.executor import Connection
from duro.db.repository import DbRow
from duro.kit.clock import Clock
from duro.kit.errors import Detail, DuroError
from duro.notifications.outbox import notify_platform
from duro.tenants.passwords import dummy_hash, hash_password, needs_rehash, password_problem, verify_password
from duro.tenants.service import provision_tenant

RESET_VALIDITY = timedelta(minutes=30)
INVALID_LOGIN = "Invalid email or password."


@dataclass(frozen=True, slots=True)
class Started:
    """A new session: the cookie token and where the browser goes next."""

    token: str
    state: SessionState


async def signup(
    db: Database,
    settings: Settings,
    clock: Clock,
    *,
    business_name: str,
    your_name: str,
    email: str,
    password: str,
    meta: RequestMeta,
) -> Started:
    """Tenant + owner through the normal provisioning, plus (same transaction) the `tenant.created` audit entry,
    the `welcome` notification and a session in `enrolment_required`. Raises the provisioning's 422/409."""
    your_name = your_name.strip()
    if not 1 <= len(your_name) <= 120:
        issue = "must be 1-120 characters"
        raise DuroError(422, f"yourName: {issue}", None, [Detail("yourName", issue)])
    started: list[Started] = []

    async def finish(conn: Connection, tenant: DbRow, owner: DbRow) -> None:
        now = clock.now()
        actor = member_actor(owner)
        await AccountStore(conn).audit(
            tenant.id,
            "tenant.created",
            at=now,
            actor=actor,
            meta=meta,
            target_type="tenant",
            target_id=tenant.id,
            after={"name": tenant.name, "slug": tenant.slug},
        )
        await notify_platform(
            conn,
            "welcome",
            recipient=owner.email,
            channel="email",
            values={"tenant_name": tenant.name, "invite_link": f"{settings.public_url}/dashboard/login"},
            dedup_key=f"welcome:{owner.id}",
            tenant_id=tenant.id,
            at=now,
        )
        state = initial_state(owner.role, has_totp=False)
        token = await SessionStore(conn).create(
            member_id=owner.id, tenant_id=tenant.id, state=state, now=now, ip=meta.ip, user_agent=meta.user_agent
        )
        started.append(Started(token, state))

    await provision_tenant(
        db,
        settings,
        clock,
        name=business_name,
        owner_email=email,
        owner_password=password,
        owner_name=your_name,
        actor=Actor("system", None, "signup"),
        within=finish,
    )
    return started[0]


async def login(
    db: Database, clock: Clock, *, email: str, password: str, old_token: str | None, meta: RequestMeta
) -> Started | None:
    """Checks the password (one argon2 verification whether or not the email exists), audits the outcome for known
    members, and on success deletes the browser's previous session row and starts a new one (no fixation).
    Returns None on any failure: the caller shows one message for all of them."""
    email = email.strip().lower()
    async with db.core_transaction() as conn:
        member = await AccountStore(conn).member_by_email(email) if email else None
    stored = member.password_hash if member is not None else dummy_hash()
    ok = await run_in_threadpool(verify_password, stored, password)
    rehashed = None
    if ok and member is not None and needs_rehash(member.password_hash):
        rehashed = await run_in_threadpool(hash_password, password)
    if member is None:
        return None
    now = clock.now()
    async with db.core_transaction() as conn:
        accounts = AccountStore(conn)
        if not ok:
            await accounts.audit(
                member.tenant_id,
                "session.login_failed",
                at=now,
                actor=member_actor(member),
                meta=meta,
                target_type="member",
                target_id=member.id,
            )
            return None
        if rehashed is not None:
            await accounts.set_password_hash(member.id, rehashed, now)
        store = SessionStore(conn)
        if old_token:
            await store.delete_token(old_token)
        state = initial_state(member.role, member.totp_enabled_at is not None)
        token = await store.create(
            member_id=member.id,
            tenant_id=member.tenant_id,
            state=state,
            now=now,
            ip=meta.ip,
            user_agent=meta.user_agent,
        )
        await accounts.audit(
            member.tenant_id,
            "session.login_succeeded",
            at=now,
            actor=member_actor(member),
            meta=meta,
            target_type="member",
            target_id=member.id,
        )
    return Started(token, state)


async def request_reset(db: Database, settings: Settings, clock: Clock, *, email: str) -> None:
    """Emails a single-use reset link valid 30 min when the email belongs to a member; silent otherwise."""
    email = email.strip().lower()
    if not email:
        return
    now = clock.now()
    async with db.core_transaction() as conn:
        accounts = AccountStore(conn)
        member = await accounts.member_by_email(email)
        if member is None:
            return
        token = new_token()
        reset_id = await accounts.create_reset(member.id, token, now, now + RESET_VALIDITY)
        await notify_platform(
            conn,
            "password_reset",
            recipient=member.email,
            channel="email",
            values={
                "tenant_name": member.tenant_name,
                "reset_link": f"{settings.public_url}/dashboard/password/reset/{token}",
            },
            dedup_key=f"password_reset:{reset_id}",
            tenant_id=member.tenant_id,
            at=now,
        )


async def open_reset(db: Database, clock: Clock, token: str) -> DbRow | None:
    """The member of a usable reset token (unused, not expired), or None."""
    async with db.core_transaction() as conn:
        accounts = AccountStore(conn)
        reset = await accounts.reset_by_token(token)
        if reset is None or reset.used_at is not None or clock.now() >= reset.expires_at:
            return None
        return await accounts.member_by_id(reset.member_id)


async def complete_reset(db: Database, clock: Clock, *, token: str, password: str, meta: RequestMeta) -> str | None:
    """Sets the new password (policy checked), uses the token (and voids the member's other links), deletes all
    the member's sessions and audits `member.password_changed`. Returns the policy problem, raises nothing for a
    stale token: returns "invalid" instead, which the caller shows as the expired-link page."""
    member = await open_reset(db, clock, token)
    if member is None:
        return "invalid"
    if problem := password_problem(password, member.email):
        return problem
    new_hash = await run_in_threadpool(hash_password, password)
    now = clock.now()
    async with db.core_transaction() as conn:
        accounts = AccountStore(conn)
        reset = await accounts.reset_by_token(token, for_update=True)
        if reset is None or reset.used_at is not None or now >= reset.expires_at:
            return "invalid"  # used concurrently, or expired while hashing
        await accounts.set_password_hash(reset.member_id, new_hash, now)
        await accounts.use_resets(reset.member_id, now)
        await SessionStore(conn).delete_for_member(reset.member_id)
        await accounts.audit(
            member.tenant_id,
            "member.password_changed",
            at=now,
            actor=member_actor(member),
            meta=meta,
            target_type="member",
            target_id=member.id,
            after={"via": "password_reset"},
        )
    return None
