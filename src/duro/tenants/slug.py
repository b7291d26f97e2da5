"""Derived tenant slugs (02 §10)."""

from __future__ import annotations

import re
import unicodedata

RESERVED = frozenset(
    {
        "api",
        "app",
        "admin",
        "dashboard",
        "staff",
        "checkout",
        "pay",
        "portal",
        "store",
        "identity",
        "js",
        "static",
        "www",
        "duro",
        "test",
        "live",
    }
)
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
MAX_LEN = 48


def base_slug(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    text = text[:MAX_LEN].strip("-")
    return text or "store"


def is_valid_slug(slug: str) -> bool:
    return 3 <= len(slug) <= MAX_LEN and bool(SLUG_RE.match(slug)) and slug not in RESERVED


def candidates(name: str) -> list[str]:
    """The base slug (if usable) then base-2, base-3, … — the caller takes the first free one."""
    base = base_slug(name)
    out = [base] if is_valid_slug(base) else []
    out.extend(f"{base}-{n}" for n in range(2, 1000))
    return out
