"""Identity-token authentication for the customer API (`/identity/…`, `/portal/subscriptions…`, checkout pay).

Use as FastAPI dependencies:

    identity: Identity = Depends(require_identity)           # 401 without a valid identity token
    identity: Identity | None = Depends(optional_identity)   # None without an Authorization header

Answers (02 §2): no header → 401 `missing_credential`; `sk_`/`pk_` keys or a merchant JWT → 401
`wrong_credential_kind`; a JWT past `exp` → 401 `expired_credential`; anything else wrong — bad signature, unknown
identity, or `iat` before the identity's `tokensValidAfter` (logout) → 401 `invalid_credential`. A valid token is
then limited to 10 requests per second per identity (01 §9, 429 with `Retry-After`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import Request

from duro.identity.repository import IdentityRepository
from duro.identity.tokens import TokenExpired, TokenInvalid, verify_identity_token
from duro.kit.errors import DuroError, rate_limited, unauthorized
from duro.kit.jwt import JwtCodec
from duro.kit.ratelimit import per_second
from duro.runtime import Runtime

IDENTITY_RATE_PER_SECOND = 10


@dataclass(frozen=True, slots=True)
class Identity:
    """A verified phone identity, as loaded for this request (06 §6)."""

    id: str
    phone: str  # E.164
    verified_at: datetime
    last_verified_at: datetime
    tokens_valid_after: datetime | None
    created_at: datetime
    token_issued_at: datetime  # `iat` of the token this request presented


def _invalid() -> DuroError:
    return unauthorized("invalid_credential", "The identity token is invalid or was signed out")


def _wrong_kind() -> DuroError:
    return unauthorized("wrong_credential_kind", "This surface accepts identity tokens only")


async def require_identity(request: Request) -> Identity:
    """The identity of the request's `Authorization: Bearer <identity token>`, or a 401 (see module doc)."""
    found = await optional_identity(request)
    if found is None:
        raise unauthorized("missing_credential", "No credential was sent: use Authorization: Bearer <identity token>")
    return found


async def optional_identity(request: Request) -> Identity | None:
    """Like `require_identity`, but None when no `Authorization` header was sent. A header that is present but
    not a valid identity token is still a 401 (never silently treated as anonymous)."""
    header = request.headers.get("authorization")
    if not header:
        return None
    runtime: Runtime = request.app.state.runtime
    identity = await authenticate(runtime, header)
    verdict = await runtime.limiter.hit(per_second(IDENTITY_RATE_PER_SECOND), "identity", identity.id)
    if not verdict.allowed:
        raise rate_limited(verdict.reset_seconds)
    request.state.identity = identity
    return identity


async def authenticate(runtime: Runtime, authorization: str) -> Identity:
    """Resolve an `Authorization` header value to a live identity (no rate limit)."""
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _invalid()
    if token.startswith(("sk_", "pk_")):
        raise _wrong_kind()
    if token.count(".") != 2:
        raise _invalid()
    kid = JwtCodec.peek_kid(token)
    if kid == "merchant":
        raise _wrong_kind()
    if kid != "identity":
        raise _invalid()
    now = runtime.clock.now()
    try:
        claims = verify_identity_token(runtime.jwt, token, now)
    except TokenExpired as exc:
        raise unauthorized("expired_credential", "The identity token has expired; verify the phone again") from exc
    except TokenInvalid as exc:
        raise _invalid() from exc
    async with runtime.db.core_transaction() as conn:
        row = await IdentityRepository(conn).get(claims["sub"])
    if row is None or row["phone"] != claims["phone"]:
        raise _invalid()
    issued_at = datetime.fromtimestamp(int(claims["iat"]), UTC)
    valid_after: datetime | None = row["tokens_valid_after"]
    # 02 §3: refused when `iat` < `tokensValidAfter`. `iat` has whole seconds, so a token minted later in the same
    # second as a logout is refused too (the safe side: no token from before the logout can pass).
    if valid_after is not None and issued_at < valid_after:
        raise _invalid()
    return Identity(
        id=row["id"],
        phone=row["phone"],
        verified_at=row["verified_at"],
        last_verified_at=row["last_verified_at"],
        tokens_valid_after=valid_after,
        created_at=row["created_at"],
        token_issued_at=issued_at,
    )
