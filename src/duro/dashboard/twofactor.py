"""Dashboard two-factor authentication (02 §5): TOTP enrolment with recovery codes, and the verification step of a
`pending_2fa` session.

The secret being enrolled is not stored anywhere before it is confirmed: the enrolment page carries it sealed
(AES-GCM, key `totp-enrolment`, the session id as associated data) in a hidden field, so `GET` changes no state
(02 §4), a reload or a second tab cannot clobber a secret already scanned, and the sealed value is useless outside
the session it was issued to. Once one code is confirmed, the secret is stored sealed with the
`at-rest-encryption` key and the member id as associated data; the `bytea` column holds the sealed token's ASCII.

Time comes from the runtime clock. A code is accepted for steps t-1, t and t+1 when its step is greater than the
member's `totp_last_used_step` (no replay); the matched step becomes the new `totp_last_used_step`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

import pyotp
import segno
from cryptography.exceptions import InvalidTag
from sqlalchemy import delete, insert, select, update

from duro.config import Settings
from duro.context import RequestMeta
from duro.dashboard.repository import AccountStore, member_actor
from duro.dashboard.sessions import PENDING_2FA, DashboardSession, SessionStore, expired
from duro.db.engine import Database
from duro.db.executor import Connection
from duro.kit.clock import Clock
from duro.kit.crypto import constant_time_equals, derive_key, hmac_sha256
from duro.kit.ids import new_id
from duro.kit.secretbox import open_sealed, seal
from duro.models.core import members
from duro.models.dashboard import recovery_codes, sessions

STEP_SECONDS = 30
DIGITS = 6
WINDOW = (-1, 0, 1)
MAX_FAILED_2FA = 5
RECOVERY_CODE_COUNT = 10
AT_REST_LABEL = "at-rest-encryption"
ENROLMENT_LABEL = "totp-enrolment"
RECOVERY_PEPPER_LABEL = "recovery-pepper"
ISSUER = "Duro"
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
_RECOVERY_HALF = 5  # "xxxxx-xxxxx": 10 characters of a 31-letter alphabet, ~49.5 bits


# --- primitives ---


def new_secret() -> str:
    """160 random bits as base32 (32 characters, no padding)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, email: str) -> str:
    """`otpauth://totp/Duro:<email>?secret=…&issuer=Duro` (02 §5); the email is percent-encoded except `@`."""
    return f"otpauth://totp/{ISSUER}:{quote(email, safe='@')}?secret={secret}&issuer={ISSUER}"


def qr_svg(uri: str) -> str:
    """The URI as an inline SVG QR code (no script, no external resource, no `data:` URL)."""
    return str(segno.make(uri, error="m").svg_inline(scale=4, title="QR code for your authenticator app"))


