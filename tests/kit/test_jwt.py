"""JwtCodec: both algorithms, pinned algorithm, audience separation, expiry with leeway."""

from __future__ import annotations

from pathlib import Path

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from duro.kit.jwt import JwtCodec, TokenExpired, TokenInvalid, build_keys

ROOT = b"r" * 40
NOW = 1_800_000_000


def hs_codec() -> JwtCodec:
    return JwtCodec(build_keys(ROOT, "HS256", None), "http://localhost:8000")


def test_round_trip_and_claims() -> None:
    codec = hs_codec()
    token = codec.issue("merchant", "oac_X", {"tenant": "ten_Y", "mode": "test", "scope": "*"}, NOW)
    assert JwtCodec.peek_kid(token) == "merchant"
    claims = codec.verify("merchant", token, NOW + 10)
    assert claims["aud"] == "duro:v1"
    assert claims["exp"] == NOW + 3600
    assert claims["tenant"] == "ten_Y"
    assert len(claims["jti"]) == 26


def test_expiry_with_leeway() -> None:
    codec = hs_codec()
    token = codec.issue("merchant", "oac_X", {}, NOW - 3600 - 20)  # expired 20 s ago: inside the 30 s leeway
    codec.verify("merchant", token, NOW)
    old = codec.issue("merchant", "oac_X", {}, NOW - 3600 - 31)
    with pytest.raises(TokenExpired):
        codec.verify("merchant", old, NOW)


def test_identity_token_is_not_a_merchant_token() -> None:
    codec = hs_codec()
    identity = codec.issue("identity", "idn_X", {"phone": "+2348012345678"}, NOW)
    with pytest.raises(TokenInvalid):
        codec.verify("merchant", identity, NOW)  # other key and other audience


def test_alg_none_and_foreign_keys_are_refused() -> None:
    codec = hs_codec()
    unsigned = pyjwt.encode(
        {"sub": "oac_X", "aud": "duro:v1", "iss": "http://localhost:8000", "exp": NOW + 60, "iat": NOW},
        key=None,
        algorithm="none",
        headers={"kid": "merchant"},
    )
    with pytest.raises(TokenInvalid):
        codec.verify("merchant", unsigned, NOW)
    other = JwtCodec(build_keys(b"x" * 40, "HS256", None), "http://localhost:8000")
    with pytest.raises(TokenInvalid):
        codec.verify("merchant", other.issue("merchant", "oac_X", {}, NOW), NOW)


def test_eddsa_merchant_tokens(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    pem = tmp_path / "jwt.pem"
    pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    codec = JwtCodec(build_keys(ROOT, "EdDSA", pem), "http://localhost:8000")
    token = codec.issue("merchant", "oac_X", {"tenant": "ten_Y", "mode": "live"}, NOW)
    assert pyjwt.get_unverified_header(token)["alg"] == "EdDSA"
    assert codec.verify("merchant", token, NOW)["mode"] == "live"
    # The algorithm is pinned: an HS256 token signed with the derived key is refused under EdDSA.
    with pytest.raises(TokenInvalid):
        codec.verify("merchant", hs_codec().issue("merchant", "oac_X", {}, NOW), NOW)
    with pytest.raises(ValueError, match="PRIVATE_KEY_FILE"):
        build_keys(ROOT, "EdDSA", None)
