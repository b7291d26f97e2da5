"""Dashboard screens: the member's own account (07 §2; 02 §4–5): profile, password, own sessions, and the security
page (2FA status, recovery codes, disabling 2FA where the role allows it).

Self-service only: every action needs an active session and the CSRF token (`page.view`, which every role has),
never another member's permission. The logic lives in `duro.dashboard.security`.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from starlette.responses import Response

from duro.context import RequestMeta
from duro.dashboard import security
from duro.dashboard.pages import field
from duro.dashboard.shell import DashCall, dash, dash_post, text
from duro.kit.ratelimit import per

router = APIRouter(prefix="/dashboard", include_in_schema=False)

ACCOUNT = "/dashboard/account"
SECURITY = "/dashboard/account/security"
# A stolen session must not become a password oracle: wrong current passwords are limited like login failures.
PASSWORD_FAILURES_PER_MEMBER = per("5/15 minutes")
_RECOVERY_CODE = re.compile(r"^[a-z2-9]{5}-[a-z2-9]{5}$")


def _meta(call: DashCall) -> RequestMeta:
    return RequestMeta(call.ip, call.request.headers.get("user-agent"), call.request_id)


# --- account ---


async def _account_page(
    call: DashCall,
    status: int = 200,
    *,
    name: str | None = None,
    profile_errors: dict[str, str] | None = None,
    password_errors: dict[str, str] | None = None,
) -> Response:
    runtime = call.runtime
    sessions = await security.own_sessions(runtime.db, runtime.clock, call.session.member_id, call.session.id)
    return await call.screen(
        "screens/account/index.html",
        status,
        name=call.session.name or "" if name is None else name,
        sessions=sessions,
        others=sum(1 for s in sessions if not s.current),
        profile_errors=profile_errors or {},
        password_errors=password_errors or {},
    )


@router.get("/account")
async def account_screen(request: Request) -> Response:
    return await _account_page(await dash(request))


@router.post("/account/profile")
async def update_profile(request: Request) -> Response:
    call, form = await dash_post(request, "page.view")
    name = text(form, "name")
    problem = await security.rename(call.runtime.db, call.runtime.clock, call.session.member_id, name)
    if problem is not None:
        return await _account_page(call, 422, name=name, profile_errors={"name": problem})
    return call.done(ACCOUNT, "Your name was saved.")


@router.post("/account/password")
async def change_password(request: Request) -> Response:
    call, form = await dash_post(request, "page.view")
    limiter = call.runtime.limiter
    key = ("dashboard-password-change", call.session.member_id)
    if not await limiter.strategy.test(PASSWORD_FAILURES_PER_MEMBER, *key):
        errors = {"_form": "Too many wrong current passwords. Wait a few minutes and try again."}
        response = await _account_page(call, 429, password_errors=errors)
        response.headers["Retry-After"] = "900"
        return response
    errors = await security.change_password(
        call.runtime.db,
        call.runtime.clock,
        member_id=call.session.member_id,
        session_id=call.session.id,
        current=field(form, "currentPassword"),  # passwords are taken as typed, never stripped
        new=field(form, "newPassword"),
        confirm=field(form, "newPasswordConfirm"),
        meta=_meta(call),
    )
    if errors:
        if set(errors) == {"currentPassword"}:
            await limiter.hit(PASSWORD_FAILURES_PER_MEMBER, *key)
        return await _account_page(call, 422, password_errors=errors)
    return call.done(ACCOUNT, "Your password was changed. Your other sessions were signed out.")


@router.post("/account/sessions/{session_id}/revoke")
async def revoke_session(request: Request, session_id: str) -> Response:
    call, _ = await dash_post(request, "page.view")
    if session_id == call.session.id:
        return call.done(ACCOUNT, "To end this session, sign out.", "error")
    gone = await security.revoke_sessions(call.runtime.db, call.session.member_id, call.session.id, session_id)
    if not gone:
        return call.done(ACCOUNT, "That session had already ended.", "info")
    return call.done(ACCOUNT, "The session was signed out.")


@router.post("/account/sessions/revoke-others")
async def revoke_other_sessions(request: Request) -> Response:
    call, _ = await dash_post(request, "page.view")
    gone = await security.revoke_sessions(call.runtime.db, call.session.member_id, call.session.id, None)
    return call.done(ACCOUNT, f"{gone} other session{'s' if gone != 1 else ''} signed out.")


# --- security ---


async def _security_page(
    call: DashCall, status: int = 200, *, error: str | None = None, codes: list[str] | None = None
) -> Response:
    state = await security.two_factor_status(call.runtime.db, call.session.member_id, call.session.role)
    response = await call.screen("screens/account/security.html", status, tfa=state, error=error, codes=codes)
    if codes:
        response.headers["Cache-Control"] = "no-store"  # the codes are shown once; no copy in any cache
    return response


@router.get("/account/security")
async def security_screen(request: Request) -> Response:
    return await _security_page(await dash(request))


_CODE_PROBLEMS = {
    "invalid_code": "That code is not valid. Enter the current code from your authenticator app.",
    "not_enrolled": "Two-factor authentication is not set up.",
    "required": "Your role requires two-factor authentication; it cannot be turned off.",
}


@router.post("/account/security/recovery-codes")
async def regenerate_codes(request: Request) -> Response:
    call, form = await dash_post(request, "page.view")
    runtime = call.runtime
    result = await security.regenerate_recovery_codes(
        runtime.db, runtime.settings, runtime.clock, member_id=call.session.member_id, code=text(form, "code"),
        meta=_meta(call),
    )  # fmt: skip
    if isinstance(result, str):
        return await _security_page(call, 422, error=_CODE_PROBLEMS[result])
    return await _security_page(call, codes=result)


@router.post("/account/security/recovery-codes.txt")
async def download_codes(request: Request) -> Response:
    """The codes just shown, sent back by the page's download button and returned as a text file. Nothing is
    read from storage (only HMACs are kept); only well-formed codes are echoed."""
    _, form = await dash_post(request, "page.view")
    codes = [c for c in text(form, "codes").split() if _RECOVERY_CODE.match(c)][:10]
    body = "Duro recovery codes. Each works once, in place of a code from your authenticator app.\n\n"
    body += "\n".join(codes) + "\n"
    return Response(
        body,
        media_type="text/plain; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="duro-recovery-codes.txt"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post("/account/security/disable")
async def disable_two_factor(request: Request) -> Response:
    call, form = await dash_post(request, "page.view")
    runtime = call.runtime
    problem = await security.disable_two_factor(
        runtime.db, runtime.settings, runtime.clock, member_id=call.session.member_id, code=text(form, "code"),
        meta=_meta(call),
    )  # fmt: skip
    if problem is not None:
        return await _security_page(call, 403 if problem == "required" else 422, error=_CODE_PROBLEMS[problem])
    return call.done(SECURITY, "Two-factor authentication is off. Your recovery codes no longer work.")
