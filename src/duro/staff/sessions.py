"""Staff authentication (02 §1, §10): the `X-Staff-Key` header for `/staff/api/`, and for the HTML console a
`duro_staff` cookie session created by posting the key once (43-char base62, sha256 in `core.staff_sessions`,
30 min idle sliding, 8 h absolute), with CSRF tokens bound to the staff session."""

from __future__ import annotations

import base64
import hmac
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update

from duro.config import Settings
from duro.db.executor import Connection
from duro.kit.crypto import derive_key, hmac_sha256, random_base62, sha256_hex
from duro.kit.ids import new_id
from duro.models.dashboard import staff_sessions

STAFF_COOKIE = "duro_staff"
STAFF_LOGIN_CSRF_COOKIE = "duro_staff_csrf"
TOKEN_LENGTH = 43
IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=8)
TOUCH_EVERY = timedelta(seconds=30)


def key_matches(settings: Settings, sent: str | bytes | None) -> bool:
    """The staff key check: constant time on the UTF-8 bytes (a header's raw bytes, or a form field's text
    encoded as UTF-8); always false while the console is disabled."""
    if settings.staff_key is None or not sent:
        return False
    expected = settings.staff_key.get_secret_value().encode("utf-8")
    if isinstance(sent, bytes):
        given = sent
    else:
        try:
            given = sent.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates cannot be the key
            return False
    return hmac.compare_digest(given, expected)


def staff_csrf_token(settings: Settings, session_id: str) -> str:
    """base64url(HMAC(staff csrf key, staff session id)): a key of its own, so no dashboard token fits here."""
    mac = hmac_sha256(derive_key(settings.root_secret, "staff-csrf"), session_id)
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


class StaffSessionStore:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def create(self, now: datetime, ip: str | None) -> str:
        """A new staff session; returns the cookie token (only its sha256 is stored)."""
        token = random_base62(TOKEN_LENGTH)
        await self.conn.execute(
            insert(staff_sessions).values(
                id=new_id("sts"),
                token_hash=sha256_hex(token),
                created_at=now,
                last_seen_at=now,
                idle_expires_at=now + IDLE,
                absolute_expires_at=now + ABSOLUTE,
                ip=ip,
            )
        )
        return token

    async def resolve(self, token: str | None, now: datetime) -> str | None:
        """The session id of a live cookie value, sliding its idle expiry (written at most every 30 s); expired
        rows are deleted on sight."""
        if not token or len(token) != TOKEN_LENGTH:
            return None
        row = (
            await self.conn.execute(
                select(staff_sessions).where(staff_sessions.c.token_hash == sha256_hex(token)).with_for_update()
            )
        ).first()
        if row is None:
            return None
        if now >= row.idle_expires_at or now >= row.absolute_expires_at:
            await self.conn.execute(delete(staff_sessions).where(staff_sessions.c.id == row.id))
            return None
        if now - row.last_seen_at >= TOUCH_EVERY:
            await self.conn.execute(
                update(staff_sessions)
                .where(staff_sessions.c.id == row.id)
                .values(last_seen_at=now, idle_expires_at=now + IDLE)
            )
        session_id: str = row.id
        return session_id

    async def delete_token(self, token: str) -> None:
        await self.conn.execute(delete(staff_sessions).where(staff_sessions.c.token_hash == sha256_hex(token)))
