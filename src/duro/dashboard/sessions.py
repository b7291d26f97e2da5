"""Dashboard sessions (02 §4): opaque 43-char base62 cookie tokens stored as sha256 in `core.sessions`, sliding
10 min idle / 12 h absolute expiry, 5 min to finish a pending 2FA, and the CSRF tokens bound to a session."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from sqlalchemy import delete, insert, select, update

from duro.config import Settings
from duro.db.executor import Connection
from duro.kit.clock import Clock
from duro.kit.crypto import derive_key, hmac_sha256, random_base62, sha256_hex
from duro.kit.ids import new_id
from duro.models.core import members, tenants
from duro.models.dashboard import sessions

SESSION_COOKIE = "duro_session"
PRESESSION_CSRF_COOKIE = "duro_csrf"
TOKEN_LENGTH = 43
IDLE = timedelta(minutes=10)
ABSOLUTE = timedelta(hours=12)
PENDING_2FA = timedelta(minutes=5)
TOUCH_EVERY = timedelta(seconds=30)
TWO_FACTOR_ROLES = frozenset({"owner", "admin"})

SessionState = Literal["pending_2fa", "enrolment_required", "active"]


@dataclass(frozen=True, slots=True)
class DashboardSession:
    """The resolved session of a request, with what every page shows about its member and tenant."""

    id: str
    state: str
    current_mode: str
    member_id: str
    email: str
    name: str | None
    role: str
    tenant_id: str
    tenant_name: str


def new_token() -> str:
    return random_base62(TOKEN_LENGTH)


def initial_state(role: str, has_totp: bool) -> SessionState:
    """02 §4: TOTP members verify first; owners and admins without TOTP must enrol; everyone else is in."""
    if has_totp:
        return "pending_2fa"
    if role in TWO_FACTOR_ROLES:
        return "enrolment_required"
    return "active"


def expired(row: Any, now: datetime) -> bool:
    if now >= row.absolute_expires_at or now >= row.idle_expires_at:
        return True
    return bool(row.state == "pending_2fa" and now >= row.created_at + PENDING_2FA)


class SessionStore:
    """SQL for `core.sessions` (core table: members belong to one tenant, the row carries it)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def create(
        self,
        *,
        member_id: str,
        tenant_id: str,
        state: SessionState,
        now: datetime,
        ip: str | None,
        user_agent: str | None,
    ) -> str:
        """A new session row; returns the cookie token (only its sha256 is stored)."""
        token = new_token()
        await self.conn.execute(
            insert(sessions).values(
                id=new_id("ses"),
                token_hash=sha256_hex(token),
                member_id=member_id,
                tenant_id=tenant_id,
                state=state,
                current_mode="test",
                created_at=now,
                last_seen_at=now,
                idle_expires_at=now + IDLE,
                absolute_expires_at=now + ABSOLUTE,
                ip=ip,
                user_agent=(user_agent or "")[:512] or None,
            )
        )
        return token

    async def find(self, token: str) -> Any:
        """The session of `token` joined with its member and tenant, locked for the slide; None when unknown."""
        stmt = (
            select(
                sessions,
                members.c.email,
                members.c.name.label("member_name"),
                members.c.role,
                members.c.totp_enabled_at,
                tenants.c.name.label("tenant_name"),
            )
            .select_from(
                sessions.join(members, members.c.id == sessions.c.member_id).join(
                    tenants, tenants.c.id == sessions.c.tenant_id
                )
            )
            .where(sessions.c.token_hash == sha256_hex(token))
            .with_for_update(of=sessions)
        )
        return (await self.conn.execute(stmt)).first()

    async def touch(self, session_id: str, now: datetime, state: str) -> None:
        await self.conn.execute(
            update(sessions)
            .where(sessions.c.id == session_id)
            .values(last_seen_at=now, idle_expires_at=now + IDLE, state=state)
        )

    async def delete(self, session_id: str) -> None:
        await self.conn.execute(delete(sessions).where(sessions.c.id == session_id))

    async def delete_token(self, token: str) -> None:
        await self.conn.execute(delete(sessions).where(sessions.c.token_hash == sha256_hex(token)))

    async def delete_for_member(self, member_id: str) -> int:
        result = await self.conn.execute(delete(sessions).where(sessions.c.member_id == member_id))
        return result.rowcount


async def resolve_session(conn: Connection, token: str | None, clock: Clock) -> DashboardSession | None:
    """The live session of a cookie value, or None. Expired rows are deleted on sight. An active owner/admin
    without TOTP (e.g. just promoted) is moved to `enrolment_required` (02 §5). The idle expiry slides, written at
    most every 30 s, so a session may end up to 30 s before "last activity + 10 min"."""
    if not token or len(token) != TOKEN_LENGTH:
        return None
    store = SessionStore(conn)
    row = await store.find(token)
    if row is None:
        return None
    now = clock.now()
    if expired(row, now):
        await store.delete(row.id)
        return None
    state = row.state
    if state == "active" and row.role in TWO_FACTOR_ROLES and row.totp_enabled_at is None:
        state = "enrolment_required"
    if state != row.state or now - row.last_seen_at >= TOUCH_EVERY:
        await store.touch(row.id, now, state)
    return DashboardSession(
        id=row.id,
        state=state,
        current_mode=row.current_mode,
        member_id=row.member_id,
        email=row.email,
        name=row.member_name,
        role=row.role,
        tenant_id=row.tenant_id,
        tenant_name=row.tenant_name,
    )


# --- cookies and CSRF ---


def cookie_secure(settings: Settings) -> bool:
    """`Secure`, dropped only for an http:// public URL in development or test (02 §4)."""
    return not (settings.public_url.startswith("http://") and settings.env in ("development", "test"))


def public_origin(settings: Settings) -> str:
    parts = urlsplit(settings.public_url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def csrf_token(settings: Settings, session_id: str) -> str:
    """base64url(HMAC(csrf key, session id)), unpadded."""
    mac = hmac_sha256(derive_key(settings.root_secret, "csrf"), session_id)
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
