"""The staff console (07 §14): key login, the KYC queue, tenant review with approve/reject, document downloads,
tenant search; and the JSON equivalents under /staff/api/ behind `X-Staff-Key`. Mounted only through
`install_staff`; every path answers 404 while DURO_STAFF_KEY is unset."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Request
from starlette.responses import RedirectResponse, Response

from duro.api.errors import request_id_of
from duro.api.responses import json_response
from duro.kit import jsonenc
from duro.kit.crypto import constant_time_equals
from duro.kit.errors import DuroError, bad_request
from duro.kit.ratelimit import per
from duro.kyc import service
from duro.kyc.rules import DOCUMENT_LABELS, DOCUMENT_TYPES
from duro.staff.guard import (
    NO_STORE,
    StaffInterrupt,
    check_origin,
    clear_staff_cookie,
    console_enabled,
    duro_error_page,
    install_interrupts,
    ip_of,
    login_page,
    page,
    read_form,
    require_key,
    require_session,
    runtime_of,
    set_staff_cookie,
    settings_of,
    staff_post,
)
from duro.staff.sessions import STAFF_COOKIE, STAFF_LOGIN_CSRF_COOKIE, StaffSessionStore, key_matches, staff_csrf_token

pages = APIRouter(prefix="/staff", include_in_schema=False, dependencies=[Depends(console_enabled)])
api = APIRouter(prefix="/staff/api", include_in_schema=False, dependencies=[Depends(require_key)])

LOGIN_ATTEMPTS_PER_IP = per("20/15 minutes")


def install_staff(app: FastAPI) -> None:
    install_interrupts(app)
    app.include_router(api)
    app.include_router(pages)


def _origin(request: Request) -> service.Origin:
    return service.Origin(
        service.STAFF_ACTOR, ip_of(request), request.headers.get("user-agent"), request_id_of(request)
    )


async def _context(request: Request, session_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "csrf_token": staff_csrf_token(settings_of(request), session_id),
        "labels": DOCUMENT_LABELS,
        "types": DOCUMENT_TYPES,
        "notice": request.query_params.get("notice"),
        **extra,
    }


# --- login / logout ---


@pages.get("/login")
async def login_form(request: Request) -> Response:
    return login_page(request)


@pages.post("/login")
async def login(request: Request) -> Response:
    check_origin(request)
    form = await read_form(request)
    cookie = request.cookies.get(STAFF_LOGIN_CSRF_COOKIE, "")
    sent = form.get("csrf_token", "")
    if not cookie or not sent or not constant_time_equals(cookie, sent):
        return login_page(request, 403, "The form expired. Try again.")
    runtime = runtime_of(request)
    verdict = await runtime.limiter.hit(LOGIN_ATTEMPTS_PER_IP, "staff-login-ip", ip_of(request))
    if not verdict.allowed:
        return login_page(request, 429, "Too many attempts. Wait a few minutes.")
    if not key_matches(runtime.settings, form.get("key")):
        return login_page(request, 401, "That is not the staff key.")
    async with runtime.db.core_transaction() as conn:
        token = await StaffSessionStore(conn).create(runtime.clock.now(), ip_of(request))
    response = RedirectResponse("/staff", status_code=303)
    set_staff_cookie(request, response, token)
    return response


@pages.post("/logout")
async def logout(request: Request) -> Response:
    await staff_post(request)
    runtime = runtime_of(request)
    async with runtime.db.core_transaction() as conn:
        await StaffSessionStore(conn).delete_token(request.cookies.get(STAFF_COOKIE, ""))
    response = RedirectResponse("/staff/login", status_code=303)
    clear_staff_cookie(request, response)
    return response


# --- pages ---


@pages.get("")
async def queue(request: Request) -> Response:
    session_id = await require_session(request)
    async with runtime_of(request).db.core_transaction() as conn:
        items = await service.pending_queue(conn)
    return page(request, "queue.html", await _context(request, session_id, items=items))


@pages.get("/tenants")
async def tenants(request: Request) -> Response:
    session_id = await require_session(request)
    query = request.query_params.get("q", "")
    async with runtime_of(request).db.core_transaction() as conn:
        items = await service.search_tenants(conn, query)
    return page(request, "tenants.html", await _context(request, session_id, items=items, q=query))


async def _tenant_page(request: Request, session_id: str, tenant_id: str, status: int = 200, **extra: Any) -> Response:
    async with runtime_of(request).db.core_transaction() as conn:
        try:
            tenant = await service.staff_tenant(conn, tenant_id)
        except DuroError as exc:
            return duro_error_page(request, exc)
    return page(request, "tenant.html", await _context(request, session_id, tenant=tenant, **extra), status)


@pages.get("/kyc/{tenant_id}")
async def tenant_review(request: Request, tenant_id: str) -> Response:
    session_id = await require_session(request)
    return await _tenant_page(request, session_id, tenant_id, errors={}, note="")


@pages.post("/kyc/{tenant_id}/approve")
async def approve_form(request: Request, tenant_id: str) -> Response:
    session_id, _ = await staff_post(request)
    runtime = runtime_of(request)
    try:
        async with runtime.db.core_transaction() as conn:
            await service.approve(conn, runtime.clock, tenant_id, _origin(request))
    except DuroError as exc:
        return await _tenant_page(request, session_id, tenant_id, exc.status, errors={"_form": exc.message}, note="")
    return RedirectResponse(f"/staff/kyc/{quote(tenant_id)}?notice=Approved", status_code=303)


@pages.post("/kyc/{tenant_id}/reject")
async def reject_form(request: Request, tenant_id: str) -> Response:
    session_id, form = await staff_post(request)
    runtime = runtime_of(request)
    note = form.get("note", "")
    try:
        async with runtime.db.core_transaction() as conn:
            await service.reject(conn, runtime.clock, tenant_id, note, _origin(request))
    except DuroError as exc:
        errors = {d.path: d.issue for d in exc.details} or {"_form": exc.message}
        return await _tenant_page(request, session_id, tenant_id, exc.status, errors=errors, note=note)
    return RedirectResponse(f"/staff/kyc/{quote(tenant_id)}?notice=Rejected", status_code=303)


@pages.get("/kyc/documents/{kyc_id}/file")
async def document_download(request: Request, kyc_id: str) -> Response:
    await require_session(request)
    return await _download(request, kyc_id)


async def _download(request: Request, kyc_id: str) -> Response:
    runtime = runtime_of(request)
    try:
        async with runtime.db.core_transaction() as conn:
            row, data = await service.document_file(conn, runtime.storage, kyc_id)
    except DuroError as exc:
        return duro_error_page(request, exc)
    return Response(
        data,
        media_type=row.content_type,
        headers={
            # The name is sanitised to ASCII letters, digits, spaces and ._()- at upload, so it needs no escaping.
            "Content-Disposition": f'attachment; filename="{row.file_name}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


# --- JSON API (X-Staff-Key) ---


@api.get("/kyc/pending")
async def api_pending(request: Request) -> Response:
    async with runtime_of(request).db.core_transaction() as conn:
        items = await service.pending_queue(conn)
    return json_response({"items": items, "nextCursor": None, "hasMore": False}, headers=NO_STORE)


@api.get("/tenants/{tenant_id}")
async def api_tenant(request: Request, tenant_id: str) -> Response:
    async with runtime_of(request).db.core_transaction() as conn:
        return json_response(await service.staff_tenant(conn, tenant_id), headers=NO_STORE)


@api.post("/kyc/{tenant_id}/approve")
async def api_approve(request: Request, tenant_id: str) -> Response:
    runtime = runtime_of(request)
    async with runtime.db.core_transaction() as conn:
        body = await service.approve(conn, runtime.clock, tenant_id, _origin(request))
    return json_response(body, headers=NO_STORE)


@api.post("/kyc/{tenant_id}/reject")
async def api_reject(request: Request, tenant_id: str) -> Response:
    raw = await request.body()
    if len(raw) > 16 * 1024:
        raise bad_request("payload_too_large", "The body is too large.")
    try:
        data = jsonenc.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise bad_request("malformed_json", "The body is not valid JSON") from exc
    note = data.get("note") if isinstance(data, dict) else None
    runtime = runtime_of(request)
    async with runtime.db.core_transaction() as conn:
        body = await service.reject(conn, runtime.clock, tenant_id, note, _origin(request))
    return json_response(body, headers=NO_STORE)


__all__ = ["StaffInterrupt", "api", "install_staff", "pages"]
