"""Formats of machine credentials (01 §3). The prefix alone decides the kind and the mode."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from duro.db.engine import Mode
from duro.kit.crypto import is_base62, random_base62, sha256_hex

KeyKind = Literal["secret", "publishable"]

_KEY_PREFIX: dict[tuple[KeyKind, Mode], str] = {
    ("secret", "test"): "sk_test_",
    ("secret", "live"): "sk_live_",
    ("publishable", "test"): "pk_test_",
    ("publishable", "live"): "pk_live_",
}
_KEY_BY_PREFIX = {v: k for k, v in _KEY_PREFIX.items()}
SECRET_LEN = 43
CLIENT_ID_LEN = 24


@dataclass(frozen=True, slots=True)
class MintedSecret:
    plaintext: str
    hash: str
    prefix: str
    last4: str


def mint_key(kind: KeyKind, mode: Mode) -> MintedSecret:
    plaintext = _KEY_PREFIX[(kind, mode)] + random_base62(SECRET_LEN)
    return MintedSecret(plaintext, sha256_hex(plaintext), plaintext[:12], plaintext[-4:])


def parse_key(token: str) -> tuple[KeyKind, Mode] | None:
    """Kind and mode of a well-formed `sk_`/`pk_` key, or None."""
    prefix = token[:8]
    found = _KEY_BY_PREFIX.get(prefix)
    if found is None:
        return None
    rest = token[8:]
    if len(rest) != SECRET_LEN or not is_base62(rest):
        return None
    kind, mode = found
    return kind, mode


def mint_client_id(mode: Mode) -> str:
    return f"cid_{mode}_" + random_base62(CLIENT_ID_LEN)


def mint_client_secret(mode: Mode) -> MintedSecret:
    plaintext = f"csec_{mode}_" + random_base62(SECRET_LEN)
    return MintedSecret(plaintext, sha256_hex(plaintext), plaintext[:15], plaintext[-4:])


def client_id_mode(client_id: str) -> Mode | None:
    for mode in ("test", "live"):
        prefix = f"cid_{mode}_"
        rest = client_id[len(prefix) :]
        if client_id.startswith(prefix) and len(rest) == CLIENT_ID_LEN and is_base62(rest):
            return mode
    return None


def client_secret_mode(secret: str) -> Mode | None:
    for mode in ("test", "live"):
        prefix = f"csec_{mode}_"
        rest = secret[len(prefix) :]
        if secret.startswith(prefix) and len(rest) == SECRET_LEN and is_base62(rest):
            return mode
    return None
