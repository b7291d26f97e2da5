"""Dashboard screens: invoices (07 §3, §6). The list, the detail page (lines, attempts with failure codes, refunds,
hosted payment link), pay now and refund — through the same `prepare_pay` / `prepare_refund` two-transaction
paths as /v1, so a decline keeps its failed attempt and refunds can never exceed what was paid."""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Request
from starlette.responses import Response

from duro.context import RepositoryContext
from duro.dashboard.pages import fail
from duro.dashboard.shell import DashCall, dash, dash_post, field_errors, keep, major_to_minor, optional, parse, text
from duro.invoices import pay, refunds, service
from duro.invoices.schemas import PayRequest, RefundRequest
from duro.kit.errors import DuroError
from duro.payment_methods import service as methods

router = APIRouter(prefix="/dashboard", include_in_schema=False)

BASE: Final = "/dashboard/invoices"
STATUSES: Final = ("open", "paid", "uncollectible", "void")
KINDS: Final = ("subscription_create", "renewal", "proration", "plan_reset", "one_off")


@router.get("/invoices")
async def list_invoices(request: Request) -> Response:
    call = await dash(request)
    filters = {
        "status": call.query_choice("status", STATUSES),
        "kind": call.query_choice("kind", KINDS),
        "subscription_id": call.query_id("subscriptionId"),
        "customer_id": call.query_id("customerId"),
    }
    page = call.page_request()
    result = await call.read(lambda ctx: service.list_invoices(ctx, page, **filters))
    return await call.screen(
        "screens/invoices/list.html",
        page=result,
        statuses=STATUSES,
        kinds=KINDS,
        filters={k: v or "" for k, v in filters.items()},
        filtered=any(filters.values()),
    )


def refundable(invoice: dict[str, Any]) -> int:
    """What a refund may still take, as the API computes it (pending refunds are committed only for seconds)."""
    if invoice["status"] != "paid" or not any(a["status"] == "succeeded" for a in invoice["attempts"]):
        return 0
    return max(int(invoice["amountPaid"]) - int(invoice["amountRefunded"]), 0)


async def _detail(ctx: RepositoryContext, invoice_id: str) -> dict[str, Any]:
    invoice = await service.get_invoice(ctx, invoice_id)
    saved: list[dict[str, Any]] = []
    if invoice["status"] == "open":  # the pay form offers the customer's usable methods
        listed = await methods.list_methods(ctx, invoice["customerId"])
        saved = [m for m in listed["items"] if m["usable"]]
    return {"invoice": invoice, "methods": saved, "refundable": refundable(invoice)}


@router.get("/invoices/{invoice_id}")
async def invoice_detail(request: Request, invoice_id: str) -> Response:
    call = await dash(request)
    data = await call.read(lambda ctx: _detail(ctx, invoice_id))
    return await call.screen("screens/invoices/detail.html", base=BASE, **data)


@router.post("/invoices/{invoice_id}/pay")
async def pay_invoice(request: Request, invoice_id: str) -> Response:
    call, form = await dash_post(request, "invoice.pay")
    location = f"{BASE}/{invoice_id}"
    try:
        body = parse(PayRequest, keep([("paymentMethodId", optional(form, "paymentMethodId"))]))
        paid = await call.charging(lambda ctx: pay.prepare_pay(ctx, invoice_id, body))
    except DuroError as exc:
        if exc.status == 404 and not exc.details:
            raise fail(call.request, 404, "not_found", exc.message) from exc
        # A decline (402) committed its failed attempt before this is raised: the page shows it in the list.
        prefix = "Payment failed: " if exc.status == 402 else ""
        return call.done(location, f"{prefix}{exc.message}", "error")
    return call.done(location, f"Invoice paid ({paid['status']}).")


async def _refund_form(
    call: DashCall, invoice_id: str, values: dict[str, Any], errors: dict[str, str], status: int = 200
) -> Response:
    data = await call.read(lambda ctx: _detail(ctx, invoice_id))
    return await call.screen("screens/invoices/refund.html", status, base=BASE, values=values, errors=errors, **data)


@router.get("/invoices/{invoice_id}/refund")
async def refund_form(request: Request, invoice_id: str) -> Response:
    call = await dash(request)
    return await _refund_form(call, invoice_id, {}, {})


@router.post("/invoices/{invoice_id}/refund")
async def refund_invoice(request: Request, invoice_id: str) -> Response:
    call, form = await dash_post(request, "refund.create")
    # Blank amount = the whole refundable remainder (the API's default); merchants type major units.
    data = keep([("amount", major_to_minor(text(form, "amount"))), ("reason", optional(form, "reason"))])
    values = {"amount": text(form, "amount"), "reason": text(form, "reason")}
    try:
        body = parse(RefundRequest, data)
        result = await call.charging(lambda ctx: refunds.prepare_refund(ctx, invoice_id, body))
    except DuroError as exc:
        if exc.status == 404 and not exc.details:
            raise fail(call.request, 404, "not_found", exc.message) from exc
        return await _refund_form(call, invoice_id, values, field_errors(exc), 422)
    refund = result["refund"]
    if refund["status"] != "succeeded":
        return call.done(f"{BASE}/{invoice_id}", "The refund failed at the processor; nothing was refunded.", "error")
    return call.done(f"{BASE}/{invoice_id}", "Refund issued.")
