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

import orjson
from sqlalchemy import and_, any_, bindparam, case, func, or_, select, update

from duro.audit.service import record
from duro.context import RepositoryContext
from duro.db.bulk import unnest_params, unnest_rows, unnest_source
from duro.db.executor import Connection
from duro.db.repository import DbRow
from duro.kit.egress import EgressPolicy, PostResult, guarded_post
from duro.kit.ids import new_id
from duro.kit.jsonenc import format_ts
from duro.kit.secretbox import open_sealed
from duro.models.core import members, tenants
from duro.models.events import events as e
from duro.models.webhooks import webhook_attempts as wa
from duro.models.webhooks import webhook_deliveries as wd
from duro.models.webhooks import webhook_endpoints as we
from duro.notifications.outbox import notify_platform
from duro.webhooks.endpoints import SECRET_LABEL, active_secrets
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


_PREPARE_MANY: Final = (
    select(
        wd.c.id,
        wd.c.tenant_id,
        wd.c.endpoint_id,
        wd.c.event_id,
        we.c.url,
        we.c.status.label("endpoint_status"),
        we.c.secret_ciphertext,
        we.c.previous_secret_ciphertext,
        we.c.previous_secret_expires_at,
        e.c.type,
        e.c.data,
        e.c.created_at.label("ec"),
    )
    .select_from(
        wd.outerjoin(we, and_(we.c.tenant_id == wd.c.tenant_id, we.c.id == wd.c.endpoint_id)).outerjoin(
            e, and_(e.c.tenant_id == wd.c.tenant_id, e.c.id == wd.c.event_id)
        )
    )
    .where(wd.c.tenant_id == any_(bindparam("b_tenants")), wd.c.id == any_(bindparam("b_ids")))
    .prefix_with(UNSCOPED)
)

#: Decrypted active secrets per (endpoint, current ciphertext, previous ciphertext still active): the caller keeps
#: one for a tick, so a batch decrypts each endpoint's secrets once instead of once per delivery.
SecretCache = dict[tuple[str, str, str | None], list[str]]


def _cached_secrets(root: bytes, row: DbRow, now: datetime, cache: SecretCache) -> list[str]:
    """`active_secrets` of the endpoint columns of a `_PREPARE_MANY` row, memoised in `cache`. The key holds both
    ciphertexts (a rotation changes them) and whether the previous one is still active at `now`."""
    expires = row["previous_secret_expires_at"]
    previous = row["previous_secret_ciphertext"] if expires is not None and expires > now else None
    key = (row["endpoint_id"], row["secret_ciphertext"], previous)
    found = cache.get(key)
    if found is None:
        found = [open_sealed(root, SECRET_LABEL, row["secret_ciphertext"], row["endpoint_id"])]
        if previous is not None:
            found.append(open_sealed(root, SECRET_LABEL, previous, row["endpoint_id"]))
        cache[key] = found
    return found


async def prepare_many(
    conn: Connection, mode: str, root: bytes, claimed: list[DbRow], now: datetime, cache: SecretCache
) -> dict[str, Prepared | str]:
    """`prepare` for a claimed batch with one read (deliveries of any tenant of the mode, each joined to its
    endpoint and event): delivery id → the signed request's parts, or why it cannot be sent. Each event's body is
    built once for all of its deliveries in the batch (the body does not depend on the endpoint)."""
    if not claimed:
        return {}
    params = {"b_tenants": sorted({r["tenant_id"] for r in claimed}), "b_ids": [r["id"] for r in claimed]}
    bodies: dict[tuple[str, str], bytes] = {}
    out: dict[str, Prepared | str] = {r["id"]: "gone" for r in claimed}  # no row: the event was purged
    for row in (await conn.execute(_PREPARE_MANY, params)).all():
        if row["data"] is None:
            continue  # "gone": the event was purged by retention
        if row["endpoint_status"] != "enabled":
            out[row["id"]] = "endpoint_disabled"
            continue
        body_key = (row["tenant_id"], row["event_id"])
        body = bodies.get(body_key)
        if body is None:
            body = bodies[body_key] = event_body(
                {
                    "id": row["event_id"],
                    "type": row["type"],
                    "createdAt": format_ts(row["ec"]),
                    "livemode": mode == "live",
                    "tenantId": row["tenant_id"],
                    "data": row["data"],
                }
            )
        secrets = _cached_secrets(root, row, now, cache)
        out[row["id"]] = Prepared(
            row["id"], row["endpoint_id"], row["url"], body, row["event_id"], row["type"], secrets
        )
    return out


