"""Receiver-side verification of Duro webhooks (05 §4).

Standard library only, so ``duro.webhooks`` imports without the server dependencies::

    from duro.webhooks import WebhookVerificationError, verify

    try:
        event = verify(request_body_bytes, request_headers, "whsec_...")
    except WebhookVerificationError as exc:
        return 400, exc.reason

Steps, in order: pick the header family (``missing_header``), parse it (``invalid_header``) and the secrets
(``invalid_secret``), check the timestamp (``timestamp_outside_tolerance``), compare signatures over the raw bytes
(``no_matching_signature``), and only then parse the JSON (``invalid_payload``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

# The house's one reader of the system clock; like this module it needs only the standard library.
from duro.kit.clock import epoch_seconds

__all__ = ["WebhookVerificationError", "verify"]

_SECRET_PREFIX: Final = "whsec_"
_DURO_HEADER: Final = "duro-signature"
_ID_HEADER: Final = "webhook-id"
_TIMESTAMP_HEADER: Final = "webhook-timestamp"
_SIGNATURE_HEADER: Final = "webhook-signature"
_STANDARD_HEADERS: Final = (_ID_HEADER, _TIMESTAMP_HEADER, _SIGNATURE_HEADER)

REASONS: Final = frozenset(
    {
        "missing_header",
        "invalid_header",
        "invalid_secret",
        "timestamp_outside_tolerance",
        "no_matching_signature",
        "invalid_payload",
    }
)


class WebhookVerificationError(Exception):
    """Verification failed; ``reason`` is one of the codes of 05 §4 (see ``REASONS``)."""

    reason: str

    def __init__(self, reason: str, message: str | None = None) -> None:
        self.reason = reason
        super().__init__(message or reason)


def _decode_secret(secret: object) -> bytes:
    """The HMAC key of a ``whsec_`` secret: the bytes of its (padded, standard) base64 part; ``ValueError`` if the
    secret is not ``whsec_`` + valid, non-empty base64."""
    if not isinstance(secret, str) or not secret.startswith(_SECRET_PREFIX):
        raise ValueError("webhook secret must be a string starting with 'whsec_'")
    try:
        key = base64.b64decode(secret[len(_SECRET_PREFIX) :].encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise ValueError("webhook secret is not valid base64 after 'whsec_'") from None
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def _is_unix_seconds(value: str) -> bool:
    # ASCII digits only (no sign, space, underscore or fraction); bounded so int() never meets its digit limit.
    return 0 < len(value) <= 18 and value.isascii() and value.isdigit()


def _lower_headers(headers: Mapping[str, str]) -> tuple[dict[str, str], set[str]]:
    """Header names matched case-insensitively; also the names given twice (two spellings) with different values."""
    lowered: dict[str, str] = {}
    conflicts: set[str] = set()
    for name, value in headers.items():
        key = str(name).lower()
        if key in lowered and lowered[key] != value:
            conflicts.add(key)
        lowered[key] = value
    return lowered, conflicts


def _parse_duro(value: str) -> tuple[str, list[bytes]]:
    """``t=<unix seconds>,v1=<hex>[,v1=<hex>…]``; unknown keys (other versions) are ignored."""
    timestamp: str | None = None
    signatures: list[bytes] = []
    for item in value.split(","):
        name, sep, content = item.strip().partition("=")
        if not sep:
            raise WebhookVerificationError("invalid_header", "Duro-Signature has an item without '='")
        if name == "t":
            if timestamp is not None or not _is_unix_seconds(content):
                raise WebhookVerificationError("invalid_header", "Duro-Signature needs exactly one integer t")
            timestamp = content
        elif name == "v1" and content:
            try:
                signatures.append(bytes.fromhex(content) if content.isascii() else b"")
            except ValueError:
                signatures.append(b"")  # present but malformed: counts as a signature that cannot match
    if timestamp is None:
        raise WebhookVerificationError("invalid_header", "Duro-Signature has no t")
    if not signatures:
        raise WebhookVerificationError("invalid_header", "Duro-Signature has no v1 signature")
    return timestamp, signatures


def _parse_standard(timestamp: str, value: str) -> list[bytes]:
    """``v1,<base64>`` entries separated by spaces; unknown versions are ignored."""
    if not _is_unix_seconds(timestamp):
        raise WebhookVerificationError("invalid_header", "webhook-timestamp is not an integer")
    signatures: list[bytes] = []
    for entry in value.split():
        version, sep, content = entry.partition(",")
        if not sep:
            raise WebhookVerificationError("invalid_header", "webhook-signature has an entry without ','")
        if version == "v1" and content:
            try:
                signatures.append(base64.b64decode(content.encode("ascii"), validate=True))
            except (UnicodeEncodeError, binascii.Error):
                signatures.append(b"")
    if not signatures:
        raise WebhookVerificationError("invalid_header", "webhook-signature has no v1 signature")
    return signatures


def verify(
    payload: bytes,
    headers: Mapping[str, str],
    secrets: str | Sequence[str],
    *,
    tolerance: int = 300,
    now: int | None = None,
) -> dict[str, Any]:
    """Verify one webhook request and return its event.

    ``payload`` is the raw request body (bytes, exactly as received), ``headers`` any mapping of header names to
    values, ``secrets`` the endpoint secret or, during a rotation, several (any one may match). ``tolerance`` is
    the allowed difference in seconds, in both directions, between ``now`` (default: the current time) and the
    signed timestamp. Raises ``WebhookVerificationError`` with ``.reason`` set.
    """
    # 1. Pick the header family: Duro-Signature when present, else the webhook-* triple.
    lowered, conflicts = _lower_headers(headers)
    used: tuple[str, ...]
    if _DURO_HEADER in lowered:
        used = (_DURO_HEADER,)
    elif all(lowered.get(h) for h in _STANDARD_HEADERS):
        used = _STANDARD_HEADERS
    else:
        raise WebhookVerificationError("missing_header", "neither Duro-Signature nor the webhook-* headers")

    # 2. Parse the header, then the secrets.
    if conflicts.intersection(used):
        raise WebhookVerificationError("invalid_header", "a signature header is given twice with different values")
    message_id: str | None = None
    if used == (_DURO_HEADER,):
        timestamp, received = _parse_duro(lowered[_DURO_HEADER])
    else:
        message_id = lowered[_ID_HEADER].strip()
        timestamp = lowered[_TIMESTAMP_HEADER].strip()
        received = _parse_standard(timestamp, lowered[_SIGNATURE_HEADER])
        if not message_id:
            raise WebhookVerificationError("invalid_header", "webhook-id is empty")

    secret_list = [secrets] if isinstance(secrets, str) else list(secrets)
    if not secret_list:
        raise WebhookVerificationError("invalid_secret", "no secret given")
    try:
        keys = [_decode_secret(s) for s in secret_list]
    except ValueError as exc:
        raise WebhookVerificationError("invalid_secret", str(exc)) from None

    # 3. Timestamp tolerance, both directions; the boundary itself is accepted.
    current = int(epoch_seconds()) if now is None else now
    if abs(current - int(timestamp)) > tolerance:
        raise WebhookVerificationError("timestamp_outside_tolerance", "timestamp outside the tolerance")

    # 4. Every secret against every received v1 signature, over the raw bytes.
    body = bytes(payload)
    # Duro-Signature signs "{t}.{body}"; webhook-signature signs "{webhook-id}.{t}.{body}".
    prefix = (timestamp if message_id is None else f"{message_id}.{timestamp}").encode() + b"."
    matched = False
    for key in keys:
        expected = hmac.new(key, prefix + body, hashlib.sha256).digest()
        for signature in received:
            if hmac.compare_digest(expected, signature):
                matched = True
    if not matched:
        raise WebhookVerificationError("no_matching_signature", "no signature matches the given secrets")

    # 5. Only a verified payload is parsed.
    try:
        event = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both derive from ValueError
        raise WebhookVerificationError("invalid_payload", "payload is not UTF-8 JSON") from None
    if not isinstance(event, dict):
        raise WebhookVerificationError("invalid_payload", "payload is not a JSON object")
    return event


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")
