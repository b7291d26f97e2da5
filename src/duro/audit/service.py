"""Writing audit entries, in the same transaction as the change they record."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert

from duro.context import RepositoryContext
from duro.kit.ids import new_id
from duro.models.core import audit_logs


async def record(
    ctx: RepositoryContext,
    action: str,
    *,
    target_type: str | None = None,
    target_id: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    await ctx.conn.execute(
        insert(audit_logs).values(
            id=new_id("aud"),
            tenant_id=ctx.tenant_id,
            at=ctx.clock.now(),  # the request's wall clock, never a test clock (02 §9)
            actor_type=ctx.actor.type,
            actor_id=ctx.actor.id,
            actor_label=ctx.actor.label,
            action=action,
            target_type=target_type,
            target_id=target_id,
            mode=ctx.mode,
            before=before,
            after=after,
            ip=ctx.ip,
            user_agent=(ctx.user_agent or "")[:512] or None,
            request_id=ctx.request_id,
        )
    )
