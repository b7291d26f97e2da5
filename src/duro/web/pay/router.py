"""Routes of the pay page and the store (06 §5). Public HTML: no credential; `?mode=test` selects the sandbox
schema (live otherwise). Every page carries the HTML security headers of 01 §6, errors included.

- `GET /pay/{tenantSlug}/{slug}`: the landing page. Creates nothing (link previews and crawlers are harmless).
- `POST /pay/{tenantSlug}/{slug}`: the Continue form. Order: client-IP rate limit (20/min, 01 §9) → `Origin` and
  double-submit CSRF → link lookup → session creation → `303` to `/checkout/{token}`.
- `GET /store/{tenantSlug}`: the published store; 404 when disabled.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from duro.db.engine import Mode
from duro.kit.errors import DuroError
from duro.kit.netaddr import client_ip
from duro.kit.ratelimit import per
from duro.runtime import Runtime
from duro.web.pay import pages
from duro.web.pay.pages import Brand
from duro.web.pay.rendering import brand_stylesheet, render, stylesheet
from duro.web.pay.security import (
    CSRF_FIELD,
    apply_html_headers,
    csrf_ok,
    csrf_token_for,
    origin_ok,
    set_csrf_cookie,
)

router = APIRouter(include_in_schema=False)

PAY_PER_IP: Final = per("20/minute")
MAX_FORM: Final = 4096
FORM_TYPE: Final = "application/x-www-form-urlencoded"
ASSET_HEADERS: Final = {"X-Content-Type-Options": "nosniff"}

NOT_FOUND = ("Page not found", "This page does not exist or is no longer available.")
FORBIDDEN = ("Your session expired", "For your security, please reload the page and press Continue again.")
TOO_MANY = ("Too many attempts", "Please wait a moment and try again.")
UNAVAILABLE = ("Not available", "This offer can no longer be purchased.")


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _mode(request: Request) -> Mode | None:
    """`?mode=test` → test; no `mode` (or `live`) → live; anything else is no page."""
    value = request.query_params.get("mode")
    if value is None or value == "live":
        return "live"
    if value == "test":
        return "test"
    return None


def _html(request: Request, body: str, status: int = 200, *, brand: Brand | None = None) -> HTMLResponse:
    response = HTMLResponse(body, status)
    origins = [brand.logo_origin] if brand is not None and brand.logo_origin else []
    apply_html_headers(response, _runtime(request).settings, img_origins=origins)
    return response


def _notice(
    request: Request,
    status: int,
    text: tuple[str, str],
    *,
    mode: Mode | None = None,
    retry_path: str | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    heading, message = text
    body = render(
        "error.html", brand=None, mode=mode or "live", heading=heading, message=message, retry_path=retry_path
    )
    response = _html(request, body, status)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


# Assets first: `/pay/_assets/pay.css` would otherwise match `/pay/{tenant_slug}/{slug}` (tenant slugs never
# contain `_`, so no tenant can own this path).
@router.get("/pay/_assets/pay.css")
async def pay_stylesheet() -> Response:
    body, _ = stylesheet()
    headers = {**ASSET_HEADERS, "Cache-Control": "public, max-age=86400"}
    return Response(body, media_type="text/css", headers=headers)


@router.get("/pay/_assets/brand/{name}")
async def brand_sheet(name: str) -> Response:
    body = brand_stylesheet(name.removesuffix(".css")) if name.endswith(".css") else None
    if body is None:
        return Response(b"", 404, headers=ASSET_HEADERS)
    headers = {**ASSET_HEADERS, "Cache-Control": "public, max-age=31536000, immutable"}
    return Response(body, media_type="text/css", headers=headers)


@router.get("/pay/{tenant_slug}/{slug}", response_class=HTMLResponse)
async def pay_page(tenant_slug: str, slug: str, request: Request) -> Response:
    runtime = _runtime(request)
    mode = _mode(request)
    found = await pages.landing(runtime, mode, tenant_slug, slug) if mode is not None else None
    if mode is None or found is None:
        return _notice(request, 404, NOT_FOUND, mode=mode)
    token = csrf_token_for(request)
    body = render(
        "landing.html", brand=found.brand, mode=mode, offer=found.offer, csrf_field=CSRF_FIELD, csrf_token=token
    )
    response = _html(request, body, brand=found.brand)
    set_csrf_cookie(response, token, runtime.settings)
    return response


async def _form_field(request: Request, name: str) -> str | None:
    """One field of a small urlencoded form body; None when absent, oversized or not a form."""
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype != FORM_TYPE:
        return None
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_FORM:
            return None
    try:
        values = parse_qs(raw.decode("ascii"), max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return None
    found = values.get(name)
    return found[0] if found and len(found) == 1 else None


@router.post("/pay/{tenant_slug}/{slug}", response_class=HTMLResponse)
async def pay_continue(tenant_slug: str, slug: str, request: Request) -> Response:
    runtime = _runtime(request)
    mode = _mode(request)
    ip = client_ip(
        request.client.host if request.client else None,
        request.headers.get("x-forwarded-for"),
        runtime.settings.trusted_proxies,
    )
    verdict = await runtime.limiter.hit(PAY_PER_IP, "pay-continue-ip", ip)
    if not verdict.allowed:
        retry = {"Retry-After": str(max(1, verdict.reset_seconds))}
        return _notice(request, 429, TOO_MANY, mode=mode, headers=retry)
    if mode is None:
        return _notice(request, 404, NOT_FOUND)
    retry_path = pages.pay_path(tenant_slug, slug, mode)
    if not origin_ok(request, runtime.settings) or not csrf_ok(request, await _form_field(request, CSRF_FIELD)):
        return _notice(request, 403, FORBIDDEN, mode=mode, retry_path=retry_path)
    try:
        token = await pages.start_checkout(runtime, mode, tenant_slug, slug)
    except DuroError as exc:  # the plan was archived between the page and the click (409 plan_inactive)
        return _notice(request, exc.status, UNAVAILABLE, mode=mode)
    if token is None:
        return _notice(request, 404, NOT_FOUND, mode=mode)
    return RedirectResponse(f"/checkout/{token}", 303, headers={"Cache-Control": "no-store"})


@router.get("/store/{tenant_slug}", response_class=HTMLResponse)
async def store_page(tenant_slug: str, request: Request) -> Response:
    mode = _mode(request)
    found = await pages.store(_runtime(request), mode, tenant_slug) if mode is not None else None
    if mode is None or found is None:
        return _notice(request, 404, NOT_FOUND, mode=mode)
    body = render("store.html", brand=found.brand, mode=mode, store=found)
    return _html(request, body, brand=found.brand)
