"""JWTs for merchants (OAuth access tokens) and identities, via PyJWT (02 §3).

The algorithm is pinned by configuration, never read from the token; `kid` tells the token families apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from duro.kit.crypto import derive_key
from duro.kit.ids import new_ulid

Kid = Literal["merchant", "identity"]
AUDIENCE: dict[Kid, str] = {"merchant": "duro:v1", "identity": "duro:identity"}
LEEWAY_SECONDS = 30
TTL_SECONDS = 3600


class TokenExpired(Exception):
    pass


class TokenInvalid(Exception):
    pass


@dataclass(frozen=True)
class JwtKeys:
    alg: str
    signing: dict[Kid, Any]
    verifying: dict[Kid, Any]


def build_keys(root_secret: bytes, alg: str, private_key_file: Path | None) -> JwtKeys:
    if alg == "HS256":
        keys: dict[Kid, Any] = {
            "merchant": derive_key(root_secret, "jwt-merchant"),
            "identity": derive_key(root_secret, "jwt-identity"),
        }
        return JwtKeys(alg, keys, keys)
    if alg == "EdDSA":
        if private_key_file is None:
            raise ValueError("DURO_JWT_PRIVATE_KEY_FILE is required with DURO_JWT_ALG=EdDSA")
        private = serialization.load_pem_private_key(private_key_file.read_bytes(), password=None)
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError("DURO_JWT_PRIVATE_KEY_FILE must hold an Ed25519 private key")
        public: Ed25519PublicKey = private.public_key()
        # Identity tokens stay HS256 with their derived key: only merchant tokens are ever verified elsewhere.
        return JwtKeys(
            alg,
            {"merchant": private, "identity": derive_key(root_secret, "jwt-identity")},
            {"merchant": public, "identity": derive_key(root_secret, "jwt-identity")},
        )
    raise ValueError(f"unsupported JWT algorithm {alg}")


class JwtCodec:
    def __init__(self, keys: JwtKeys, issuer: str) -> None:
        self.keys = keys
        self.issuer = issuer

    def _alg(self, kid: Kid) -> str:
        return self.keys.alg if kid == "merchant" else "HS256"

    def issue(self, kid: Kid, subject: str, claims: dict[str, Any], now: int) -> str:
        payload = {
            "iss": self.issuer,
            "aud": AUDIENCE[kid],
            "sub": subject,
            **claims,
            "iat": now,
            "nbf": now,
            "exp": now + TTL_SECONDS,
            "jti": new_ulid(),
        }
        return jwt.encode(payload, self.keys.signing[kid], algorithm=self._alg(kid), headers={"kid": kid})

    @staticmethod
    def peek_kid(token: str) -> str | None:
        """The unverified `kid` header, only to route the token to the right verifier."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return None
        kid = header.get("kid")
        return kid if isinstance(kid, str) else None

    def verify(self, kid: Kid, token: str, now: int) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.keys.verifying[kid],
                algorithms=[self._alg(kid)],
                audience=AUDIENCE[kid],
                issuer=self.issuer,
                # Time claims are checked below against our clock, never the system's.
                options={
                    "require": ["exp", "iat", "sub", "aud", "iss"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise TokenInvalid from exc
        try:
            exp = int(claims["exp"])
            nbf = int(claims.get("nbf", claims["iat"]))
        except (TypeError, ValueError) as exc:
            raise TokenInvalid from exc
        if exp + LEEWAY_SECONDS < now:
            raise TokenExpired
        if nbf - LEEWAY_SECONDS > now:
            raise TokenInvalid
        return claims
