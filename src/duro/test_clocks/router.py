"""HTTP endpoints of /v1/test-clocks (03 §13.5). Test mode only: live credentials get 403 `test_mode_only`."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.responses import Response

from duro.api.params import READ_ERRORS, WRITE_ERRORS, ListEnvelope, errors, ok, page_params
from duro.api.unit import ApiCall, api_call
from duro.kit.errors import forbidden
from duro.kit.pagination import PageRequest
from duro.test_clocks import service
from duro.test_clocks.schemas import TestClockAdvance, TestClockCreate

router = APIRouter(prefix="/v1/test-clocks", tags=["test clocks"])


@router.post("", status_code=201, responses={**errors(*WRITE_ERRORS)})
async def create_test_clock(body: TestClockCreate, call: ApiCall = Depends(api_call)) -> Response:
    return await call.run(lambda ctx: service.create_clock(ctx, body), 201)


@router.get("", responses={**ok(ListEnvelope), **errors(*READ_ERRORS)})
async def list_test_clocks(page: PageRequest = Depends(page_params), call: ApiCall = Depends(api_call)) -> Response:
    return await call.read(lambda ctx: service.list_clocks(ctx, page))


@router.get("/{clock_id}", responses={**errors(*READ_ERRORS)})
async def get_test_clock(clock_id: str, call: ApiCall = Depends(api_call)) -> Response:
    return await call.read(lambda ctx: service.get_clock(ctx, clock_id))


@router.post("/{clock_id}/advance", responses={**errors(*WRITE_ERRORS)})
async def advance_test_clock(clock_id: str, body: TestClockAdvance, call: ApiCall = Depends(api_call)) -> Response:
    async def work() -> object:
        if call.principal.mode != "test":
            raise forbidden("test_mode_only", "Test clocks exist in test mode only")
        return await service.advance_clock(call.runtime, call.principal.tenant_id, call.actor, clock_id, body)

    return await call.run_units(work)


@router.delete("/{clock_id}", responses={**errors(*WRITE_ERRORS)})
async def delete_test_clock(clock_id: str, call: ApiCall = Depends(api_call)) -> Response:
    return await call.run(lambda ctx: service.delete_clock(ctx, clock_id))
