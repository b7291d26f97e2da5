"""HTTP endpoints of /v1/customers/{id}/payment-methods (03 §13.2)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.responses import Response

from duro.api.params import READ_ERRORS, WRITE_ERRORS, ListEnvelope, errors, ok
from duro.api.unit import Answer, ApiCall, api_call
from duro.context import RepositoryContext
from duro.payment_methods import service
from duro.payment_methods.schemas import PaymentMethodCreate, PaymentMethodOut

router = APIRouter(prefix="/v1/customers", tags=["payment methods"])


@router.get("/{customer_id}/payment-methods", responses={**ok(ListEnvelope), **errors(*READ_ERRORS)})
async def list_payment_methods(customer_id: str, call: ApiCall = Depends(api_call)) -> Response:
    return await call.read(lambda ctx: service.list_methods(ctx, customer_id))


@router.post(
    "/{customer_id}/payment-methods",
    status_code=201,
    responses={
        **ok(PaymentMethodOut, 201, "Created"),
        **ok(PaymentMethodOut, 200, "The customer already has this number on this rail"),
        **errors(*WRITE_ERRORS),
    },
)
async def add_payment_method(
    customer_id: str, body: PaymentMethodCreate, call: ApiCall = Depends(api_call)
) -> Response:
    async def handler(ctx: RepositoryContext) -> Answer:
        method, created = await service.add_test_method(ctx, customer_id, body)
        return Answer(method, 201 if created else 200)

    return await call.run(handler, 201)


@router.delete("/{customer_id}/payment-methods/{pm_id}", responses={**ok(PaymentMethodOut), **errors(*WRITE_ERRORS)})
async def delete_payment_method(customer_id: str, pm_id: str, call: ApiCall = Depends(api_call)) -> Response:
    return await call.run(lambda ctx: service.delete_method(ctx, customer_id, pm_id))