async def send(ctx: RepositoryContext, p: Prepared, now: datetime) -> tuple[dict[str, str], PostResult]:
    """Sign at the attempt's time and POST through the guard (never raises for network problems)."""
    return await send_with_policy(p, now, EgressPolicy.for_mode(ctx.settings, ctx.mode))


async def send_with_policy(p: Prepared, now: datetime, policy: EgressPolicy) -> tuple[dict[str, str], PostResult]:
    headers = delivery_headers(
        body=p.body,
        event_id=p.event_id,
        event_type=p.event_type,
        delivery_id=p.delivery_id,
        t=int(now.timestamp()),
        secrets=p.secrets,
    )
    result = await guarded_post(p.url, p.body, headers, policy)
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
        if trigger == "automatic" and delivery["status"] != "pending":
            # No longer pending while this attempt was in flight (its endpoint was disabled, by an attempt recorded
            # just before this one): it keeps its status and `lastError`, and gets no next attempt.
            values.update(next_attempt_at=None, last_error=delivery["last_error"])
        elif trigger == "automatic":
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


@dataclass(frozen=True, slots=True)
class Sent:
    """One finished attempt waiting to be recorded."""

    tenant_id: str
    prepared: Prepared
    headers: dict[str, str]
    result: PostResult
    trigger: Trigger
    started: datetime

    @property
    def ok(self) -> bool:
        return self.result.status is not None and 200 <= self.result.status < 300


_LOCK_ENDPOINTS: Final = (
    select(we.c.id, we.c.failing_since)
    .where(we.c.tenant_id == any_(bindparam("b_tenants")), we.c.id == any_(bindparam("b_ids")))
    .order_by(we.c.id)
    .with_for_update()
    .prefix_with(UNSCOPED)
)
_LOCK_DELIVERIES: Final = (
    select(wd.c.id, wd.c.attempt_count)
    .where(wd.c.tenant_id == any_(bindparam("b_tenants")), wd.c.id == any_(bindparam("b_ids")))
    .order_by(wd.c.id)
    .with_for_update()
    .prefix_with(UNSCOPED)
)
_ATTEMPT_VARYING: Final = [
    "id",
    "tenant_id",
    "delivery_id",
    "endpoint_id",
    "attempt_number",
    "trigger",
    "started_at",
    "duration_ms",
    "request_headers",
    "response_status",
    "response_body",
    "created_at",
]
_INSERT_ATTEMPTS: Final = (
    wa.insert().from_select(_ATTEMPT_VARYING, unnest_rows(wa, _ATTEMPT_VARYING)).prefix_with(UNSCOPED)
)
_DELIVERED_SOURCE: Final = unnest_source(
    [
        ("id", wd.c.id.type),
        ("tenant_id", wd.c.tenant_id.type),
        ("attempt_count", wd.c.attempt_count.type),
        ("started", wd.c.last_attempt_at.type),
        ("status_code", wd.c.last_status_code.type),
        ("ended", wd.c.delivered_at.type),
    ]
)
_MARK_DELIVERED: Final = (
    update(wd)
    .where(wd.c.tenant_id == _DELIVERED_SOURCE.c.tenant_id, wd.c.id == _DELIVERED_SOURCE.c.id)
    .values(
        status="delivered",
        attempt_count=_DELIVERED_SOURCE.c.attempt_count,
        last_attempt_at=_DELIVERED_SOURCE.c.started,
        last_status_code=_DELIVERED_SOURCE.c.status_code,
        last_error=None,
        lease_until=None,
        replay_queued=False,
        delivered_at=_DELIVERED_SOURCE.c.ended,
        next_attempt_at=None,
        updated_at=_DELIVERED_SOURCE.c.ended,
    )
    .prefix_with(UNSCOPED)
)
_CLEAR_FAILING: Final = (
    update(we)
    .where(we.c.tenant_id == any_(bindparam("b_tenants")), we.c.id == any_(bindparam("b_ids")))
    .values(failing_since=None)
    .prefix_with(UNSCOPED)
)


