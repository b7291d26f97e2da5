"""HTTP endpoints of /v1/invoices and /v1/transactions (03 §13.4): reads, pay now and refund (03 §11)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from duro.api.params import READ_ERRORS, WRITE_ERRORS, ListEnvelope, errors, ok, page_params
from duro.api.unit import ApiCall, api_call
from duro.invoices import pay, refunds, service
from duro.invoices.schemas import PayRequest, RefundRequest
from duro.kit.pagination import PageRequest

router = APIRouter(tags=["invoices"])

InvoiceStatus = Literal["open", "paid", "uncollectible", "void"]
InvoiceKind = Literal["subscription_create", "renewal", "proration", "plan_reset", "one_off"]
TxnStatus = Literal["pending", "succeeded", "failed"]


@router.get("/v1/invoices", responses={**ok(ListEnvelope), **errors(*READ_ERRORS)})
async def list_invoices(
    page: PageRequest = Depends(page_params),
    status: InvoiceStatus | None = Query(None),
    kind: InvoiceKind | None = Query(None),
    subscription_id: str | None = Query(None, alias="subscriptionId", max_length=64),
    customer_id: str | None = Query(None, alias="customerId", max_length=64),
    call: ApiCall = Depends(api_call),
) -> Response:
    return await call.read(
        lambda ctx: service.list_invoices(
            ctx, page, status=status, kind=kind, subscription_id=subscription_id, customer_id=customer_id
        )
    )


@router.get("/v1/invoices/{invoice_id}", responses={**errors(*READ_ERRORS)})
async def get_invoice(invoice_id: str, call: ApiCall = Depends(api_call)) -> Response:
    return await call.read(lambda ctx: service.get_invoice(ctx, invoice_id))


# No body at all means `{}`: charge the subscription's method, else the customer's default.
@router.post("/v1/invoices/{invoice_id}/pay", responses={**errors(*WRITE_ERRORS, 402)})
async def pay_invoice(invoice_id: str, body: PayRequest | None = None, call: ApiCall = Depends(api_call)) -> Response:
    request = body or PayRequest()
    return await call.run_charging(lambda ctx: pay.prepare_pay(ctx, invoice_id, request), pay.resume_pay)


@router.post("/v1/invoices/{invoice_id}/refund", responses={**errors(*WRITE_ERRORS)})
async def refund_invoice(invoice_id: str, body: RefundRequest, call: ApiCall = Depends(api_call)) -> Response:
    return await call.run_charging(lambda ctx: refunds.prepare_refund(ctx, invoice_id, body), refunds.resume_refund)


@router.get("/v1/transactions", responses={**ok(ListEnvelope), **errors(*READ_ERRORS)})
async def list_transactions(
    page: PageRequest = Depends(page_params),
    status: TxnStatus | None = Query(None),
    invoice_id: str | None = Query(None, alias="invoiceId", max_length=64),
    subscription_id: str | None = Query(None, alias="subscriptionId", max_length=64),
    customer_id: str | None = Query(None, alias="customerId", max_length=64),
    call: ApiCall = Depends(api_call),
) -> Response:
    return await call.read(
        lambda ctx: service.list_transactions(
            ctx, page, status=status, invoice_id=invoice_id, subscription_id=subscription_id, customer_id=customer_id
        )
    )


@router.get("/v1/transactions/{txn_id}", responses={**errors(*READ_ERRORS)})
async def get_transaction(txn_id: str, call: ApiCall = Depends(api_call)) -> Response:
    return await call.read(lambda ctx: service.get_transaction(ctx, txn_id))
