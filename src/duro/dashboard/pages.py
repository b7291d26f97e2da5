"""Request plumbing of the dashboard pages: rendering with the HTML security headers, error pages, the session
guard with the state gating of 02 §2, and both CSRF checks of 02 §4."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from duro.api.errors import request_id_of
from duro.api.responses import error_response
from duro.config import Settings
from duro.dashboard.sessions import (
    PRESESSION_CSRF_COOKIE,
    SESSION_COOKIE,
    DashboardSession,
    cookie_secure,
    csrf_token,
    public_origin,
    resolve_session,
)
from duro.kit.crypto import constant_time_equals
from duro.kit.errors import DuroError
from duro.kit.netaddr import client_ip
from duro.runtime import Runtime
from duro.web.checkout.rendering import render

MAX_FORM_BYTES = 64 * 1024


class PageInterrupt(Exception):
    """Ends a dashboard request early with a ready response (redirect to login, 403 page, ...)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def install_page_interrupts(app: FastAPI) -> None:
    async def _interrupt(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageInterrupt)
        return exc.response

    app.add_exception_handler(PageInterrupt, _interrupt)


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def request_ip(request: Request) -> str:
    peer = request.client.host if request.client else None
    return client_ip(peer, request.headers.get("x-forwarded-for"), runtime_of(request).settings.trusted_proxies)


def wants_json(request: Request) -> bool:
    """fetch/JSON callers get status codes instead of redirects and pages (02 §2)."""
    if request.headers.get("x-requested-with", "").lower() == "fetch":
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def page(settings: Settings, template: str, context: dict[str, Any], status: int = 200) -> Response:
    return render(settings, f"dashboard/{template}", context, status=status)


def error_page(request: Request, status: int, reason: str, message: str) -> Response:
    if wants_json(request):
        return error_response(DuroError(status, message, reason), request_id_of(request))
    settings = runtime_of(request).settings
    context = {"title": message, "status": status, "reason": reason, "message": message}
    return page(settings, "error.html", context, status)


def fail(request: Request, status: int, reason: str, message: str) -> PageInterrupt:
    return PageInterrupt(error_page(request, status, reason, message))


def redirect(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)


def safe_next(value: str | None) -> str | None:
    """Only a local dashboard path may be a post-login target (no open redirect)."""
    if not value or not value.startswith("/dashboard") or value.startswith("//") or "\\" in value:
        return None
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else None


async def read_form(request: Request) -> FormData:
    if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
        raise fail(request, 400, "payload_too_large", "The form is too large.")
    return await request.form()


def field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


# --- sessions ---


async def current_session(request: Request) -> DashboardSession | None:
    runtime = runtime_of(request)
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    async with runtime.db.core_transaction() as conn:
        return await resolve_session(conn, token, runtime.clock)


async def require_session(request: Request, *, states: tuple[str, ...] = ("active",)) -> DashboardSession:
    """The request's session in one of `states`, or an interrupt per 02 §2: no/expired session -> 303 to the
    login page with `next` (401 for fetch/JSON); waiting for TOTP -> 303 to verify (401); owner/admin without
    2FA -> 303 to enrolment (403 `two_factor_enrolment_required`)."""
    session = await current_session(request)
    json = wants_json(request)
    if session is None:
        if json:
            raise fail(request, 401, "unauthorized", "Sign in to continue.")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise PageInterrupt(redirect(f"/dashboard/login?next={quote(target, safe='')}"))
    if session.state in states:
        return session
    if session.state == "pending_2fa":
        if json:
            raise fail(request, 401, "two_factor_required", "Enter your two-factor code to continue.")
        raise PageInterrupt(redirect("/dashboard/2fa/verify"))
    if session.state == "enrolment_required":
        if json:
            raise fail(request, 403, "two_factor_enrolment_required", "Set up two-factor authentication first.")
        raise PageInterrupt(redirect("/dashboard/2fa/enrol"))
    raise PageInterrupt(redirect("/dashboard"))  # e.g. an active session on the enrolment page


# --- CSRF ---


def _check_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin is not None and origin.rstrip("/").lower() != public_origin(runtime_of(request).settings):
        raise fail(request, 403, "csrf_failed", "The request came from another site.")


def check_session_csrf(request: Request, form: FormData | None, session: DashboardSession) -> None:
    """Every state-changing dashboard request: `csrf_token` field or `X-CSRF-Token` header equal to the session's
    token, and an `Origin`, when sent, equal to the public URL's origin; else 403 `csrf_failed`."""
    _check_origin(request)
    sent = request.headers.get("x-csrf-token") or (field(form, "csrf_token") if form is not None else "")
    expected = csrf_token(runtime_of(request).settings, session.id)
    if not sent or not constant_time_equals(sent, expected):
        raise fail(request, 403, "csrf_failed", "The form expired or was not sent by this site. Reload and retry.")


def check_presession_csrf(request: Request, form: FormData) -> None:
    """Login, signup and reset forms: the double-submit `duro_csrf` cookie must equal the hidden field."""
    _check_origin(request)
    cookie = request.cookies.get(PRESESSION_CSRF_COOKIE, "")
    sent = field(form, "csrf_token")
    if not cookie or not sent or not constant_time_equals(cookie, sent):
        raise fail(request, 403, "csrf_failed", "The form expired or was not sent by this site. Reload and retry.")


def presession_csrf(request: Request) -> str:
    """The double-submit value for a pre-session form: the existing cookie's, or a new one."""
    existing = request.cookies.get(PRESESSION_CSRF_COOKIE, "")
    return existing if 32 <= len(existing) <= 64 and existing.isalnum() else secrets.token_hex(16)


def with_presession_cookie(request: Request, response: Response, value: str) -> Response:
    response.set_cookie(
        PRESESSION_CSRF_COOKIE,
        value,
        httponly=True,
        secure=cookie_secure(runtime_of(request).settings),
        samesite="strict",
        path="/",
    )
    return response


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    """HttpOnly, Secure (unless http:// in development/test), SameSite=Lax, Path=/, no Domain, no Max-Age:
    the server enforces the lifetime."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        secure=cookie_secure(runtime_of(request).settings),
        samesite="lax",
        path="/",
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, secure=cookie_secure(runtime_of(request).settings), samesite="lax"
    )
