"""Fan-out (05 §5): undispatched events → one delivery per subscribed enabled endpoint, then `dispatched_at`.

A batch of events is claimed `FOR UPDATE SKIP LOCKED` (oldest first) across the tenants of a mode; the deliveries
are inserted `ON CONFLICT (tenant_id, event_id, endpoint_id) DO NOTHING` in one statement and the events marked in
another, in the claim's transaction. **Decision:** one transaction per claimed batch rather than per event (05 §5
commits "each event separately"): the unique constraint gives the same exactly-one guarantee, and a batch is all or
nothing, so no event is ever marked dispatched without its deliveries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import any_, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert

from duro.db.bulk import unnest_params, unnest_rows
from duro.db.executor import Connection
from duro.kit.ids import new_id
from duro.models.events import events as e
from duro.models.webhooks import webhook_deliveries as wd
from duro.models.webhooks import webhook_endpoints as we

UNSCOPED: Final = "/* unscoped: webhook fan-out */"
_VARYING: Final = ["id", "tenant_id", "event_id", "endpoint_id", "event_type"]
_CONSTANT: Final = ["status", "attempt_count", "next_attempt_at", "created_at", "updated_at"]
_INSERT: Final = (
    insert(wd)
    .from_select([*_VARYING, *_CONSTANT], unnest_rows(wd, _VARYING, _CONSTANT))
    .on_conflict_do_nothing(index_elements=["tenant_id", "event_id", "endpoint_id"])
    .prefix_with(UNSCOPED)
)


def _claim(batch: int) -> Any:
    return (
        select(e.c.id, e.c.tenant_id, e.c.type)
        .where(e.c.dispatched_at.is_(None))
        .order_by(e.c.created_at, e.c.id)
        .limit(batch)
        .with_for_update(skip_locked=True)
        .prefix_with(UNSCOPED)
    )


_ENDPOINTS: Final = (
    select(we.c.id, we.c.tenant_id, we.c.enabled_events)
    .where(we.c.tenant_id == any_(bindparam("b_tenants")), we.c.status == "enabled")
    .prefix_with(UNSCOPED)
)
_MARK: Final = (
    update(e).where(e.c.id == any_(bindparam("b_ids"))).values(dispatched_at=bindparam("b_now")).prefix_with(UNSCOPED)
)


def subscribed(enabled_events: list[str], event_type: str) -> bool:
    return not enabled_events or event_type in enabled_events


async def fan_out(conn: Connection, now: datetime, batch: int) -> tuple[int, int]:
    """One batch in the caller's transaction; returns (events dispatched, deliveries created)."""
    claimed = list((await conn.execute(_claim(batch))).all())
    if not claimed:
        return 0, 0
    tenants = sorted({r["tenant_id"] for r in claimed})
    by_tenant: dict[str, list[Any]] = {}
    for row in (await conn.execute(_ENDPOINTS, {"b_tenants": tenants})).all():
        by_tenant.setdefault(row["tenant_id"], []).append(row)
    rows = [
        (new_id("whd"), ev["tenant_id"], ev["id"], ep["id"], ev["type"])
        for ev in claimed
        for ep in by_tenant.get(ev["tenant_id"], ())
        if subscribed(list(ep["enabled_events"]), ev["type"])
    ]
    created = 0
    if rows:
        params = unnest_params(
            rows,
            _VARYING,
            {"status": "pending", "attempt_count": 0, "next_attempt_at": now, "created_at": now, "updated_at": now},
        )
        created = (await conn.execute(_INSERT, params)).rowcount
    await conn.execute(_MARK, {"b_ids": [r["id"] for r in claimed], "b_now": now})
    return len(claimed), created
