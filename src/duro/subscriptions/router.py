"""HTTP endpoints of /v1/subscriptions (03 §13.3) and the customer-scoped lists of §13.2."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from duro.api.params import READ_ERRORS, WRITE_ERRORS, ListEnvelope, errors, ok, page_params
from duro.api.unit import ApiCall, api_call
from duro.kit.pagination import PageRequest
from duro.subscriptions import actions, creation, plan_change, service
from duro.subscriptions.plan_change import PlanChangeRequest
from duro.subscriptions.schemas import CancelRequest, EmptyRequest, SubscriptionCreate, SubscriptionUpdate

router = APIRouter(tags=["subscriptions"])

Status = Literal[
    "incomplete", "incomplete_expired", "trialing", "active", "past_due", "paused", "unpaid", "canceled", "expired"
]


@router.post("/v1/subscriptions", status_code=201, responses={**errors(*WRITE_ERRORS, 402)})
async def create_subscription(body: SubscriptionCreate, call: ApiCall = Depends(api_call)) -> Response:
    return await call.run_charging(lambda ctx: creation.prepare_create(ctx, body), creation.resume_create, status=201)


@router.get("/v1/subscriptions", responses={**ok(ListEnvelope), **errors(*READ_ERRORS)})
async def list_subscriptions(
    page: PageRequest = Depends(page_params),
    status: Status | None = Query(None),
    customer_id: str | None = Query(None, alias="customerId", max_length=64),
    plan_id: str | None = Query(None, alias="planId", max_length=64),
    test_clock_id: str | None = Query(None, alias="testClockId", max_length=64),
    call: ApiCall = Depends(api_call),
) -> Response:
    return await call.read(
        lambda ctx: service.list_subscriptions(
            ctx, page, status=status, customer_id=customer_id, plan_id=plan_id, test_clock_id=test_clock_id
        )
    )


@router.get("/v1/subscriptions/{sub_id}", responses={**errors(*READ_ERRORS)})
async def get_subscription(sub_id: str, call: ApiCall = Depends(api_call)) -> Response:
    return await call.read(lambda ctx: service.get_subscription(ctx, sub_id))


@router.patch("/v1/subscriptions/{sub_id}", responses={**errors(*WRITE_ERRORS)})
async def update_subscription(sub_id: str, body: SubscriptionUpdate, call: ApiCall = Depends(api_call)) -> Response:
    return await call.run(lambda ctx: actions.update_subscription(ctx, sub_id, body))


# Action bodies are optional: no body at all means `{}` (the defaults).
@router.post("/v1/subscriptions/{sub_id}/cancel", responses={**errors(*WRITE_ERRORS)})
async def cancel_subscription(
    sub_id: str, body: CancelRequest | None = None, call: ApiCall = Depends(api_call)
) -> Response:
    request = body or CancelRequest()
    return await call.run(lambda ctx: actions.cancel_subscription(ctx, sub_id, request))


@router.post("/v1/subscriptions/{sub_id}/pause", responses={**errors(*WRITE_ERRORS)})
async def pause_subscription(
    sub_id: str, body: EmptyRequest | None = None, call: ApiCall = Depends(api_call)
) -> Response:
    return await call.run(lambda ctx: actions.pause_subscription(ctx, sub_id))


@router.post("/v1/subscriptions/{sub_id}/resume", responses={**errors(*WRITE_ERRORS)})
async def resume_subscription(
    sub_id: str, body: EmptyRequest | None = None, call: ApiCall = Depends(api_call)
) -> Response:
    return await call.run_charging(lambda ctx: actions.prepare_resume(ctx, sub_id), actions.resume_after_crash)


@router.post("/v1/subscriptions/{sub_id}/cancel-scheduled-change", responses={**errors(*WRITE_ERRORS)})
async def cancel_scheduled_change(
    sub_id: str, body: EmptyRequest | None = None, call: ApiCall = Depends(api_call)
) -> Response:
    return await call.run(lambda ctx: actions.cancel_scheduled_change(ctx, sub_id))


@router.get("/v1/customers/{customer_id}/subscriptions", responses={**ok(ListEnvelope), **errors(*READ_ERRORS)})
async def customer_subscriptions(
    customer_id: str, page: PageRequest = Depends(page_params), call: ApiCall = Depends(api_call)
) -> Response:
    return await call.read(lambda ctx: service.customer_subscriptions(ctx, customer_id, page))


@router.get("/v1/customers/{customer_id}/transactions", responses={**ok(ListEnvelope), **errors(*READ_ERRORS)})
async def customer_transactions(
    customer_id: str, page: PageRequest = Depends(page_params), call: ApiCall = Depends(api_call)
) -> Response:
    return await call.read(lambda ctx: service.customer_transactions(ctx, customer_id, page))


@router.post("/v1/subscriptions/{sub_id}/change-plan", responses={**errors(*WRITE_ERRORS, 402)})
async def change_plan(sub_id: str, body: PlanChangeRequest, call: ApiCall = Depends(api_call)) -> Response:
    return await call.run_charging(
        lambda ctx: plan_change.prepare_change(ctx, sub_id, body),
        lambda ctx, point: plan_change.resume_change(ctx, point, body),
    )


@router.post("/v1/subscriptions/{sub_id}/change-plan/preview", responses={**errors(*READ_ERRORS, 409)})
async def preview_change_plan(sub_id: str, body: PlanChangeRequest, call: ApiCall = Depends(api_call)) -> Response:
    # Read-only: no Idempotency-Key handling (01 §8), no locks.
    return await call.read(lambda ctx: plan_change.preview(ctx, sub_id, body))