def current_step(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def match_step(secret: str, code: str, now: datetime, last_used_step: int | None) -> int | None:
    """The step (t-1, t or t+1) whose code equals `code` and that is newer than `last_used_step`; else None."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    step_now = current_step(now)
    found = None
    for offset in WINDOW:  # every candidate is computed, so timing does not reveal which one matched
        step = step_now + offset
        if last_used_step is not None and step <= last_used_step:
            continue
        if constant_time_equals(totp.at(step * STEP_SECONDS), code) and found is None:
            found = step
    return found


def seal_pending(settings: Settings, session_id: str, secret: str) -> str:
    return seal(settings.root_secret, ENROLMENT_LABEL, secret, f"enrol:{session_id}")


def open_pending(settings: Settings, session_id: str, sealed: str) -> str | None:
    try:
        secret = open_sealed(settings.root_secret, ENROLMENT_LABEL, sealed, f"enrol:{session_id}")
    except (InvalidTag, ValueError):
        return None
    return secret if len(secret) == 32 else None


def seal_at_rest(settings: Settings, member_id: str, secret: str) -> bytes:
    return seal(settings.root_secret, AT_REST_LABEL, secret, member_id).encode("ascii")


def open_at_rest(settings: Settings, member_id: str, stored: bytes) -> str | None:
    try:
        return open_sealed(settings.root_secret, AT_REST_LABEL, bytes(stored).decode("ascii"), member_id)
    except (InvalidTag, ValueError, UnicodeDecodeError):
        return None


def new_recovery_code() -> str:
    half = [secrets.choice(_RECOVERY_ALPHABET) for _ in range(2 * _RECOVERY_HALF)]
    return "".join(half[:_RECOVERY_HALF]) + "-" + "".join(half[_RECOVERY_HALF:])


def normalise_recovery_code(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def recovery_hmac(settings: Settings, code: str) -> str:
    key = derive_key(settings.root_secret, RECOVERY_PEPPER_LABEL)
    return hmac_sha256(key, normalise_recovery_code(code)).hex()


# --- SQL ---


async def _member_for_update(conn: Connection, member_id: str) -> Any:
    return (await conn.execute(select(members).where(members.c.id == member_id).with_for_update())).first()


async def _session_for_update(conn: Connection, session_id: str) -> Any:
    return (await conn.execute(select(sessions).where(sessions.c.id == session_id).with_for_update())).first()


async def _rotate(conn: Connection, old: Any, now: datetime, meta: RequestMeta) -> tuple[str, str]:
    """02 §4: a new `active` row with a new token replaces the old one (no fixation). Returns (token, id)."""
    store = SessionStore(conn)
    token = await store.create(
        member_id=old.member_id,
        tenant_id=old.tenant_id,
        state="active",
        now=now,
        ip=meta.ip,
        user_agent=meta.user_agent,
    )
    new = await store.find(token)
    if old.current_mode != "test":
        await conn.execute(update(sessions).where(sessions.c.id == new.id).values(current_mode=old.current_mode))
    await store.delete(old.id)
    return token, str(new.id)


async def remaining_recovery_codes(conn: Connection, member_id: str) -> int:
    unused = (recovery_codes.c.member_id == member_id, recovery_codes.c.used_at.is_(None))
    return len((await conn.execute(select(recovery_codes.c.id).where(*unused))).all())


# --- enrolment ---


@dataclass(frozen=True, slots=True)
class EnrolmentForm:
    sealed: str
    secret: str
    uri: str
    svg: str


def enrolment_form(settings: Settings, session: DashboardSession, sealed: str | None = None) -> EnrolmentForm:
    """The page's secret: the one sealed in the resubmitted form when it is still valid for this session, else a
    fresh one."""
    secret = open_pending(settings, session.id, sealed) if sealed else None
    if secret is None:
        secret = new_secret()
        sealed = seal_pending(settings, session.id, secret)
    assert sealed is not None
    uri = provisioning_uri(secret, session.email)
    return EnrolmentForm(sealed, secret, uri, qr_svg(uri))


async def member_has_totp(db: Database, member_id: str) -> bool:
    async with db.core_transaction() as conn:
        row = (await conn.execute(select(members.c.totp_enabled_at).where(members.c.id == member_id))).first()
    return row is not None and row.totp_enabled_at is not None


@dataclass(frozen=True, slots=True)
class Enrolled:
    token: str
    session_id: str
    codes: list[str]


EnrolProblem = Literal["invalid_code", "expired_form", "already_enrolled", "session_gone"]


async def enrol(
    db: Database,
    settings: Settings,
    clock: Clock,
    session: DashboardSession,
    *,
    sealed: str,
    code: str,
    meta: RequestMeta,
) -> Enrolled | EnrolProblem:
    """Confirms one code of the pending secret, then stores it encrypted, sets `totp_enabled_at` and
    `totp_last_used_step`, replaces the member's recovery codes with 10 new ones (HMAC only), rotates the session
    to `active` and audits `member.two_factor_enrolled`. One transaction."""
    secret = open_pending(settings, session.id, sealed)
    if secret is None:
        return "expired_form"
    now = clock.now()
    async with db.core_transaction() as conn:
        old = await _session_for_update(conn, session.id)
        if old is None or expired(old, now):
            return "session_gone"
        member = await _member_for_update(conn, session.member_id)
        if member is None:
            return "session_gone"
        if member.totp_enabled_at is not None:
            return "already_enrolled"
        step = match_step(secret, code, now, None)
        if step is None:
            return "invalid_code"
        await conn.execute(
            update(members)
            .where(members.c.id == member.id)
            .values(
                totp_secret_enc=seal_at_rest(settings, member.id, secret),
                totp_enabled_at=now,
                totp_last_used_step=step,
                updated_at=now,
            )
        )
        codes = [new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
        await conn.execute(delete(recovery_codes).where(recovery_codes.c.member_id == member.id))
        await conn.execute(
            insert(recovery_codes).values(
                [
                    {
                        "id": new_id("rec"),
                        "member_id": member.id,
                        "code_hmac": recovery_hmac(settings, c),
                        "created_at": now,
                    }
                    for c in codes
                ]
            )
        )
        token, session_id = await _rotate(conn, old, now, meta)
        await AccountStore(conn).audit(
            member.tenant_id,
            "member.two_factor_enrolled",
            at=now,
            actor=member_actor(member),
            meta=meta,
            target_type="member",
            target_id=member.id,
        )
    return Enrolled(token, session_id, codes)


# --- verification ---


@dataclass(frozen=True, slots=True)
class Verified:
    token: str
    session_id: str
    recovery_codes_left: int | None  # set when a recovery code was used


@dataclass(frozen=True, slots=True)
class Rejected:
    attempts_left: int


@dataclass(frozen=True, slots=True)
class LockedOut:
    """The fifth wrong entry: the session is deleted and the failure audited as a failed login."""

    email: str


async def verify(
    db: Database,
    settings: Settings,
    clock: Clock,
    session: DashboardSession,
    *,
    code: str,
    meta: RequestMeta,
) -> Verified | Rejected | LockedOut | None:
    """Checks a TOTP code (6 digits) or else an unused recovery code for a `pending_2fa` session. Success rotates
    the token into an `active` session. A wrong entry counts in `failed_2fa`; the fifth deletes the session and
    audits `session.login_failed`. None when the session is no longer pending (gone, expired, already done)."""
    now = clock.now()
    async with db.core_transaction() as conn:
        row = await _session_for_update(conn, session.id)
        if row is None or row.state != "pending_2fa" or expired(row, now) or now >= row.created_at + PENDING_2FA:
            return None
        member = await _member_for_update(conn, row.member_id)
        if member is None or member.totp_enabled_at is None:
            return None
        codes_left: int | None = None
        ok = False
        candidate = code.strip().replace(" ", "")
        if candidate.isdigit():
            secret = open_at_rest(settings, member.id, member.totp_secret_enc) if member.totp_secret_enc else None
            step = match_step(secret, candidate, now, member.totp_last_used_step) if secret else None
            if step is not None:
                ok = True
                await conn.execute(
                    update(members).where(members.c.id == member.id).values(totp_last_used_step=step, updated_at=now)
                )
        elif normalise_recovery_code(candidate):
            used = await conn.execute(
                update(recovery_codes)
                .where(
                    recovery_codes.c.member_id == member.id,
                    recovery_codes.c.code_hmac == recovery_hmac(settings, candidate),
                    recovery_codes.c.used_at.is_(None),
                )
                .values(used_at=now)
                .returning(recovery_codes.c.id)
            )
            if used.first() is not None:
                ok = True
                codes_left = await remaining_recovery_codes(conn, member.id)
        if ok:
            token, session_id = await _rotate(conn, row, now, meta)
            return Verified(token, session_id, codes_left)
        failed = row.failed_2fa + 1
        if failed < MAX_FAILED_2FA:
            await conn.execute(update(sessions).where(sessions.c.id == row.id).values(failed_2fa=failed))
            return Rejected(MAX_FAILED_2FA - failed)
        await SessionStore(conn).delete(row.id)
        await AccountStore(conn).audit(
            member.tenant_id,
            "session.login_failed",
            at=now,
            actor=member_actor(member),
            meta=meta,
            target_type="member",
            target_id=member.id,
            after={"reason": "two_factor"},
        )
        return LockedOut(member.email)
