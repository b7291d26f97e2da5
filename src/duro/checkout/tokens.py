"""Checkout tokens: the customer-facing handle of a session. The prefix alone selects the mode's schema
(`cs_test_` → sandbox, `cs_live_` → live, 06 §2), so a test token can never reach live rows."""

from __future__ import annotations

from typing import Final

from duro.db.engine import Mode
from duro.kit.crypto import is_base62, random_base62

PREFIXES: Final[dict[Mode, str]] = {"test": "cs_test_", "live": "cs_live_"}
_BODY_LENGTH: Final = 32


def new_token(mode: Mode) -> str:
    # random_base62 draws from the `secrets` CSPRNG.
    return PREFIXES[mode] + random_base62(_BODY_LENGTH)


def mode_of(token: str) -> Mode | None:
    """The mode a token belongs to, or None for anything that is not a well-formed token (→ 404)."""
    for mode, prefix in PREFIXES.items():
        if token.startswith(prefix):
            body = token[len(prefix) :]
            return mode if len(body) == _BODY_LENGTH and is_base62(body) else None
    return None
