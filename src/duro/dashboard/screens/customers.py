"""Dashboard screens: customers (07 §3, §6). The same services and request models as /v1/customers and
/v1/customers/{id}/payment-methods (03 §13.2); the detail page gathers what the customer's API lists show."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import or_, select
from starlette.datastructures import FormData
from starlette.responses import Response

from duro.context import RepositoryContext
from duro.customers import service
from duro.customers.schemas import BlacklistRequest, CustomerCreate, CustomerUpdate
from duro.dashboard.screens.catalogue_kit import inline_errors, load, metadata_text, page_request, plan_names
from duro.dashboard.shell import (
    DashCall,
    checked,
    dash,
    dash_post,
    integer,
    keep,
    metadata_from,
    optional,
    parse,
    text,
)
from duro.events.service import event_json
from duro.invoices import service as invoices
from duro.kit.errors import DuroError
from duro.kit.pagination import PageRequest
from duro.kit.phone import normalize_phone
from duro.kit.validation import check_email, check_printable
from duro.models.events import events
from duro.payment_methods import service as payment_methods
from duro.payment_methods.schemas import PaymentMethodCreate
from duro.subscriptions import service as subscriptions

router = APIRouter(prefix="/dashboard", include_in_schema=False)

FIELDS = ("email", "phone", "name", "merchantRef", "metadata")
REASON_FIELDS = {"duplicate_merchant_ref": "merchantRef"}
# Where the attach form shows an error of the payment-method model (03 §13.2 paths).
ATTACH_FOLDS = {
    "testCard": "number",
    "testCard.number": "number",
    "testAccount": "number",
    "testCard.expMonth": "expMonth",
    "testCard.expYear": "expYear",
}
RAILS = ("card", "ussd", "transfer", "virtual_account", "direct_debit")
RECENT = 10

# The /v1 list's query validators, applied to the search form (an invalid value finds nothing, shown inline).
SEARCH_FILTERS: dict[str, Callable[[str], str]] = {
    "email": check_email,
    "phone": normalize_phone,
    "merchantRef": check_printable,
}


def _search(request: Request) -> tuple[dict[str, str], dict[str, str]]:
    """Normalised filters and per-field errors from the query string."""
    found: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name, check in SEARCH_FILTERS.items():
        raw = (request.query_params.get(name) or "").strip()
        if not raw:
            continue
        if name == "merchantRef" and len(raw) > 100:
            errors[name] = "must be at most 100 characters"
            continue
        try:
            found[name] = check(raw)
        except ValueError as exc:
            errors[name] = str(exc)
    return found, errors


@router.get("/customers")
async def list_customers(request: Request) -> Response:
    call = await dash(request)
    filters, errors = _search(request)
    blacklisted = {"true": True, "false": False}.get(request.query_params.get("blacklisted") or "")
    page_req = page_request(call)
    if errors:
        page: dict[str, Any] = {"object": "list", "items": [], "nextCursor": None, "hasMore": False}
    else:
        page = await load(
            call,
            lambda ctx: service.list_customers(
                ctx,
                page_req,
                email=filters.get("email"),
                phone=filters.get("phone"),
                merchant_ref=filters.get("merchantRef"),
                blacklisted=blacklisted,
            ),
        )
    query = {k: request.query_params.get(k, "") for k in ("email", "phone", "merchantRef", "blacklisted")}
    return await call.screen(
        "screens/customers/list.html", page=page, query=query, errors=errors, filtered=any(query.values())
    )


def _form_data(form: FormData, *, clearing: bool) -> dict[str, Any]:
    """The customer fields of the API body. On edit every field is sent (blank = null, blank metadata = `{}`),
    so a cleared field is cleared, as a PATCH with null would."""
    metadata = metadata_from(form)
    values: list[tuple[str, Any]] = [
        ("email", optional(form, "email")),
        ("phone", optional(form, "phone")),
        ("name", optional(form, "name")),
        ("merchantRef", optional(form, "merchantRef")),
    ]
    if not clearing:
        return keep([*values, ("metadata", metadata)])
    return {**dict(values), "metadata": {} if metadata is None else metadata}


@router.get("/customers/new")
async def new_customer(request: Request) -> Response:
    call = await dash(request)
    return await call.screen("screens/customers/form.html", customer=None, values={}, errors={}, methods=[])


@router.post("/customers")
async def create_customer(request: Request) -> Response:
    call, form = await dash_post(request, "customer.create")
    try:
        body = parse(CustomerCreate, _form_data(form, clearing=False))
        customer = await call.write(lambda ctx: service.create_customer(ctx, body))
    except DuroError as exc:
        values = {k: text(form, k) for k in FIELDS}
        errors = inline_errors(exc, reasons=REASON_FIELDS)
        return await call.screen(
            "screens/customers/form.html", 422, customer=None, values=values, errors=errors, methods=[]
        )
    return call.done(f"/dashboard/customers/{customer['id']}", "Customer created.")


async def _edit_form(
    call: DashCall, customer_id: str, values: dict[str, Any] | None, errors: dict[str, str], status: int = 200
) -> Response:
    async def read(ctx: RepositoryContext) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        customer = await service.get_customer(ctx, customer_id)
        methods = await payment_methods.list_methods(ctx, customer_id)
        return customer, methods["items"]

    customer, methods = await load(call, read)
    if values is None:
        values = {k: customer[k] or "" for k in ("email", "phone", "name", "merchantRef")}
        values["metadata"] = metadata_text(customer["metadata"])
        values["defaultPaymentMethodId"] = customer["defaultPaymentMethodId"] or ""
    return await call.screen(
        "screens/customers/form.html", status, customer=customer, values=values, errors=errors, methods=methods
    )


@router.get("/customers/{customer_id}/edit")
async def edit_customer(request: Request, customer_id: str) -> Response:
    call = await dash(request)
    return await _edit_form(call, customer_id, None, {})


@router.post("/customers/{customer_id}")
async def update_customer(request: Request, customer_id: str) -> Response:
    call, form = await dash_post(request, "customer.update")
    data = _form_data(form, clearing=True)
    default_pm = optional(form, "defaultPaymentMethodId")
    if default_pm is not None:  # the select has no "none": a default is replaced, not removed, from here
        data["defaultPaymentMethodId"] = default_pm
    try:
        body = parse(CustomerUpdate, data)
        await call.write(lambda ctx: service.update_customer(ctx, customer_id, body))
    except DuroError as exc:
        if exc.status == 404 and not exc.details:
            return call.done("/dashboard/customers", exc.message, "error")
        values = {k: text(form, k) for k in (*FIELDS, "defaultPaymentMethodId")}
        return await _edit_form(call, customer_id, values, inline_errors(exc, reasons=REASON_FIELDS), 422)
    return call.done(f"/dashboard/customers/{customer_id}", "Customer saved.")


async def recent_events(ctx: RepositoryContext, customer_id: str) -> list[dict[str, Any]]:
    """The latest events about the customer: its own, and those of objects that name it (`customerId`), within
    the retention window the events API serves (05 §9), which also bounds the scan."""
    obj = events.c.data["object"]
    since = ctx.clock.now() - timedelta(days=ctx.settings.event_retention_days)
    stmt = (
        select(events)
        .where(
            events.c.tenant_id == ctx.tenant_id,
            events.c.created_at >= since,
            or_(obj["id"].astext == customer_id, obj["customerId"].astext == customer_id),
        )
        .order_by(events.c.created_at.desc(), events.c.id.desc())
        .limit(RECENT)
    )
    return [event_json(r, ctx.livemode) for r in (await ctx.conn.execute(stmt)).all()]


async def _detail(call: DashCall, customer_id: str, errors: dict[str, str] | None = None, **forms: Any) -> Response:
    recent = PageRequest(limit=RECENT)

    async def read(ctx: RepositoryContext) -> dict[str, Any]:
        customer = await service.get_customer(ctx, customer_id)
        subs = await subscriptions.customer_subscriptions(ctx, customer_id, recent)
        return {
            "customer": customer,
            "subscriptions": subs,
            "names": await plan_names(ctx, [s["planId"] for s in subs["items"]]),
            "invoices": await invoices.list_invoices(ctx, recent, customer_id=customer_id),
            "transactions": await subscriptions.customer_transactions(ctx, customer_id, recent),
            "methods": (await payment_methods.list_methods(ctx, customer_id))["items"],
            "events": await recent_events(ctx, customer_id),
        }

    found = await load(call, read)
    status = 422 if errors else 200
    attach = forms.get("attach") or {
        "rail": "card",
        "expMonth": "12",
        "expYear": str(call.runtime.clock.now().year + 3),
    }
    return await call.screen(
        "screens/customers/detail.html",
        status,
        errors=errors or {},
        attach=attach,
        reason=forms.get("reason", ""),
        rails=RAILS,
        **found,
    )


@router.get("/customers/{customer_id}")
async def customer_detail(request: Request, customer_id: str) -> Response:
    call = await dash(request)
    return await _detail(call, customer_id)


@router.post("/customers/{customer_id}/blacklist")
async def blacklist_customer(request: Request, customer_id: str) -> Response:
    call, form = await dash_post(request, "customer.blacklist")
    reason = text(form, "reason")
    try:
        body = parse(BlacklistRequest, {"reason": reason})
        await call.write(lambda ctx: service.blacklist_customer(ctx, customer_id, body))
    except DuroError as exc:
        if exc.status == 404:
            return call.done("/dashboard/customers", exc.message, "error")
        return await _detail(call, customer_id, inline_errors(exc), reason=reason)
    return call.done(f"/dashboard/customers/{customer_id}", "Customer blacklisted: no new charges will be attempted.")


@router.post("/customers/{customer_id}/unblacklist")
async def unblacklist_customer(request: Request, customer_id: str) -> Response:
    call, _ = await dash_post(request, "customer.unblacklist")
    try:
        await call.write(lambda ctx: service.unblacklist_customer(ctx, customer_id))
    except DuroError as exc:
        return call.done("/dashboard/customers", exc.message, "error")
    return call.done(f"/dashboard/customers/{customer_id}", "Customer removed from the blacklist.")


def _attach_body(form: FormData) -> dict[str, Any]:
    """The API's `{testCard: {...}}` or `{rail, testAccount}` from the one attach form."""
    rail = text(form, "rail") or "card"
    number = text(form, "number")
    body: dict[str, Any]
    if rail == "card":
        card = keep(
            [("number", number or None), ("expMonth", integer(form, "expMonth")), ("expYear", integer(form, "expYear"))]
        )
        body = {"testCard": card}
    else:
        body = keep([("rail", rail), ("testAccount", number or None)])
    if checked(form, "setDefault"):
        body["setDefault"] = True
    return body


@router.post("/customers/{customer_id}/payment-methods")
async def attach_payment_method(request: Request, customer_id: str) -> Response:
    call, form = await dash_post(request, "payment_method.attach")
    try:
        body = parse(PaymentMethodCreate, _attach_body(form))
        method, created = await call.write(lambda ctx: payment_methods.add_test_method(ctx, customer_id, body))
    except DuroError as exc:
        if exc.status == 404 and not exc.details:
            return call.done("/dashboard/customers", exc.message, "error")
        if exc.status == 403:  # `test_mode_only`: the form is not offered in live mode
            return call.done(f"/dashboard/customers/{customer_id}", exc.message, "error")
        attach: dict[str, Any] = {k: text(form, k) for k in ("rail", "number", "expMonth", "expYear")}
        attach["setDefault"] = checked(form, "setDefault")
        return await _detail(call, customer_id, inline_errors(exc, folds=ATTACH_FOLDS), attach=attach)
    label = f"{method['brand'] or method['rail']} ending {method['last4']}"
    message = f"Payment method {label} attached." if created else f"The customer already has {label}."
    return call.done(f"/dashboard/customers/{customer_id}", message)
