"""At most 100 subscriptions per test clock (03 §12), enforced at creation under a lock on the clock row."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from sqlalchemy import text

from duro.db.engine import Database
from duro.test_clocks.capacity import MAX_SUBSCRIPTIONS_PER_CLOCK
from tests.http_assertions import err, not_found, ok
from tests.subscriptions.helpers import customer, event_types, make_clock, plan, subscribe

FROZEN = "2025-03-01T00:00:00Z"


async def fill(db: Database, tenant: Any, clock_id: str, cus: dict[str, Any], p: dict[str, Any], n: int) -> None:
    """Attach `n` subscriptions to the clock straight in the table, every third one already canceled: terminal
    subscriptions stay attached, so they count too."""
    async with db.core_transaction() as conn:
        await conn.execute(
            text(
                "INSERT INTO sandbox.subscriptions (id, tenant_id, customer_id, plan_id, status, current_period_start,"
                " current_period_end, billing_anchor, test_clock_id, created_at, updated_at)"
                " SELECT 'sub_fill_' || :clock || '_' || g, :t, :c, :p,"
                " CASE WHEN g % 3 = 0 THEN 'canceled' ELSE 'trialing' END,"
                " now(), now() + interval '30 days', now() + interval '30 days', :clock, now(), now()"
                " FROM generate_series(1, CAST(:n AS integer)) AS g"
            ),
            {"clock": clock_id, "t": tenant.id, "c": cus["id"], "p": p["id"], "n": n},
        )


async def attached(db: Database, tenant: Any, clock_id: str) -> int:
    async with db.core_transaction() as conn:
        found = await conn.execute(
            text("SELECT count(*) FROM sandbox.subscriptions WHERE tenant_id = :t AND test_clock_id = :c"),
            {"t": tenant.id, "c": clock_id},
        )
        return int(found.scalar_one())


async def setup(client: Any, tenant: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    clock = await make_clock(client, tenant, FROZEN)
    p = await plan(client, tenant, trialDays=7)  # trials: no charge, so creation is one transaction
    cus = await customer(client, tenant)
    return clock, p, cus


async def test_the_hundredth_subscription_is_the_last(client: Any, tenant: Any, db: Database) -> None:
    assert MAX_SUBSCRIPTIONS_PER_CLOCK == 100
    clock, p, cus = await setup(client, tenant)
    await fill(db, tenant, clock["id"], cus, p, 99)
    last = ok(await subscribe(client, tenant, customerId=cus["id"], planId=p["id"], testClockId=clock["id"]), 201)
    assert last["testClockId"] == clock["id"]
    assert last["currentPeriodStart"] == "2025-03-01T00:00:00.000Z"  # still clock time
    events_before = await event_types(client, tenant)

    r = await subscribe(client, tenant, customerId=cus["id"], planId=p["id"], testClockId=clock["id"])
    e = err(r, 409, "conflict", "clock_limit_reached")
    assert "100" in e["message"]
    assert e["details"] == []
    assert await attached(db, tenant, clock["id"]) == 100
    assert await event_types(client, tenant) == events_before  # nothing created, nothing emitted

    # The limit is per clock: another clock, or none, still works.
    other = await make_clock(client, tenant, FROZEN)
    ok(await subscribe(client, tenant, customerId=cus["id"], planId=p["id"], testClockId=other["id"]), 201)
    ok(await subscribe(client, tenant, customerId=cus["id"], planId=p["id"]), 201)


async def test_a_full_clock_refuses_with_an_idempotency_key_too(client: Any, tenant: Any, db: Database) -> None:
    clock, p, cus = await setup(client, tenant)
    await fill(db, tenant, clock["id"], cus, p, 100)
    key = {"Idempotency-Key": "full-clock"}
    body = {"customerId": cus["id"], "planId": p["id"], "testClockId": clock["id"]}
    first = await subscribe(client, tenant, key, **body)
    err(first, 409, "conflict", "clock_limit_reached")
    again = await subscribe(client, tenant, key, **body)
    assert (again.status_code, again.content, again.headers["idempotent-replayed"]) == (409, first.content, "true")
    assert await attached(db, tenant, clock["id"]) == 100


async def test_unknown_clock_is_still_404_naming_the_field(client: Any, tenant: Any) -> None:
    _, p, cus = await setup(client, tenant)
    r = await subscribe(client, tenant, customerId=cus["id"], planId=p["id"], testClockId="clock_nope")
    assert not_found(r)["details"][0]["path"] == "testClockId"


async def test_concurrent_creations_cannot_pass_the_limit(client: Any, tenant: Any, db: Database) -> None:
    clock, p, cus = await setup(client, tenant)
    await fill(db, tenant, clock["id"], cus, p, 97)
    results = await asyncio.gather(
        *(subscribe(client, tenant, customerId=cus["id"], planId=p["id"], testClockId=clock["id"]) for _ in range(8))
    )
    outcomes = Counter(r.status_code for r in results)
    assert outcomes == {201: 3, 409: 5}, [r.text for r in results]
    for r in results:
        if r.status_code == 409:
            err(r, 409, "conflict", "clock_limit_reached")
    assert await attached(db, tenant, clock["id"]) == 100
