"""Request guards of the staff console: disabled console → 404 for every path, the API's key check, the HTML
console's cookie session and CSRF (02 §2, §4, §10). Merchant credentials mean nothing here: only the staff key
and staff sessions are ever consulted."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from duro.api.errors import request_id_of
from duro.api.responses import error_response
from duro.config import Settings
from duro.dashboard.sessions import cookie_secure, public_origin
from duro.kit.crypto import constant_time_equals
from duro.kit.errors import DuroError, unauthorized
from duro.kit.netaddr import client_ip
from duro.runtime import Runtime
from duro.staff.sessions import (
    STAFF_COOKIE,
    STAFF_LOGIN_CSRF_COOKIE,
    StaffSessionStore,
    key_matches,
    staff_csrf_token,
)
from duro.web.checkout.rendering import render

MAX_FORM_BYTES = 16 * 1024
NO_STORE = {"Cache-Control": "no-store"}


class StaffInterrupt(Exception):
    """Ends a staff request early with a ready response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def install_interrupts(app: FastAPI) -> None:
    async def _interrupt(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StaffInterrupt)
        return exc.response

    app.add_exception_handler(StaffInterrupt, _interrupt)


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def settings_of(request: Request) -> Settings:
    return runtime_of(request).settings


def ip_of(request: Request) -> str:
    peer = request.client.host if request.client else None
    return client_ip(peer, request.headers.get("x-forwarded-for"), settings_of(request).trusted_proxies)


def console_enabled(request: Request) -> None:
    """Router dependency: with DURO_STAFF_KEY unset, every /staff path answers exactly like an unknown path."""
    if settings_of(request).staff_key is None:
        raise StaffInterrupt(error_response(DuroError(404, "No such route", "unknown_route"), request_id_of(request)))


# --- JSON API ---


def require_key(request: Request) -> None:
    """Router dependency of /staff/api: `X-Staff-Key` must equal DURO_STAFF_KEY, else 401."""
    console_enabled(request)
    sent = request.headers.get("x-staff-key")
    # Starlette decodes header values as latin-1; encoding back gives the bytes the client sent.
    if not key_matches(settings_of(request), sent.encode("latin-1") if sent is not None else None):
        err = unauthorized("invalid_staff_key", "A valid X-Staff-Key header is required.")
        raise StaffInterrupt(error_response(err, request_id_of(request)))


# --- HTML console ---


def page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    response = render(settings_of(request), f"staff/{template}", context, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def error_page(request: Request, status: int, message: str) -> Response:
    return page(request, "error.html", {"status": status, "message": message, "csrf_token": None}, status)


def login_page(request: Request, status: int = 200, error: str | None = None) -> Response:
    """The key form; 401 when shown in place of a page that needs a staff session (02 §2)."""
    existing = request.cookies.get(STAFF_LOGIN_CSRF_COOKIE, "")
    token = existing if len(existing) == 32 and existing.isalnum() else secrets.token_hex(16)
    response = page(request, "login.html", {"login_csrf": token, "error": error, "csrf_token": None}, status)
    response.set_cookie(
        STAFF_LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        secure=cookie_secure(settings_of(request)),
        samesite="strict",
        path="/staff",
    )
    return response


async def staff_session(request: Request) -> str | None:
    token = request.cookies.get(STAFF_COOKIE)
    if not token:
        return None
    runtime = runtime_of(request)
    async with runtime.db.core_transaction() as conn:
        return await StaffSessionStore(conn).resolve(token, runtime.clock.now())


async def require_session(request: Request) -> str:
    """The staff session id, or the login form with 401 (a dashboard or API credential is no staff session)."""
    console_enabled(request)
    session_id = await staff_session(request)
    if session_id is None:
        raise StaffInterrupt(login_page(request, 401))
    return session_id


def check_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin is not None and origin.rstrip("/").lower() != public_origin(settings_of(request)):
        raise StaffInterrupt(error_page(request, 403, "The request came from another site."))


async def read_form(request: Request) -> dict[str, str]:
    if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
        raise StaffInterrupt(error_page(request, 400, "The form is too large."))
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def staff_post(request: Request) -> tuple[str, dict[str, str]]:
    """A console form action: staff session, then CSRF (the token of the staff session, and a same-site Origin)."""
    session_id = await require_session(request)
    check_origin(request)
    form = await read_form(request)
    sent = request.headers.get("x-csrf-token") or form.get("csrf_token", "")
    expected = staff_csrf_token(settings_of(request), session_id)
    if not sent or not constant_time_equals(sent, expected):
        raise StaffInterrupt(error_page(request, 403, "The form expired or was not sent by this site. Reload."))
    return session_id, form


def set_staff_cookie(request: Request, response: Response, token: str) -> None:
    """HttpOnly, Secure under the rule of duro_session, SameSite=Strict, Path=/staff, no Max-Age."""
    response.set_cookie(
        STAFF_COOKIE, token, httponly=True, secure=cookie_secure(settings_of(request)), samesite="strict", path="/staff"
    )


def clear_staff_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        STAFF_COOKIE, path="/staff", httponly=True, secure=cookie_secure(settings_of(request)), samesite="strict"
    )


def duro_error_page(request: Request, exc: DuroError) -> Response:
    return error_page(request, exc.status, exc.message)
