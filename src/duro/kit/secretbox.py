"""Encryption of secrets Duro must read back (webhook signing secrets, TOTP seeds): AES-256-GCM under a sub-key of
`DURO_SECRET_KEY` (01 §3), with the owning row's id as associated data so a ciphertext copied onto another row
does not decrypt."""

from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from duro.kit.crypto import derive_key

_NONCE_BYTES = 12


def seal(root: bytes, label: str, plaintext: str, aad: str) -> str:
    key = derive_key(root, label)
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), aad.encode())
    return base64.b64encode(nonce + sealed).decode()


def open_sealed(root: bytes, label: str, token: str, aad: str) -> str:
    raw = base64.b64decode(token)
    key = derive_key(root, label)
    return AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], aad.encode()).decode()
