"""The customer API of hosted checkout (06 §3): `/api/checkout/{token}` hydrate, pay, status. No merchant
credential: the token is the credential; an identity token is optional on pay."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from duro.checkout import pay as paying
from duro.checkout import public
from duro.checkout.schemas import CheckoutPay
from duro.kit import jsonenc

router = APIRouter(prefix="/api/checkout", tags=["checkout (customer)"])


def _json(body: object, status: int = 200) -> Response:
    return Response(jsonenc.dumps(body), status, media_type="application/json")


@router.get("/{token}")
async def hydrate(token: str, request: Request) -> Response:
    return _json(await public.view(request.app.state.runtime, token))


@router.get("/{token}/status")
async def poll(token: str, request: Request) -> Response:
    return _json(await public.status(request.app.state.runtime, token))


@router.post("/{token}/pay")
async def pay(token: str, body: CheckoutPay, request: Request) -> Response:
    who = await paying.identity_of(request)
    answer = await paying.pay(request.app.state.runtime, token, body, who)
    return _json(answer.body, answer.status)
