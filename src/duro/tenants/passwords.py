"""Member passwords: argon2id with argon2-cffi defaults (02 §4)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def password_problem(password: str, email: str) -> str | None:
    """Why a new password is refused, or None. (The common-password list arrives with the dashboard.)"""
    if not 12 <= len(password) <= 128:
        return "must be 12-128 characters"
    if password.strip().lower() == email.strip().lower():
        return "must not equal the email"
    return None
