"""The idempotency record lifecycle: claim (own transaction), complete (inside the business transaction),
or store the error (own transaction).

Claiming is `INSERT … ON CONFLICT DO NOTHING` committed on its own, so concurrent requests with one key
serialise on the primary key (tenant_id, key): exactly one of them runs the handler.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert

from duro.db.engine import Database, Mode
from duro.db.executor import Connection
from duro.kit.errors import DuroError, conflict, validation
from duro.models.idempotency import idempotency_keys as t

RETENTION = timedelta(hours=24)
IN_PROGRESS_TIMEOUT = timedelta(seconds=90)


def fingerprint(method: str, path: str, query: str, canonical_body: bytes) -> str:
    pairs = sorted(part for part in query.split("&") if part) if query else []
    head = f"{method.upper()}\n{path}?{'&'.join(pairs)}\n".encode()
    return hashlib.sha256(head + canonical_body).hexdigest()


@dataclass(frozen=True)
class Claimed:
    """This request owns the key and runs. `recovery_point` is set when it took over a crashed attempt."""

    kind: Literal["claimed"] = "claimed"
    recovery_point: str | None = None


@dataclass(frozen=True)
class Replay:
    status: int
    body: bytes
    original_request_id: str
    kind: Literal["replay"] = "replay"


# Built once: the claim runs on every keyed write.
_CLAIM = insert(t).on_conflict_do_nothing(index_elements=["tenant_id", "key"]).returning(t.c.key)
_COMPLETE = (
    update(t)
    .where(t.c.tenant_id == bindparam("b_tenant_id"), t.c.key == bindparam("b_key"))
    .values(state="completed", response_status=bindparam("b_status"), response_body=bindparam("b_body"))
)


def _in_progress() -> DuroError:
    return conflict("idempotency_in_progress", "A request with this Idempotency-Key is still being processed")


async def claim(
    db: Database, mode: Mode, tenant_id: str, key: str, fp: str, request_id: str, now: datetime
) -> Claimed | Replay:
    async with db.reader(mode) as conn:
        return await claim_on(conn, tenant_id, key, fp, request_id, now)


async def claim_on(
    conn: Connection, tenant_id: str, key: str, fp: str, request_id: str, now: datetime
) -> Claimed | Replay:
    """`claim` on a connection the caller holds, outside any transaction: the claim commits on its own either
    way, and the caller may run its business transaction on the same connection afterwards."""
    params = {
        "tenant_id": tenant_id,
        "key": key,
        "fingerprint": fp,
        "state": "in_progress",
        "request_id": request_id,
        "created_at": now,
        "started_at": now,
        "expires_at": now + RETENTION,
    }
    # The common case is one autocommit INSERT: a single statement is its own committed transaction.
    if (await conn.execute(_CLAIM, params)).first() is not None:
        return Claimed()
    async with conn.transaction():
        row = (
            await conn.execute(select(t).where(t.c.tenant_id == tenant_id, t.c.key == key).with_for_update())
        ).first()
        if row is None:  # purged between our insert and select: treat as a fresh key next time
            raise _in_progress()
        if row.expires_at <= now:
            # Expired rows count as absent (01 §8 rule 7): start over on the same row.
            await conn.execute(
                update(t)
                .where(t.c.tenant_id == tenant_id, t.c.key == key)
                .values(
                    fingerprint=fp,
                    state="in_progress",
                    request_id=request_id,
                    response_status=None,
                    response_body=None,
                    recovery_point=None,
                    created_at=now,
                    started_at=now,
                    expires_at=now + RETENTION,
                )
            )
            return Claimed()
        if row.fingerprint != fp:
            raise validation(
                "This Idempotency-Key was used with a different request", [], reason="idempotency_key_reused"
            )
        if row.state == "completed":
            return Replay(row.response_status, bytes(row.response_body), row.request_id)
        if now - row.started_at < IN_PROGRESS_TIMEOUT:
            raise _in_progress()
        # The earlier attempt never committed (its transaction died with it): take the row over.
        await conn.execute(
            update(t).where(t.c.tenant_id == tenant_id, t.c.key == key).values(started_at=now, request_id=request_id)
        )
        return Claimed(recovery_point=row.recovery_point)


async def complete(conn: Connection, tenant_id: str, key: str, status: int, body: bytes) -> None:
    """Called inside the business transaction, so the stored response exists iff the effects committed."""
    await conn.execute(_COMPLETE, {"b_tenant_id": tenant_id, "b_key": key, "b_status": status, "b_body": body})


async def set_recovery_point(conn: Connection, tenant_id: str, key: str, resource_id: str) -> None:
    """First step of a two-step handler (gateway calls): remember what it created."""
    await conn.execute(update(t).where(t.c.tenant_id == tenant_id, t.c.key == key).values(recovery_point=resource_id))


async def store_answer(db: Database, mode: Mode, tenant_id: str, key: str, status: int, body: bytes) -> None:
    """Store an answer in its own transaction: the error of a failed business transaction (so a retry with this
    key replays it), or the result of a write made of several units of work."""
    async with db.transaction(mode) as conn:
        await complete(conn, tenant_id, key, status, body)


async def purge_expired(conn: Connection, now: datetime) -> int:
    """Maintenance: drop expired rows of one mode (all tenants; a worker job, not a request)."""
    result = await conn.execute(delete(t).where(t.c.expires_at <= now).prefix_with("/* unscoped: maintenance */"))
    return int(result.rowcount or 0)
