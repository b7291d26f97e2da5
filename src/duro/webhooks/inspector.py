"""Inspector data and replay (05 §6): deliveries with their attempts, replay now, resend an event to an endpoint,
and "replay failed since". Service functions for the dashboard and the CLI (never `/v1`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from duro.audit.service import record
from duro.context import Actor, RepositoryContext, RequestMeta
from duro.db.engine import Mode
from duro.db.repository import DbRow, storable
from duro.kit.errors import DuroError, bad_request, not_found
from duro.kit.ids import new_id
from duro.kit.jsonenc import format_ts
from duro.kit.pagination import PageRequest, page_from_rows
from duro.models.events import events as e
from duro.models.webhooks import webhook_attempts as wa
from duro.models.webhooks import webhook_deliveries as wd
from duro.models.webhooks import webhook_endpoints as we
from duro.runtime import Runtime
from duro.webhooks.delivery import attempt_json
from duro.webhooks.runner import deliver_one

REPLAYS_PER_MINUTE: Final = 10
REPLAY_FAILED_LIMIT: Final = 1000


def delivery_json(row: DbRow, attempts: Sequence[DbRow] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "object": "webhook_delivery",
        "id": row["id"],
        "eventId": row["event_id"],
        "endpointId": row["endpoint_id"],
        "eventType": row["event_type"],
        "status": row["status"],
        "attemptCount": row["attempt_count"],
        "nextAttemptAt": format_ts(row["next_attempt_at"]),
        "lastAttemptAt": format_ts(row["last_attempt_at"]),
        "lastStatusCode": row["last_status_code"],
        "lastError": row["last_error"],
        "deliveredAt": format_ts(row["delivered_at"]),
        "createdAt": format_ts(row["created_at"]),
    }
    if attempts is not None:
        out["attempts"] = [attempt_json(a) for a in attempts]
    return out


async def _attempts_of(ctx: RepositoryContext, delivery_ids: list[str]) -> dict[str, list[DbRow]]:
    """Attempts of many deliveries in one statement, oldest first."""
    by: dict[str, list[DbRow]] = {d: [] for d in delivery_ids}
    if delivery_ids:
        rows = await ctx.conn.execute(
            select(wa)
            .where(wa.c.tenant_id == ctx.tenant_id, wa.c.delivery_id.in_(delivery_ids))
            .order_by(wa.c.delivery_id, wa.c.attempt_number)
        )
        for r in rows:
            by[r["delivery_id"]].append(r)
    return by


async def list_deliveries(
    ctx: RepositoryContext,
    *,
    endpoint_id: str | None = None,
    event_id: str | None = None,
    status: str | None = None,
    event_type: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> list[dict[str, Any]]:
    """Newest first, each with its attempts (two statements whatever the page size). `cursor` is the id of the
    last delivery already shown (01 §7): the list continues after it. It must match the same filters, as a cursor
    of every other list does (400 `invalid_cursor` otherwise).

    Index: with an endpoint, `(tenant_id, endpoint_id, created_at, id)` serves the order and the keyset condition
    (status, event type and since are checked on its rows); without one, the list index `(tenant_id, created_at,
    id)`; by event, the unique `(tenant_id, event_id, endpoint_id)`."""
    where = [wd.c.tenant_id == ctx.tenant_id]
    for column, value in (
        (wd.c.endpoint_id, endpoint_id),
        (wd.c.event_id, event_id),
        (wd.c.status, status),
        (wd.c.event_type, event_type),
    ):
        if value is not None:
            where.append(column == value)
    if since is not None:
        where.append(wd.c.created_at >= since)
    if cursor is not None:
        anchor = None
        if storable(cursor):
            anchor = (await ctx.conn.execute(select(wd.c.created_at, wd.c.id).where(*where, wd.c.id == cursor))).first()
        if anchor is None:
            raise bad_request("invalid_cursor", "cursor is not an item of this list")
        where.append(tuple_(wd.c.created_at, wd.c.id) < tuple_(anchor.created_at, anchor.id))
    stmt = select(wd).where(*where).order_by(wd.c.created_at.desc(), wd.c.id.desc()).limit(limit)
    rows = list((await ctx.conn.execute(stmt)).all())
    attempts = await _attempts_of(ctx, [r["id"] for r in rows])
    return [delivery_json(r, attempts[r["id"]]) for r in rows]


async def page_deliveries(
    ctx: RepositoryContext,
    page: PageRequest,
    *,
    endpoint_id: str | None = None,
    status: str | None = None,
    event_type: str | None = None,
    since: datetime | None = None,
) -> dict[str, Any]:
    """`list_deliveries` as a keyset page: `{"items", "nextCursor", "hasMore"}` like every list."""
    rows = await list_deliveries(
        ctx,
        endpoint_id=endpoint_id,
        status=status,
        event_type=event_type,
        since=since,
        limit=page.limit + 1,
        cursor=page.cursor,
    )
    return page_from_rows(rows, page.limit, lambda d: str(d["id"])).as_json()


async def get_delivery(ctx: RepositoryContext, delivery_id: str) -> dict[str, Any]:
    row = (await ctx.conn.execute(select(wd).where(wd.c.tenant_id == ctx.tenant_id, wd.c.id == delivery_id))).first()
    if row is None:
        raise not_found("No such webhook delivery")
    return delivery_json(row, (await _attempts_of(ctx, [delivery_id]))[delivery_id])


NO_REQUEST: Final = RequestMeta()


def _ctx(runtime: Runtime, conn: Any, tenant_id: str, mode: Mode, actor: Actor, meta: RequestMeta) -> RepositoryContext:
    return RepositoryContext(
        conn,
        tenant_id,
        mode,
        runtime.clock,
        runtime.settings,
        actor,
        request_id=meta.request_id,
        ip=meta.ip,
        user_agent=meta.user_agent,
    )


async def replay(
    runtime: Runtime,
    tenant_id: str,
    mode: Mode,
    delivery_id: str,
    actor: Actor,
    meta: RequestMeta = NO_REQUEST,
) -> dict[str, Any]:
    """A new attempt now (`trigger: replay`, freshly signed); at most 10 per minute per endpoint (429
    `replay_rate_limited`). Returns the attempt; the delivery's automatic schedule is left as it was."""
    now = runtime.clock.now()
    async with runtime.db.transaction(mode) as conn:
        ctx = _ctx(runtime, conn, tenant_id, mode, actor, meta)
        row = (await conn.execute(select(wd).where(wd.c.tenant_id == tenant_id, wd.c.id == delivery_id))).first()
        if row is None:
            raise not_found("No such webhook delivery")
        # Serialise replays of one endpoint so the per-minute count cannot be raced past.
        await conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"replay:{row['endpoint_id']}"))))
        recent = (
            await conn.execute(
                select(func.count()).where(
                    wa.c.tenant_id == tenant_id,
                    wa.c.endpoint_id == row["endpoint_id"],
                    wa.c.trigger == "replay",
                    wa.c.started_at > now - timedelta(minutes=1),
                )
            )
        ).scalar_one()
        if recent >= REPLAYS_PER_MINUTE:
            raise DuroError(429, f"At most {REPLAYS_PER_MINUTE} replays per minute per endpoint", "replay_rate_limited")
        await record(ctx, "webhook_delivery.replayed", target_type="webhook_delivery", target_id=delivery_id)
    attempt = await deliver_one(runtime, mode, tenant_id, delivery_id, "replay")
    if attempt is None:
        raise DuroError(409, "The endpoint is disabled or deleted, or the event was purged", "not_deliverable")
    return attempt_json(attempt)


