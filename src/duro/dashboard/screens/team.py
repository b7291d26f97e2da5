"""Dashboard screens: team and audit log (07 §3, §13; 02 §8–9), and the invitation accept page (07 §2).

Every team change goes through `duro.team.service`, which re-reads the acting member, checks `member:manage`,
applies the owner and self rules and writes the audit entry; this module only renders and maps its refusals
(403 `owner_protected`/`cannot_modify_self`, 404, 409) onto the page with the service's status.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from duro.api.errors import request_id_of
from duro.auth.permissions import ASSIGNABLE_ROLES
from duro.context import RequestMeta
from duro.dashboard import audit_log, security
from duro.dashboard.pages import (
    check_presession_csrf,
    field,
    page,
    presession_csrf,
    read_form,
    redirect,
    request_ip,
    runtime_of,
    set_session_cookie,
    with_presession_cookie,
)
from duro.dashboard.sessions import SESSION_COOKIE
from duro.dashboard.shell import DashCall, dash, dash_post, field_errors, text
from duro.db.executor import Connection
from duro.kit.errors import DuroError
from duro.kit.jsonenc import format_ts
from duro.team import service as team

router = APIRouter(prefix="/dashboard", include_in_schema=False)

TEAM = "/dashboard/team"
ROLE_LABELS = {"admin": "Admin", "developer": "Developer", "finance": "Finance", "read_only": "Read only"}


@dataclass(frozen=True, slots=True)
class _Me:
    """The acting member for the team service: it trusts only the id and re-reads the row."""

    id: str


def _meta(call: DashCall) -> RequestMeta:
    return RequestMeta(call.ip, call.request.headers.get("user-agent"), call.request_id)


# --- team page ---


async def _team_page(
    call: DashCall,
    *,
    status: int = 200,
    error: str | None = None,
    invite_values: dict[str, str] | None = None,
    invite_errors: dict[str, str] | None = None,
) -> Response:
    me = _Me(call.session.member_id)
    clock = call.runtime.clock

    async def load(conn: Connection) -> tuple[list[Any], list[Any], dict[str, Any]]:
        members = await team.list_members(conn, me)
        invites = await team.list_open_invitations(conn, me)
        return members, invites, await audit_log.last_logins(conn, call.tenant_id)

    members, invites, logins = await call.core(load)
    rows = [
        {
            "id": m.id,
            "email": m.email,
            "name": m.name,
            "role": m.role,
            "twoFactor": m.totp_enabled_at is not None,
            "lastLogin": format_ts(logins.get(m.id)),
            "isOwner": m.role == "owner",
            "isSelf": m.id == call.session.member_id,
        }
        for m in members
    ]
    now = clock.now()
    # Expired invitations stay listed (marked) so they can be resent or revoked from here (02 §8.1).
    pending = [
        {
            "id": i.id,
            "email": i.email,
            "role": i.role,
            "expiresAt": format_ts(i.expires_at),
            "expired": now >= i.expires_at,  # the accept page's rule (`team.service.accept`)
        }
        for i in invites
    ]
    return await call.screen(
        "screens/team/index.html",
        status,
        members=rows,
        invites=pending,
        roles=[(r, ROLE_LABELS.get(r, r)) for r in ASSIGNABLE_ROLES],
        lacking_2fa=sum(1 for r in rows if not r["twoFactor"]),
        error=error,
        invite_values=invite_values or {"role": "developer"},
        invite_errors=invite_errors or {},
    )


@router.get("/team")
async def team_screen(request: Request) -> Response:
    return await _team_page(await dash(request))


async def _change(
    request: Request, action: str, run: Callable[[DashCall, Any, Connection], Awaitable[str]]
) -> Response:
    """One team change: the form's CSRF and permission, the service in one core transaction, then a flash; a
    refusal re-renders the page with the service's status and message."""
    call, form = await dash_post(request, action)
    try:
        message = await call.core(lambda conn: run(call, form, conn))
    except DuroError as exc:
        if exc.status >= 500:
            raise
        return await _team_page(call, status=exc.status, error=exc.message)
    return call.done(TEAM, message)


@router.post("/team/invite")
async def invite(request: Request) -> Response:
    call, form = await dash_post(request, "member.invite")
    values = {"email": text(form, "email"), "role": text(form, "role")}
    public_url = call.runtime.settings.public_url
    me = _Me(call.session.member_id)
    try:
        await call.core(
            lambda conn: team.invite(
                conn, me, call.runtime.clock, _meta(call), email=values["email"], role=values["role"],
                public_url=public_url,
            )
        )  # fmt: skip
    except DuroError as exc:
        if exc.status not in (409, 422):
            raise
        errors = {"email": exc.message} if exc.reason == "duplicate_email" else field_errors(exc)
        return await _team_page(call, status=exc.status, invite_values=values, invite_errors=errors)
    return call.done(TEAM, f"Invitation sent to {values['email'].strip().lower()}.")


@router.post("/team/invites/{invitation_id}/resend")
async def resend_invite(request: Request, invitation_id: str) -> Response:
    async def run(call: DashCall, form: Any, conn: Connection) -> str:
        issued = await team.resend(
            conn,
            _Me(call.session.member_id),
            call.runtime.clock,
            _meta(call),
            invitation_id=invitation_id,
            public_url=call.runtime.settings.public_url,
        )
        return f"Invitation sent again to {issued.invitation.email}; the earlier link no longer works."

    return await _change(request, "member.invite_resend", run)


