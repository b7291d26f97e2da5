"""HTTP endpoints of the customer portal (06 §7): the JSON API under `/portal/subscriptions` (identity token,
CORS like the rest of the customer API) and the HTML page `/portal`. Thin: parse, hand `PortalCall` a service
function, shape the response."""

from __future__ import annotations

from typing import Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from starlette.responses import Response

from duro.api.errors import request_id_of
from duro.api.params import ListEnvelope, errors, ok, page_params
from duro.api.responses import json_response
from duro.context import RepositoryContext
from duro.db.engine import Mode
from duro.identity.auth import Identity, require_identity
from duro.identity.router import read_body, request_ip
from duro.kit.errors import not_found, rate_limited
from duro.kit.pagination import PageRequest
from duro.kit.ratelimit import per
from duro.portal import page, service
from duro.portal.runner import PortalCall
from duro.portal.schemas import (
    PortalCancel,
    PortalEmpty,
    PortalPaymentMethod,
    PortalSubscriptionOut,
    PortalSubscriptionsOut,
)
from duro.portal.service import Outcome, Target
from duro.runtime import Runtime

router = APIRouter(tags=["portal"])

M = TypeVar("M", bound=BaseModel)
ModeParam = Literal["test", "live"]
MODE_QUERY = Query("live", description="`test` or `live` (default); modes are never merged")
RETRY_LIMIT = per("5/hour")
ACTION_ERRORS = errors(400, 401, 403, 404, 409, 422, 429, 500)


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _mode(raw: str) -> Mode:
    """A mode in the path: anything else names no subscription (404)."""
    if raw == "test":
        return "test"
    if raw == "live":
        return "live"
    raise not_found("No such subscription")


def _call(request: Request, identity: Identity, mode: Mode) -> PortalCall:
    runtime = _runtime(request)
    return PortalCall(
        runtime,
        identity,
        mode,
        request_id_of(request),
        request_ip(request, runtime),
        request.headers.get("user-agent"),
    )


async def _body(request: Request, model: type[M]) -> M:
    """An empty body means `{}`."""
    if not (await request.body()).strip():
        return model.model_validate({})
    return await read_body(request, model)


@router.get("/portal/subscriptions", responses={**ok(PortalSubscriptionsOut), **errors(401, 422, 429, 500)})
async def portal_subscriptions(
    request: Request, mode: ModeParam = MODE_QUERY, identity: Identity = Depends(require_identity)
) -> Response:
    """The identity's subscriptions in one mode, grouped by merchant, with each merchant's portal branding."""
    async with _runtime(request).db.reader(mode) as conn:
        out = await service.list_subscriptions(conn, identity, mode)
    return json_response(out)


@router.post("/portal/subscriptions/{mode}/{sub_id}/cancel", responses={**ok(PortalSubscriptionOut), **ACTION_ERRORS})
async def portal_cancel(
    request: Request, mode: str, sub_id: str, identity: Identity = Depends(require_identity)
) -> Response:
    call = _call(request, identity, _mode(mode))
    body = await _body(request, PortalCancel)

    async def work(ctx: RepositoryContext, target: Target) -> Outcome:
        return await service.cancel(ctx, target, body)

    return json_response(await call.act(sub_id, "cancelSubscription", work))


@router.post("/portal/subscriptions/{mode}/{sub_id}/pause", responses={**ok(PortalSubscriptionOut), **ACTION_ERRORS})
async def portal_pause(
    request: Request, mode: str, sub_id: str, identity: Identity = Depends(require_identity)
) -> Response:
    call = _call(request, identity, _mode(mode))
    await _body(request, PortalEmpty)
    return json_response(await call.act(sub_id, "pauseSubscription", service.pause))


@router.post("/portal/subscriptions/{mode}/{sub_id}/resume", responses={**ok(PortalSubscriptionOut), **ACTION_ERRORS})
async def portal_resume(
    request: Request, mode: str, sub_id: str, identity: Identity = Depends(require_identity)
) -> Response:
    call = _call(request, identity, _mode(mode))
    await _body(request, PortalEmpty)
    return json_response(await call.act(sub_id, "pauseSubscription", service.resume))


@router.post(
    "/portal/subscriptions/{mode}/{sub_id}/payment-method", responses={**ok(PortalSubscriptionOut), **ACTION_ERRORS}
)
async def portal_payment_method(
    request: Request, mode: str, sub_id: str, identity: Identity = Depends(require_identity)
) -> Response:
    call = _call(request, identity, _mode(mode))
    body = await _body(request, PortalPaymentMethod)

    async def work(ctx: RepositoryContext, target: Target) -> Outcome:
        return await service.set_payment_method(ctx, target, identity, body)

    return json_response(await call.act(sub_id, "updatePaymentMethod", work))


@router.post(
    "/portal/subscriptions/{mode}/{sub_id}/retry-payment",
    responses={**ok(PortalSubscriptionOut), **ACTION_ERRORS, **errors(402)},
)
async def portal_retry_payment(
    request: Request, mode: str, sub_id: str, identity: Identity = Depends(require_identity)
) -> Response:
    """Charge the subscription's unpaid invoice now; at most 5 per hour per subscription (01 §9), counted once the
    request is authorised, so another identity's or a refused request never uses up the customer's tries."""
    call = _call(request, identity, _mode(mode))
    await _body(request, PortalEmpty)
    limiter = call.runtime.limiter

    async def work(ctx: RepositoryContext, target: Target) -> Outcome:
        verdict = await limiter.hit(RETRY_LIMIT, "portal-retry", target.sub_id)
        if not verdict.allowed:
            raise rate_limited(verdict.reset_seconds)
        return await service.retry_payment(ctx, target)

    return json_response(await call.act(sub_id, "retryPayment", work))


@router.get("/portal/subscriptions/{mode}/{sub_id}/invoices", responses={**ok(ListEnvelope), **ACTION_ERRORS})
async def portal_invoices(
    request: Request,
    mode: str,
    sub_id: str,
    page_request: PageRequest = Depends(page_params),
    identity: Identity = Depends(require_identity),
) -> Response:
    call = _call(request, identity, _mode(mode))

    async def work(ctx: RepositoryContext, target: Target) -> object:
        return await service.list_invoices(ctx, target, page_request)

    return json_response(await call.read(sub_id, "viewInvoices", work))


@router.get("/portal", include_in_schema=False)
async def portal_page(request: Request, mode: str = Query("live", max_length=10)) -> Response:
    """The HTML portal: one page, its script and style from /static (no inline script or style). An unknown
    `mode` shows live, the default, rather than a JSON error in a browser."""
    return page.render(_runtime(request).settings, mode)
