"""Identity tokens (02 §3): a 60-minute HS256 JWT with `kid: identity`, `aud: "duro:identity"`, `sub` = `idn_…` and
the E.164 `phone`. Not stored; revoked in bulk by the identity's `tokensValidAfter` (checked in `auth.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from duro.kit.jwt import TTL_SECONDS, JwtCodec, Kid, TokenExpired, TokenInvalid

KID: Final[Kid] = "identity"

__all__ = ["KID", "IssuedToken", "TokenExpired", "TokenInvalid", "issue_identity_token", "verify_identity_token"]


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    issued_at: datetime  # whole seconds: the `iat` claim
    expires_at: datetime  # `exp` = `iat` + 3600


def issue_identity_token(codec: JwtCodec, identity_id: str, phone: str, now: datetime) -> IssuedToken:
    iat = int(now.timestamp())
    token = codec.issue(KID, identity_id, {"phone": phone}, iat)
    return IssuedToken(token, datetime.fromtimestamp(iat, UTC), datetime.fromtimestamp(iat + TTL_SECONDS, UTC))


def verify_identity_token(codec: JwtCodec, token: str, now: datetime) -> dict[str, Any]:
    """The claims of a valid identity token; `TokenExpired` past `exp` (30 s leeway), `TokenInvalid` for anything
    else wrong (signature, `aud`, `iss`, algorithm, missing or malformed `sub`/`phone`/`iat`)."""
    claims = codec.verify(KID, token, int(now.timestamp()))
    sub, phone, iat = claims.get("sub"), claims.get("phone"), claims.get("iat")
    if not isinstance(sub, str) or not sub.startswith("idn_") or not isinstance(phone, str):
        raise TokenInvalid
    if not isinstance(iat, int) or isinstance(iat, bool):
        raise TokenInvalid
    return claims