@router.post("/team/invites/{invitation_id}/revoke")
async def revoke_invite(request: Request, invitation_id: str) -> Response:
    async def run(call: DashCall, form: Any, conn: Connection) -> str:
        row = await team.revoke(
            conn, _Me(call.session.member_id), call.runtime.clock, _meta(call), invitation_id=invitation_id
        )
        return f"Invitation for {row.email} revoked."

    return await _change(request, "member.invite_revoke", run)


@router.post("/team/members/{member_id}/role")
async def change_role(request: Request, member_id: str) -> Response:
    async def run(call: DashCall, form: Any, conn: Connection) -> str:
        row = await team.change_role(
            conn, _Me(call.session.member_id), call.runtime.clock, _meta(call), member_id=member_id,
            role=text(form, "role"),
        )  # fmt: skip
        return f"{row.email} is now {ROLE_LABELS.get(row.role, row.role)}."

    return await _change(request, "member.change_role", run)


@router.post("/team/members/{member_id}/remove")
async def remove_member(request: Request, member_id: str) -> Response:
    async def run(call: DashCall, form: Any, conn: Connection) -> str:
        row = await team.remove(conn, _Me(call.session.member_id), call.runtime.clock, _meta(call), member_id=member_id)
        return f"{row.email} was removed from the team and signed out."

    return await _change(request, "member.remove", run)


@router.post("/team/members/{member_id}/reset-2fa")
async def reset_two_factor(request: Request, member_id: str) -> Response:
    async def run(call: DashCall, form: Any, conn: Connection) -> str:
        row = await team.reset_two_factor(
            conn, _Me(call.session.member_id), call.runtime.clock, _meta(call), member_id=member_id
        )
        return f"Two-factor authentication of {row.email} was reset; they are signed out and set it up again."

    return await _change(request, "member.reset_two_factor", run)


# --- audit log ---


@router.get("/team/audit")
async def audit_screen(request: Request) -> Response:
    call = await dash(request)
    call.require("audit.view")
    filters, errors = audit_log.AuditFilters.from_query(request.query_params)
    entries = await call.core(lambda conn: audit_log.list_entries(conn, call.tenant_id, filters, call.page_request()))
    return await call.screen(
        "screens/team/audit.html",
        page={"items": list(entries.items), "hasMore": entries.has_more, "nextCursor": entries.next_cursor},
        actions=audit_log.ACTIONS,
        filters={k: v for k, v in request.query_params.items() if k != "cursor"},
        filter_errors=errors,
    )


# --- invitation acceptance (pre-session) ---


def _invite_page(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    settings = runtime_of(request).settings
    token = presession_csrf(request)
    response = page(settings, template, {**context, "csrf_token": token}, status)
    # The token is in the URL: never send it to another site, but keep `Origin` on our own form post (02 §4 CSRF).
    response.headers["Referrer-Policy"] = "same-origin"
    return with_presession_cookie(request, response, token)


def _invalid_invite(request: Request, exc: DuroError) -> Response:
    return _invite_page(request, "screens/team/invite_invalid.html", exc.status, reason=exc.reason, message=exc.message)


@router.get("/invite/{token}")
async def invite_form(request: Request, token: str) -> Response:
    runtime = runtime_of(request)
    found = await security.open_invitation(runtime.db, runtime.clock, token)
    if isinstance(found, DuroError):
        return _invalid_invite(request, found)
    return _invite_page(request, "screens/team/invite_accept.html", token=token, invitation=found, name="", errors={})


@router.post("/invite/{token}")
async def invite_accept(request: Request, token: str) -> Response:
    form = await read_form(request)
    check_presession_csrf(request, form)
    runtime = runtime_of(request)
    name = field(form, "name")
    password = field(form, "password")
    found = await security.open_invitation(runtime.db, runtime.clock, token)
    if isinstance(found, DuroError):
        return _invalid_invite(request, found)
    errors: dict[str, str] = {}
    if password != field(form, "password_confirm"):
        errors["password_confirm"] = "does not match the password"
    else:
        try:
            joined = await security.accept_invitation(
                runtime.db,
                runtime.clock,
                token=token,
                email=found.email,
                name=name,
                password=password,
                old_token=request.cookies.get(SESSION_COOKIE),
                meta=RequestMeta(request_ip(request), request.headers.get("user-agent"), request_id_of(request)),
            )
        except DuroError as exc:
            if exc.status != 422:
                return _invalid_invite(request, exc)
            errors = {d.path: d.issue for d in exc.details} or {"_form": exc.message}
    if errors:
        context = {"token": token, "invitation": found, "name": name, "errors": errors}
        return _invite_page(request, "screens/team/invite_accept.html", 422, **context)
    # 02 §8.1: admins go straight to 2FA enrolment; the others land on the dashboard.
    response = redirect("/dashboard/2fa/enrol" if joined.state == "enrolment_required" else "/dashboard")
    set_session_cookie(request, response, joined.token)
    return response
