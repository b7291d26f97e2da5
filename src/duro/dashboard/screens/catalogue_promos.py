"""Dashboard screens: promo codes (07 §3, §6). Same service and request models as /v1/promo-codes (03 §13.1)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from duro.context import RepositoryContext
from duro.dashboard.screens.catalogue_kit import (
    active_plans,
    amount_field,
    bool_filter,
    inline_errors,
    load,
    local_input,
    page_request,
    plan_names,
    timestamp_field,
)
from duro.dashboard.shell import DashCall, checked, dash, dash_post, integer, keep, metadata_from, optional, parse, text
from duro.kit.errors import DuroError
from duro.kit.validation import check_printable
from duro.promo_codes import service
from duro.promo_codes.schemas import PromoCodeCreate, PromoCodeUpdate

router = APIRouter(prefix="/dashboard", include_in_schema=False)

CREATE_FIELDS = (
    "code",
    "discountType",
    "discountValue",
    "currency",
    "planId",
    "duration",
    "durationCycles",
    "maxRedemptions",
    "expiresAt",
    "metadata",
)
DUPLICATE = {"duplicate_code": "code"}


def _code_filter(raw: str | None) -> str | None:
    """The /v1 list's `code` filter: printable, ≤ 40, matched upper case; anything else finds nothing."""
    value = (raw or "").strip()
    if not value or len(value) > 40:
        return None
    try:
        return check_printable(value).upper()
    except ValueError:
        return None


@router.get("/promo-codes")
async def list_promo_codes(request: Request) -> Response:
    call = await dash(request)
    active = bool_filter(request.query_params.get("active"))
    code = _code_filter(request.query_params.get("code"))
    page_req = page_request(call)

    async def read(ctx: RepositoryContext) -> tuple[dict[str, Any], dict[str, str]]:
        page = await service.list_promo_codes(ctx, page_req, active, code)
        return page, await plan_names(ctx, [p["planId"] for p in page["items"]])

    page, names = await load(call, read)
    return await call.screen(
        "screens/catalogue/promos.html",
        page=page,
        names=names,
        active=request.query_params.get("active", ""),
        code=request.query_params.get("code", ""),
    )


async def _new_form(call: DashCall, values: dict[str, Any], errors: dict[str, str], status: int = 200) -> Response:
    plans = await call.read(active_plans)
    return await call.screen("screens/catalogue/promo_new.html", status, values=values, errors=errors, plans=plans)


@router.get("/promo-codes/new")
async def new_promo_code(request: Request) -> Response:
    call = await dash(request)
    return await _new_form(call, {"discountType": "percentage", "duration": "once"}, {})


def _discount_value(form: FormData) -> int | str | None:
    # A fixed discount is money (typed in major units like prices); a percentage is a whole number.
    if text(form, "discountType") == "fixed":
        return amount_field(form, "discountValue")
    return integer(form, "discountValue")


@router.post("/promo-codes")
async def create_promo_code(request: Request) -> Response:
    call, form = await dash_post(request, "promo_code.create")
    data = keep(
        [
            ("code", text(form, "code")),
            ("discountType", text(form, "discountType")),
            ("discountValue", _discount_value(form)),
            ("currency", (optional(form, "currency") or "").upper() or None),
            ("planId", optional(form, "planId")),
            ("duration", optional(form, "duration")),
            ("durationCycles", integer(form, "durationCycles")),
            ("maxRedemptions", integer(form, "maxRedemptions")),
            ("expiresAt", timestamp_field(form, "expiresAt")),
            ("metadata", metadata_from(form)),
        ]
    )
    try:
        body = parse(PromoCodeCreate, data)
        promo = await call.write(lambda ctx: service.create_promo_code(ctx, body))
    except DuroError as exc:
        values = {k: text(form, k) for k in CREATE_FIELDS}
        return await _new_form(call, values, inline_errors(exc, reasons=DUPLICATE), 422)
    return call.done(f"/dashboard/promo-codes/{promo['id']}", f"Promo code {promo['code']} created.")


async def _detail(
    request: Request,
    promo_id: str,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    call = await dash(request)

    async def read(ctx: RepositoryContext) -> tuple[dict[str, Any], dict[str, str]]:
        promo = await service.get_promo_code(ctx, promo_id)
        return promo, await plan_names(ctx, [promo["planId"]])

    promo, names = await load(call, read)
    if values is None:
        values = {
            "active": promo["active"],
            "maxRedemptions": "" if promo["maxRedemptions"] is None else str(promo["maxRedemptions"]),
            "expiresAt": local_input(promo["expiresAt"]),
        }
    return await call.screen(
        "screens/catalogue/promo_detail.html", status, promo=promo, names=names, values=values, errors=errors or {}
    )


@router.get("/promo-codes/{promo_id}")
async def promo_code_detail(request: Request, promo_id: str) -> Response:
    return await _detail(request, promo_id)


@router.post("/promo-codes/{promo_id}")
async def update_promo_code(request: Request, promo_id: str) -> Response:
    call, form = await dash_post(request, "promo_code.update")
    # The edit form holds every editable field; a blank limit or expiry is null ("no limit", "never"), as in PATCH.
    data = {
        "active": checked(form, "active"),
        "maxRedemptions": integer(form, "maxRedemptions"),
        "expiresAt": timestamp_field(form, "expiresAt"),
    }
    try:
        body = parse(PromoCodeUpdate, data)
        await call.write(lambda ctx: service.update_promo_code(ctx, promo_id, body))
    except DuroError as exc:
        if exc.status == 404:
            return call.done("/dashboard/promo-codes", exc.message, "error")
        values = {
            "active": checked(form, "active"),
            "maxRedemptions": text(form, "maxRedemptions"),
            "expiresAt": text(form, "expiresAt"),
        }
        return await _detail(request, promo_id, values=values, errors=inline_errors(exc), status=422)
    return call.done(f"/dashboard/promo-codes/{promo_id}", "Promo code saved.")
