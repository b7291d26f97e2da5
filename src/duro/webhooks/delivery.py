"""One delivery attempt (05 §3, §5, §7), in the house pattern for network I/O (01 §12): the claim commits a 60 s
lease, the signed POST goes through the SSRF guard with no transaction open, and the attempt and its outcome are
recorded in a new transaction that locks the endpoint, then the delivery.

Outcomes: 2xx → `delivered` (the endpoint's `failingSince` cleared); 410 → `failed` and the endpoint disabled at
once (`gone`); anything else (3xx included: redirects are never followed) or a network/TLS/timeout/guard error →
the next retry after 1 min, 5 min, 30 min, 2 h, 6 h, 24 h, measured from the end of the failed attempt, then
`failed`. A `Retry-After` on 429/503 replaces the delay when longer, capped at 24 h. An automatic failure 5 days
after the endpoint started failing disables it (`failing`). Replays never move the automatic schedule.
"""

from __future__ import annotations

import email.utils
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from sqlalchemy import and_, case, func, or_, select, update

from duro.audit.service import record
from duro.context import RepositoryContext
from duro.db.repository import DbRow
from duro.kit.egress import EgressPolicy, PostResult, guarded_post
from duro.kit.ids import new_id
from duro.kit.jsonenc import format_ts
from duro.models.core import members, tenants
from duro.models.events import events as e
from duro.models.webhooks import webhook_attempts as wa
from duro.models.webhooks import webhook_deliveries as wd
from duro.models.webhooks import webhook_endpoints as we
from duro.notifications.outbox import notify_platform
from duro.webhooks.endpoints import active_secrets
from duro.webhooks.signing import delivery_headers, event_body

log = logging.getLogger(__name__)

Trigger = Literal["automatic", "replay"]
RETRY_DELAYS: Final = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=24),
)
MAX_AUTOMATIC_ATTEMPTS: Final = len(RETRY_DELAYS) + 1
MAX_RETRY_AFTER: Final = timedelta(hours=24)
DISABLE_AFTER: Final = timedelta(days=5)
LEASE: Final = timedelta(seconds=60)
STORED_BODY_BYTES: Final = 4096
UNSCOPED: Final = "/* unscoped: webhook delivery scanner */"


@dataclass(frozen=True, slots=True)
class Prepared:
    """What the POST needs, read before it (no transaction held across it)."""

    delivery_id: str
    endpoint_id: str
    url: str
    body: bytes
    event_id: str
    event_type: str
    secrets: list[str]


