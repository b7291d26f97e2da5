"""Hashing, constant-time comparison, HMAC, key derivation and random tokens (01 §3)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def sha256_hex(value: str | bytes) -> str:
    data = value.encode() if isinstance(value, str) else value
    return hashlib.sha256(data).hexdigest()


def constant_time_equals(a: str | bytes, b: str | bytes) -> bool:
    ab = a.encode() if isinstance(a, str) else a
    bb = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(ab, bb)


def hmac_sha256(key: bytes, message: str | bytes) -> bytes:
    data = message.encode() if isinstance(message, str) else message
    return hmac.new(key, data, hashlib.sha256).digest()


def derive_key(root: bytes, label: str) -> bytes:
    """Sub-keys: HMAC-SHA256(DURO_SECRET_KEY, label)."""
    return hmac_sha256(root, label)


def random_base62(length: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(length))


def is_base62(text: str) -> bool:
    return all(c in BASE62 for c in text)
