"""Receiver-side `duro.webhooks.verify` (05 §4): header families, parsing, tolerance, signatures, rotation,
payload parsing after verification, and an import that needs none of the server dependencies."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest

from duro.webhooks import WebhookVerificationError, verify
from duro.webhooks.signing import delivery_headers, generate_secret, sign
from duro.webhooks.verify import REASONS
from tests.webhooks import (
    BODY,
    DURO_SIGNATURE,
    DURO_SIGNATURE_ROTATION,
    EVENT_ID,
    PREVIOUS_SECRET,
    SECRET,
    V1_CURRENT,
    WEBHOOK_SIGNATURE,
    WEBHOOK_SIGNATURE_ROTATION,
    T,
)

EVENT = json.loads(BODY)
DURO_HEADERS = {"Duro-Signature": DURO_SIGNATURE}
STANDARD_HEADERS = {"webhook-id": EVENT_ID, "webhook-timestamp": str(T), "webhook-signature": WEBHOOK_SIGNATURE}
FAMILIES = pytest.mark.parametrize("headers", [DURO_HEADERS, STANDARD_HEADERS], ids=["duro", "standard"])


def reason_of(payload: bytes, headers: dict[str, str], secrets: Any, **kwargs: Any) -> str:
    with pytest.raises(WebhookVerificationError) as info:
        verify(payload, headers, secrets, **{"now": T, **kwargs})
    assert info.value.reason in REASONS
    assert str(info.value)
    return info.value.reason


def signed(body: bytes, secrets: list[str], *, t: int = T, event_id: str = EVENT_ID) -> dict[str, str]:
    return delivery_headers(
        body=body, event_id=event_id, event_type="invoice_paid", delivery_id="whd_1", t=t, secrets=secrets
    )


# --- import without the server dependencies ---

SERVER_MODULES = (
    "fastapi",
    "starlette",
    "sqlalchemy",
    "asyncpg",
    "httpx",
    "httpcore",
    "aiohttp",
    "pydantic",
    "pydantic_core",
    "alembic",
    "uvicorn",
    "orjson",
    "redis",
    "anyio",
    "typer",
)


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=False)


def test_import_loads_no_server_dependency() -> None:
    result = run_python(
        """
        import json, sys
        import duro.webhooks, duro.webhooks.signing
        print(json.dumps(sorted(sys.modules)))
        """
    )
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout))
    assert {m for m in loaded if m.split(".")[0] in SERVER_MODULES} == set()
    assert {m for m in loaded if m.split(".")[0] == "duro"} == {
        "duro",
        "duro.kit",
        "duro.kit.clock",  # the one system-clock reader; standard library only
        "duro.webhooks",
        "duro.webhooks.verify",
        "duro.webhooks.signing",
    }


def test_import_and_verify_work_with_the_server_dependencies_blocked() -> None:
    result = run_python(
        f"""
        import sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {SERVER_MODULES!r}:
                    raise ImportError("blocked: " + name)
                return None

        sys.meta_path.insert(0, Block())
        from duro.webhooks import verify, WebhookVerificationError
        headers = {{"Duro-Signature": {DURO_SIGNATURE!r}}}
        print(verify({BODY!r}, headers, {SECRET!r}, now={T})["id"])
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == EVENT_ID


def test_package_exports_only_verify_and_the_error() -> None:
    import duro.webhooks

    assert duro.webhooks.__all__ == ["WebhookVerificationError", "verify"]
    assert issubclass(WebhookVerificationError, Exception)
    err = WebhookVerificationError("invalid_payload")
    assert err.reason == "invalid_payload"


# --- the worked example and round trips ---


@FAMILIES
def test_worked_example_verifies_and_returns_the_event(headers: dict[str, str]) -> None:
    assert verify(BODY, headers, SECRET, now=T) == EVENT
    assert verify(BODY, headers, [SECRET], now=T) == EVENT
    assert verify(BODY, headers, (PREVIOUS_SECRET, SECRET), now=T) == EVENT


