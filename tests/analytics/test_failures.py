"""GET /v1/analytics/failures: the recovery summary of 04 §7 against hand-computed values."""

from __future__ import annotations

from datetime import timedelta

import httpx

from tests.analytics.conftest import NOW, T0, get_json
from tests.analytics.seed import Seed, at
from tests.conftest import TenantKeys

MS = timedelta(milliseconds=1)
FROM = at("2025-01-01T00:00:00.000Z")
TO = at("2025-01-31T00:00:00.000Z")


async def test_summary_in_window(client: httpx.AsyncClient, tenant: TenantKeys, seed: Seed) -> None:
    sub = await seed.sub(await seed.plan(500_000))
    # Open schedules (current, not windowed): invoice amount − amount paid.
    await seed.schedule(sub, "scheduled", 500_000)
    await seed.schedule(sub, "in_flight", 300_000, amount_paid=100_000)
    await seed.schedule(sub, "awaiting_customer", 200_000)
    await seed.schedule(sub, "scheduled", 999, "USD")  # other currency
    # Recovered: [from, to) only.
    await seed.schedule(sub, "recovered", 1_000_000, recovered=FROM)  # from is inclusive
    await seed.schedule(sub, "recovered", 1_500_000, recovered=TO - MS)
    await seed.schedule(sub, "recovered", 7_777, recovered=TO)  # to is exclusive
    await seed.schedule(sub, "recovered", 8_888, recovered=FROM - MS)
    await seed.schedule(sub, "recovered", 9_999, "USD", recovered=FROM + MS)
    # Exhausted.
    await seed.schedule(sub, "exhausted", 500_000, exhausted=FROM + timedelta(days=3))
    await seed.schedule(sub, "exhausted", 6_666, exhausted=TO)
    await seed.schedule(sub, "canceled", 5_555)
    # Failed transactions created in the window, by failure code.
    for _ in range(7):
        await seed.txn(sub, FROM + timedelta(days=1), "insufficient_funds")
    await seed.txn(sub, FROM, "expired_card")
    await seed.txn(sub, TO - MS, "expired_card")
    await seed.txn(None, FROM + timedelta(days=2), "processor_error")  # a checkout charge: no subscription
    await seed.txn(sub, TO, "do_not_honor")  # to is exclusive
    await seed.txn(sub, FROM - MS, "stolen_card")
    await seed.txn(sub, FROM + timedelta(days=1), "timeout", currency="USD")
    await seed.txn(sub, FROM + timedelta(days=1), None, status="succeeded")
    await seed.txn(sub, FROM + timedelta(days=1), None, status="pending")

    body = await get_json(
        client, "/v1/analytics/failures", tenant, **{"from": "2025-01-01T01:00:00+01:00", "to": "2025-01-31T00:00:00Z"}
    )
    assert body == {
        "object": "recovery_summary",
        "currency": "NGN",
        "from": "2025-01-01T00:00:00.000Z",
        "to": "2025-01-31T00:00:00.000Z",
        "inFlight": 900_000,
        "recovered": 2_500_000,
        "exhausted": 500_000,
        "recoveryRate": 0.8333,
        "openSchedules": 3,
        "recoveredCount": 2,
        "exhaustedCount": 1,
        "byFailureCode": {"insufficient_funds": 7, "expired_card": 2, "processor_error": 1},
    }

    usd = await get_json(
        client,
        "/v1/analytics/failures",
        tenant,
        currency="USD",
        **{"from": "2025-01-01T00:00:00Z", "to": "2025-01-31T00:00:00Z"},
    )
    assert (usd["currency"], usd["inFlight"], usd["openSchedules"]) == ("USD", 999, 1)
    assert (usd["recovered"], usd["recoveredCount"], usd["exhausted"], usd["recoveryRate"]) == (9_999, 1, 0, 1.0)
    assert usd["byFailureCode"] == {"timeout": 1}


async def test_default_window_and_currency(
    client: httpx.AsyncClient, tenant: TenantKeys, seed: Seed, make_tenant: object
) -> None:
    sub = await seed.sub(await seed.plan(1_000))
    await seed.schedule(sub, "recovered", 1_000, recovered=T0)  # now − 30 days: inclusive
    await seed.schedule(sub, "recovered", 2_000, recovered=NOW - MS)
    await seed.schedule(sub, "recovered", 4_000, recovered=NOW)  # now: exclusive
    await seed.schedule(sub, "exhausted", 31_000, exhausted=T0 - MS)  # before the window
    body = await get_json(client, "/v1/analytics/failures", tenant)
    assert (body["currency"], body["from"], body["to"]) == (
        "NGN",
        "2025-01-01T09:00:00.000Z",
        "2025-01-31T09:00:00.000Z",
    )
    assert (body["recovered"], body["recoveredCount"], body["recoveryRate"]) == (3_000, 2, 1.0)

    # Only `to`: from = to − 30 days. Only `from`: to = now.
    only_to = await get_json(client, "/v1/analytics/failures", tenant, to="2025-01-20T00:00:00Z")
    assert (only_to["from"], only_to["to"]) == ("2024-12-21T00:00:00.000Z", "2025-01-20T00:00:00.000Z")
    assert (only_to["recovered"], only_to["exhausted"], only_to["recoveryRate"]) == (1_000, 31_000, 0.0313)  # 1/32
    only_from = await get_json(client, "/v1/analytics/failures", tenant, **{"from": "2024-06-01T00:00:00Z"})
    assert (only_from["from"], only_from["to"]) == ("2024-06-01T00:00:00.000Z", "2025-01-31T09:00:00.000Z")


async def test_tenant_default_currency(client: httpx.AsyncClient, tenant: TenantKeys, seed: Seed, db: object) -> None:
    from sqlalchemy import update

    from duro.db.engine import Database
    from duro.models.core import tenants

    assert isinstance(db, Database)
    async with db.core_transaction() as conn:
        await conn.execute(update(tenants).where(tenants.c.id == tenant.id).values(default_currency="GHS"))
    sub = await seed.sub(await seed.plan(1_000, "GHS"))
    await seed.schedule(sub, "awaiting_customer", 4_200, "GHS")
    body = await get_json(client, "/v1/analytics/failures", tenant)
    assert (body["currency"], body["inFlight"], body["openSchedules"]) == ("GHS", 4_200, 1)


async def test_no_data_rate_is_null(client: httpx.AsyncClient, tenant: TenantKeys, seed: Seed) -> None:
    sub = await seed.sub(await seed.plan(1_000))
    await seed.schedule(sub, "scheduled", 1_000)  # open schedules alone give no rate
    body = await get_json(client, "/v1/analytics/failures", tenant)
    assert body["recoveryRate"] is None
    assert (body["recovered"], body["exhausted"], body["recoveredCount"], body["exhaustedCount"]) == (0, 0, 0, 0)
    assert (body["inFlight"], body["openSchedules"]) == (1_000, 1)
    assert body["byFailureCode"] == {}
