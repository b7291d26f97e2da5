"""Set-up shared by the dunning scenario tests: a customer on a test clock whose first renewal fails with a chosen
simulator number, and direct reads of the rows the scenarios check (schedules, sandbox notifications, methods)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from duro.db.engine import Database
from tests.http_assertions import ok
from tests.subscriptions.helpers import advance_clock, make_clock, plan, subscribe

PAYDAY = "4000000000000028"
EXPIRED = "4000000000000054"
DO_NOT_HONOR = "4000000000000005"
STOLEN = "4000000000000119"
PROCESSOR_ERROR = "4000000000000096"
GOOD = "4242424242424242"
GOOD_ACCOUNT = "0123456789"


@dataclass
class Scenario:
    clock: dict[str, Any]
    plan: dict[str, Any]
    customer: dict[str, Any]
    card: dict[str, Any]
    sub: dict[str, Any]


async def new_customer(client: Any, tenant: Any, *, phone: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "Ada Obi", "email": "ada@example.com"}
    if phone is not None:
        body["phone"] = phone
    return ok(await client.post("/v1/customers", json=body, headers=tenant.auth()), 201)  # type: ignore[no-any-return]


async def attach(
    client: Any, tenant: Any, customer_id: str, number: str, *, rail: str = "card", default: bool = False
) -> dict[str, Any]:
    if rail == "card":
        body: dict[str, Any] = {"testCard": {"number": number, "expMonth": 12, "expYear": 2099}}
    else:
        body = {"rail": rail, "testAccount": number}
    body["setDefault"] = default
    r = await client.post(f"/v1/customers/{customer_id}/payment-methods", json=body, headers=tenant.auth())
    return ok(r, 201)  # type: ignore[no-any-return]


async def trial_ending(
    client: Any, tenant: Any, *, start: str, trial_days: int, card: str, phone: str | None = None, **plan_over: Any
) -> Scenario:
    """A subscription on a clock at `start` whose trial ends `trial_days` later; the renewal then charges `card`."""
    clock = await make_clock(client, tenant, start)
    p = await plan(client, tenant, trialDays=trial_days, **plan_over)
    cus = await new_customer(client, tenant, phone=phone)
    pm = await attach(client, tenant, cus["id"], card, default=True)
    sub = ok(await subscribe(client, tenant, customerId=cus["id"], planId=p["id"], testClockId=clock["id"]), 201)
    return Scenario(clock, p, cus, pm, sub)


async def advance(client: Any, tenant: Any, s: Scenario, to: str) -> None:
    await advance_clock(client, tenant, s.clock["id"], to)


async def schedule_of(client: Any, tenant: Any, sub_id: str) -> dict[str, Any]:
    page = ok(await client.get(f"/v1/recovery/schedules?subscriptionId={sub_id}", headers=tenant.auth()))
    (schedule,) = page["items"]
    return schedule  # type: ignore[no-any-return]


async def messages(db: Database, tenant: Any) -> list[tuple[str, str, str]]:
    """(templateKey, status, dedupKey) of the tenant's test-mode messages, oldest first."""
    async with db.core_transaction() as conn:
        rows = await conn.execute(
            text(
                "SELECT template_key, status, dedup_key FROM sandbox.notifications WHERE tenant_id = :t "
                "ORDER BY created_at, id"
            ),
            {"t": tenant.id},
        )
        return [(r[0], r[1], r[2]) for r in rows]


async def settings(client: Any, tenant: Any, **fields: Any) -> dict[str, Any]:
    r = await client.patch("/v1/settings/recovery", json=fields, headers=tenant.auth())
    return ok(r)  # type: ignore[no-any-return]


def decisions(schedule: dict[str, Any]) -> list[tuple[str, str | None, int]]:
    """(action, nextAttemptAt, attemptsMade) of every decision, in order."""
    return [(d["action"], d["nextAttemptAt"], d["attemptsMade"]) for d in schedule["decisions"]]