def test_round_trip_sign_then_verify_for_both_families() -> None:
    secret = generate_secret()
    headers = signed(BODY, [secret])
    for family in (
        headers,
        {"Duro-Signature": headers["Duro-Signature"]},
        {k: headers[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")},
    ):
        assert verify(BODY, family, secret, now=T) == EVENT


def test_default_now_is_the_current_time() -> None:
    secret = generate_secret()
    now = int(time.time())
    assert verify(BODY, signed(BODY, [secret], t=now), secret) == EVENT
    with pytest.raises(WebhookVerificationError) as info:
        verify(BODY, signed(BODY, [secret], t=now - 3600), secret)
    assert info.value.reason == "timestamp_outside_tolerance"


def test_duro_signature_is_preferred_over_the_webhook_triple() -> None:
    both = {**DURO_HEADERS, **STANDARD_HEADERS}
    assert verify(BODY, both, SECRET, now=T) == EVENT
    # A broken webhook-signature is not looked at when Duro-Signature is present...
    assert verify(BODY, {**both, "webhook-signature": "v1,AAAA"}, SECRET, now=T) == EVENT
    # ...and a wrong Duro-Signature does not fall back to a valid triple.
    wrong = {**both, "Duro-Signature": f"t={T},v1={'0' * 64}"}
    assert reason_of(BODY, wrong, SECRET) == "no_matching_signature"
    assert reason_of(BODY, {**both, "Duro-Signature": "garbage"}, SECRET) == "invalid_header"


# --- tolerance ---


@FAMILIES
@pytest.mark.parametrize("offset", [0, 1, -1, 299, -299, 300, -300])
def test_timestamp_within_tolerance_including_the_boundary(headers: dict[str, str], offset: int) -> None:
    assert verify(BODY, headers, SECRET, now=T + offset) == EVENT


@FAMILIES
@pytest.mark.parametrize("offset", [301, -301, 86_400, -86_400, T])
def test_timestamp_outside_tolerance_in_both_directions(headers: dict[str, str], offset: int) -> None:
    assert reason_of(BODY, headers, SECRET, now=T + offset) == "timestamp_outside_tolerance"


def test_custom_tolerance() -> None:
    assert verify(BODY, DURO_HEADERS, SECRET, now=T + 600, tolerance=600) == EVENT
    assert reason_of(BODY, DURO_HEADERS, SECRET, now=T + 601, tolerance=600) == "timestamp_outside_tolerance"
    assert reason_of(BODY, DURO_HEADERS, SECRET, now=T + 1, tolerance=0) == "timestamp_outside_tolerance"
    assert verify(BODY, DURO_HEADERS, SECRET, now=T, tolerance=0) == EVENT


# --- signatures ---


@FAMILIES
@pytest.mark.parametrize(
    "tampered",
    [
        BODY.replace(b"500000", b"500001"),
        BODY + b" ",
        b" " + BODY,
        BODY.replace(b'"paid"}}}', b'"paid" }}}'),
        BODY[:-1],
        json.dumps(EVENT).encode(),  # same JSON, different bytes
    ],
)
def test_tampered_body_has_no_matching_signature(headers: dict[str, str], tampered: bytes) -> None:
    assert reason_of(tampered, headers, SECRET) == "no_matching_signature"


@FAMILIES
def test_wrong_secret_has_no_matching_signature(headers: dict[str, str]) -> None:
    assert reason_of(BODY, headers, PREVIOUS_SECRET) == "no_matching_signature"
    assert reason_of(BODY, headers, [generate_secret(), generate_secret()]) == "no_matching_signature"


def test_tampered_header_fields_have_no_matching_signature() -> None:
    assert reason_of(BODY, {**STANDARD_HEADERS, "webhook-id": "evt_other"}, SECRET) == "no_matching_signature"
    later = T + 1
    assert reason_of(BODY, {"Duro-Signature": f"t={later},v1={V1_CURRENT}"}, SECRET) == "no_matching_signature"
    moved = {**STANDARD_HEADERS, "webhook-timestamp": str(later)}
    assert reason_of(BODY, moved, SECRET) == "no_matching_signature"
    upper = {"Duro-Signature": f"t={T},v1={V1_CURRENT[:-1]}0"}
    assert reason_of(BODY, upper, SECRET) == "no_matching_signature"


@pytest.mark.parametrize(
    "headers",
    [
        {"Duro-Signature": DURO_SIGNATURE_ROTATION},
        {**STANDARD_HEADERS, "webhook-signature": WEBHOOK_SIGNATURE_ROTATION},
    ],
    ids=["duro", "standard"],
)
@pytest.mark.parametrize(
    "secrets",
    [[SECRET], [PREVIOUS_SECRET], [SECRET, PREVIOUS_SECRET], [PREVIOUS_SECRET, SECRET], SECRET, PREVIOUS_SECRET],
)
def test_rotation_overlap_verifies_with_the_old_the_new_or_both(headers: dict[str, str], secrets: Any) -> None:
    assert verify(BODY, headers, secrets, now=T) == EVENT


def test_rotation_fresh_pair_and_after_the_overlap() -> None:
    new, old = generate_secret(), generate_secret()
    during = signed(BODY, [new, old])
    for secrets in ([old], [new], [new, old], [old, new]):
        assert verify(BODY, during, secrets, now=T) == EVENT
    # After the previous secret expired only the new one signs: a receiver still on the old one fails.
    after = signed(BODY, [new])
    assert verify(BODY, after, [new, old], now=T) == EVENT
    assert reason_of(BODY, after, [old]) == "no_matching_signature"


def test_unknown_signature_versions_are_ignored() -> None:
    duro = {"Duro-Signature": f"t={T},v0=deadbeef,v2=zz,v1={V1_CURRENT},x=1"}
    assert verify(BODY, duro, SECRET, now=T) == EVENT
    standard = {**STANDARD_HEADERS, "webhook-signature": f"v2,AAAA v1a,xyz {WEBHOOK_SIGNATURE} v0,!!"}
    assert verify(BODY, standard, SECRET, now=T) == EVENT
    # Several spaces between entries, and a malformed v1 beside a good one.
    loose = {**STANDARD_HEADERS, "webhook-signature": f"v1,not-base64!  {WEBHOOK_SIGNATURE}"}
    assert verify(BODY, loose, SECRET, now=T) == EVENT
    assert verify(BODY, {"Duro-Signature": f"t={T},v1=nothex,v1={V1_CURRENT}"}, SECRET, now=T) == EVENT


# --- headers ---


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Content-Type": "application/json", "Duro-Event-Id": EVENT_ID},
        {"webhook-id": EVENT_ID, "webhook-timestamp": str(T)},
        {"webhook-id": EVENT_ID, "webhook-signature": WEBHOOK_SIGNATURE},
        {"webhook-timestamp": str(T), "webhook-signature": WEBHOOK_SIGNATURE},
        {**STANDARD_HEADERS, "webhook-id": ""},
        {"Duro-Sig": DURO_SIGNATURE},
    ],
)
def test_missing_header(headers: dict[str, str]) -> None:
    assert reason_of(BODY, headers, SECRET) == "missing_header"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        f"v1={V1_CURRENT}",
        f"t=,v1={V1_CURRENT}",
        f"t=abc,v1={V1_CURRENT}",
        f"t=1735689600.0,v1={V1_CURRENT}",
        f"t=-1735689600,v1={V1_CURRENT}",
        f"t=+1735689600,v1={V1_CURRENT}",
        f"t=1_735_689_600,v1={V1_CURRENT}",
        f"t=١٧٣٥٦٨٩٦٠٠,v1={V1_CURRENT}",  # non-ASCII digits
        f"t={'9' * 5000},v1={V1_CURRENT}",  # beyond int()'s digit limit
        f"t={T}",
        f"t={T},v1=",
        f"t={T},v0={V1_CURRENT}",
        f"t={T},t={T},v1={V1_CURRENT}",
        f"t={T},v1={V1_CURRENT},",
        f"t={T};v1={V1_CURRENT}",
    ],
)
def test_invalid_duro_signature_header(value: str) -> None:
    assert reason_of(BODY, {"Duro-Signature": value}, SECRET) == "invalid_header"


