"""The SSRF guard: the one client for outbound HTTP to merchant-controlled URLs (05 §8).

- `url_policy`: save-time rules 1–4 (strict parsing, canonical host, ports, IP literals), pure.
- `addresses`: `forbidden(ip)`, the denied ranges.
- `transport`: aiohttp sessions whose connections go only to addresses that were checked.
- `client`: `check_url_at_save` (adds the courtesy resolution of rule 5) and `guarded_post` (the delivery guard).
"""

from duro.kit.egress.addresses import forbidden
from duro.kit.egress.client import (
    DEFAULT_TIMEOUTS,
    MAX_RESPONSE_BYTES,
    EgressTimeouts,
    ErrorCode,
    PostResult,
    Resolver,
    check_url_at_save,
    close_connections,
    guarded_post,
    system_resolver,
)
from duro.kit.egress.url_policy import CheckedUrl, DestinationRefused, EgressPolicy, check_url

__all__ = [
    "DEFAULT_TIMEOUTS",
    "MAX_RESPONSE_BYTES",
    "CheckedUrl",
    "DestinationRefused",
    "EgressPolicy",
    "EgressTimeouts",
    "ErrorCode",
    "PostResult",
    "Resolver",
    "check_url",
    "check_url_at_save",
    "close_connections",
    "forbidden",
    "guarded_post",
    "system_resolver",
]
