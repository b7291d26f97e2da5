"""Identity rules (06 §6): OTP challenges, verification, sign-out everywhere, identity-owned payment methods.

Nothing here commits: the router opens one transaction per unit of work. OTP codes exist in clear only in memory
and in the rendered WhatsApp message (the outbox row, 06 §9); the challenge stores HMAC-SHA256(pepper, "id:code").
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from duro.config import Settings
from duro.db.executor import Connection
from duro.db.repository import DbRow
from duro.gateway.simulator_rules import (
    card_expired,
    fingerprint,
    lookup,
    normalize_number,
)
from duro.identity.auth import Identity
from duro.identity.repository import IdentityMethodRepository, IdentityRepository
from duro.identity.schemas import IdentityPaymentMethodCreate
from duro.kit.crypto import constant_time_equals, derive_key, hmac_sha256
from duro.kit.errors import DuroError, conflict, invalid_field, not_found, rate_limited, unauthorized
from duro.kit.ids import new_id
from duro.kit.jsonenc import format_ts
from duro.kit.phone import normalize_phone
from duro.notifications.outbox import notify_platform
from duro.payment_methods.instruments import simulator_method_values
from duro.payment_methods.service import MAX_METHODS_PER_OWNER, payment_method_json

CODE_TTL: Final = timedelta(minutes=10)
RESEND_SPACING: Final = timedelta(seconds=30)
PHONE_WINDOW: Final = timedelta(minutes=15)
PHONE_MAX_CHALLENGES: Final = 5
MAX_ATTEMPTS: Final = 5


def normalized_phone(raw: str) -> str:
    try:
        return normalize_phone(raw)
    except ValueError as exc:
        raise invalid_field("phone", "not a valid phone number") from exc


def code_hash(settings: Settings, challenge_id: str, code: str) -> str:
    """HMAC-SHA256(otp-pepper, "{challengeId}:{code}") in hex (01 §3)."""
    return hmac_sha256(derive_key(settings.root_secret, "otp-pepper"), f"{challenge_id}:{code}").hex()


def identity_json(row: DbRow | Identity) -> dict[str, Any]:
    """`{object: "identity", id, phone, verifiedAt, lastVerifiedAt, createdAt}` (06 §6)."""
    if isinstance(row, Identity):
        values = (row.id, row.phone, row.verified_at, row.last_verified_at, row.created_at)
    else:
        values = (row["id"], row["phone"], row["verified_at"], row["last_verified_at"], row["created_at"])
    identity_id, phone, verified_at, last_verified_at, created_at = values
    return {
        "object": "identity",
        "id": identity_id,
        "phone": phone,
        "verifiedAt": format_ts(verified_at),
        "lastVerifiedAt": format_ts(last_verified_at),
        "createdAt": format_ts(created_at),
    }


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


# --- OTP request ---


@dataclass(frozen=True, slots=True)
class OtpQueued:
    body: dict[str, Any]
    notification_id: str | None  # sent right after the commit


async def request_otp(conn: Connection, settings: Settings, *, phone: str, ip: str, now: datetime) -> OtpQueued:
    """Create a challenge for an already normalised phone (06 §6 steps 2–5): per-phone limits counted from
    `otp_challenges` rows under a per-phone lock (429 with `Retry-After`), earlier open challenges superseded, the
    code queued as the platform `otp` WhatsApp message in the same transaction."""
    repo = IdentityRepository(conn)
    await repo.lock_phone(phone)
    recent = await repo.recent_challenges(phone, now - PHONE_WINDOW)
    waits: list[int] = []
    if len(recent) >= PHONE_MAX_CHALLENGES:
        # The window frees a slot when the oldest challenge that keeps the count at the maximum leaves it.
        waits.append(_seconds_until(recent[len(recent) - PHONE_MAX_CHALLENGES] + PHONE_WINDOW, now))
    if recent and recent[-1] + RESEND_SPACING > now:
        waits.append(_seconds_until(recent[-1] + RESEND_SPACING, now))
    if waits:
        raise rate_limited(max(waits))

    await repo.supersede_open(phone, now)
    challenge_id = new_id("otp")
    code = f"{secrets.randbelow(10**6):06d}"
    expires_at = now + CODE_TTL
    await repo.insert_challenge(
        {
            "id": challenge_id,
            "phone": phone,
            "code_hash": code_hash(settings, challenge_id, code),
            "attempts": 0,
            "expires_at": expires_at,
            "ip": ip,
            "created_at": now,
        }
    )
    notification_id = await notify_platform(
        conn,
        "otp",
        recipient=phone,
        channel="whatsapp",
        values={"code": code},
        dedup_key=f"otp_{challenge_id}",
        at=now,
        language=settings.whatsapp_language,
        whatsapp_name=settings.whatsapp_otp_template,
    )
    body = {"expiresAt": format_ts(expires_at), "resendAfter": format_ts(now + RESEND_SPACING)}
    return OtpQueued(body, notification_id)


# --- OTP verify ---


def invalid_code() -> DuroError:
    return unauthorized("invalid_code", "The code is wrong, expired or already used; request a new one")


async def verify_otp(conn: Connection, settings: Settings, *, phone: str, code: str, now: datetime) -> DbRow | None:
    """The identity proven by `code` for the phone's newest challenge, or None (the caller answers 401
    `invalid_code` after committing: a wrong code's attempt must be kept).

    The newest challenge is locked (`FOR UPDATE`), so concurrent guesses are compared one at a time and a challenge
    gets at most 5 comparisons. A wrong code increments `attempts` atomically; the fifth locks the challenge, after
    which even the right code is refused."""
    repo = IdentityRepository(conn)
    challenge = await repo.newest_challenge(phone)
    if challenge is None:
        # Same work as a real comparison, so an unknown phone does not answer faster.
        constant_time_equals(code_hash(settings, "otp_none", code), code_hash(settings, "otp_none", "000000x"))
        return None
    open_ = (
        challenge["consumed_at"] is None
        and challenge["superseded_at"] is None
        and challenge["attempts"] < MAX_ATTEMPTS
        and challenge["expires_at"] > now
    )
    if not open_:
        return None
    if not constant_time_equals(code_hash(settings, challenge["id"], code), challenge["code_hash"]):
        await repo.count_attempt(challenge["id"])
        return None
    if not await repo.consume(challenge["id"], now):
        return None
    return await repo.upsert_verified(new_id("idn"), phone, now)


async def logout(conn: Connection, identity: Identity, now: datetime) -> None:
    """Sign out everywhere: tokens issued before `now` are refused from now on (02 §3)."""
    await IdentityRepository(conn).revoke_tokens(identity.id, now)


# --- identity-owned payment methods (03 §1.3) ---


async def list_methods(conn: Connection, identity: Identity) -> list[dict[str, Any]]:
    rows = await IdentityMethodRepository(conn, identity.id).list(MAX_METHODS_PER_OWNER)
    return [payment_method_json(r, None) for r in rows]


async def add_method(
    conn: Connection, identity: Identity, body: IdentityPaymentMethodCreate, now: datetime
) -> tuple[dict[str, Any], bool]:
    """Save a simulator method for the identity in the connection's mode; the method and whether it was created
    (201) rather than the one the identity already has for this number on this rail (200).

    Both modes: in this release the simulator is the gateway of live mode too (03 §2), and live methods come from
    checkout or the portal (03 §1.3), which is this endpoint. Any other number is 422 `unknown_test_number`, so real
    card numbers are never stored. The identity row is locked first, so the duplicate check and the 50-method count
    of one identity cannot race."""
    if await IdentityRepository(conn).get(identity.id, for_update=True) is None:
        raise unauthorized("invalid_credential", "The identity token is invalid or was signed out")
    rail, number = body.resolved_rail, normalize_number(body.number)
    if lookup(rail, number) is None:
        raise invalid_field(body.number_path, "not a simulator test number (03 §2)", "unknown_test_number")
    card = body.test_card
    if card is not None and card_expired(card.exp_month, card.exp_year, now):
        path = "testCard.expYear" if card.exp_year < now.year else "testCard.expMonth"
        raise invalid_field(path, "the card expired before the current month", "invalid_expiry")

    repo = IdentityMethodRepository(conn, identity.id)
    fp = fingerprint(rail, number)
    existing = await repo.by_fingerprint(fp)
    if existing is not None:
        return payment_method_json(existing, None), False
    if await repo.count() >= MAX_METHODS_PER_OWNER:
        raise conflict(
            "payment_method_limit_reached",
            f"An identity holds at most {MAX_METHODS_PER_OWNER} payment methods per mode; delete one first",
        )
    values = simulator_method_values(
        rail,
        number,
        exp_month=card.exp_month if card is not None else None,
        exp_year=card.exp_year if card is not None else None,
        now=now,
    )
    method = await repo.insert_if_new({**values, "status": "active"})
    if method is None:  # a path that does not lock the identity saved it meanwhile: answer that one
        method = await repo.by_fingerprint(fp)
        assert method is not None
        return payment_method_json(method, None), False
    return payment_method_json(method, None), True


async def delete_method(conn: Connection, identity: Identity, pm_id: str) -> dict[str, Any]:
    """Delete one of the identity's methods in the connection's mode: 404 when it is not the identity's (another
    identity's, a customer's, pending, or of the other mode); 409 `payment_method_in_use` while a subscription of
    any tenant that has not ended charges it. Locking the method `FOR UPDATE` waits for a checkout or portal
    transaction holding it `FOR KEY SHARE` (payment_methods.repository.lock_for_use), then sees its subscription."""
    await IdentityRepository(conn).get(identity.id, for_update=True)
    repo = IdentityMethodRepository(conn, identity.id)
    method = await repo.get_for_update(pm_id)
    if method is None:
        raise not_found("No such payment method")
    if await repo.used_by_live_subscription(method["id"]):
        raise conflict("payment_method_in_use", "A subscription that has not ended uses this payment method")
    await repo.delete(method["id"])
    return {"id": method["id"], "deleted": True}
