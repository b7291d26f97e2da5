"""The notifications loop (06 §9, 01 §12): send due `pending` messages of both modes' outboxes and of
`core.notifications`.

Claim, send, record — three steps so no transaction is open during network I/O:
1. Claim (short transaction): `pending` rows due, and (at most every 30 s per worker) `sending` rows whose 60 s
   lease expired (their worker died mid-send), `FOR UPDATE SKIP LOCKED LIMIT DURO_WORKER_BATCH`; set `sending`,
   `lease_until = now + 60 s`, `attempts + 1`; commit. Two workers never claim the same row: the loser of a row
   lock skips it, and once the claim commits the row is no longer `pending`.
2. Send with the channel's provider, outside any transaction.
3. Record (own transaction), only if the row still holds our lease: `sent` (provider message id, `sent_at`) or
   `captured` (console provider); a transient failure goes back to `pending` after 1 min, 5 min, then 30 min, and
   fails after the fourth attempt; a permanent failure is `failed` at once.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, select, update

from duro.appearance.repository import published_select
from duro.appearance.service import published_from_row
from duro.db.engine import MODES, Database, Mode
from duro.db.executor import Connection
from duro.models.core import tenants
from duro.models.notifications import notifications, platform_notifications
from duro.notifications.outbox import PLATFORM_SENDER
from duro.notifications.providers import Delivery, Outgoing, Providers, SendFailed
from duro.notifications.rendering import sender_name
from duro.runtime import Runtime

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
# Delay before retry n (after failed attempt n); a failure of attempt len(BACKOFF) + 1 is final.
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30))
MAX_ATTEMPTS = len(BACKOFF) + 1
UNSCOPED = "/* unscoped: notifications loop */"

# Expired leases are rare (a worker died mid-send) and no index serves `status = 'sending'`, so that scan runs at
# most this often per worker and outbox rather than every tick.
RECLAIM_EVERY = timedelta(seconds=30)


@dataclass
class _WorkerState:
    providers: Providers
    last_reclaim: dict[str, datetime] = field(default_factory=dict)


# A worker keeps its providers between ticks (one per runtime: tests run several with different settings).
_state: weakref.WeakKeyDictionary[Runtime, _WorkerState] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class Outbox:
    """One outbox table and how to open a transaction on it."""

    table: Table
    mode: Mode | None  # None: core.notifications

    def transaction(self, db: Database) -> Any:
        return db.core_transaction() if self.mode is None else db.transaction(self.mode)


OUTBOXES = (*(Outbox(notifications, m) for m in MODES), Outbox(platform_notifications, None))


def _state_of(runtime: Runtime) -> _WorkerState:
    found = _state.get(runtime)
    if found is None:
        found = _state[runtime] = _WorkerState(Providers(runtime.settings))
    return found


def providers_for(runtime: Runtime) -> Providers:
    return _state_of(runtime).providers


def _reclaim_due(runtime: Runtime, box: Outbox, now: datetime) -> bool:
    last = _state_of(runtime).last_reclaim
    key = f"{box.table.schema}.{box.mode}"
    if key in last and now - last[key] < RECLAIM_EVERY:
        return False
    last[key] = now
    return True


async def _claim(conn: Connection, table: Table, now: datetime, limit: int, reclaim: bool) -> list[Any]:
    """Due `pending` rows (served by the partial index on `next_attempt_at WHERE status = 'pending'`), then, when
    `reclaim`, `sending` rows whose lease expired."""
    claimed: list[Any] = []
    wanted = [and_(table.c.status == "pending", table.c.next_attempt_at <= now)]
    if reclaim:
        wanted.append(and_(table.c.status == "sending", table.c.lease_until <= now))
    for due in wanted:
        if len(claimed) >= limit:
            break
        ids = (
            select(table.c.id)
            .where(due)
            .order_by(table.c.next_attempt_at)
            .limit(limit - len(claimed))
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        stmt = (
            update(table)
            .where(table.c.id.in_(ids))
            .values(status="sending", lease_until=now + LEASE, attempts=table.c.attempts + 1, updated_at=now)
            .returning(table)
            .prefix_with(UNSCOPED)
        )
        claimed.extend((await conn.execute(stmt)).all())
    return claimed


@dataclass(frozen=True, slots=True)
class Sender:
    """From display name and Reply-To of one tenant's mail."""

    name: str
    reply_to: str | None


