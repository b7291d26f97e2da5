"""Dashboard account pages (02 §4, 07 §2): signup, login, logout, password reset and
two-factor enrolment and verification (02 §5). Server-rendered forms; no JavaScript needed."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from markupsafe import Markup
from starlette.responses import Response

from duro.api.errors import add_html_error_pages, request_id_of
from duro.context import RequestMeta
from duro.dashboard import accounts, twofactor
from duro.dashboard.pages import (
    PageInterrupt,
    check_presession_csrf,
    check_session_csrf,
    clear_session_cookie,
    error_page,
    fail,
    field,
    install_page_interrupts,
    page,
    presession_csrf,
    read_form,
    redirect,
    request_ip,
    require_session,
    runtime_of,
    safe_next,
    set_session_cookie,
    with_presession_cookie,
)
from duro.dashboard.screens import screen_routers
from duro.dashboard.screens.overview import ONBOARDING
from duro.dashboard.screens.overview_queries import checklist
from duro.dashboard.sessions import SESSION_COOKIE, DashboardSession, SessionStore, csrf_token
from duro.kit.errors import DuroError
from duro.kit.ratelimit import per
from duro.tenants.passwords import dummy_hash

router = APIRouter(prefix="/dashboard", include_in_schema=False)

LOGIN_FAILURES_PER_EMAIL = per("5/15 minutes")
LOGIN_ATTEMPTS_PER_IP = per("30/15 minutes")
SIGNUP_FIELDS = {"name": "business_name", "yourName": "name", "ownerEmail": "email", "ownerPassword": "password"}


def install_dashboard(app: FastAPI) -> None:
    """Routes plus the interrupt handler; warms the dummy hash so the first unknown-email login is not faster."""
    dummy_hash()
    install_page_interrupts(app)
    add_html_error_pages(app, "/dashboard", _error_page)
    app.include_router(router)
    for screens in screen_routers():
        app.include_router(screens)


def _error_page(request: Request, err: DuroError) -> Response:
    """A DuroError escaping a screen (an unknown id, an unknown route) is the HTML error page, JSON for fetch."""
    response = error_page(request, err.status, err.reason or "error", err.message)
    response.headers.update(err.headers or {})
    return response


def _meta(request: Request) -> RequestMeta:
    return RequestMeta(request_ip(request), request.headers.get("user-agent"), request_id_of(request))


def _state_home(state: str, next_path: str | None) -> str:
    if state == "pending_2fa":
        return "/dashboard/2fa/verify"
    if state == "enrolment_required":
        return "/dashboard/2fa/enrol"
    return next_path or "/dashboard"


def _presession_page(request: Request, template: str, status: int = 200, **context: object) -> Response:
    settings = runtime_of(request).settings
    token = presession_csrf(request)
    response = page(settings, template, {**context, "csrf_token": token, "allow_signup": settings.allow_signup}, status)
    return with_presession_cookie(request, response, token)


# --- signup ---


def _require_signup(request: Request) -> None:
    if not runtime_of(request).settings.allow_signup:
        raise fail(request, 403, "signup_disabled", "Signup is disabled on this Duro installation.")


@router.get("/signup")
async def signup_form(request: Request) -> Response:
    _require_signup(request)
    return _presession_page(request, "signup.html", values={}, errors={})


@router.post("/signup")
async def signup_submit(request: Request) -> Response:
    _require_signup(request)
    form = await read_form(request)
    check_presession_csrf(request, form)
    values = {k: field(form, k) for k in ("business_name", "name", "email")}
    password = field(form, "password")
    runtime = runtime_of(request)
    try:
        started = await accounts.signup(
            runtime.db,
            runtime.settings,
            runtime.clock,
            business_name=values["business_name"],
            your_name=values["name"],
            email=values["email"],
            password=password,
            meta=_meta(request),
        )
    except DuroError as exc:
        if exc.status not in (409, 422):
            raise
        errors = {SIGNUP_FIELDS.get(d.path, d.path): d.issue for d in exc.details}
        if exc.status == 409:
            errors = {"email": "an account with this email already exists"}
        return _presession_page(request, "signup.html", 422, values=values, errors=errors)
    response = redirect(_state_home(started.state, None))
    set_session_cookie(request, response, started.token)
    return response


# --- login / logout ---


@router.get("/login")
async def login_form(request: Request, next: str | None = None) -> Response:
    notice = None
    if request.query_params.get("reset"):
        notice = "Your password was changed. Sign in with the new one."
    elif request.query_params.get("2fa") == "failed":
        notice = "Too many wrong two-factor codes. Sign in again."
    return _presession_page(request, "login.html", next=safe_next(next), email="", error=None, notice=notice)


@router.post("/login")
async def login_submit(request: Request) -> Response:
    form = await read_form(request)
    check_presession_csrf(request, form)
    runtime = runtime_of(request)
    email = field(form, "email").strip().lower()
    next_path = safe_next(field(form, "next"))
    ip = request_ip(request)
    # 01 §9: every attempt counts per IP; per email only failures count, so check before verifying.
    by_ip = await runtime.limiter.hit(LOGIN_ATTEMPTS_PER_IP, "dashboard-login-ip", ip)
    email_key = ("dashboard-login-email", email[:254])
    if not by_ip.allowed or not await runtime.limiter.strategy.test(LOGIN_FAILURES_PER_EMAIL, *email_key):
        response = _presession_page(
            request,
            "login.html",
            429,
            next=next_path,
            email=email,
            error="Too many sign-in attempts. Wait a few minutes and try again.",
            notice=None,
        )
        response.headers["Retry-After"] = str(max(1, by_ip.reset_seconds)) if not by_ip.allowed else "900"
        return response
    started = await accounts.login(
        runtime.db,
        runtime.clock,
        email=email,
        password=field(form, "password"),
        old_token=request.cookies.get(SESSION_COOKIE),
        meta=_meta(request),
    )
    if started is None:
        await runtime.limiter.hit(LOGIN_FAILURES_PER_EMAIL, *email_key)
        return _presession_page(
            request, "login.html", 401, next=next_path, email=email, error=accounts.INVALID_LOGIN, notice=None
        )
    response = redirect(_state_home(started.state, next_path))
    set_session_cookie(request, response, started.token)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    session = await require_session(request, states=("active", "pending_2fa", "enrolment_required"))
    form = await read_form(request)
    check_session_csrf(request, form, session)
    runtime = runtime_of(request)
    async with runtime.db.core_transaction() as conn:
        await SessionStore(conn).delete(session.id)
    response = redirect("/dashboard/login")
    clear_session_cookie(request, response)
    return response


def _enrol_page(
    request: Request,
    session: DashboardSession,
    form: twofactor.EnrolmentForm,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    settings = runtime_of(request).settings
    context = {
        "session": session,
        "csrf_token": csrf_token(settings, session.id),
        "sealed": form.sealed,
        "secret": form.secret,
        "uri": form.uri,
        # segno's own SVG (paths only, no script); the URI it encodes is not embedded as text.
        "qr_svg": Markup(form.svg),  # noqa: S704
        "error": error,
    }
    return page(settings, "twofactor_enrol.html", context, status)


async def _enrolling_session(request: Request) -> DashboardSession:
    """Owners/admins in `enrolment_required`, or any active member without TOTP enrolling voluntarily (02 §5)."""
    session = await require_session(request, states=("enrolment_required", "active"))
    if session.state == "active" and await twofactor.member_has_totp(runtime_of(request).db, session.member_id):
        raise PageInterrupt(redirect("/dashboard"))
    return session


async def _after_enrolment(request: Request, session: DashboardSession) -> str:
    """Where "Continue" leads once enrolment is done: an owner whose onboarding checklist (07 §2) is incomplete
    (the first run after signup) goes to the onboarding page; everyone else to the overview. Logins are unchanged:
    they land on the overview, which shows the checklist until it is complete."""
    if session.role != "owner":
        return "/dashboard"
    steps = await checklist(runtime_of(request), session.tenant_id)
    return "/dashboard" if steps.complete else ONBOARDING


@router.get("/2fa/enrol")
async def enrol_form(request: Request) -> Response:
    """A fresh 160-bit secret as a QR code and as text; nothing is stored until one code confirms it."""
    session = await _enrolling_session(request)
    return _enrol_page(request, session, twofactor.enrolment_form(runtime_of(request).settings, session))


@router.post("/2fa/enrol")
async def enrol_submit(request: Request) -> Response:
    session = await _enrolling_session(request)
    form = await read_form(request)
    check_session_csrf(request, form, session)
    runtime = runtime_of(request)
    sealed = field(form, "pending")
    result = await twofactor.enrol(
        runtime.db,
        runtime.settings,
        runtime.clock,
        session,
        sealed=sealed,
        code=field(form, "code"),
        meta=_meta(request),
    )
    if result == "already_enrolled":
        return redirect("/dashboard")
    if result == "session_gone":
        return redirect("/dashboard/login")
    if isinstance(result, str):
        message = (
            "That code is not valid. Check the time on your device and enter the current code."
            if result == "invalid_code"
            else "The setup form expired. Scan the new QR code and enter a code from it."
        )
        again = twofactor.enrolment_form(runtime.settings, session, sealed)
        return _enrol_page(request, session, again, error=message, status=422)
    # 02 §5: the recovery codes are shown once, in this response only; the session is now the rotated one.
    settings = runtime.settings
    response = page(
        settings,
        "recovery_codes.html",
        {
            "session": session,
            "csrf_token": csrf_token(settings, result.session_id),
            "codes": result.codes,
            "codes_left": None,
            "continue_to": await _after_enrolment(request, session),
        },
    )
    response.headers["Cache-Control"] = "no-store"
    set_session_cookie(request, response, result.token)
    return response


def _verify_page(
    request: Request, session: DashboardSession, *, error: str | None = None, status: int = 200
) -> Response:
    settings = runtime_of(request).settings
    context = {"session": session, "csrf_token": csrf_token(settings, session.id), "error": error}
    return page(settings, "twofactor_verify.html", context, status)


@router.get("/2fa/verify")
async def verify_form(request: Request) -> Response:
    session = await require_session(request, states=("pending_2fa",))
    return _verify_page(request, session)


@router.post("/2fa/verify")
async def verify_submit(request: Request) -> Response:
    """A TOTP code or an unused recovery code; 5 wrong entries end the session and count as a failed login."""
    session = await require_session(request, states=("pending_2fa",))
    form = await read_form(request)
    check_session_csrf(request, form, session)
    runtime = runtime_of(request)
    result = await twofactor.verify(
        runtime.db, runtime.settings, runtime.clock, session, code=field(form, "code"), meta=_meta(request)
    )
    if result is None:
        response = redirect("/dashboard/login")
        clear_session_cookie(request, response)
        return response
    if isinstance(result, twofactor.Rejected):
        left = result.attempts_left
        message = f"That code is not valid. {left} attempt{'s' if left != 1 else ''} left."
        return _verify_page(request, session, error=message, status=422)
    if isinstance(result, twofactor.LockedOut):
        await runtime.limiter.hit(LOGIN_FAILURES_PER_EMAIL, "dashboard-login-email", result.email[:254])
        response = redirect("/dashboard/login?2fa=failed")
        clear_session_cookie(request, response)
        return response
    done: Response
    if result.recovery_codes_left is None:
        done = redirect("/dashboard")
    else:
        settings = runtime.settings
        done = page(
            settings,
            "recovery_codes.html",
            {
                "session": session,
                "csrf_token": csrf_token(settings, result.session_id),
                "codes": None,
                "codes_left": result.recovery_codes_left,
            },
        )
    set_session_cookie(request, done, result.token)
    return done


# --- password reset ---


@router.get("/password/forgot")
async def forgot_form(request: Request) -> Response:
    return _presession_page(request, "forgot.html", sent=False)


# Each request may send an email: limit per IP and per address. Over the limit nothing is sent, but the answer is
# the same "sent" page, so the limit reveals nothing about which emails have accounts.
RESET_REQUESTS_PER_IP = per("10/15 minutes")
RESET_REQUESTS_PER_EMAIL = per("3/15 minutes")


@router.post("/password/forgot")
async def forgot_submit(request: Request) -> Response:
    form = await read_form(request)
    check_presession_csrf(request, form)
    runtime = runtime_of(request)
    email = field(form, "email").strip().lower()
    by_ip = await runtime.limiter.hit(RESET_REQUESTS_PER_IP, "dashboard-reset-ip", request_ip(request))
    by_email = await runtime.limiter.hit(RESET_REQUESTS_PER_EMAIL, "dashboard-reset-email", email[:254])
    if by_ip.allowed and by_email.allowed:
        await accounts.request_reset(runtime.db, runtime.settings, runtime.clock, email=email)
    return _presession_page(request, "forgot.html", sent=True)


def _invalid_link(request: Request) -> Response:
    return _presession_page(request, "reset_invalid.html", 404)


@router.get("/password/reset/{token}")
async def reset_form(request: Request, token: str) -> Response:
    runtime = runtime_of(request)
    if await accounts.open_reset(runtime.db, runtime.clock, token) is None:
        return _invalid_link(request)
    return _presession_page(request, "reset.html", token=token, error=None)


@router.post("/password/reset/{token}")
async def reset_submit(request: Request, token: str) -> Response:
    form = await read_form(request)
    check_presession_csrf(request, form)
    runtime = runtime_of(request)
    password = field(form, "password")
    if password != field(form, "password_confirm"):
        return _presession_page(request, "reset.html", 422, token=token, error="The passwords do not match.")
    problem = await accounts.complete_reset(
        runtime.db, runtime.clock, token=token, password=password, meta=_meta(request)
    )
    if problem == "invalid":
        return _invalid_link(request)
    if problem is not None:
        return _presession_page(request, "reset.html", 422, token=token, error=f"Password {problem}.")
    response = redirect("/dashboard/login?reset=done")
    clear_session_cookie(request, response)
    return response


__all__ = ["install_dashboard", "router"]
