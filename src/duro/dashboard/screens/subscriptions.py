"""Dashboard screens: subscriptions (07 §3, §6). The list, the create form, the detail page with its event timeline,
and the actions of 03 §7–8 — each runs the same service function as its /v1 endpoint (the charging ones through
the same `prepare_*` two-transaction path), so rules and errors are the API's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Final, TypeVar

from fastapi import APIRouter, Request
from sqlalchemy import or_, select
from starlette.datastructures import FormData
from starlette.responses import Response

from duro.billing.lifecycle import Action, can
from duro.context import RepositoryContext
from duro.customers import service as customers
from duro.dashboard.pages import fail
from duro.dashboard.shell import (
    DashCall,
    dash,
    dash_post,
    field_errors,
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
from duro.models.events import events
from duro.payment_methods import service as methods
from duro.plans import service as plans
from duro.promo_codes import service as promo_codes
from duro.recovery import service as recovery
from duro.subscriptions import actions, creation, plan_change, service
from duro.subscriptions.plan_change import PlanChangeRequest
from duro.subscriptions.schemas import CancelRequest, SubscriptionCreate, SubscriptionUpdate

router = APIRouter(prefix="/dashboard", include_in_schema=False)

T = TypeVar("T")

BASE: Final = "/dashboard/subscriptions"
STATUSES: Final = (
    "incomplete",
    "incomplete_expired",
    "trialing",
    "active",
    "past_due",
    "paused",
    "unpaid",
    "canceled",
    "expired",
)
BEHAVIOURS: Final = (
    ("prorate_now", "Prorate now", "Charge or credit the difference for the rest of this period today."),
    ("prorate_next_invoice", "Prorate on the next invoice", "Carry the difference to the next renewal."),
    ("full_now", "Full price now", "Start a new period on the new plan today and charge its full price."),
    ("none", "No proration", "Switch now; the new price applies from the next renewal."),
)
TIMELINE_LIMIT: Final = 50
PLAN_CHOICES: Final = 100


# --- list ---


@router.get("/subscriptions")
async def list_subscriptions(request: Request) -> Response:
    call = await dash(request)
    status = call.query_choice("status", STATUSES)
    plan_id, customer_id = call.query_id("planId"), call.query_id("customerId")
    page = call.page_request()

    async def load(ctx: RepositoryContext) -> tuple[dict[str, Any], dict[str, Any]]:
        found_page = await service.list_subscriptions(
            ctx, page, status=status, plan_id=plan_id, customer_id=customer_id
        )
        return found_page, await plans.list_plans(ctx, PageRequest(limit=PLAN_CHOICES), None)

    result, plan_page = await call.read(load)
    return await call.screen(
        "screens/subscriptions/list.html",
        page=result,
        plans={p["id"]: p for p in plan_page["items"]},
        statuses=STATUSES,
        filters={"status": status or "", "planId": plan_id or "", "customerId": customer_id or ""},
    )


# --- create ---


async def _new_form(call: DashCall, values: dict[str, Any], errors: dict[str, str], status: int = 200) -> Response:
    page = await call.read(lambda ctx: plans.list_plans(ctx, PageRequest(limit=PLAN_CHOICES), True))
    return await call.screen(
        "screens/subscriptions/new.html", status, plans=page["items"], values=values, errors=errors
    )


@router.get("/subscriptions/new")
async def new_subscription(request: Request) -> Response:
    call = await dash(request)
    values = {"customerId": call.query_id("customerId"), "planId": call.query_id("planId")}
    if call.mode == "test":
        values["testClockId"] = call.query_id("testClockId")
    return await _new_form(call, values, {})


def _create_data(form: FormData, mode: str) -> dict[str, Any]:
    return keep(
        [
            ("customerId", optional(form, "customerId")),
            ("planId", optional(form, "planId")),
            ("paymentMethodId", optional(form, "paymentMethodId")),
            ("promoCode", optional(form, "promoCode")),
            ("trialDays", integer(form, "trialDays")),
            # Test clocks exist only in test mode (03 §12); a live form has no such field.
            ("testClockId", optional(form, "testClockId") if mode == "test" else None),
            ("metadata", metadata_from(form)),
        ]
    )


@router.post("/subscriptions")
async def create_subscription(request: Request) -> Response:
    call, form = await dash_post(request, "subscription.create")
    data = _create_data(form, call.mode)
    values = {**data, "metadata": text(form, "metadata")}
    try:
        body = parse(SubscriptionCreate, data)
        created = await call.charging(lambda ctx: creation.prepare_create(ctx, body))
    except DuroError as exc:
        return await _new_form(call, values, field_errors(exc), 422)
    if created["status"] == "incomplete":
        message = "Subscription created, but its first payment did not go through: it is incomplete."
        return call.done(f"{BASE}/{created['id']}", message, "error")
    return call.done(f"{BASE}/{created['id']}", f"Subscription created ({created['status']}).")


# --- detail ---


async def _timeline(ctx: RepositoryContext, sub_id: str) -> list[dict[str, Any]]:
    """Events that reference the subscription (07 §6): as `data.object` itself, or by the `subscriptionId` of an
    invoice object or of a payment event's extra keys — newest first, within event retention."""
    data = events.c.data
    since = ctx.clock.now() - timedelta(days=ctx.settings.event_retention_days)
    stmt = (
        select(events)
        .where(
            events.c.tenant_id == ctx.tenant_id,
            events.c.created_at >= since,
            or_(
                data["object"]["id"].astext == sub_id,
                data["object"]["subscriptionId"].astext == sub_id,
                data["subscriptionId"].astext == sub_id,
            ),
        )
        .order_by(events.c.created_at.desc(), events.c.id.desc())
        .limit(TIMELINE_LIMIT)
    )
    return [event_json(row, ctx.livemode) for row in await ctx.conn.execute(stmt)]