@pytest.mark.parametrize(
    "overrides",
    [
        {"webhook-timestamp": "abc"},
        {"webhook-timestamp": "1735689600.0"},
        {"webhook-timestamp": "-1"},
        {"webhook-timestamp": "1" * 5000},
        {"webhook-signature": "v2,AAAA"},
        {"webhook-signature": "v1"},
        {"webhook-signature": "v1,"},
        {"webhook-signature": f"{WEBHOOK_SIGNATURE[3:]}"},
        {"webhook-id": "   "},
    ],
)
def test_invalid_webhook_headers(overrides: dict[str, str]) -> None:
    assert reason_of(BODY, {**STANDARD_HEADERS, **overrides}, SECRET) == "invalid_header"


def test_header_names_are_case_insensitive() -> None:
    assert verify(BODY, {"duro-signature": DURO_SIGNATURE}, SECRET, now=T) == EVENT
    assert verify(BODY, {"DURO-SIGNATURE": DURO_SIGNATURE}, SECRET, now=T) == EVENT
    shouted = {"WEBHOOK-ID": EVENT_ID, "Webhook-Timestamp": str(T), "webHook-Signature": WEBHOOK_SIGNATURE}
    assert verify(BODY, shouted, SECRET, now=T) == EVENT
    # Headers as an HTTP stack hands them over (title case), with whitespace around the values.
    titled = {k.title(): f" {v} " for k, v in {**DURO_HEADERS, **STANDARD_HEADERS}.items()}
    assert verify(BODY, titled, SECRET, now=T) == EVENT
    # The same name twice with different values is ambiguous; the same value twice is harmless.
    assert reason_of(BODY, {**DURO_HEADERS, "duro-signature": f"t={T},v1={'0' * 64}"}, SECRET) == "invalid_header"
    assert verify(BODY, {**DURO_HEADERS, "duro-signature": DURO_SIGNATURE}, SECRET, now=T) == EVENT


