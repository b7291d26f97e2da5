"""Sender side of webhook signing (05 §2, §3), standard library only.

Both header families use the same key: the bytes of the base64 part of the ``whsec_`` secret. ``Duro-Signature`` is
``t=<unix seconds>,v1=<hex>`` over ``"{t}.{body}"``; ``webhook-signature`` is ``v1,<base64>`` over
``"{webhook-id}.{t}.{body}"`` (Standard Webhooks). With two active secrets (rotation) the current one comes first.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets as _secrets
from collections.abc import Mapping, Sequence
from typing import Any, Final

from duro.webhooks.verify import _decode_secret

SECRET_PREFIX: Final = "whsec_"
SECRET_BYTES: Final = 32
USER_AGENT: Final = "Duro-Webhooks/1"

#: Envelope keys in the order of 05 §2.
ENVELOPE_KEYS: Final = ("id", "type", "createdAt", "livemode", "tenantId", "data")


def generate_secret() -> str:
    """A new endpoint secret: ``whsec_`` + standard base64 (with padding) of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret; ``ValueError`` when it is not ``whsec_`` + valid, non-empty base64.
    The same rule as the receiver's ``invalid_secret`` check."""
    return _decode_secret(secret)


def duro_digest(key: bytes, timestamp: str, body: bytes) -> bytes:
    """HMAC-SHA256 over ``"{t}.{body}"`` (the ``Duro-Signature`` family)."""
    return hmac.new(key, timestamp.encode("ascii") + b"." + body, hashlib.sha256).digest()


def standard_digest(key: bytes, message_id: str, timestamp: str, body: bytes) -> bytes:
    """HMAC-SHA256 over ``"{webhook-id}.{t}.{body}"`` (the Standard Webhooks family)."""
    return hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()


def event_body(event: Mapping[str, Any]) -> bytes:
    """The exact request body of an event: compact UTF-8 JSON, non-ASCII written as itself, envelope keys in the
    order of 05 §2 (nested objects keep their own order). Missing or extra envelope keys are a ``ValueError``."""
    missing = [k for k in ENVELOPE_KEYS if k not in event]
    extra = sorted(k for k in event if k not in ENVELOPE_KEYS)
    if missing or extra:
        raise ValueError(f"event envelope keys: missing {missing}, unexpected {extra}")
    ordered = {k: event[k] for k in ENVELOPE_KEYS}
    return json.dumps(ordered, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def _check_timestamp(t: int) -> str:
    if isinstance(t, bool) or not isinstance(t, int) or t < 0:
        raise ValueError("t must be a non-negative integer of unix seconds")
    return str(t)


def sign(body: bytes, event_id: str, t: int, secrets: Sequence[str]) -> dict[str, str]:
    """The ``Duro-Signature`` and ``webhook-signature`` values for one attempt, one signature per active secret in
    the given order (current secret first)."""
    if isinstance(secrets, str):
        raise TypeError("secrets must be a sequence of secrets, current first")
    if not secrets:
        raise ValueError("at least one secret is required")
    if not event_id:
        raise ValueError("event_id is required")
    timestamp = _check_timestamp(t)
    keys = [secret_key(s) for s in secrets]
    duro = ",".join([f"t={timestamp}"] + [f"v1={duro_digest(k, timestamp, body).hex()}" for k in keys])
    standard = " ".join(
        "v1," + base64.b64encode(standard_digest(k, event_id, timestamp, body)).decode("ascii") for k in keys
    )
    return {"Duro-Signature": duro, "webhook-signature": standard}


def _header_value(name: str, value: str) -> str:
    if not value or not value.isascii() or not value.isprintable():
        raise ValueError(f"{name} must be non-empty printable ASCII")
    return value


def delivery_headers(
    *, body: bytes, event_id: str, event_type: str, delivery_id: str, t: int, secrets: Sequence[str]
) -> dict[str, str]:
    """Every header of one delivery attempt, in the order of the table in 05 §3."""
    event_id = _header_value("event_id", event_id)
    signatures = sign(body, event_id, t, secrets)
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Duro-Event-Id": event_id,
        "Duro-Event-Type": _header_value("event_type", event_type),
        "Duro-Delivery-Id": _header_value("delivery_id", delivery_id),
        "Duro-Signature": signatures["Duro-Signature"],
        "webhook-id": event_id,
        "webhook-timestamp": str(t),
        "webhook-signature": signatures["webhook-signature"],
    }