async def _optional(fn: Awaitable[dict[str, Any]]) -> dict[str, Any] | None:
    try:
        return await fn
    except DuroError:
        return None


async def _detail(ctx: RepositoryContext, sub_id: str) -> dict[str, Any]:
    sub = await service.get_subscription(ctx, sub_id)
    plan = await plans.get_plan(ctx, sub["planId"])
    scheduled = await _optional(plans.get_plan(ctx, sub["scheduledPlanId"])) if sub["scheduledPlanId"] else None
    promo = await _optional(promo_codes.get_promo_code(ctx, sub["promoCodeId"])) if sub["promoCodeId"] else None
    customer = await customers.get_customer(ctx, sub["customerId"])
    saved = (await methods.list_methods(ctx, sub["customerId"]))["items"]
    # No method of its own means the customer's default is charged (03 §5).
    wanted = sub["paymentMethodId"]
    method = next((m for m in saved if (m["id"] == wanted if wanted else m["isDefault"])), None)
    invoice_page = await invoices.list_invoices(ctx, PageRequest(limit=20), subscription_id=sub_id)
    schedules = await recovery.list_schedules(ctx, PageRequest(limit=10), subscription_id=sub_id)
    choices = await plans.list_plans(ctx, PageRequest(limit=PLAN_CHOICES), True)
    return {
        "sub": sub,
        "plan": plan,
        "scheduled_plan": scheduled,
        "promo": promo,
        "customer": customer,
        "method": method,
        "method_is_default": wanted is None,
        "invoices": invoice_page,
        "schedules": schedules["items"],
        "timeline": await _timeline(ctx, sub_id),
        "plan_choices": [p for p in choices["items"] if p["currency"] == plan["currency"] and p["id"] != plan["id"]],
    }


