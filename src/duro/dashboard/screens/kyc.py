"""Dashboard screens: KYC (07 §3, §13; 02 §10). Tier, status, one upload slot per document type with its status
and review note, Submit once all three are present, and the cap meter; the layout's live-mode meter hook.

Uploads bypass the shell's 64 KiB form reader: the body is read with `duro.kit.uploads` under its own cap (one
10 MiB file plus the multipart overhead), so an oversized or lying client never makes the server buffer more."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from duro.dashboard.pages import check_session_csrf, fail, require_session
from duro.dashboard.shell import DashCall, add_layout_hook, dash, dash_post, field_errors
from duro.db.executor import Connection
from duro.kit import uploads
from duro.kit.errors import DuroError, invalid_field
from duro.kyc import service
from duro.kyc.repository import KycStore
from duro.kyc.rules import DOCUMENT_LABELS, DOCUMENT_TYPES, MAX_FILE_BYTES, UNVERIFIED_CAP, file_too_large

router = APIRouter(prefix="/dashboard", include_in_schema=False)

PAGE = "/dashboard/settings/kyc"
MAX_UPLOAD_BODY = MAX_FILE_BYTES + uploads.MULTIPART_OVERHEAD


async def _overview(call: DashCall) -> dict[str, Any]:
    async def read(conn: Connection) -> dict[str, Any]:
        return await service.kyc_overview(conn, call.tenant_id)

    return await call.core(read)


async def _render(call: DashCall, status: int = 200, errors: dict[str, dict[str, str]] | None = None) -> Response:
    kyc = await _overview(call)
    return await call.screen(
        "screens/kyc/index.html",
        status,
        kyc=kyc,
        types=DOCUMENT_TYPES,
        labels=DOCUMENT_LABELS,
        errors=errors or {},
        max_mib=MAX_FILE_BYTES // (1024 * 1024),
        meter={"status": kyc["kycStatus"], "used": kyc["liveGrossVolume"], "cap": UNVERIFIED_CAP, "currency": "NGN"},
    )


@router.get("/settings/kyc")
async def kyc_page(request: Request) -> Response:
    call = await dash(request)
    return await _render(call)


@router.post("/settings/kyc/submit")
async def kyc_submit(request: Request) -> Response:
    call, _ = await dash_post(request, "kyc.submit")
    origin = _origin(call)

    async def submit(conn: Connection) -> dict[str, Any]:
        return await service.submit(conn, call.runtime.clock, call.tenant_id, origin)

    try:
        await call.core(submit)
    except DuroError as exc:
        return await _render(call, exc.status, {"_form": {"_form": exc.message}})
    return call.done(PAGE, "Documents submitted for review. We'll email the owner when the review is done.")


@router.post("/settings/kyc/{doc_type}")
async def kyc_upload(request: Request, doc_type: str) -> Response:
    session = await require_session(request)
    call = DashCall(request, session)
    if doc_type not in DOCUMENT_TYPES:
        raise fail(request, 404, "resource_missing", "No such document type.")
    # The permission is checked before the body is read: a member who may not upload never costs a 10 MiB read.
    call.require("kyc.upload")
    try:
        form = await _read_upload(request)
    except uploads.BodyTooLarge:  # nothing was read or changed: show the page again with the limit
        return await _render(call, 422, {doc_type: field_errors(file_too_large())})
    try:
        check_session_csrf(request, form, session)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise invalid_field("file", "choose a file to upload", "file_missing")
        data = await upload.read(MAX_FILE_BYTES + 1)
        try:
            await service.upload_document(
                call.runtime.db,
                call.runtime.storage,
                call.runtime.clock,
                call.tenant_id,
                doc_type,
                file_name=upload.filename,
                data=data,
                origin=_origin(call),
            )
        except DuroError as exc:
            return await _render(call, exc.status, {doc_type: field_errors(exc)})
    finally:
        await form.close()
    return call.done(PAGE, f"{DOCUMENT_LABELS[doc_type]} uploaded.")


def _origin(call: DashCall) -> service.Origin:
    return service.Origin(call.actor, call.ip, call.request.headers.get("user-agent"), call.request_id)


async def _read_upload(request: Request) -> FormData:
    """The multipart body, at most MAX_UPLOAD_BODY bytes (Content-Length checked first, then the stream)."""
    try:
        return await uploads.read_multipart(request, MAX_UPLOAD_BODY)
    except uploads.NotMultipart as exc:
        raise fail(request, 400, "unsupported_media_type", "Upload the file with a multipart form.") from exc
    except uploads.MalformedMultipart as exc:
        raise fail(request, 400, "malformed_form", exc.message) from exc


async def kyc_meter(call: DashCall) -> dict[str, Any]:
    """Layout hook: the live-mode cap meter of an unverified tenant (07 §1); None when verified or in test mode
    (the layout shows it in live mode only, so test pages skip the query)."""
    if call.mode != "live":
        return {"kyc_meter": None}

    async def read(conn: Connection) -> Any:
        return await KycStore(conn, call.tenant_id).tenant()

    tenant = await call.core(read)
    if tenant is None or tenant.tier == "verified":
        return {"kyc_meter": None}
    return {
        "kyc_meter": {
            "status": tenant.kyc_status,
            "used": tenant.live_gross_volume,
            "cap": UNVERIFIED_CAP,
            "currency": "NGN",
        }
    }


add_layout_hook(kyc_meter)
