"""Test clock rules. `advance` runs every renewal, expiry, dunning retry and escalation due before `to`, in order,
with the normal code paths (03 §12): time moves to each pending instant, everything due then is processed, and so
on until `to`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import func, select, update

from duro.billing.cycles import boundary
from duro.context import Actor, RepositoryContext
from duro.db.engine import Mode
from duro.db.repository import DbRow
from duro.kit.errors import Detail, conflict, forbidden, invalid_field, not_found, validation
from duro.kit.ids import new_id
from duro.kit.jsonenc import format_ts
from duro.kit.pagination import PageRequest
from duro.models.billing import subscriptions as s
from duro.models.billing import test_clocks as tc
from duro.models.plans import plans
from duro.recovery.attempts import claim_one
from duro.recovery.runner import attempt_one, escalate_one
from duro.runtime import Runtime
from duro.subscriptions.expiry import expire_incomplete
from duro.subscriptions.repository import TestClockRepository
from duro.subscriptions.runner import renew_one
from duro.test_clocks.due import Kind, due_instant, due_units
from duro.test_clocks.repository import MAX_ADVANCE_EVENTS, ClockViewRepository
from duro.test_clocks.schemas import TestClockAdvance, TestClockCreate
from duro.workers.reminders import reminders_for_clock

TERMINAL = ("canceled", "expired", "incomplete_expired")
MAX_ROUNDS = 10_000  # every round moves time or changes a subscription; this only stops a bug from spinning


def test_clock_json(row: DbRow) -> dict[str, Any]:
    return {
        "object": "test_clock",
        "id": row["id"],
        "name": row["name"],
        "frozenTime": format_ts(row["frozen_time"]),
        "status": row["status"],
        "createdAt": format_ts(row["created_at"]),
    }


def _test_mode_only(ctx_mode: Mode) -> None:
    if ctx_mode != "test":
        raise forbidden("test_mode_only", "Test clocks exist in test mode only")


async def create_clock(ctx: RepositoryContext, body: TestClockCreate) -> dict[str, Any]:
    _test_mode_only(ctx.mode)
    now = ctx.clock.now()
    row = await ctx.repo(TestClockRepository).insert_row(
        {
            "id": new_id("clock"),
            "name": body.name,
            "frozen_time": body.frozen_time,
            "status": "ready",
            "created_at": now,
            "updated_at": now,
        }
    )
    return test_clock_json(row)


async def get_clock(ctx: RepositoryContext, clock_id: str) -> dict[str, Any]:
    _test_mode_only(ctx.mode)
    row = await ctx.repo(TestClockRepository).get_row(clock_id)
    if row is None:
        raise not_found("No such test clock")
    return test_clock_json(row)


async def list_clocks(ctx: RepositoryContext, page: PageRequest) -> dict[str, Any]:
    _test_mode_only(ctx.mode)
    return (await ctx.repo(TestClockRepository).page(page)).map(test_clock_json).as_json()


async def delete_clock(ctx: RepositoryContext, clock_id: str) -> dict[str, Any]:
    _test_mode_only(ctx.mode)
    repo = ctx.repo(TestClockRepository)
    row = await repo.get_row(clock_id, for_update=True)
    if row is None:
        raise not_found("No such test clock")
    live = await ctx.conn.execute(
        select(func.count())
        .select_from(s)
        .where(s.c.tenant_id == ctx.tenant_id, s.c.test_clock_id == clock_id, s.c.status.not_in(TERMINAL))
    )
    if live.scalar_one():
        raise conflict("clock_in_use", "Subscriptions attached to this clock are still running")
    await ctx.conn.execute(tc.delete().where(tc.c.tenant_id == ctx.tenant_id, tc.c.id == clock_id))
    return {**test_clock_json(row), "deleted": True}


async def _max_advance(ctx: RepositoryContext, clock: DbRow) -> datetime:
    """Two periods of the shortest plan among attached running subscriptions, else two years (03 §12)."""
    frozen: datetime = clock["frozen_time"]
    rows = await ctx.conn.execute(
        select(plans.c.interval, plans.c.interval_count)
        .select_from(s.join(plans, plans.c.id == s.c.plan_id))
        .where(s.c.tenant_id == ctx.tenant_id, s.c.test_clock_id == clock["id"], s.c.status.not_in(TERMINAL))
    )
    limits = [boundary(frozen, r["interval"], r["interval_count"], 2) for r in rows]
    return min(limits) if limits else boundary(frozen, "year", 1, 2)


async def advance_clock(runtime: Runtime, tenant_id: str, actor: Actor, clock_id: str, body: TestClockAdvance) -> Any:
    """Runs in several transactions (each renewal is its own unit of work, as in the billing loop)."""
    mode: Mode = "test"

    def ctx_for(conn: Any) -> RepositoryContext:
        return RepositoryContext(conn, tenant_id, mode, runtime.clock, runtime.settings, actor)

    async with runtime.db.transaction(mode) as conn:
        ctx = ctx_for(conn)
        try:
            clock = (
                await conn.execute(
                    select(tc).where(tc.c.tenant_id == tenant_id, tc.c.id == clock_id).with_for_update(nowait=True)
                )
            ).first()
        except asyncpg.LockNotAvailableError as exc:
            raise conflict("clock_advancing", "This clock is being advanced") from exc
        if clock is None:
            raise not_found("No such test clock")
        if clock["status"] == "advancing":
            raise conflict("clock_advancing", "This clock is being advanced")
        if body.to <= clock["frozen_time"]:
            raise invalid_field("to", f"must be after frozenTime ({format_ts(clock['frozen_time'])})")
        limit = await _max_advance(ctx, clock)
        if body.to > limit:
            raise validation(
                "The clock cannot advance that far in one call",
                [Detail("to", f"must be at most {format_ts(limit)}")],
                reason="advance_too_far",
            )
        await conn.execute(
            update(tc).where(tc.c.tenant_id == tenant_id, tc.c.id == clock_id).values(status="advancing")
        )
    frozen: datetime = clock["frozen_time"]
    try:
        for _ in range(MAX_ROUNDS):
            async with runtime.db.reader(mode) as conn:
                instant = await due_instant(ctx_for(conn), clock_id, frozen, body.to)
                due = [] if instant is None else await due_units(ctx_for(conn), clock_id, max(frozen, instant))
            if instant is None:
                break
            progressed = instant > frozen  # moving time forward is progress; the loop ends at `to`
            frozen = max(frozen, instant)  # time never moves backwards (03 §12)
            await _set_time(runtime, tenant_id, clock_id, frozen, "advancing")
            for kind, unit_id in due:
                progressed |= await _run_unit(runtime, tenant_id, ctx_for, kind, unit_id, frozen)
            async with runtime.db.transaction(mode) as conn:  # renewal reminders and card notices due by now
                await reminders_for_clock(ctx_for(conn), clock_id, frozen)
            if not progressed:
                break
    except BaseException:
        await _set_time(runtime, tenant_id, clock_id, None, "ready")  # release the clock at the time reached
        raise
    row = await _set_time(runtime, tenant_id, clock_id, body.to, "ready")
    return test_clock_json(row)


async def _run_unit(runtime: Runtime, tenant_id: str, ctx_for: Any, kind: Kind, unit_id: str, at: datetime) -> bool:
    """One unit due on the clock, with the loops' own code paths; True when it changed something."""
    mode: Mode = "test"
    if kind == "renew":
        return await renew_one(runtime, mode, tenant_id, unit_id, at) not in ("not_due",)
    if kind == "dunning":
        async with runtime.db.transaction(mode) as conn:
            claimed = await claim_one(ctx_for(conn), unit_id, at)
        return claimed and await attempt_one(runtime, mode, tenant_id, unit_id, at) != "not_in_flight"
    if kind == "escalate":
        return await escalate_one(runtime, mode, tenant_id, unit_id, at)
    async with runtime.db.transaction(mode) as conn:
        return await expire_incomplete(ctx_for(conn), unit_id, at)