def allowed(status: str) -> dict[str, bool]:
    """Which actions the lifecycle allows now, so the page offers only buttons that can succeed."""
    return {
        "cancel": can(status, Action.CANCEL),
        "cancel_at_period_end": can(status, Action.CANCEL_AT_PERIOD_END),
        "pause": can(status, Action.PAUSE),
        "resume": can(status, Action.RESUME),
        "change_plan": can(status, Action.CHANGE_PLAN) or can(status, Action.SCHEDULE_PLAN_CHANGE),
        "scheduled_change": can(status, Action.SCHEDULE_PLAN_CHANGE),
    }


@router.get("/subscriptions/{sub_id}")
async def subscription_detail(request: Request, sub_id: str) -> Response:
    call = await dash(request)
    detail = await call.read(lambda ctx: _detail(ctx, sub_id))
    return await call.screen(
        "screens/subscriptions/detail.html", allowed=allowed(detail["sub"]["status"]), base=BASE, **detail
    )


# --- actions ---


async def _act(call: DashCall, sub_id: str, run: Callable[[], Awaitable[Any]], message: str) -> Response:
    """Run an action and come back to the detail page with its outcome; refusals (409, 422, 402) are flashed."""
    location = f"{BASE}/{sub_id}"
    try:
        await run()
    except DuroError as exc:
        if exc.status == 404:
            raise fail(call.request, 404, "not_found", exc.message) from exc
        return call.done(location, exc.message, "error")
    return call.done(location, message)


@router.post("/subscriptions/{sub_id}/cancel")
async def cancel(request: Request, sub_id: str) -> Response:
    call, form = await dash_post(request, "subscription.cancel")
    at_end = text(form, "atPeriodEnd") == "true"
    try:
        body = parse(CancelRequest, keep([("atPeriodEnd", at_end), ("reason", optional(form, "reason"))]))
    except DuroError as exc:
        return call.done(f"{BASE}/{sub_id}", exc.message, "error")
    done = "Subscription will cancel at the end of the period." if at_end else "Subscription canceled."
    return await _act(
        call, sub_id, lambda: call.write(lambda ctx: actions.cancel_subscription(ctx, sub_id, body)), done
    )


@router.post("/subscriptions/{sub_id}/undo-cancel")
async def undo_cancel(request: Request, sub_id: str) -> Response:
    call, _ = await dash_post(request, "subscription.undo_cancel")
    body = parse(SubscriptionUpdate, {"cancelAtPeriodEnd": False})
    return await _act(
        call,
        sub_id,
        lambda: call.write(lambda ctx: actions.update_subscription(ctx, sub_id, body)),
        "The cancellation at period end was undone.",
    )


@router.post("/subscriptions/{sub_id}/pause")
async def pause(request: Request, sub_id: str) -> Response:
    call, _ = await dash_post(request, "subscription.pause")
    run = lambda: call.write(lambda ctx: actions.pause_subscription(ctx, sub_id))  # noqa: E731
    return await _act(call, sub_id, run, "Subscription paused.")


@router.post("/subscriptions/{sub_id}/resume")
async def resume(request: Request, sub_id: str) -> Response:
    call, _ = await dash_post(request, "subscription.resume")
    location = f"{BASE}/{sub_id}"
    try:
        after = await call.charging(lambda ctx: actions.prepare_resume(ctx, sub_id))
    except DuroError as exc:
        if exc.status == 404:
            raise fail(call.request, 404, "not_found", exc.message) from exc
        return call.done(location, exc.message, "error")
    if after["status"] == "past_due":  # resumed past its period end and the renewal charge was declined
        return call.done(location, "Subscription resumed, but its renewal payment failed: it is past due.", "error")
    return call.done(location, "Subscription resumed.")


@router.post("/subscriptions/{sub_id}/cancel-scheduled-change")
async def cancel_scheduled_change(request: Request, sub_id: str) -> Response:
    call, _ = await dash_post(request, "subscription.cancel_scheduled_change")
    run = lambda: call.write(lambda ctx: actions.cancel_scheduled_change(ctx, sub_id))  # noqa: E731
    return await _act(call, sub_id, run, "The scheduled plan change was canceled.")


