"""Dashboard screens: webhook endpoints (07 §8, 05 §7) — list with health, create/edit with the SSRF rules shown
inline, enable, disable, delete, rotate the signing secret. The inspector (deliveries, replays) is
`webhooks_inspector`, included here.

Every write runs `duro.webhooks.endpoints` as `duro webhooks …` does (cap of 16, save-time SSRF rules, audit). The
signing secret is rendered once in the answer to the creating or rotating POST, with `Cache-Control: no-store`, and
never put in a redirect or a flash.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from duro.context import RepositoryContext
from duro.dashboard.screens.webhooks_inspector import BASE, inspector_page
from duro.dashboard.screens.webhooks_inspector import router as inspector_router
from duro.dashboard.shell import DashCall, checked, dash, dash_post, field_errors, many, text
from duro.kit.errors import Detail, DuroError, validation
from duro.webhooks.catalog import EVENT_TYPES
from duro.webhooks.endpoints import (
    MAX_ENDPOINTS,
    Created,
    create_endpoint,
    delete_endpoint,
    get_endpoint,
    list_endpoints,
    rotate_secret,
    set_enabled,
    update_endpoint,
)
from duro.webhooks.health import success_rates

router = APIRouter(prefix="/dashboard", include_in_schema=False)

NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _no_store(response: Response) -> Response:
    response.headers.update(NO_STORE)
    return response


def _errors(exc: DuroError) -> dict[str, str]:
    """`enabledEvents.3` → `enabledEvents`: the checklist shows its errors in one place."""
    out: dict[str, str] = {}
    for path, issue in field_errors(exc).items():
        key = "enabledEvents" if path.startswith("enabledEvents.") else path
        out[key] = f"{out[key]}; {issue}" if key in out else issue
    return out


def _values(form: FormData) -> dict[str, Any]:
    return {
        "url": text(form, "url"),
        "description": text(form, "description"),
        "enabledEvents": many(form, "enabledEvents"),
    }


def _require_url(url: str) -> None:
    if not url:
        raise validation("url: required", [Detail("url", "required")])


async def _list_page(call: DashCall, status: int = 200, **extra: Any) -> Response:
    async def load(ctx: RepositoryContext) -> tuple[list[dict[str, Any]], Any]:
        endpoints = await list_endpoints(ctx)
        return endpoints, await success_rates(ctx, [e["id"] for e in endpoints])

    endpoints, rates = await call.read(load)
    return await call.screen(
        "screens/webhooks/list.html",
        status,
        endpoints=endpoints,
        rates=rates,
        max_endpoints=MAX_ENDPOINTS,
        created=extra.pop("created", None),
        secret_once=extra.pop("secret_once", None),
        warning=extra.pop("warning", None),
        **extra,
    )


async def _form_page(call: DashCall, status: int = 200, **context: Any) -> Response:
    return await call.screen(
        "screens/webhooks/form.html",
        status,
        event_types=sorted(EVENT_TYPES),
        errors=context.pop("errors", {}),
        endpoint=context.pop("endpoint", None),
        **context,
    )


@router.get("/developers/webhooks")
async def endpoints(request: Request) -> Response:
    call = await dash(request)
    return await _list_page(call)


@router.get("/developers/webhooks/new")
async def endpoint_new(request: Request) -> Response:
    call = await dash(request)
    call.require("webhook_endpoint.create")
    return await _form_page(call, values={"url": "", "description": "", "enabledEvents": []})


@router.post("/developers/webhooks")
async def endpoint_create(request: Request) -> Response:
    call, form = await dash_post(request, "webhook_endpoint.create")
    values = _values(form)

    async def create(ctx: RepositoryContext) -> Created:
        _require_url(values["url"])
        return await create_endpoint(
            ctx, url=values["url"], enabled_events=values["enabledEvents"], description=values["description"] or None
        )

    try:
        made = await call.write(create)
    except DuroError as exc:
        return await _form_page(call, 409 if exc.status == 409 else 422, values=values, errors=_errors(exc))
    return _no_store(await _list_page(call, 201, created=made.endpoint, secret_once=made.secret, warning=made.warning))


@router.get("/developers/webhooks/{endpoint_id}/edit")
async def endpoint_edit(request: Request, endpoint_id: str) -> Response:
    call = await dash(request)
    call.require("webhook_endpoint.update")
    try:
        endpoint = await call.read(lambda ctx: get_endpoint(ctx, endpoint_id))
    except DuroError:
        return call.done(BASE, "No such webhook endpoint in this mode.", "error")
    values = {
        "url": endpoint["url"],
        "description": endpoint["description"] or "",
        "enabledEvents": endpoint["enabledEvents"],
    }
    return await _form_page(call, endpoint=endpoint, values=values)


@router.post("/developers/webhooks/{endpoint_id}")
async def endpoint_update(request: Request, endpoint_id: str) -> Response:
    call, form = await dash_post(request, "webhook_endpoint.update")
    values = _values(form)

    async def save(ctx: RepositoryContext) -> tuple[dict[str, Any], dict[str, Any]]:
        endpoint = await get_endpoint(ctx, endpoint_id)
        _require_url(values["url"])
        updated = await update_endpoint(
            ctx,
            endpoint_id,
            url=values["url"],
            enabled_events=values["enabledEvents"],
            description=values["description"],
        )
        return endpoint, updated

    try:
        await call.write(save)
    except DuroError as exc:
        if exc.status == 404:
            return call.done(BASE, exc.message, "error")
        endpoint = await call.read(lambda ctx: get_endpoint(ctx, endpoint_id))
        return await _form_page(call, 422, endpoint=endpoint, values=values, errors=_errors(exc))
    return call.done(f"{BASE}/{endpoint_id}", "Endpoint saved.")


async def _change(call: DashCall, endpoint_id: str, change: Any, message: str, location: str | None = None) -> Response:
    try:
        await call.write(change)
    except DuroError as exc:
        return call.done(location or f"{BASE}/{endpoint_id}", exc.message, "error")
    return call.done(location or f"{BASE}/{endpoint_id}", message)


@router.post("/developers/webhooks/{endpoint_id}/enable")
async def endpoint_enable(request: Request, endpoint_id: str) -> Response:
    call, _ = await dash_post(request, "webhook_endpoint.enable")
    return await _change(call, endpoint_id, lambda ctx: set_enabled(ctx, endpoint_id, True), "Endpoint enabled.")


@router.post("/developers/webhooks/{endpoint_id}/disable")
async def endpoint_disable(request: Request, endpoint_id: str) -> Response:
    call, _ = await dash_post(request, "webhook_endpoint.disable")
    return await _change(call, endpoint_id, lambda ctx: set_enabled(ctx, endpoint_id, False), "Endpoint disabled.")


@router.post("/developers/webhooks/{endpoint_id}/delete")
async def endpoint_delete(request: Request, endpoint_id: str) -> Response:
    call, _ = await dash_post(request, "webhook_endpoint.delete")
    return await _change(
        call, endpoint_id, lambda ctx: delete_endpoint(ctx, endpoint_id), "Endpoint deleted.", location=BASE
    )


@router.post("/developers/webhooks/{endpoint_id}/rotate-secret")
async def endpoint_rotate(request: Request, endpoint_id: str) -> Response:
    call, form = await dash_post(request, "webhook_endpoint.rotate_secret")
    expire_now = checked(form, "expireOldNow")
    try:
        made = await call.write(lambda ctx: rotate_secret(ctx, endpoint_id, expire_old_now=expire_now))
    except DuroError as exc:
        return call.done(BASE, exc.message, "error")
    return _no_store(await inspector_page(call, endpoint_id, secret_once=made.secret, rotated=True))


# After this module's own routes, so `/developers/webhooks/new` is never read as an endpoint id.
router.include_router(inspector_router)
