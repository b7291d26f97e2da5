"""HTTP endpoints of /v1/customers (03 §13.2)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AfterValidator
from starlette.responses import Response

from duro.api.params import READ_ERRORS, WRITE_ERRORS, ListEnvelope, errors, ok, page_params
from duro.api.unit import ApiCall, api_call
from duro.customers import service
from duro.customers.schemas import BlacklistRequest, CustomerCreate, CustomerOut, CustomerUpdate
from duro.kit.pagination import PageRequest
from duro.kit.phone import normalize_phone
from duro.kit.validation import check_email, check_printable

router = APIRouter(prefix="/v1/customers", tags=["customers"])

# `Query()` sits inside `Annotated`: with `= Query(None)` as the default FastAPI drops the validator, and the
# filter would compare the raw input instead of the normalised form the rows are stored in (01 §4).
EmailQuery = Annotated[str | None, Query(), AfterValidator(lambda v: check_email(v) if v is not None else None)]
PhoneQuery = Annotated[str | None, Query(), AfterValidator(lambda v: normalize_phone(v) if v is not None else None)]
RefQuery = Annotated[
    str | None,
    Query(alias="merchantRef", max_length=100),
    AfterValidator(lambda v: check_printable(v) if v is not None else None),
]


@router.post("", status_code=201, responses={**ok(CustomerOut, 201), **errors(*WRITE_ERRORS)})
async def create_customer(body: CustomerCreate, call: ApiCall = Depends(api_call)) -> Response:
    return await call.run(lambda ctx: service.create_customer(ctx, body), 201)


@router.get("", responses={**ok(ListEnvelope), **errors(*READ_ERRORS)})
async def list_customers(
    page: PageRequest = Depends(page_params),
    email: EmailQuery = None,
    phone: PhoneQuery = None,
    merchant_ref: RefQuery = None,
    blacklisted: bool | None = Query(None),
    call: ApiCall = Depends(api_call),
) -> Response:
    return await call.read(
        lambda ctx: service.list_customers(
            ctx, page, email=email, phone=phone, merchant_ref=merchant_ref, blacklisted=blacklisted
        )
    )


# `:path` so that a merchantRef containing `/` (any printable character is allowed, 03 §1.2) can be looked up.
@router.get("/ref/{merchant_ref:path}", responses={**ok(CustomerOut), **errors(*READ_ERRORS)})
async def get_customer_by_ref(merchant_ref: str, call: ApiCall = Depends(api_call)) -> Response:
    return await call.read(lambda ctx: service.get_customer_by_ref(ctx, merchant_ref))


@router.get("/{customer_id}", responses={**ok(CustomerOut), **errors(*READ_ERRORS)})
async def get_customer(customer_id: str, call: ApiCall = Depends(api_call)) -> Response:
    return await call.read(lambda ctx: service.get_customer(ctx, customer_id))


@router.patch("/{customer_id}", responses={**ok(CustomerOut), **errors(*WRITE_ERRORS)})
async def update_customer(customer_id: str, body: CustomerUpdate, call: ApiCall = Depends(api_call)) -> Response:
    return await call.run(lambda ctx: service.update_customer(ctx, customer_id, body))


@router.post("/{customer_id}/blacklist", responses={**ok(CustomerOut), **errors(*WRITE_ERRORS)})
async def blacklist_customer(customer_id: str, body: BlacklistRequest, call: ApiCall = Depends(api_call)) -> Response:
    return await call.run(lambda ctx: service.blacklist_customer(ctx, customer_id, body))


@router.delete("/{customer_id}/blacklist", responses={**ok(CustomerOut), **errors(*WRITE_ERRORS)})
async def unblacklist_customer(customer_id: str, call: ApiCall = Depends(api_call)) -> Response:
    return await call.run(lambda ctx: service.unblacklist_customer(ctx, customer_id))
