"""HTTP endpoints of /v1/plans (03 §13.1)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from duro.api.params import READ_ERRORS, WRITE_ERRORS, ListEnvelope, errors, ok, page_params
from duro.api.unit import ApiCall, api_call
from duro.kit.pagination import PageRequest
from duro.plans import service
from duro.plans.schemas import PlanCreate, PlanOut, PlanUpdate

router = APIRouter(prefix="/v1/plans", tags=["plans"])


@router.post("", status_code=201, responses={**ok(PlanOut, 201), **errors(*WRITE_ERRORS)})
async def create_plan(body: PlanCreate, call: ApiCall = Depends(api_call)) -> Response:
    return await call.run(lambda ctx: service.create_plan(ctx, body), 201)


@router.get("", responses={**ok(ListEnvelope), **errors(*READ_ERRORS)})
async def list_plans(
    page: PageRequest = Depends(page_params),
    active: bool | None = Query(None),
    call: ApiCall = Depends(api_call),
) -> Response:
    return await call.read(lambda ctx: service.list_plans(ctx, page, active))


@router.get("/{plan_id}", responses={**ok(PlanOut), **errors(*READ_ERRORS)})
async def get_plan(plan_id: str, call: ApiCall = Depends(api_call)) -> Response:
    return await call.read(lambda ctx: service.get_plan(ctx, plan_id))


@router.patch("/{plan_id}", responses={**ok(PlanOut), **errors(*WRITE_ERRORS)})
async def update_plan(plan_id: str, body: PlanUpdate, call: ApiCall = Depends(api_call)) -> Response:
    return await call.run(lambda ctx: service.update_plan(ctx, plan_id, body))
