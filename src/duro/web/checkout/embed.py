"""The checks of an embedded checkout (06 §4 rule 3), done before the frame is granted: the `parent` origin that
will frame the page, then the publishable `key` the SDK was given.

The parent is checked first because it decides what the error page may do: a disallowed parent gets a page that
cannot be framed and posts nothing; an allowed parent with a bad key gets a framed error page that posts `error`
to that parent (and only to it)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from duro.appearance.surfaces import normalize_origin
from duro.db.engine import Mode
from duro.kit.errors import DuroError
from duro.runtime import Runtime

# What the origin may look like once normalised; it goes into a CSP header and a data attribute, so nothing that
# could end a directive (`;`, `,`, spaces) can pass.
_SAFE_ORIGIN: Final = re.compile(r"^https?://(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?$")
_LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1"})


@dataclass(frozen=True, slots=True)
class EmbedRefusal:
    code: str
    message: str


def parent_origin(raw: str | None, mode: Mode, allowed: list[str]) -> str | EmbedRefusal:
    """The normalised parent origin, or why it may not frame this session: https only (plain http for
    localhost/127.0.0.1 in test mode), and listed in `overlay.allowedOrigins` when that list is non-empty."""
    refused = EmbedRefusal("origin_not_allowed", "This page cannot be embedded here.")
    if not raw:
        return refused
    try:
        origin = normalize_origin(raw)
    except ValueError:
        return refused
    if not _SAFE_ORIGIN.match(origin):
        return refused
    scheme, _, rest = origin.partition("://")
    host = rest.rsplit(":", 1)[0] if not rest.startswith("[") else rest
    if scheme != "https" and not (mode == "test" and host in _LOOPBACK_HOSTS):
        return refused
    if allowed and origin not in allowed:
        return refused
    return origin


async def key_matches(runtime: Runtime, key: str | None, tenant_id: str, mode: Mode) -> bool:
    """Whether `key` is a live (not revoked) publishable key of this tenant in this mode."""
    if not key or not key.startswith(("pk_test_", "pk_live_")):
        return False
    try:
        principal = await runtime.resolver.resolve(f"Bearer {key}")
    except DuroError:
        return False
    return principal.kind == "publishable_key" and principal.tenant_id == tenant_id and principal.mode == mode
