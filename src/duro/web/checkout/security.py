"""Security headers of every HTML page (01 §6): CSP self only, `frame-ancestors 'none'` except the embedded
checkout (06 §4), nosniff, Referrer-Policy, HSTS when the public URL is https.

Reusable by any server-rendered page: `html_headers(settings, ...)`.
"""

from __future__ import annotations

from collections.abc import Iterable

from duro.config import Settings

HSTS = "max-age=63072000; includeSubDomains"


def content_security_policy(frame_ancestors: str = "'none'", img_sources: Iterable[str] = ()) -> str:
    """Self only. `frame_ancestors` is `'none'` or one already validated origin (see `embed.parent_origin`);
    `img_sources` are extra validated origins (an https logo)."""
    images = " ".join(["'self'", "data:", *img_sources])
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {images}",
            "font-src 'self'",
            "connect-src 'self'",
            "form-action 'self'",
            "base-uri 'none'",
            "object-src 'none'",
            f"frame-ancestors {frame_ancestors}",
        )
    )


def html_headers(
    settings: Settings, *, frame_ancestors: str = "'none'", img_sources: Iterable[str] = (), cache: str = "no-store"
) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": content_security_policy(frame_ancestors, img_sources),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "Cache-Control": cache,
    }
    if frame_ancestors == "'none'":
        headers["X-Frame-Options"] = "DENY"  # for browsers that predate frame-ancestors
    if settings.public_url.startswith("https://"):
        headers["Strict-Transport-Security"] = HSTS
    return headers