async def _senders(conn: Connection, box: Outbox, rows: list[Any]) -> dict[str, Sender]:
    """The senders of the claimed rows' tenants, in ONE statement for the whole batch (tenants left-joined to their
    published appearance). Customer mail (a mode's outbox) is From `email.senderName` (else the display name, else
    the tenant name) with Reply-To `email.replyTo` (else the tenant's support email), 06 §9; platform mail about a
    tenant keeps the tenant's name and support email: Duro sends it, not the merchant's brand."""
    ids = sorted({r["tenant_id"] for r in rows if r["tenant_id"] is not None})
    if not ids:
        return {}
    stmt = published_select().add_columns(tenants.c.support_email).where(tenants.c.id.in_(ids))
    out: dict[str, Sender] = {}
    for r in await conn.execute(stmt):
        if box.mode is None:
            out[r["tenant_id"]] = Sender(r["tenant_name"], r["support_email"])
            continue
        look = published_from_row(r)
        out[r["tenant_id"]] = Sender(
            sender_name(look, r["tenant_name"]), look["email"].get("replyTo") or r["support_email"]
        )
    return out


def _outgoing(row: Any, senders: dict[str, Sender]) -> Outgoing:
    sender = senders.get(row["tenant_id"]) if row["tenant_id"] is not None else None
    return Outgoing(
        id=row["id"],
        channel=row["channel"],
        template_key=row["template_key"],
        recipient=row["recipient"],
        subject=row["subject"],
        body_text=row["body_text"],
        body_html=row["body_html"],
        whatsapp_template=row["whatsapp_template"],
        sender_name=sender.name if sender is not None else PLATFORM_SENDER,
        reply_to=sender.reply_to if sender is not None else None,
    )


async def _record(runtime: Runtime, box: Outbox, row: Any, result: Delivery | SendFailed) -> str:
    now = runtime.clock.now()
    t = box.table
    values: dict[str, Any]
    if isinstance(result, Delivery):
        values = {
            "status": result.status,
            "provider": result.provider,
            "provider_message_id": result.message_id,
            "sent_at": now if result.status == "sent" else None,
            "error": None,
            "next_attempt_at": None,
        }
    elif result.transient and row["attempts"] < MAX_ATTEMPTS:
        values = {"status": "pending", "error": str(result), "next_attempt_at": now + BACKOFF[row["attempts"] - 1]}
    else:
        values = {"status": "failed", "error": str(result), "next_attempt_at": None}
    stmt = (
        update(t)
        # Only while we still hold the lease: a reclaimed row belongs to the worker that reclaimed it.
        .where(t.c.id == row["id"], t.c.status == "sending", t.c.lease_until == row["lease_until"])
        .values(**values, lease_until=None, updated_at=now)
        .prefix_with(UNSCOPED)
    )
    async with box.transaction(runtime.db) as conn:
        done = (await conn.execute(stmt)).rowcount
    if not done:
        log.warning("notification %s lost its lease before its outcome was recorded", row["id"])
    return str(values["status"])


async def _send(runtime: Runtime, box: Outbox, row: Any, msg: Outgoing, gate: asyncio.Semaphore) -> str:
    provider = providers_for(runtime).for_channel(msg.channel)
    async with gate:
        try:
            result: Delivery | SendFailed = await provider.send(msg)
        except SendFailed as exc:
            result = exc
            log.warning("notification %s: %s (%s)", msg.id, exc, "will retry" if exc.transient else "permanent")
        except Exception as exc:  # a provider bug must not strand the row in `sending`: retry, then fail
            log.exception("notification %s: unexpected error from provider %s", msg.id, provider.name)
            result = SendFailed(f"unexpected error: {type(exc).__name__}: {exc}", transient=True)
    return await _record(runtime, box, row, result)


async def notifications_tick(runtime: Runtime) -> int:
    """One pass over the three outboxes; returns how many messages were attempted."""
    gate = asyncio.Semaphore(runtime.settings.worker_concurrency)
    done = 0
    for box in OUTBOXES:
        now = runtime.clock.now()
        async with box.transaction(runtime.db) as conn:
            reclaim = _reclaim_due(runtime, box, now)
            rows = await _claim(conn, box.table, now, runtime.settings.worker_batch, reclaim)
            senders = await _senders(conn, box, rows) if rows else {}
        if not rows:
            continue
        outcomes = await asyncio.gather(
            *(_send(runtime, box, row, _outgoing(row, senders), gate) for row in rows), return_exceptions=True
        )
        for row, outcome in zip(rows, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                # The lease expires and another tick retries it.
                log.error("notification %s: recording failed", row["id"], exc_info=outcome)
        done += len(rows)
    return done
