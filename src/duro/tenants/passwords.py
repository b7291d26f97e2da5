"""Member passwords: argon2id with argon2-cffi defaults (02 §4)."""

from __future__ import annotations

from functools import cache
from importlib import resources

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


@cache
def common_passwords() -> frozenset[str]:
    """The bundled list of 10,000 common passwords (`duro/dashboard/common_passwords.txt`), lower-cased."""
    text = resources.files("duro.dashboard").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#"))


@cache
def dummy_hash() -> str:
    """A hash to verify against when the email is unknown, so a login costs one argon2 verification either way."""
    return _hasher.hash("duro-dummy-password-for-unknown-emails")


def password_problem(password: str, email: str) -> str | None:
    """Why a new password is refused, or None (02 §4)."""
    if not 12 <= len(password) <= 128:
        return "must be 12-128 characters"
    if password.strip().lower() == email.strip().lower():
        return "must not equal the email"
    if password.lower() in common_passwords():
        return "is too common; choose another"
    return None