async def lock_for_recording(conn: Connection, sent: list[Sent]) -> tuple[dict[str, DbRow], dict[str, int]]:
    """Lock the endpoints, then the deliveries, of many attempts (each set in id order, the order every batch
    recorder takes, after the endpoint → delivery order of `record_attempt`): returns the endpoints by id and the
    deliveries' attempt counts by id."""
    tenants = sorted({s.tenant_id for s in sent})
    endpoint_ids = sorted({s.prepared.endpoint_id for s in sent})
    delivery_ids = sorted({s.prepared.delivery_id for s in sent})
    endpoints = await conn.execute(_LOCK_ENDPOINTS, {"b_tenants": tenants, "b_ids": endpoint_ids})
    deliveries = await conn.execute(_LOCK_DELIVERIES, {"b_tenants": tenants, "b_ids": delivery_ids})
    return {r["id"]: r for r in endpoints.all()}, {r["id"]: r["attempt_count"] for r in deliveries.all()}


async def record_delivered(
    conn: Connection, sent: list[Sent], endpoints: dict[str, DbRow], counts: dict[str, int]
) -> None:
    """`record_attempt` for many 2xx attempts at once, in the caller's transaction after `lock_for_recording`:
    the attempt rows, the deliveries `delivered`, and `failingSince` cleared on their endpoints — the same rows and
    values as one `record_attempt` each. A delivery appears at most once in `sent` (one lease, one attempt)."""
    attempts = []
    delivered = []
    for s in sent:
        p, result = s.prepared, s.result
        number = counts[p.delivery_id] + 1
        ended = s.started + timedelta(milliseconds=result.duration_ms)
        attempts.append(
            (
                new_id("wha"),
                s.tenant_id,
                p.delivery_id,
                p.endpoint_id,
                number,
                s.trigger,
                s.started,
                result.duration_ms,
                _json_text(s.headers),
                result.status,
                result.body[:STORED_BODY_BYTES].decode("utf-8", errors="replace"),
                ended,
            )
        )
        delivered.append((p.delivery_id, s.tenant_id, number, s.started, result.status, ended))
    await conn.execute(_INSERT_ATTEMPTS, unnest_params(attempts, _ATTEMPT_VARYING))
    names = ["id", "tenant_id", "attempt_count", "started", "status_code", "ended"]
    await conn.execute(_MARK_DELIVERED, unnest_params(delivered, names))
    failing = sorted({s.prepared.endpoint_id for s in sent} & {k for k, v in endpoints.items() if v["failing_since"]})
    if failing:
        await conn.execute(_CLEAR_FAILING, {"b_tenants": sorted({s.tenant_id for s in sent}), "b_ids": failing})


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


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
        select(members.c.id, members.c.email).where(
            members.c.tenant_id == ctx.tenant_id, members.c.role.in_(("owner", "admin"))
        )
    )
    why = "it answered 410 Gone" if reason == "gone" else "its deliveries have failed for 5 days"
    for person in people:
        await notify_platform(
            ctx.conn,
            "webhook_endpoint_disabled",
            recipient=person["email"],
            channel="email",
            values={"tenant_name": tenant["name"], "endpoint_url": endpoint["url"], "reason": why},
            # One key per recipient: (dedup_key, channel) is unique, so a shared key would alert only the first.
            dedup_key=f"endpoint_disabled_{endpoint['id']}_{format_ts(at)}_{person['id']}",
            tenant_id=ctx.tenant_id,
            at=at,
        )
