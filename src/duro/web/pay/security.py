"""Browser-facing protections of the pay page and the store: the HTML security headers of 01 §6 and the
double-submit CSRF cookie of the Continue form (06 §5).

CSRF: the landing page sets `duro_pay_csrf` (a random 256-bit value; HttpOnly, SameSite=Strict, Path=/pay,
Secure behind an https `DURO_PUBLIC_URL`) and renders the same value in a hidden form field. The POST must carry
both, equal (compared in constant time). A cross-site page can neither read the cookie nor make the browser send a
SameSite=Strict cookie, so it cannot produce a matching pair. A present `Origin` header must also be Duro's own.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from duro.config import Settings
from duro.web.checkout.security import html_headers

CSRF_COOKIE: Final = "duro_pay_csrf"
CSRF_FIELD: Final = "csrf_token"
CSRF_PATH: Final = "/pay"
_TOKEN: Final = re.compile(r"^[A-Za-z0-9_-]{43}$")  # token_urlsafe(32)


def is_https(settings: Settings) -> bool:
    return settings.public_url.lower().startswith("https://")


def apply_html_headers(response: Response, settings: Settings, *, img_origins: Iterable[str] = ()) -> Response:
    """The headers of every hosted HTML page (01 §6), shared with checkout: CSP self only with
    `frame-ancestors 'none'`, nosniff, Referrer-Policy, HSTS behind https. Pages are per-visitor (the CSRF value),
    so never cached."""
    response.headers.update(html_headers(settings, img_sources=sorted(set(img_origins)), cache="no-store"))
    return response


def csrf_token_for(request: Request) -> str:
    """The visitor's current value (kept, so several open tabs stay valid) or a fresh one."""
    current = request.cookies.get(CSRF_COOKIE)
    if current is not None and _TOKEN.match(current):
        return current
    return secrets.token_urlsafe(32)


def set_csrf_cookie(response: Response, token: str, settings: Settings) -> None:
    response.set_cookie(
        CSRF_COOKIE,
        token,
        path=CSRF_PATH,
        httponly=True,  # the value reaches the form server-side; no script needs it
        samesite="strict",
        secure=is_https(settings),
    )


def csrf_ok(request: Request, submitted: str | None) -> bool:
    """Cookie and form field both present, well-formed and equal (constant-time)."""
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not submitted or not _TOKEN.match(cookie):
        return False
    return hmac.compare_digest(cookie.encode(), submitted.encode())


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def origin_ok(request: Request, settings: Settings) -> bool:
    """No `Origin` header (older browsers, same-origin GET-initiated forms in some) is accepted; a present one must
    be `DURO_PUBLIC_URL`'s origin or the request's own."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    allowed = {_origin_of(settings.public_url), _origin_of(str(request.base_url))}
    return origin.lower() in allowed