# --- secrets ---


@FAMILIES
@pytest.mark.parametrize(
    "secrets",
    [
        "",
        "whsec_",
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",  # no prefix
        "WHSEC_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",  # padding missing
        "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        "whsec_AAEC-_QF",  # URL-safe alphabet
        "whsec_!!!!",
        "whsec_ÀÀÀÀ",
        [],
        [SECRET, "whsec_nop"],
        ["whsec_nop", SECRET],
        [SECRET, None],
        SECRET.encode(),
    ],
)
def test_invalid_secret(headers: dict[str, str], secrets: Any) -> None:
    assert reason_of(BODY, headers, secrets) == "invalid_secret"


# --- step order (05 §4: 1 → 5) ---


def test_checks_run_in_the_order_of_the_spec() -> None:
    stale = T + 3600
    # missing_header before anything else.
    assert reason_of(b"not json", {}, "bad", now=stale) == "missing_header"
    # invalid_header before invalid_secret and the timestamp.
    assert reason_of(b"not json", {"Duro-Signature": "t=x"}, "bad", now=stale) == "invalid_header"
    # invalid_secret before the timestamp.
    assert reason_of(b"not json", DURO_HEADERS, "bad", now=stale) == "invalid_secret"
    # The timestamp before the signature.
    assert reason_of(b"not json", DURO_HEADERS, PREVIOUS_SECRET, now=stale) == "timestamp_outside_tolerance"
    # The signature before the JSON: an unsigned invalid payload is never parsed.
    assert reason_of(b"not json", DURO_HEADERS, SECRET) == "no_matching_signature"


# --- payload ---


@FAMILIES
@pytest.mark.parametrize(
    "payload",
    [b"", b"not json", b'{"id":', b"\xff\xfe{}", b"[1,2,3]", b'"evt"', b"null", b'{"a":NaN}', b'{"a":Infinity}'],
)
def test_invalid_payload_after_a_valid_signature(headers: dict[str, str], payload: bytes) -> None:
    secret = generate_secret()
    h = signed(payload, [secret])
    family = {k: h[k] for k in headers}
    assert reason_of(payload, family, secret) == "invalid_payload"


@FAMILIES
def test_non_ascii_payload_is_verified_on_its_raw_utf8_bytes(headers: dict[str, str]) -> None:
    secret = generate_secret()
    event = {**EVENT, "data": {"object": {"name": "Ọlá Adébáyọ̀", "city": "Lagos 🇳🇬", "amount": "₦5 000"}}}
    body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
    assert "Ọlá".encode() in body
    h = signed(body, [secret])
    family = {k: h[k] for k in headers}
    assert verify(body, family, secret, now=T) == event
    # The \u-escaped form is the same JSON but other bytes: it does not verify.
    escaped = json.dumps(event, separators=(",", ":")).encode()
    assert json.loads(escaped) == event
    assert reason_of(escaped, family, secret) == "no_matching_signature"
    # Nor does a re-encoding of the same text.
    assert reason_of(body.decode().encode("utf-16"), family, secret) == "no_matching_signature"


def test_payload_may_be_any_bytes_like_object() -> None:
    assert verify(bytearray(BODY), DURO_HEADERS, SECRET, now=T) == EVENT  # type: ignore[arg-type]
    assert verify(memoryview(BODY), DURO_HEADERS, SECRET, now=T) == EVENT  # type: ignore[arg-type]


def test_sign_output_feeds_verify_directly() -> None:
    values = sign(BODY, EVENT_ID, T, [SECRET])
    assert verify(BODY, {"Duro-Signature": values["Duro-Signature"]}, SECRET, now=T) == EVENT
    triple = {"webhook-id": EVENT_ID, "webhook-timestamp": str(T), "webhook-signature": values["webhook-signature"]}
    assert verify(BODY, triple, SECRET, now=T) == EVENT
