"""Jinja2 rendering of the pay page and the store, and their two stylesheets: the static `pay.css` and the brand
sheet `/pay/_assets/brand/RRGGBB.css`. The brand colour travels in a URL instead of an inline style so the pages'
CSP can stay `style-src 'self'` (no inline styles); the colour is validated and the sheet is immutable."""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from duro.web.pay.pages import Brand

HERE: Final = Path(__file__).resolve().parent
DEFAULT_BRAND: Final = Brand(name="Duro", color="#0F766E", font="system", logo_url=None, logo_origin=None)
HEX: Final = re.compile(r"^[0-9A-F]{6}$")
FONTS: Final = frozenset({"system", "inter", "ibm-plex-sans", "source-serif"})
DARK_TEXT: Final = "#111827"
LIGHT_TEXT: Final = "#FFFFFF"


@cache
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every template is HTML
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def stylesheet() -> tuple[bytes, str]:
    """`pay.css` and a short content hash for cache-busting its URL."""
    body = (HERE / "static" / "pay.css").read_bytes()
    return body, hashlib.sha256(body).hexdigest()[:12]


def _luminance(hex6: str) -> float:
    def channel(v: int) -> float:
        c = v / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex6[i : i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def on_brand(hex6: str) -> str:
    """White text on the brand colour when it reaches WCAG AA (4.5:1), else dark text."""
    contrast_with_white = 1.05 / (_luminance(hex6) + 0.05)
    return LIGHT_TEXT if contrast_with_white >= 4.5 else DARK_TEXT


def brand_stylesheet(hex6: str) -> bytes | None:
    """`:root { --brand; --on-brand }` for `RRGGBB` (upper-case hex), None for anything else."""
    if not HEX.match(hex6):
        return None
    return f":root {{ --brand: #{hex6}; --on-brand: {on_brand(hex6)}; }}\n".encode()


def render(template: str, *, brand: Brand | None, mode: str, **context: Any) -> str:
    brand = brand or DEFAULT_BRAND
    hex6 = brand.color.lstrip("#").upper()
    if not HEX.match(hex6):
        hex6 = DEFAULT_BRAND.color.lstrip("#")
    if brand.font not in FONTS:
        brand = Brand(brand.name, brand.color, "system", brand.logo_url, brand.logo_origin)
    _, digest = stylesheet()
    return (
        environment()
        .get_template(template)
        .render(
            brand=brand,
            mode=mode,
            lang="en",
            css_url=f"/pay/_assets/pay.css?v={digest}",
            brand_css_url=f"/pay/_assets/brand/{hex6}.css",
            **context,
        )
    )
