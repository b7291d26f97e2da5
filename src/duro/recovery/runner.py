"""Drives one dunning attempt end to end for the dunning loop and test clocks: T1, the gateway call, T2 (04 §4)."""

from __future__ import annotations

from datetime import datetime

from duro.db.engine import Mode
from duro.recovery.attempts import Finished, begin_attempt, escalate, finish_attempt
from duro.runtime import Runtime
from duro.subscriptions.runner import worker_context


async def attempt_one(runtime: Runtime, mode: Mode, tenant_id: str, schedule_id: str, now: datetime) -> str:
    """Run the attempt of a schedule already claimed (`in_flight`) at `now` (wall time, or its clock's time)."""
    async with runtime.db.transaction(mode) as conn:
        step = await begin_attempt(worker_context(runtime, conn, tenant_id, mode), schedule_id, now)
    if isinstance(step, Finished):
        return step.outcome
    p = step.pending
    outcome = await runtime.gateway(mode).charge(
        p.method, p.amount, p.currency, p.transaction_id, p.at, p.attempt_number
    )
    async with runtime.db.transaction(mode) as conn:
        return await finish_attempt(
            worker_context(runtime, conn, tenant_id, mode), schedule_id, p.transaction_id, outcome, now
        )


async def escalate_one(runtime: Runtime, mode: Mode, tenant_id: str, schedule_id: str, now: datetime) -> bool:
    async with runtime.db.transaction(mode) as conn:
        return await escalate(worker_context(runtime, conn, tenant_id, mode), schedule_id, now)
