"""Drives renewals end to end for the billing loop and test clocks: T1, the gateway call, T2 (03 §10)."""

from __future__ import annotations

from datetime import datetime

from duro.context import Actor, RepositoryContext
from duro.db.engine import Mode
from duro.runtime import Runtime
from duro.subscriptions.renewal import Charge, begin_renewal, finish_renewal

WORKER = Actor("system", None, "worker")


def worker_context(runtime: Runtime, conn: object, tenant_id: str, mode: Mode) -> RepositoryContext:
    return RepositoryContext(conn, tenant_id, mode, runtime.clock, runtime.settings, WORKER)  # type: ignore[arg-type]


async def renew_one(runtime: Runtime, mode: Mode, tenant_id: str, sub_id: str, now: datetime) -> str:
    """Renew one period of one subscription at `now` (wall time, or its test clock's time)."""
    async with runtime.db.transaction(mode) as conn:
        step = await begin_renewal(worker_context(runtime, conn, tenant_id, mode), sub_id, now)
    if not isinstance(step, Charge):
        return step.outcome
    p = step.pending
    outcome = await runtime.gateway(mode).charge(
        p.method, p.amount, p.currency, p.transaction_id, p.at, p.attempt_number
    )
    async with runtime.db.transaction(mode) as conn:
        return await finish_renewal(
            worker_context(runtime, conn, tenant_id, mode), sub_id, p.transaction_id, outcome, now
        )
