"""Dashboard screens: plans (07 §3, §6). Same service and request models as /v1/plans (03 §13.1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import func, select
from starlette.datastructures import FormData
from starlette.responses import Response

from duro.context import RepositoryContext
from duro.dashboard.screens.catalogue_kit import (
    amount_field,
    bool_filter,
    inline_errors,
    load,
    metadata_text,
    minor_to_major,
    page_request,
)
from duro.dashboard.shell import dash, dash_post, integer, keep, metadata_from, optional, parse, text
from duro.kit.errors import DuroError
from duro.models.billing import subscriptions
from duro.plans import service
from duro.plans.schemas import PlanCreate, PlanUpdate

router = APIRouter(prefix="/dashboard", include_in_schema=False)

INTERVALS = ("hour", "day", "week", "month", "quarter", "biannual", "year")
# Subscriptions that still bill on the plan: "subscribers" in the list (ended and never-started ones are not).
SUBSCRIBED = ("trialing", "active", "past_due", "paused")


async def subscriber_counts(ctx: RepositoryContext, plan_ids: Sequence[str]) -> dict[str, int]:
    """Subscribers per plan for one page of plans, in one grouped query."""
    if not plan_ids:
        return {}
    s = subscriptions.c
    stmt = (
        select(s.plan_id, func.count())
        .where(s.tenant_id == ctx.tenant_id, s.plan_id.in_(list(plan_ids)), s.status.in_(SUBSCRIBED))
        .group_by(s.plan_id)
    )
    return {str(r[0]): int(r[1]) for r in (await ctx.conn.execute(stmt)).all()}


@router.get("/plans")
async def list_plans(request: Request) -> Response:
    call = await dash(request)
    active = bool_filter(request.query_params.get("active"))
    page_req = page_request(call)

    async def read(ctx: RepositoryContext) -> tuple[dict[str, Any], dict[str, int]]:
        page = await service.list_plans(ctx, page_req, active)
        return page, await subscriber_counts(ctx, [p["id"] for p in page["items"]])

    page, counts = await load(call, read)
    return await call.screen(
        "screens/catalogue/plans.html", page=page, counts=counts, active=request.query_params.get("active", "")
    )


PLAN_FIELDS = (
    "name",
    "description",
    "amount",
    "currency",
    "interval",
    "intervalCount",
    "trialDays",
    "maxCycles",
    "metadata",
)


def _create_values(form: FormData) -> dict[str, str]:
    """The submitted fields as typed, to re-show the form after an error."""
    return {k: text(form, k) for k in PLAN_FIELDS}


@router.get("/plans/new")
async def new_plan(request: Request) -> Response:
    call = await dash(request)
    values = {"interval": "month", "intervalCount": "1", "trialDays": "0"}
    return await call.screen("screens/catalogue/plan_new.html", values=values, errors={}, intervals=INTERVALS)


@router.post("/plans")
async def create_plan(request: Request) -> Response:
    call, form = await dash_post(request, "plan.create")
    data = keep(
        [
            ("name", text(form, "name")),
            ("description", optional(form, "description")),
            ("amount", amount_field(form, "amount")),
            ("currency", (optional(form, "currency") or "").upper() or None),
            ("interval", text(form, "interval")),
            ("intervalCount", integer(form, "intervalCount")),
            ("trialDays", integer(form, "trialDays")),
            ("maxCycles", integer(form, "maxCycles")),
            ("metadata", metadata_from(form)),
        ]
    )
    try:
        body = parse(PlanCreate, data)
        plan = await call.write(lambda ctx: service.create_plan(ctx, body))
    except DuroError as exc:
        values = _create_values(form)
        return await call.screen(
            "screens/catalogue/plan_new.html", 422, values=values, errors=inline_errors(exc), intervals=INTERVALS
        )
    return call.done(f"/dashboard/plans/{plan['id']}", f"Plan {plan['name']} created.")


async def _detail(
    request: Request,
    plan_id: str,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    call = await dash(request)

    async def read(ctx: RepositoryContext) -> tuple[dict[str, Any], int]:
        plan = await service.get_plan(ctx, plan_id)
        return plan, (await subscriber_counts(ctx, [plan_id])).get(plan_id, 0)

    plan, subscribers = await load(call, read)
    if values is None:
        values = {
            "name": plan["name"],
            "description": plan["description"] or "",
            "trialDays": str(plan["trialDays"]),
            "metadata": metadata_text(plan["metadata"]),
        }
    return await call.screen(
        "screens/catalogue/plan_detail.html",
        status,
        plan=plan,
        subscribers=subscribers,
        amount_major=minor_to_major(plan["amount"]),
        values=values,
        errors=errors or {},
    )


@router.get("/plans/{plan_id}")
async def plan_detail(request: Request, plan_id: str) -> Response:
    return await _detail(request, plan_id)


@router.post("/plans/{plan_id}")
async def update_plan(request: Request, plan_id: str) -> Response:
    call, form = await dash_post(request, "plan.update")
    metadata = metadata_from(form)
    # Every editable field is sent: a cleared description becomes null and cleared metadata `{}`, as a PATCH would.
    data = {
        "name": text(form, "name"),
        "description": optional(form, "description"),
        "trialDays": integer(form, "trialDays"),
        "metadata": {} if metadata is None else metadata,
    }
    if data["trialDays"] is None:
        del data["trialDays"]
    try:
        body = parse(PlanUpdate, data)
        await call.write(lambda ctx: service.update_plan(ctx, plan_id, body))
    except DuroError as exc:
        if exc.status == 404:
            return call.done("/dashboard/plans", exc.message, "error")
        values = {k: text(form, k) for k in ("name", "description", "trialDays", "metadata")}
        return await _detail(request, plan_id, values=values, errors=inline_errors(exc), status=422)
    return call.done(f"/dashboard/plans/{plan_id}", "Plan saved.")


async def _set_active(request: Request, plan_id: str, active: bool) -> Response:
    call, _ = await dash_post(request, "plan.unarchive" if active else "plan.archive")
    body = parse(PlanUpdate, {"active": active})
    try:
        await call.write(lambda ctx: service.update_plan(ctx, plan_id, body))
    except DuroError as exc:
        return call.done(f"/dashboard/plans/{plan_id}", exc.message, "error")
    message = (
        "Plan unarchived: it can start new subscriptions again."
        if active
        else ("Plan archived: existing subscriptions keep renewing; it starts nothing new.")
    )
    return call.done(f"/dashboard/plans/{plan_id}", message)


@router.post("/plans/{plan_id}/archive")
async def archive_plan(request: Request, plan_id: str) -> Response:
    return await _set_active(request, plan_id, False)


@router.post("/plans/{plan_id}/unarchive")
async def unarchive_plan(request: Request, plan_id: str) -> Response:
    return await _set_active(request, plan_id, True)
