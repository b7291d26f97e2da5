"""Static assets of the hosted pages: `/static/…` (hand-written CSS/JS, no build step), the inline SDK at
`/js/inline.js`, and the per-brand stylesheet `/checkout/theme/{RRGGBB}.css` that carries the merchant's colour
without any inline style (CSP `style-src 'self'`)."""

from __future__ import annotations

import os
import re
from functools import cache
from typing import Final

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from duro.web.checkout.rendering import STATIC_DIR

_HEX: Final = re.compile(r"^[0-9A-F]{6}$")
INLINE_JS: Final = STATIC_DIR / "js" / "inline.js"
YEAR: Final = 31_536_000


class StaticAssets(StaticFiles):
    """StaticFiles with nosniff and a short public cache (URLs are not fingerprinted)."""

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "public, max-age=3600"
        if str(full_path).endswith(".js"):
            response.headers["Content-Type"] = "application/javascript; charset=utf-8"
        return response


def static_app() -> StaticAssets:
    return StaticAssets(directory=STATIC_DIR)


@cache
def _inline_js() -> bytes:
    return INLINE_JS.read_bytes()


def inline_js() -> Response:
    """The SDK: public, cacheable for five minutes (its URL is stable, so a fix must reach pages soon), usable
    from any merchant origin."""
    return Response(
        _inline_js(),
        media_type="application/javascript; charset=utf-8",
        headers={
            "Cache-Control": "public, max-age=300",
            "X-Content-Type-Options": "nosniff",
            "Cross-Origin-Resource-Policy": "cross-origin",
        },
    )


def _contrast(hex6: str) -> str:
    """Black or white text on the brand colour, by WCAG relative luminance."""

    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex6[i : i + 2], 16) for i in (0, 2, 4))
    lum = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    return "#111111" if lum > 0.179 else "#FFFFFF"


def theme_css(hex6: str) -> Response | None:
    """`:root` variables of one brand colour, or None for anything that is not RRGGBB (→ 404)."""
    hex6 = hex6.upper()
    if not _HEX.match(hex6):
        return None
    css = f":root {{ --brand: #{hex6}; --brand-contrast: {_contrast(hex6)}; }}\n"
    return Response(
        css,
        media_type="text/css; charset=utf-8",
        headers={"Cache-Control": f"public, max-age={YEAR}, immutable", "X-Content-Type-Options": "nosniff"},
    )
