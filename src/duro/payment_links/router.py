"""HTTP endpoints of /v1/payment-links (03 §13.1)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from duro.api.params import READ_ERRORS, WRITE_ERRORS, ListEnvelope, errors, ok, page_params
from duro.api.unit import ApiCall, api_call
from duro.kit.pagination import PageRequest
from duro.payment_links import service
from duro.payment_links.schemas import PaymentLinkCreate, PaymentLinkOut, PaymentLinkUpdate

router = APIRouter(prefix="/v1/payment-links", tags=["payment links"])


@router.post("", status_code=201, responses={**ok(PaymentLinkOut, 201), **errors(*WRITE_ERRORS)})
async def create_payment_link(body: PaymentLinkCreate, call: ApiCall = Depends(api_call)) -> Response:
    return await call.run(lambda ctx: service.create_payment_link(ctx, body), 201)


@router.get("", responses={**ok(ListEnvelope), **errors(*READ_ERRORS)})
async def list_payment_links(
    page: PageRequest = Depends(page_params),
    active: bool | None = Query(None),
    plan_id: str | None = Query(None, alias="planId", max_length=64),
    call: ApiCall = Depends(api_call),
) -> Response:
    return await call.read(lambda ctx: service.list_payment_links(ctx, page, active, plan_id))


@router.get("/{link_id}", responses={**ok(PaymentLinkOut), **errors(*READ_ERRORS)})
async def get_payment_link(link_id: str, call: ApiCall = Depends(api_call)) -> Response:
    return await call.read(lambda ctx: service.get_payment_link(ctx, link_id))


@router.patch("/{link_id}", responses={**ok(PaymentLinkOut), **errors(*WRITE_ERRORS)})
async def update_payment_link(link_id: str, body: PaymentLinkUpdate, call: ApiCall = Depends(api_call)) -> Response:
    return await call.run(lambda ctx: service.update_payment_link(ctx, link_id, body))