# --- change plan: preview of each behaviour (03 §8), then confirm ---


def _change_values(source: Any) -> dict[str, str]:
    """planId / effective / prorationBehavior from the query string or the confirming form (both mappings)."""

    def get(name: str, default: str) -> str:
        value = source.get(name)
        return value.strip() if isinstance(value, str) and value.strip() else default

    return {
        "planId": get("planId", ""),
        "effective": get("effective", "now"),
        "prorationBehavior": get("prorationBehavior", "prorate_now"),
    }


async def _previews(ctx: RepositoryContext, sub_id: str, plan_id: str, effective: str) -> list[dict[str, Any]]:
    """The API's preview for each of the four behaviours, so the numbers are the ones `/change-plan/preview`
    answers; a behaviour the change refuses carries its error instead."""
    out = []
    for behaviour, label, explain in BEHAVIOURS:
        entry: dict[str, Any] = {"behavior": behaviour, "label": label, "explain": explain}
        try:
            body = parse(PlanChangeRequest, {"planId": plan_id, "prorationBehavior": behaviour, "effective": effective})
            entry["preview"] = await plan_change.preview(ctx, sub_id, body)
        except DuroError as exc:
            if exc.status == 404 and not exc.details:
                raise
            entry["error"] = field_errors(exc)
        out.append(entry)
    return out


async def _change_page(
    call: DashCall, sub_id: str, values: dict[str, Any], errors: dict[str, str], status: int = 200
) -> Response:
    async def load(ctx: RepositoryContext) -> dict[str, Any]:
        detail = await _detail(ctx, sub_id)
        previews: list[dict[str, Any]] = []
        if values["planId"]:
            previews = await _previews(ctx, sub_id, values["planId"], values["effective"])
        return {**detail, "previews": previews}

    data = await call.read(load)
    previewed = [p for p in data["previews"] if "preview" in p]
    if data["previews"] and not previewed:
        # The same refusal for every behaviour (unknown plan, same plan, wrong state): show it once, inline.
        errors = errors or data["previews"][0]["error"]
        data["previews"] = []
    chosen = next((p for p in data["plan_choices"] if p["id"] == values["planId"]), None)
    return await call.screen(
        "screens/subscriptions/change_plan.html",
        status,
        values=values,
        errors=errors,
        chosen_plan=chosen,
        behaviours=BEHAVIOURS,
        allowed=allowed(data["sub"]["status"]),
        base=BASE,
        **data,
    )


@router.get("/subscriptions/{sub_id}/change-plan")
async def change_plan_preview(request: Request, sub_id: str) -> Response:
    call = await dash(request)
    return await _change_page(call, sub_id, _change_values(request.query_params), {})


@router.post("/subscriptions/{sub_id}/change-plan")
async def change_plan(request: Request, sub_id: str) -> Response:
    call, form = await dash_post(request, "subscription.change_plan")
    values = _change_values(form)
    try:
        body = parse(PlanChangeRequest, {k: v for k, v in values.items() if v})
        await call.charging(lambda ctx: plan_change.prepare_change(ctx, sub_id, body))
    except DuroError as exc:
        if exc.status == 404 and not exc.details:
            raise fail(call.request, 404, "not_found", exc.message) from exc
        if exc.status == 402:  # declined: nothing changed, the failed attempt is kept on a voided invoice
            return call.done(f"{BASE}/{sub_id}", f"Plan not changed: {exc.message}", "error")
        return await _change_page(call, sub_id, values, field_errors(exc), 422)
    if values["effective"] == "period_end":
        return call.done(f"{BASE}/{sub_id}", "Plan change scheduled for the end of the period.")
    return call.done(f"{BASE}/{sub_id}", "Plan changed.")
