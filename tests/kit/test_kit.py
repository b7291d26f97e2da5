"""Pure kit functions: ids, rounding, phones, slugs, timestamps, redaction, fingerprints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from duro.idempotency.store import fingerprint
from duro.kit import jsonenc
from duro.kit.clock import FrozenClock
from duro.kit.crypto import constant_time_equals, derive_key, random_base62, sha256_hex
from duro.kit.ids import has_prefix, is_ulid, new_id, new_ulid
from duro.kit.logs import redact, redact_text
from duro.kit.money import Money, round_half_up
from duro.kit.netaddr import client_ip
from duro.kit.phone import normalize_phone
from duro.tenants.slug import base_slug, candidates, is_valid_slug


def test_ulids_are_monotonic_within_a_process() -> None:
    ids = [new_ulid() for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(is_ulid(i) for i in ids)


def test_prefixed_ids() -> None:
    value = new_id("cus")
    assert value.startswith("cus_")
    assert has_prefix(value, "cus")
    assert not has_prefix(value, "sub")
    assert not has_prefix("cus_notaulid", "cus")


@pytest.mark.parametrize(
    ("n", "d", "expected"),
    [(5, 2, 3), (-5, 2, -3), (4, 2, 2), (1, 3, 0), (2, 3, 1), (7, 2, 4), (-7, 2, -4), (0, 5, 0), (149, 100, 1)],
)
def test_round_half_up(n: int, d: int, expected: int) -> None:
    assert round_half_up(n, d) == expected


@given(st.integers(-(10**15), 10**15), st.integers(1, 10**9))
def test_round_half_up_is_nearest(n: int, d: int) -> None:
    r = round_half_up(n, d)
    assert abs(n - r * d) * 2 <= d  # within half a unit
    if abs(n - r * d) * 2 == d:  # exact half: away from zero
        assert abs(r * d) > abs(n)


def test_money_refuses_floats_and_mixed_currencies() -> None:
    with pytest.raises(TypeError):
        Money(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="currency mismatch"):
        Money(1, "NGN") + Money(1, "USD")
    assert (Money(150) + Money(50)).amount == 200


@pytest.mark.parametrize("raw", ["08012345678", "2348012345678", "+234 801 234 5678", "+234-801-234-5678"])
def test_phone_forms_are_one_number(raw: str) -> None:
    assert normalize_phone(raw) == "+2348012345678"


@pytest.mark.parametrize("raw", ["123", "hello", "+99912", ""])
def test_invalid_phones(raw: str) -> None:
    with pytest.raises(ValueError, match="phone"):
        normalize_phone(raw)


def test_derived_slugs() -> None:
    assert base_slug("Ọjà Café & Co.") == "oja-cafe-co"
    assert base_slug("!!!") == "store"
    assert candidates("Ọjà Café & Co.")[:3] == ["oja-cafe-co", "oja-cafe-co-2", "oja-cafe-co-3"]
    assert candidates("Pay")[0] == "pay-2"  # reserved base is skipped
    assert candidates("ab")[0] == "ab-2"  # too short
    assert len(base_slug("x" * 100)) == 48
    assert not is_valid_slug("-abc")
    assert not is_valid_slug("dashboard")


def test_timestamp_format() -> None:
    value = datetime(2025, 1, 31, 9, 0, 0, 123456, tzinfo=UTC)
    assert jsonenc.format_ts(value) == "2025-01-31T09:00:00.123Z"
    lagos = timezone(timedelta(hours=1))
    assert jsonenc.format_ts(datetime(2025, 1, 31, 10, 0, tzinfo=lagos)) == "2025-01-31T09:00:00.000Z"
    assert jsonenc.dumps({"at": value}) == b'{"at":"2025-01-31T09:00:00.123Z"}'


def test_frozen_clock_never_goes_back() -> None:
    clock = FrozenClock(datetime(2025, 1, 1, tzinfo=UTC))
    clock.advance(timedelta(days=1))
    assert clock.now() == datetime(2025, 1, 2, tzinfo=UTC)
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(timedelta(seconds=-1))


def test_crypto_helpers() -> None:
    assert sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert constant_time_equals("a", "a")
    assert not constant_time_equals("a", "b")
    assert derive_key(b"root", "csrf") != derive_key(b"root", "jwt-merchant")
    token = random_base62(43)
    assert len(token) == 43
    assert token.isalnum()


def test_redaction() -> None:
    line = "auth Bearer sk_test_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG and whsec_c2VjcmV0c2VjcmV0"
    out = redact_text(line)
    assert "sk_test_abc" not in out
    assert "whsec_c2V" not in out
    nested = redact({"password": "hunter2hunter2", "headers": {"Authorization": "x"}, "ok": "value"})
    assert nested == {"password": "[REDACTED]", "headers": {"Authorization": "[REDACTED]"}, "ok": "value"}


def test_fingerprint_sorts_query_and_uses_canonical_body() -> None:
    a = fingerprint("POST", "/v1/customers", "b=2&a=1", jsonenc.canonical({"x": 1, "y": [1, 2]}))
    b = fingerprint("post", "/v1/customers", "a=1&b=2", jsonenc.canonical({"y": [1, 2], "x": 1}))
    c = fingerprint("POST", "/v1/customers", "a=1&b=2", jsonenc.canonical({"y": [2, 1], "x": 1}))
    assert a == b
    assert a != c


def test_client_ip_behind_trusted_proxies() -> None:
    assert client_ip("10.0.0.5", "1.2.3.4", "") == "10.0.0.5"
    assert client_ip("10.0.0.5", "1.2.3.4, 10.0.0.9", "10.0.0.0/8") == "1.2.3.4"
    assert client_ip("8.8.8.8", "1.2.3.4", "10.0.0.0/8") == "8.8.8.8"
