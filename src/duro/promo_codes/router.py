"""HTTP endpoints of /v1/promo-codes (03 §13.1)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AfterValidator
from starlette.responses import Response

from duro.api.params import READ_ERRORS, WRITE_ERRORS, ListEnvelope, errors, ok, page_params
from duro.api.unit import ApiCall, api_call
from duro.kit.pagination import PageRequest
from duro.kit.validation import check_printable
from duro.promo_codes import service
from duro.promo_codes.schemas import PromoCodeCreate, PromoCodeOut, PromoCodeUpdate

router = APIRouter(prefix="/v1/promo-codes", tags=["promo codes"])

CodeQuery = Annotated[
    str | None,
    Query(max_length=40),
    AfterValidator(lambda v: check_printable(v).upper() if v is not None else None),
]


@router.post("", status_code=201, responses={**ok(PromoCodeOut, 201), **errors(*WRITE_ERRORS)})
async def create_promo_code(body: PromoCodeCreate, call: ApiCall = Depends(api_call)) -> Response:
    return await call.run(lambda ctx: service.create_promo_code(ctx, body), 201)


@router.get("", responses={**ok(ListEnvelope), **errors(*READ_ERRORS)})
async def list_promo_codes(
    page: PageRequest = Depends(page_params),
    active: bool | None = Query(None),
    code: CodeQuery = None,
    call: ApiCall = Depends(api_call),
) -> Response:
    return await call.read(lambda ctx: service.list_promo_codes(ctx, page, active, code))


@router.get("/{promo_id}", responses={**ok(PromoCodeOut), **errors(*READ_ERRORS)})
async def get_promo_code(promo_id: str, call: ApiCall = Depends(api_call)) -> Response:
    return await call.read(lambda ctx: service.get_promo_code(ctx, promo_id))


@router.patch("/{promo_id}", responses={**ok(PromoCodeOut), **errors(*WRITE_ERRORS)})
async def update_promo_code(promo_id: str, body: PromoCodeUpdate, call: ApiCall = Depends(api_call)) -> Response:
    return await call.run(lambda ctx: service.update_promo_code(ctx, promo_id, body))