def claim_due(now: datetime, batch: int) -> Any:
    """Due deliveries of all tenants of a mode, leased for 60 s: `pending` ones at their time, and failed ones
    queued for a replay by "replay failed since" (05 §6)."""
    due = (
        select(wd.c.id)
        .where(
            or_(wd.c.status == "pending", wd.c.replay_queued),
            wd.c.next_attempt_at <= now,
            or_(wd.c.lease_until.is_(None), wd.c.lease_until < now),
        )
        .order_by(wd.c.next_attempt_at)
        .limit(batch)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    return (
        update(wd)
        .where(wd.c.id.in_(due))
        .values(lease_until=now + LEASE)
        .returning(wd.c.id, wd.c.tenant_id, wd.c.endpoint_id, wd.c.replay_queued)
        .prefix_with(UNSCOPED)
    )


async def prepare(ctx: RepositoryContext, delivery_id: str, now: datetime) -> Prepared | str:
    """The signed request of a delivery, or why it cannot be sent (`endpoint_disabled`, `gone`)."""
    row = (
        await ctx.conn.execute(
            select(wd, we.c.url, we.c.status.label("endpoint_status"), e.c.type, e.c.data, e.c.created_at.label("ec"))
            .select_from(
                wd.outerjoin(we, and_(we.c.tenant_id == wd.c.tenant_id, we.c.id == wd.c.endpoint_id)).outerjoin(
                    e, and_(e.c.tenant_id == wd.c.tenant_id, e.c.id == wd.c.event_id)
                )
            )
            .where(wd.c.tenant_id == ctx.tenant_id, wd.c.id == delivery_id)
        )
    ).first()
    if row is None or row["data"] is None:
        return "gone"  # the event was purged by retention
    if row["endpoint_status"] != "enabled":
        return "endpoint_disabled"
    endpoint = (
        await ctx.conn.execute(select(we).where(we.c.tenant_id == ctx.tenant_id, we.c.id == row["endpoint_id"]))
    ).one()
    body = event_body(
        {
            "id": row["event_id"],
            "type": row["type"],
            "createdAt": format_ts(row["ec"]),
            "livemode": ctx.mode == "live",
            "tenantId": ctx.tenant_id,
            "data": row["data"],
        }
    )
    secrets = active_secrets(ctx.settings.root_secret, endpoint, now)
    return Prepared(delivery_id, row["endpoint_id"], row["url"], body, row["event_id"], row["type"], secrets)


async def send(ctx: RepositoryContext, p: Prepared, now: datetime) -> tuple[dict[str, str], PostResult]:
    """Sign at the attempt's time and POST through the guard (never raises for network problems)."""
    headers = delivery_headers(
        body=p.body,
        event_id=p.event_id,
        event_type=p.event_type,
        delivery_id=p.delivery_id,
        t=int(now.timestamp()),
        secrets=p.secrets,
    )
    result = await guarded_post(p.url, p.body, headers, EgressPolicy.for_mode(ctx.settings, ctx.mode))
    return headers, result


def _retry_after(result: PostResult, now: datetime) -> timedelta | None:
    if result.status not in (429, 503):
        return None
    value = next((v for k, v in result.headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return min(timedelta(seconds=int(value)), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return min(max(when - now, timedelta(0)), MAX_RETRY_AFTER)


def next_delay(automatic_attempts: int, result: PostResult, now: datetime) -> timedelta | None:
    """The wait before the next automatic attempt after `automatic_attempts` failed ones, or None when they are
    all spent (05 §5)."""
    if automatic_attempts >= MAX_AUTOMATIC_ATTEMPTS:
        return None
    delay = RETRY_DELAYS[automatic_attempts - 1]
    asked = _retry_after(result, now)
    return max(delay, asked) if asked is not None else delay


def attempt_json(row: DbRow) -> dict[str, Any]:
    return {
        "object": "webhook_attempt",
        "id": row["id"],
        "deliveryId": row["delivery_id"],
        "attemptNumber": row["attempt_number"],
        "trigger": row["trigger"],
        "startedAt": format_ts(row["started_at"]),
        "durationMs": row["duration_ms"],
        "requestHeaders": row["request_headers"],
        "responseStatus": row["response_status"],
        "responseBody": row["response_body"],
        "error": row["error"],
        "errorMessage": row["error_message"],
    }


async def record_attempt(
    ctx: RepositoryContext,
    p: Prepared,
    headers: dict[str, str],
    result: PostResult,
    trigger: Trigger,
    started: datetime,
) -> DbRow:
    """The attempt row and its consequences, in one transaction: endpoint then delivery locked (the auto-disable
    re-check needs the endpoint row; every writer takes them in this order)."""
    ended = started + timedelta(milliseconds=result.duration_ms)
    endpoint = (
        await ctx.conn.execute(
            select(we).where(we.c.tenant_id == ctx.tenant_id, we.c.id == p.endpoint_id).with_for_update()
        )
    ).first()
    delivery = (
        await ctx.conn.execute(
            select(wd).where(wd.c.tenant_id == ctx.tenant_id, wd.c.id == p.delivery_id).with_for_update()
        )
    ).one()
    number = delivery["attempt_count"] + 1
    attempt = (
        await ctx.conn.execute(
            wa.insert()
            .values(
                id=new_id("wha"),
                tenant_id=ctx.tenant_id,
                delivery_id=p.delivery_id,
                endpoint_id=p.endpoint_id,
                attempt_number=number,
                trigger=trigger,
                started_at=started,
                duration_ms=result.duration_ms,
                request_headers=headers,
                response_status=result.status,
                response_body=result.body[:STORED_BODY_BYTES].decode("utf-8", errors="replace")
                if result.status is not None
                else None,
                error=result.error,
                error_message=result.error_message,
                created_at=ended,
            )
            .returning(wa)
        )
    ).one()
    values: dict[str, Any] = {
        "attempt_count": number,
        "last_attempt_at": started,
        "last_status_code": result.status,
        "last_error": result.error or (None if result.status is None else f"http_{result.status}"),
        "lease_until": None,
        "replay_queued": False,
        "updated_at": ended,
    }
    ok = result.status is not None and 200 <= result.status < 300
    if ok:
        values.update(status="delivered", delivered_at=ended, next_attempt_at=None, last_error=None)
        if endpoint is not None and endpoint["failing_since"] is not None:
            await _set_endpoint(ctx, p.endpoint_id, {"failing_since": None})
    elif result.status == 410:
        values.update(status="failed", next_attempt_at=None)
        if endpoint is not None and endpoint["status"] == "enabled":
            await disable_endpoint(ctx, endpoint, "gone", ended, exclude=p.delivery_id)
    else:
        if trigger == "automatic":
            automatic = await _automatic_attempts(ctx, p.delivery_id)
            delay = next_delay(automatic, result, ended)
            if delay is None:
                values.update(status="failed", next_attempt_at=None)
            else:
                values["next_attempt_at"] = ended + delay
        if endpoint is not None:
            failing_since = endpoint["failing_since"] or started
            if endpoint["failing_since"] is None:
                await _set_endpoint(ctx, p.endpoint_id, {"failing_since": started})
            if trigger == "automatic" and endpoint["status"] == "enabled" and ended - failing_since >= DISABLE_AFTER:
                await disable_endpoint(ctx, endpoint, "failing", ended, exclude=p.delivery_id)
                values.update(status="failed", next_attempt_at=None, last_error="endpoint_disabled")
    await ctx.conn.execute(update(wd).where(wd.c.tenant_id == ctx.tenant_id, wd.c.id == p.delivery_id).values(**values))
    return attempt


async def fail_unsendable(ctx: RepositoryContext, delivery_id: str, reason: str, now: datetime) -> None:
    """A delivery whose endpoint was disabled or deleted (or whose event was purged) fails without a request; a
    queued replay of a failed one is dropped."""
    pending = wd.c.status == "pending"
    await ctx.conn.execute(
        update(wd)
        .where(wd.c.tenant_id == ctx.tenant_id, wd.c.id == delivery_id)
        .values(
            status=case((pending, "failed"), else_=wd.c.status),
            next_attempt_at=case((pending, None), else_=wd.c.next_attempt_at),
            last_error=case((pending, reason), else_=wd.c.last_error),
            replay_queued=False,
            lease_until=None,
            updated_at=now,
        )
    )


async def _automatic_attempts(ctx: RepositoryContext, delivery_id: str) -> int:
    stmt = select(func.count()).where(
        wa.c.tenant_id == ctx.tenant_id, wa.c.delivery_id == delivery_id, wa.c.trigger == "automatic"
    )
    return int((await ctx.conn.execute(stmt)).scalar_one())


async def _set_endpoint(ctx: RepositoryContext, endpoint_id: str, values: dict[str, Any]) -> None:
    await ctx.conn.execute(update(we).where(we.c.tenant_id == ctx.tenant_id, we.c.id == endpoint_id).values(**values))


async def disable_endpoint(
    ctx: RepositoryContext, endpoint: DbRow, reason: str, at: datetime, *, exclude: str | None = None
) -> None:
    """Auto-disable (05 §7), once: the caller holds the endpoint's lock and saw it enabled. Pending deliveries fail
    with `endpoint_disabled`; the owner and admins get `webhook_endpoint_disabled`; audited as `system`."""
    await _set_endpoint(ctx, endpoint["id"], {"status": "disabled", "disabled_reason": reason, "updated_at": at})
    pending = update(wd).where(
        wd.c.tenant_id == ctx.tenant_id, wd.c.endpoint_id == endpoint["id"], wd.c.status == "pending"
    )
    if exclude is not None:
        pending = pending.where(wd.c.id != exclude)
    await ctx.conn.execute(
        pending.values(status="failed", next_attempt_at=None, last_error="endpoint_disabled", updated_at=at)
    )
    await record(
        ctx,
        "webhook_endpoint.disabled",
        target_type="webhook_endpoint",
        target_id=endpoint["id"],
        before={"status": "enabled"},
        after={"status": "disabled", "disabledReason": reason},
    )
    tenant = (await ctx.conn.execute(select(tenants.c.name).where(tenants.c.id == ctx.tenant_id))).one()
    people = await ctx.conn.execute(
        select(members.c.email).where(members.c.tenant_id == ctx.tenant_id, members.c.role.in_(("owner", "admin")))
    )
    why = "it answered 410 Gone" if reason == "gone" else "its deliveries have failed for 5 days"
    for person in people:
        await notify_platform(
            ctx.conn,
            "webhook_endpoint_disabled",
            recipient=person["email"],
            channel="email",
            values={"tenant_name": tenant["name"], "endpoint_url": endpoint["url"], "reason": why},
            dedup_key=f"endpoint_disabled_{endpoint['id']}_{format_ts(at)}",
            tenant_id=ctx.tenant_id,
            at=at,
        )
