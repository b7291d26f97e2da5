"""Endpoint health for the dashboard's endpoint list (07 §8): the success rate of each endpoint's last 100 attempts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Integer, func, select

from duro.context import RepositoryContext
from duro.models.webhooks import webhook_attempts as wa

WINDOW: Final = 100


@dataclass(frozen=True, slots=True)
class SuccessRate:
    succeeded: int
    attempts: int

    @property
    def percent(self) -> int | None:
        return None if not self.attempts else round(100 * self.succeeded / self.attempts)


async def success_rates(ctx: RepositoryContext, endpoint_ids: Sequence[str]) -> dict[str, SuccessRate]:
    """One statement for all endpoints; a 2xx response is a success (05 §5), anything else (incl. no response) not.
    Endpoints without attempts are absent from the answer."""
    if not endpoint_ids:
        return {}
    ranked = (
        select(
            wa.c.endpoint_id,
            wa.c.response_status.between(200, 299).cast(Integer).label("ok"),
            func.row_number()
            .over(partition_by=wa.c.endpoint_id, order_by=(wa.c.started_at.desc(), wa.c.id.desc()))
            .label("n"),
        )
        .where(wa.c.tenant_id == ctx.tenant_id, wa.c.endpoint_id.in_(list(endpoint_ids)))
        .subquery()
    )
    stmt = (
        select(ranked.c.endpoint_id, func.coalesce(func.sum(ranked.c.ok), 0), func.count())
        .where(ranked.c.n <= WINDOW)
        .group_by(ranked.c.endpoint_id)
    )
    return {row[0]: SuccessRate(int(row[1]), int(row[2])) for row in await ctx.conn.execute(stmt)}