async def _set_time(runtime: Runtime, tenant_id: str, clock_id: str, to: datetime | None, status: str) -> DbRow:
    values: dict[str, Any] = {"status": status, "updated_at": runtime.clock.now()}
    if to is not None:
        values["frozen_time"] = to
    async with runtime.db.transaction("test") as conn:
        row: DbRow = (
            await conn.execute(
                update(tc).where(tc.c.tenant_id == tenant_id, tc.c.id == clock_id).values(**values).returning(tc)
            )
        ).one()
    return row


# --- reads for the dashboard's test clock screens (07 §10) ---


async def attached_counts(ctx: RepositoryContext, clock_ids: list[str]) -> dict[str, int]:
    _test_mode_only(ctx.mode)
    return await ctx.repo(ClockViewRepository).attached_counts(clock_ids)


async def clock_detail(ctx: RepositoryContext, clock_id: str) -> dict[str, Any]:
    """The clock, its attached subscriptions (status, period end, next dunning attempt) and `maxAdvanceTo`, the
    latest `to` an advance accepts now (03 §12 step 2, the same computation `advance_clock` checks)."""
    _test_mode_only(ctx.mode)
    row = await ctx.repo(TestClockRepository).get_row(clock_id)
    if row is None:
        raise not_found("No such test clock")
    attached = await ctx.repo(ClockViewRepository).attached(clock_id)
    return {
        **test_clock_json(row),
        "maxAdvanceTo": format_ts(await _max_advance(ctx, row)),
        "subscriptions": [
            {
                "id": r["id"],
                "status": r["status"],
                "currentPeriodEnd": format_ts(r["current_period_end"]),
                "customerId": r["customer_id"],
                "customerName": r["customer_name"],
                "customerEmail": r["customer_email"],
                "planName": r["plan_name"],
                "nextDunningAttemptAt": format_ts(r["next_attempt_at"]),
            }
            for r in attached
        ],
    }


async def advance_events(
    ctx: RepositoryContext, subscription_ids: list[str], after_id: str, before_id: str
) -> tuple[list[dict[str, Any]], bool]:
    """Events about the clock's subscriptions written between two id markers taken around an advance; the flag
    says the list was cut at `MAX_ADVANCE_EVENTS`."""
    _test_mode_only(ctx.mode)
    rows = await ctx.repo(ClockViewRepository).events_between(subscription_ids, after_id, before_id)
    shown = [
        {"id": r["id"], "type": r["type"], "objectId": r["object_id"], "createdAt": format_ts(r["created_at"])}
        for r in rows[:MAX_ADVANCE_EVENTS]
    ]
    return shown, len(rows) > MAX_ADVANCE_EVENTS