async def resend(
    runtime: Runtime,
    tenant_id: str,
    mode: Mode,
    event_id: str,
    endpoint_id: str,
    actor: Actor,
    meta: RequestMeta = NO_REQUEST,
) -> dict[str, Any]:
    """Resend an event to an endpoint (05 §6): its delivery is created if it has none (as `failed`, so the loop
    leaves it alone and a failed replay leaves it failed), then replayed."""
    now = runtime.clock.now()
    async with runtime.db.transaction(mode) as conn:
        event = (await conn.execute(select(e).where(e.c.tenant_id == tenant_id, e.c.id == event_id))).first()
        if event is None:
            raise not_found("No such event")
        endpoint = (
            await conn.execute(select(we.c.id).where(we.c.tenant_id == tenant_id, we.c.id == endpoint_id))
        ).first()
        if endpoint is None:
            raise not_found("No such webhook endpoint")
        await conn.execute(
            pg_insert(wd)
            .values(
                id=new_id("whd"),
                tenant_id=tenant_id,
                event_id=event_id,
                endpoint_id=endpoint_id,
                event_type=event["type"],
                status="failed",
                last_error="not_sent",
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "event_id", "endpoint_id"])
        )
        delivery_id = (
            await conn.execute(
                select(wd.c.id).where(
                    wd.c.tenant_id == tenant_id, wd.c.event_id == event_id, wd.c.endpoint_id == endpoint_id
                )
            )
        ).scalar_one()
    return await replay(runtime, tenant_id, mode, delivery_id, actor, meta)


async def replay_failed_since(ctx: RepositoryContext, endpoint_id: str, since: datetime) -> int:
    """Queue one replay of each of the endpoint's `failed` deliveries created since `since` (at most 1,000), run
    by the webhooks loop. Returns how many were queued."""
    now = ctx.clock.now()
    chosen = (
        select(wd.c.id)
        .where(
            wd.c.tenant_id == ctx.tenant_id,
            wd.c.endpoint_id == endpoint_id,
            wd.c.status == "failed",
            wd.c.created_at >= since,
            wd.c.replay_queued.is_(False),
        )
        .order_by(wd.c.created_at)
        .limit(REPLAY_FAILED_LIMIT)
        .scalar_subquery()
    )
    rows = await ctx.conn.execute(
        update(wd)
        .where(wd.c.tenant_id == ctx.tenant_id, wd.c.id.in_(chosen))
        .values(replay_queued=True, next_attempt_at=now, updated_at=now)
        .returning(wd.c.id)
    )
    queued = len(list(rows))
    await record(
        ctx,
        "webhook_endpoint.replay_failed",
        target_type="webhook_endpoint",
        target_id=endpoint_id,
        after={"since": format_ts(since), "queued": queued},
    )
    return queued
