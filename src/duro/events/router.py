"""HTTP endpoints of /v1/events (05 §9)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AfterValidator, AwareDatetime
from starlette.responses import Response

from duro.api.params import READ_ERRORS, ListEnvelope, errors, ok, page_params
from duro.api.unit import ApiCall, api_call
from duro.events import service
from duro.kit.pagination import PageRequest
from duro.kit.validation import check_printable

router = APIRouter(prefix="/v1/events", tags=["events"])

TypeQuery = Annotated[
    str | None,
    Query(alias="type", max_length=80),
    AfterValidator(lambda v: check_printable(v) if v is not None else None),
]


@router.get("", responses={**ok(ListEnvelope), **errors(*READ_ERRORS)})
async def list_events(
    page: PageRequest = Depends(page_params),
    type_: TypeQuery = None,
    created_gte: AwareDatetime | None = Query(None, alias="createdGte"),
    created_lt: AwareDatetime | None = Query(None, alias="createdLt"),
    call: ApiCall = Depends(api_call),
) -> Response:
    gte: datetime | None = created_gte
    lt: datetime | None = created_lt
    return await call.read(lambda ctx: service.list_events(ctx, page, type_, gte, lt))


@router.get("/{event_id}", responses={**errors(*READ_ERRORS)})
async def get_event(event_id: str, call: ApiCall = Depends(api_call)) -> Response:
    return await call.read(lambda ctx: service.get_event(ctx, event_id))
