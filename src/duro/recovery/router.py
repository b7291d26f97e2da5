"""HTTP endpoints of /v1/recovery (04 §7): dunning schedules."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from duro.api.params import READ_ERRORS, ListEnvelope, errors, ok, page_params
from duro.api.unit import ApiCall, api_call
from duro.kit.pagination import PageRequest
from duro.recovery import service
from duro.recovery.schemas import DunningScheduleOut, ScheduleState

router = APIRouter(prefix="/v1/recovery", tags=["recovery"])


@router.get("/schedules", responses={**ok(ListEnvelope), **errors(*READ_ERRORS)})
async def list_dunning_schedules(
    page: PageRequest = Depends(page_params),
    state: ScheduleState | None = Query(None),
    subscription_id: str | None = Query(None, alias="subscriptionId", max_length=64),
    customer_id: str | None = Query(None, alias="customerId", max_length=64),
    call: ApiCall = Depends(api_call),
) -> Response:
    return await call.read(
        lambda ctx: service.list_schedules(
            ctx, page, state=state, subscription_id=subscription_id, customer_id=customer_id
        )
    )


@router.get("/schedules/{schedule_id}", responses={**ok(DunningScheduleOut), **errors(*READ_ERRORS)})
async def get_dunning_schedule(schedule_id: str, call: ApiCall = Depends(api_call)) -> Response:
    return await call.read(lambda ctx: service.get_schedule(ctx, schedule_id))
