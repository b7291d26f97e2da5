"""Turns the `Authorization` header of a /v1 request into a Principal, or a 401 (02 §2)."""

from __future__ import annotations

from typing import Any, cast

from duro.auth.principal import Principal
from duro.auth.tokens import parse_key
from duro.credentials.repository import CredentialLookup
from duro.db.engine import Database, Mode
from duro.kit.clock import Clock, monotonic
from duro.kit.crypto import sha256_hex
from duro.kit.errors import DuroError, unauthorized
from duro.kit.ids import has_prefix
from duro.kit.jwt import JwtCodec, TokenExpired, TokenInvalid

CLIENT_CACHE_SECONDS = 30.0

# Token families that are real Duro credentials but not merchant ones. Anything minted for customers
# (identity tokens today) is listed here so /v1 answers `wrong_credential_kind`, never a tenant.
NON_MERCHANT_KIDS = frozenset({"identity"})


def _invalid() -> DuroError:
    return unauthorized("invalid_credential", "The credential is invalid or revoked")


class CredentialResolver:
    def __init__(self, db: Database, jwt_codec: JwtCodec, clock: Clock) -> None:
        self.db = db
        self.jwt = jwt_codec
        self.clock = clock
        # (mode, oac id) -> (alive, checked at): revocation reaches every process within 30 s.
        self._client_cache: dict[tuple[Mode, str], tuple[bool, float]] = {}

    async def resolve(self, authorization: str | None) -> Principal:
        if not authorization:
            raise unauthorized("missing_credential", "No credential was sent: use Authorization: Bearer <key>")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _invalid()
        if token.startswith(("sk_", "pk_")):
            return await self._api_key(token)
        if token.count(".") == 2:
            return await self._jwt(token)
        raise _invalid()

    async def _api_key(self, token: str) -> Principal:
        parsed = parse_key(token)
        if parsed is None:
            raise _invalid()
        kind, mode = parsed
        async with self.db.reader(mode) as conn:
            row = await CredentialLookup(conn).api_key_by_hash(sha256_hex(token))
        if row is None or row.revoked_at is not None or row.kind != kind:
            raise _invalid()
        return Principal(
            tenant_id=row.tenant_id,
            mode=mode,
            kind="secret_key" if kind == "secret" else "publishable_key",
            credential_id=row.id,
            label=row.prefix,
        )

    async def _jwt(self, token: str) -> Principal:
        kid = JwtCodec.peek_kid(token)
        if kid in NON_MERCHANT_KIDS:
            raise unauthorized("wrong_credential_kind", "This token is not accepted on the merchant API")
        if kid != "merchant":
            raise _invalid()
        now = int(self.clock.now().timestamp())
        try:
            claims = self.jwt.verify("merchant", token, now)
        except TokenExpired as exc:
            raise unauthorized("expired_credential", "The access token has expired") from exc
        except TokenInvalid as exc:
            raise _invalid() from exc
        mode = claims.get("mode")
        tenant_id = claims.get("tenant")
        subject = claims.get("sub")
        if mode not in ("test", "live") or not isinstance(tenant_id, str) or not isinstance(subject, str):
            raise _invalid()
        if not has_prefix(subject, "oac") or not has_prefix(tenant_id, "ten"):
            raise _invalid()
        mode = cast(Mode, mode)
        if not await self._client_alive(mode, subject, tenant_id):
            raise _invalid()
        return Principal(tenant_id=tenant_id, mode=mode, kind="oauth", credential_id=subject, label=subject)

    async def _client_alive(self, mode: Mode, client_pk: str, tenant_id: str) -> bool:
        key = (mode, client_pk)
        cached = self._client_cache.get(key)
        if cached is not None and monotonic() - cached[1] < CLIENT_CACHE_SECONDS:
            return cached[0]
        async with self.db.reader(mode) as conn:
            row: Any = await CredentialLookup(conn).oauth_client_by_pk(client_pk, tenant_id)
        alive = row is not None and row.revoked_at is None
        if len(self._client_cache) > 10_000:
            self._client_cache.clear()
        self._client_cache[key] = (alive, monotonic())
        return alive

    def forget_client(self, mode: Mode, client_pk: str) -> None:
        self._client_cache.pop((mode, client_pk), None)
