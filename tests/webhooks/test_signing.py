"""Sender side (05 §2, §3): envelope bytes, both signature families, delivery headers, and interoperability with
the `standardwebhooks` library."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pytest

from duro.webhooks import verify
from duro.webhooks.signing import delivery_headers, event_body, generate_secret, secret_key, sign
from tests.webhooks import (
    BODY,
    DURO_SIGNATURE,
    DURO_SIGNATURE_ROTATION,
    EVENT_ID,
    PREVIOUS_SECRET,
    SECRET,
    WEBHOOK_SIGNATURE,
    WEBHOOK_SIGNATURE_ROTATION,
    T,
)

EXAMPLE_EVENT: dict[str, Any] = {
    "id": EVENT_ID,
    "type": "invoice_paid",
    "createdAt": "2025-01-01T00:00:00.000Z",
    "livemode": False,
    "tenantId": "ten_01JGFJJZ0000000000000000T1",
    "data": {"object": {"id": "inv_01JGFJJZ0000000000000000N1", "amount": 500000, "currency": "NGN", "status": "paid"}},
}


# --- the worked example, byte for byte ---


def test_worked_example_body_is_268_bytes_in_envelope_order() -> None:
    assert len(BODY) == 268
    assert event_body(EXAMPLE_EVENT) == BODY
    # The envelope order is imposed whatever order the mapping has.
    shuffled = dict(reversed(list(EXAMPLE_EVENT.items())))
    assert next(iter(shuffled)) == "data"
    assert event_body(shuffled) == BODY


def test_worked_example_signatures() -> None:
    assert sign(BODY, EVENT_ID, T, [SECRET]) == {
        "Duro-Signature": DURO_SIGNATURE,
        "webhook-signature": WEBHOOK_SIGNATURE,
    }


def test_worked_example_rotation_pair_current_secret_first() -> None:
    assert sign(BODY, EVENT_ID, T, [SECRET, PREVIOUS_SECRET]) == {
        "Duro-Signature": DURO_SIGNATURE_ROTATION,
        "webhook-signature": WEBHOOK_SIGNATURE_ROTATION,
    }
    swapped = sign(BODY, EVENT_ID, T, [PREVIOUS_SECRET, SECRET])
    assert swapped["Duro-Signature"].split(",")[1:] == DURO_SIGNATURE_ROTATION.split(",")[:0:-1]
    assert swapped["webhook-signature"].split(" ") == WEBHOOK_SIGNATURE_ROTATION.split(" ")[::-1]


def test_worked_example_snippet_of_the_spec() -> None:
    import hashlib
    import hmac

    body = BODY.decode()
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    assert key == bytes(range(32)) == secret_key(SECRET)
    duro = hmac.new(key, f"{T}.{body}".encode(), hashlib.sha256).hexdigest()
    std = base64.b64encode(hmac.new(key, f"{EVENT_ID}.{T}.{body}".encode(), hashlib.sha256).digest()).decode()
    assert f"t={T},v1={duro}" == DURO_SIGNATURE
    assert f"v1,{std}" == WEBHOOK_SIGNATURE


def test_delivery_headers_every_header_in_table_order() -> None:
    headers = delivery_headers(
        body=BODY,
        event_id=EVENT_ID,
        event_type="invoice_paid",
        delivery_id="whd_01JGFJJZ0000000000000000D1",
        t=T,
        secrets=[SECRET, PREVIOUS_SECRET],
    )
    assert list(headers.items()) == [
        ("Content-Type", "application/json"),
        ("User-Agent", "Duro-Webhooks/1"),
        ("Duro-Event-Id", EVENT_ID),
        ("Duro-Event-Type", "invoice_paid"),
        ("Duro-Delivery-Id", "whd_01JGFJJZ0000000000000000D1"),
        ("Duro-Signature", DURO_SIGNATURE_ROTATION),
        ("webhook-id", EVENT_ID),
        ("webhook-timestamp", str(T)),
        ("webhook-signature", WEBHOOK_SIGNATURE_ROTATION),
    ]


@pytest.mark.parametrize("field", ["event_id", "event_type", "delivery_id"])
@pytest.mark.parametrize("bad", ["", "evt_1\r\nX-Injected: 1", "évt"])
def test_delivery_headers_reject_values_that_are_not_printable_ascii(field: str, bad: str) -> None:
    kwargs: dict[str, Any] = {
        "body": BODY,
        "event_id": EVENT_ID,
        "event_type": "invoice_paid",
        "delivery_id": "whd_1",
        "t": T,
        "secrets": [SECRET],
    }
    kwargs[field] = bad
    with pytest.raises(ValueError, match=field):
        delivery_headers(**kwargs)


# --- envelope ---


def test_event_body_is_compact_utf8_without_ascii_escapes() -> None:
    event = {**EXAMPLE_EVENT, "data": {"object": {"name": "Zoë Ọlá", "note": "₦5,000 🙂", "nested": {"b": 1, "a": 2}}}}
    body = event_body(event)
    assert "Zoë Ọlá".encode() in body
    assert "₦5,000 🙂".encode() in body
    assert b"\\u" not in body
    assert b": " not in body
    assert b", " not in body.replace("₦5,000 🙂".encode(), b"")
    assert b'"nested":{"b":1,"a":2}' in body  # nested objects keep their order
    assert json.loads(body) == event
    assert body == json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


def test_event_body_rejects_missing_or_extra_envelope_keys_and_nan() -> None:
    with pytest.raises(ValueError, match="tenantId"):
        event_body({k: v for k, v in EXAMPLE_EVENT.items() if k != "tenantId"})
    with pytest.raises(ValueError, match="dispatchedAt"):
        event_body({**EXAMPLE_EVENT, "dispatchedAt": None})
    with pytest.raises(ValueError, match="JSON compliant"):
        event_body({**EXAMPLE_EVENT, "data": {"object": {"x": float("nan")}}})


# --- secrets ---


def test_generate_secret_is_whsec_and_32_random_bytes() -> None:
    generated = {generate_secret() for _ in range(50)}
    assert len(generated) == 50
    for secret in generated:
        assert secret.startswith("whsec_")
        assert len(secret) == len("whsec_") + 44
        assert base64.b64decode(secret[6:], validate=True) == secret_key(secret)
        assert len(secret_key(secret)) == 32


@pytest.mark.parametrize(
    "bad",
    ["", "whsec_", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "whsec_AAECAw", "whsec_!!!!", "whsec_ÀÀÀÀ"],
)
def test_secret_key_rejects_invalid_secrets(bad: str) -> None:
    with pytest.raises(ValueError, match="secret"):
        secret_key(bad)


def test_sign_requires_secrets_and_an_integer_timestamp() -> None:
    with pytest.raises(ValueError, match="secret"):
        sign(BODY, EVENT_ID, T, [])
    with pytest.raises(TypeError):
        sign(BODY, EVENT_ID, T, SECRET)
    with pytest.raises(ValueError, match="secret"):
        sign(BODY, EVENT_ID, T, ["whsec_nop"])
    with pytest.raises(ValueError, match="event_id"):
        sign(BODY, "", T, [SECRET])
    for bad_t in (-1, True, 1.5, "1735689600"):
        with pytest.raises(ValueError, match="t must be"):
            sign(BODY, EVENT_ID, bad_t, [SECRET])  # type: ignore[arg-type]


def test_signed_delivery_round_trips_through_verify_for_both_families() -> None:
    secrets = [generate_secret(), generate_secret()]
    event = {**EXAMPLE_EVENT, "id": "evt_RT", "data": {"object": {"name": "Ada Ọ̀bá"}}}
    body = event_body(event)
    headers = delivery_headers(
        body=body, event_id="evt_RT", event_type="invoice_paid", delivery_id="whd_1", t=T, secrets=secrets
    )
    duro_only = {k: v for k, v in headers.items() if not k.startswith("webhook-")}
    standard_only = {k: v for k, v in headers.items() if k != "Duro-Signature"}
    for h in (headers, duro_only, standard_only):
        for s in (secrets, secrets[0], secrets[1]):
            assert verify(body, h, s, now=T) == event


# --- interoperability with the `standardwebhooks` library (05 §3) ---


@contextmanager
def frozen_standardwebhooks_clock(t: int) -> Iterator[None]:
    """`standardwebhooks.webhooks` reads the time with `datetime.now(tz=timezone.utc)` from its own module
    namespace; replace that `datetime` with a subclass whose `now` is `t`."""
    import standardwebhooks.webhooks as sw

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> FrozenDatetime:
            return cls.fromtimestamp(t, tz=tz or UTC)

    with mock.patch.object(sw, "datetime", FrozenDatetime):
        yield


def _standard_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.startswith("webhook-")}


def test_standardwebhooks_accepts_the_worked_example_unchanged() -> None:
    standardwebhooks = pytest.importorskip("standardwebhooks")
    headers = {"webhook-id": EVENT_ID, "webhook-timestamp": str(T), "webhook-signature": WEBHOOK_SIGNATURE}
    rotation = {**headers, "webhook-signature": WEBHOOK_SIGNATURE_ROTATION}
    with frozen_standardwebhooks_clock(T):
        assert standardwebhooks.Webhook(SECRET).verify(BODY, headers) == EXAMPLE_EVENT
        assert standardwebhooks.Webhook(SECRET).verify(BODY, rotation) == EXAMPLE_EVENT
        assert standardwebhooks.Webhook(PREVIOUS_SECRET).verify(BODY, rotation) == EXAMPLE_EVENT
        with pytest.raises(standardwebhooks.WebhookVerificationError):
            standardwebhooks.Webhook(PREVIOUS_SECRET).verify(BODY, headers)
        with pytest.raises(standardwebhooks.WebhookVerificationError):
            standardwebhooks.Webhook(SECRET).verify(BODY + b" ", headers)
    # The library's own signer agrees with ours byte for byte.
    signed_at = datetime.fromtimestamp(T, tz=UTC)
    assert standardwebhooks.Webhook(SECRET).sign(EVENT_ID, signed_at, BODY.decode()) == WEBHOOK_SIGNATURE
    # Unfrozen, the 2025 timestamp is far outside the library's 5 minutes: the freeze is what made it pass.
    with pytest.raises(standardwebhooks.WebhookVerificationError, match="too old"):
        standardwebhooks.Webhook(SECRET).verify(BODY, headers)


def test_standardwebhooks_accepts_a_fresh_delivery_signed_with_two_secrets() -> None:
    standardwebhooks = pytest.importorskip("standardwebhooks")
    current, previous = generate_secret(), generate_secret()
    t = int(datetime.now(UTC).timestamp())
    event = {**EXAMPLE_EVENT, "id": "evt_FRESH", "data": {"object": {"customer": "Ngozi Ọkọ́nkwọ́", "amount": 1}}}
    body = event_body(event)
    headers = delivery_headers(
        body=body,
        event_id="evt_FRESH",
        event_type="invoice_paid",
        delivery_id="whd_2",
        t=t,
        secrets=[current, previous],
    )
    assert len(headers["webhook-signature"].split(" ")) == 2
    with frozen_standardwebhooks_clock(t):
        # All headers as sent (the library ignores the others), and only the webhook-* triple.
        for sent in (headers, _standard_headers(headers)):
            assert standardwebhooks.Webhook(current).verify(body, sent) == event
            assert standardwebhooks.Webhook(previous).verify(body, sent) == event
        with pytest.raises(standardwebhooks.WebhookVerificationError):
            standardwebhooks.Webhook(generate_secret()).verify(body, headers)
    # And with the real clock (t is now).
    assert standardwebhooks.Webhook(current).verify(body, headers) == event
