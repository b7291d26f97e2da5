"""Writing and reading events. `emit` runs inside the caller's transaction: an event exists iff its change
committed (transactional outbox).

`ctx.clock` is the request's wall clock: event `createdAt` stays wall time even when test clocks (later) drive
the business timestamps inside `data` (05 §2)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from duro.context import RepositoryContext
from duro.db.repository import DbRow
from duro.events.repository import EventRepository
from duro.kit.errors import not_found
from duro.kit.ids import new_id
from duro.kit.jsonenc import format_ts
from duro.kit.pagination import PageRequest
from duro.models.webhooks import webhook_deliveries as wd


async def emit(ctx: RepositoryContext, type_: str, obj: dict[str, Any], **extra: Any) -> str:
    event_id = new_id("evt")
    await ctx.repo(EventRepository).insert_row(
        {"id": event_id, "type": type_, "data": {"object": obj, **extra}, "created_at": ctx.clock.now()}
    )
    return event_id


def event_json(row: DbRow, livemode: bool) -> dict[str, Any]:
    return {
        "object": "event",
        "id": row["id"],
        "type": row["type"],
        "createdAt": format_ts(row["created_at"]),
        "livemode": livemode,
        "dispatchedAt": format_ts(row["dispatched_at"]),
        "data": row["data"],
    }


def _retained_since(ctx: RepositoryContext) -> datetime:
    return ctx.clock.now() - timedelta(days=ctx.settings.event_retention_days)


async def list_events(
    ctx: RepositoryContext,
    page: PageRequest,
    type_: str | None,
    created_gte: datetime | None,
    created_lt: datetime | None,
) -> dict[str, Any]:
    since = _retained_since(ctx)
    floor = max(created_gte, since) if created_gte else since
    result = await ctx.repo(EventRepository).list_page(page, type_=type_, created_gte=floor, created_lt=created_lt)
    return result.map(lambda r: event_json(r, ctx.livemode)).as_json()


async def get_event(ctx: RepositoryContext, event_id: str) -> dict[str, Any]:
    """The event with `deliveries`: its delivery status per endpoint (a Duro addition beside 05 §9's fields, so a
    merchant can check from its own server whether an event reached each endpoint)."""
    row = await ctx.repo(EventRepository).get_row(event_id)
    if row is None or row.created_at < _retained_since(ctx):
        raise not_found("No such event")
    out = event_json(row, ctx.livemode)
    rows = await ctx.conn.execute(
        select(wd).where(wd.c.tenant_id == ctx.tenant_id, wd.c.event_id == event_id).order_by(wd.c.created_at, wd.c.id)
    )
    out["deliveries"] = [
        {
            "endpointId": d["endpoint_id"],
            "deliveryId": d["id"],
            "status": d["status"],
            "attemptCount": d["attempt_count"],
            "lastStatusCode": d["last_status_code"],
            "deliveredAt": format_ts(d["delivered_at"]),
        }
        for d in rows
    ]
    return out
