"""HTTP endpoints of /v1/checkout/sessions (06 §2): create (secret or publishable key), retrieve, list, expire."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from duro.api.params import READ_ERRORS, WRITE_ERRORS, ListEnvelope, errors, ok, page_params
from duro.api.unit import ApiCall, api_call
from duro.checkout import sessions
from duro.checkout.schemas import CheckoutSessionCreate
from duro.kit.pagination import PageRequest

router = APIRouter(prefix="/v1/checkout/sessions", tags=["checkout"])

SessionStatus = Literal["pending", "completed", "expired"]


@router.post("", status_code=201, responses={**errors(*WRITE_ERRORS)})
async def create_checkout_session(body: CheckoutSessionCreate, call: ApiCall = Depends(api_call)) -> Response:
    publishable = call.principal.kind == "publishable_key"
    return await call.run(lambda ctx: sessions.create_session(ctx, body, publishable=publishable), 201)


@router.get("", responses={**ok(ListEnvelope), **errors(*READ_ERRORS)})
async def list_checkout_sessions(
    page: PageRequest = Depends(page_params),
    status: SessionStatus | None = Query(None),
    call: ApiCall = Depends(api_call),
) -> Response:
    return await call.read(lambda ctx: sessions.list_sessions(ctx, page, status))


@router.get("/{session_id}", responses={**errors(*READ_ERRORS)})
async def get_checkout_session(session_id: str, call: ApiCall = Depends(api_call)) -> Response:
    return await call.read(lambda ctx: sessions.get_session(ctx, session_id))


@router.post("/{session_id}/expire", responses={**errors(*WRITE_ERRORS)})
async def expire_checkout_session(session_id: str, call: ApiCall = Depends(api_call)) -> Response:
    return await call.run(lambda ctx: sessions.expire_session(ctx, session_id))
