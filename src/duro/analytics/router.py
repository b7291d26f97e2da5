"""HTTP endpoints of /v1/analytics (04 §7): reads, one SQL statement each."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime
from starlette.responses import Response

from duro.analytics import service
from duro.api.params import READ_ERRORS, errors
from duro.api.unit import ApiCall, api_call
from duro.kit.validation import CurrencyCode

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])

TestClockQuery = Annotated[str | None, Query(alias="testClockId", max_length=64)]


@router.get("/failures", responses={**errors(*READ_ERRORS)})
async def get_failure_summary(
    start: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    end: Annotated[AwareDatetime | None, Query(alias="to")] = None,
    currency: Annotated[CurrencyCode | None, Query()] = None,
    test_clock_id: TestClockQuery = None,
    call: ApiCall = Depends(api_call),
) -> Response:
    return await call.read(
        lambda ctx: service.failure_summary(ctx, start=start, end=end, currency=currency, test_clock_id=test_clock_id)
    )


@router.get("/overview", responses={**errors(*READ_ERRORS)})
async def get_overview(test_clock_id: TestClockQuery = None, call: ApiCall = Depends(api_call)) -> Response:
    return await call.read(lambda ctx: service.overview(ctx, test_clock_id=test_clock_id))
