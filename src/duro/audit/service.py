"""Writing audit entries (02 §9), in the same transaction as the change they record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert

from duro.context import Actor, RepositoryContext
from duro.db.executor import Connection
from duro.kit.ids import new_id
from duro.models.core import audit_logs


async def record_core(
    conn: Connection,
    tenant_id: str,
    action: str,
    *,
    at: datetime,
    actor: Actor,
    target_type: str | None = None,
    target_id: str | None = None,
    mode: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    request_id: str | None = None,
) -> None:
    """One audit entry on any connection. `mode` is descriptive (the mode the action touched) and null for what
    belongs to no mode: accounts, team, appearance (01 §2)."""
    await conn.execute(
        insert(audit_logs).values(
            id=new_id("aud"),
            tenant_id=tenant_id,
            at=at,
            actor_type=actor.type,
            actor_id=actor.id,
            actor_label=actor.label,
            action=action,
            target_type=target_type,
            target_id=target_id,
            mode=mode,
            before=before,
            after=after,
            ip=ip,
            user_agent=(user_agent or "")[:512] or None,
            request_id=request_id,
        )
    )


async def record(
    ctx: RepositoryContext,
    action: str,
    *,
    target_type: str | None = None,
    target_id: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """An audit entry for a unit of work of one tenant and mode."""
    await record_core(
        ctx.conn,
        ctx.tenant_id,
        action,
        at=ctx.clock.now(),  # the request's wall clock, never a test clock (02 §9)
        actor=ctx.actor,
        target_type=target_type,
        target_id=target_id,
        mode=ctx.mode,
        before=before,
        after=after,
        ip=ctx.ip,
        user_agent=ctx.user_agent,
        request_id=ctx.request_id,
    )
