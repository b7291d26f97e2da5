"""Reading dunning schedules (04 §7): list with filters, retrieve with decisions; names for the dashboard ledger."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from duro.context import RepositoryContext
from duro.kit.errors import not_found
from duro.kit.pagination import PageRequest
from duro.recovery.repository import ScheduleRepository
from duro.recovery.serializers import schedule_json


async def get_schedule(ctx: RepositoryContext, schedule_id: str) -> dict[str, Any]:
    row = await ctx.repo(ScheduleRepository).get_row(schedule_id)
    if row is None:
        raise not_found("No such dunning schedule")
    return schedule_json(row)


async def list_schedules(ctx: RepositoryContext, page: PageRequest, **filters: str | None) -> dict[str, Any]:
    result = await ctx.repo(ScheduleRepository).list_page(page, **filters)
    return result.map(schedule_json).as_json()


async def ledger_labels(ctx: RepositoryContext, subscription_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Names and state around each schedule's subscription, for the dashboard's recovery ledger (07 §7):
    `{subscriptionId: {customerName, customerEmail, customerPhone, planName, subscriptionStatus, testClockId,
    clockTime}}`; `clockTime` is the attached test clock's frozen time (None without a clock)."""
    rows = await ctx.repo(ScheduleRepository).ledger_labels(sorted(set(subscription_ids)))
    return {
        r["subscription_id"]: {
            "customerName": r["customer_name"],
            "customerEmail": r["customer_email"],
            "customerPhone": r["customer_phone"],
            "planName": r["plan_name"],
            "subscriptionStatus": r["subscription_status"],
            "testClockId": r["test_clock_id"],
            "clockTime": r["clock_time"],
        }
        for r in rows
    }
