"""Plan rules: price and interval are immutable; archived plans keep renewing but start nothing new."""

from __future__ import annotations

from typing import Any

from duro.context import RepositoryContext
from duro.db.repository import DbRow
from duro.kit.errors import not_found
from duro.kit.ids import new_id
from duro.kit.jsonenc import format_ts
from duro.kit.pagination import PageRequest
from duro.plans.repository import PlanRepository
from duro.plans.schemas import PlanCreate, PlanUpdate
from duro.tenants.repository import TenantStore


def plan_json(row: DbRow) -> dict[str, Any]:
    return {
        "object": "plan",
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "amount": row["amount"],
        "currency": row["currency"],
        "interval": row["interval"],
        "intervalCount": row["interval_count"],
        "trialDays": row["trial_days"],
        "maxCycles": row["max_cycles"],
        "active": row["active"],
        "metadata": row["metadata"],
        "createdAt": format_ts(row["created_at"]),
        "updatedAt": format_ts(row["updated_at"]),
    }


async def create_plan(ctx: RepositoryContext, body: PlanCreate) -> dict[str, Any]:
    currency = body.currency
    if currency is None:
        tenant = await TenantStore(ctx.conn).get(ctx.tenant_id)
        currency = tenant.default_currency if tenant is not None else "NGN"
    now = ctx.clock.now()
    row = await ctx.repo(PlanRepository).insert_row(
        {
            "id": new_id("plan"),
            "name": body.name,
            "description": body.description,
            "amount": body.amount,
            "currency": currency,
            "interval": body.interval,
            "interval_count": body.interval_count,
            "trial_days": body.trial_days,
            "max_cycles": body.max_cycles,
            "active": True,
            "metadata": body.metadata,
            "created_at": now,
            "updated_at": now,
        }
    )
    return plan_json(row)


async def get_plan(ctx: RepositoryContext, plan_id: str) -> dict[str, Any]:
    row = await ctx.repo(PlanRepository).get_row(plan_id)
    if row is None:
        raise not_found("No such plan")
    return plan_json(row)


async def list_plans(ctx: RepositoryContext, page: PageRequest, active: bool | None) -> dict[str, Any]:
    result = await ctx.repo(PlanRepository).list_page(page, active=active)
    return result.map(plan_json).as_json()


async def update_plan(ctx: RepositoryContext, plan_id: str, body: PlanUpdate) -> dict[str, Any]:
    repo = ctx.repo(PlanRepository)
    row = await repo.get_row(plan_id, for_update=True)
    if row is None:
        raise not_found("No such plan")
    # Only real changes are written, so a no-op PATCH leaves `updatedAt` alone (as customers do).
    changes = {k: v for k, v in body.provided().items() if getattr(row, k) != v}
    if changes:
        updated = await repo.update_row(plan_id, {**changes, "updated_at": ctx.clock.now()})
        assert updated is not None  # locked above
        row = updated
    return plan_json(row)
