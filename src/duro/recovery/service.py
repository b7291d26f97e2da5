"""Reading dunning schedules (04 §7): list with filters, retrieve with decisions."""

from __future__ import annotations

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
