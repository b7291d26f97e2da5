"""Dashboard screens: payment links (07 §3, §6). Same service and request models as /v1/payment-links (03 §13.1)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from duro.context import RepositoryContext
from duro.dashboard.screens.catalogue_kit import (
    active_plans,
    bool_filter,
    inline_errors,
    load,
    page_request,
    plan_names,
)
from duro.dashboard.shell import DashCall, checked, dash, dash_post, keep, metadata_from, parse, text
from duro.kit.errors import DuroError
from duro.payment_links import service
from duro.payment_links.schemas import PaymentLinkCreate, PaymentLinkUpdate

router = APIRouter(prefix="/dashboard", include_in_schema=False)

# Conflicts without `details` shown next to the field they are about.
REASON_FIELDS = {"duplicate_slug": "slug", "plan_inactive": "planId"}


@router.get("/payment-links")
async def list_payment_links(request: Request) -> Response:
    call = await dash(request)
    active = bool_filter(request.query_params.get("active"))
    plan_id = request.query_params.get("planId") or None
    page_req = page_request(call)

    async def read(ctx: RepositoryContext) -> tuple[dict[str, Any], dict[str, str]]:
        page = await service.list_payment_links(ctx, page_req, active, plan_id)
        return page, await plan_names(ctx, [p["planId"] for p in page["items"]])

    page, names = await load(call, read)
    return await call.screen(
        "screens/catalogue/links.html",
        page=page,
        names=names,
        active=request.query_params.get("active", ""),
        plan_id=plan_id or "",
    )


async def _new_form(call: DashCall, values: dict[str, Any], errors: dict[str, str], status: int = 200) -> Response:
    plans = await call.read(active_plans)
    return await call.screen("screens/catalogue/link_new.html", status, values=values, errors=errors, plans=plans)


@router.get("/payment-links/new")
async def new_payment_link(request: Request) -> Response:
    call = await dash(request)
    return await _new_form(call, {"active": True, "planId": request.query_params.get("planId", "")}, {})


@router.post("/payment-links")
async def create_payment_link(request: Request) -> Response:
    call, form = await dash_post(request, "payment_link.create")
    data = keep(
        [
            ("planId", text(form, "planId")),
            ("slug", text(form, "slug")),
            ("active", checked(form, "active")),
            ("metadata", metadata_from(form)),
        ]
    )
    try:
        body = parse(PaymentLinkCreate, data)
        link = await call.write(lambda ctx: service.create_payment_link(ctx, body))
    except DuroError as exc:
        values = {k: text(form, k) for k in ("planId", "slug", "metadata")} | {"active": checked(form, "active")}
        return await _new_form(call, values, inline_errors(exc, reasons=REASON_FIELDS), 422)
    return call.done(f"/dashboard/payment-links/{link['id']}", f"Payment link {link['slug']} created.")


async def _detail(
    request: Request,
    link_id: str,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    call = await dash(request)

    async def read(ctx: RepositoryContext) -> tuple[dict[str, Any], dict[str, str]]:
        link = await service.get_payment_link(ctx, link_id)
        return link, await plan_names(ctx, [link["planId"]])

    link, names = await load(call, read)
    if values is None:
        values = {"slug": link["slug"], "active": link["active"]}
    return await call.screen(
        "screens/catalogue/link_detail.html", status, link=link, names=names, values=values, errors=errors or {}
    )


@router.get("/payment-links/{link_id}")
async def payment_link_detail(request: Request, link_id: str) -> Response:
    return await _detail(request, link_id)


@router.post("/payment-links/{link_id}")
async def update_payment_link(request: Request, link_id: str) -> Response:
    call, form = await dash_post(request, "payment_link.update")
    data = {"slug": text(form, "slug"), "active": checked(form, "active")}
    try:
        body = parse(PaymentLinkUpdate, data)
        await call.write(lambda ctx: service.update_payment_link(ctx, link_id, body))
    except DuroError as exc:
        if exc.status == 404:
            return call.done("/dashboard/payment-links", exc.message, "error")
        values = {"slug": text(form, "slug"), "active": checked(form, "active")}
        errors = inline_errors(exc, reasons=REASON_FIELDS)
        return await _detail(request, link_id, values=values, errors=errors, status=422)
    return call.done(f"/dashboard/payment-links/{link_id}", "Payment link saved.")
