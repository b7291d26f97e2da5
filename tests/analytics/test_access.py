"""Analytics access: credentials, validation, test-clock scoping, tenant and mode isolation, one statement each."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest

from duro.db.engine import Database
from tests.analytics.conftest import NOW, get_json
from tests.analytics.seed import Seed, at
from tests.conftest import TenantKeys

ENDPOINTS = ("/v1/analytics/failures", "/v1/analytics/overview")
FROZEN = at("2025-06-01T00:00:00.000Z")


def _error(response: httpx.Response, status: int, reason: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["reason"] == reason
    return error


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_credentials(client: httpx.AsyncClient, tenant: TenantKeys, path: str) -> None:
    _error(await client.get(path), 401, "missing_credential")
    _error(await client.get(path, headers={"Authorization": "Bearer sk_test_nope"}), 401, "invalid_credential")
    _error(await client.get(path, headers=tenant.auth("test", "publishable")), 403, "publishable_key_not_allowed")


@pytest.mark.parametrize(
    ("query", "path"),
    [
        ({"from": "2024-01-01T00:00:00Z", "to": "2025-01-02T00:00:01Z"}, "to"),  # 367 days and a second
        ({"from": "2025-01-02T00:00:00Z", "to": "2025-01-02T00:00:00Z"}, "to"),  # empty window
        ({"from": "2025-01-03T00:00:00Z", "to": "2025-01-02T00:00:00Z"}, "to"),
        ({"from": "2023-01-01T00:00:00Z"}, "to"),  # to defaults to now: over 366 days
        ({"from": "2025-02-01T00:00:00Z"}, "to"),  # after now
        ({"from": "2025-01-01T00:00:00"}, "from"),  # no offset
        ({"to": "yesterday"}, "to"),
        ({"currency": "XYZ"}, "currency"),
        ({"currency": "ngn"}, "currency"),
    ],
)
async def test_validation(client: httpx.AsyncClient, tenant: TenantKeys, query: dict[str, str], path: str) -> None:
    error = _error(await client.get("/v1/analytics/failures", params=query, headers=tenant.auth()), 422, None)
    assert error["code"] == "validation_error"
    assert error["details"][0]["path"] == path


async def test_window_of_exactly_366_days(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    body = await get_json(
        client, "/v1/analytics/failures", tenant, **{"from": "2024-01-01T00:00:00Z", "to": "2025-01-01T00:00:00Z"}
    )
    assert body["to"] == "2025-01-01T00:00:00.000Z"


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_test_clock_errors(
    client: httpx.AsyncClient, tenant: TenantKeys, make_tenant: Any, db: Database, path: str
) -> None:
    clock_id = await Seed(db, tenant.id).clock(FROZEN)
    other = await make_tenant("Other Ltd")
    others_clock = await Seed(db, other.id).clock(FROZEN)
    # Live mode: 403 whatever the id.
    _error(await client.get(path, params={"testClockId": clock_id}, headers=tenant.auth("live")), 403, "test_mode_only")
    # Unknown, another tenant's, or unstorable: 404 naming the query field.
    for unknown in ("clock_01JGFK0Q3S6W4ZB1N8Y2C7D9EH", others_clock, "clock_\x00"):
        error = _error(
            await client.get(path, params={"testClockId": unknown}, headers=tenant.auth()), 404, "resource_missing"
        )
        assert error["details"] == [{"path": "testClockId", "issue": "no such object in this tenant and mode"}]


async def test_test_clock_scope(client: httpx.AsyncClient, tenant: TenantKeys, seed: Seed) -> None:
    clock_id = await seed.clock(FROZEN)
    other_clock = await seed.clock(FROZEN)
    plan = await seed.plan(600_000)
    # Outside the clock: lots of data that must not show up.
    free = await seed.sub(plan)
    await seed.sub(plan, "past_due")
    await seed.schedule(free, "scheduled", 50_000)
    await seed.schedule(free, "recovered", 70_000, recovered=FROZEN - timedelta(days=1))
    await seed.txn(free, FROZEN - timedelta(days=1), "insufficient_funds")
    await seed.sub(plan, clock_id=other_clock)
    # On the clock, in clock time (June 2025).
    on = await seed.sub(plan, clock_id=clock_id, activated=FROZEN - timedelta(days=40))
    await seed.sub(
        plan,
        "canceled",
        clock_id=clock_id,
        activated=FROZEN - timedelta(days=40),
        ended=FROZEN - timedelta(days=2),
        reason="dunning_canceled",
    )
    await seed.sub(plan, "trialing", clock_id=clock_id, activated=None)
    await seed.sub(plan, "active", clock_id=clock_id, activated=FROZEN - timedelta(days=5))
    await seed.schedule(on, "awaiting_customer", 600_000, amount_paid=100_000)
    await seed.schedule(on, "recovered", 600_000, recovered=FROZEN - timedelta(days=10))
    await seed.schedule(on, "recovered", 600_000, recovered=NOW - timedelta(days=1))  # inside wall-time windows only
    await seed.schedule(on, "exhausted", 200_000, exhausted=FROZEN - timedelta(days=3))
    await seed.txn(on, FROZEN - timedelta(days=3), "expired_card")
    await seed.txn(on, FROZEN, "expired_card")  # at "now": the default window is [now − 30 d, now)

    overview = await get_json(client, "/v1/analytics/overview", tenant, testClockId=clock_id)
    assert overview["asOf"] == "2025-06-01T00:00:00.000Z"
    assert overview["mrr"] == {"NGN": 1_200_000}
    assert (overview["activeSubscriptions"], overview["trialing"], overview["pastDue"]) == (2, 1, 0)
    assert overview["churnRate30d"] == {"voluntary": 0.0, "involuntary": 0.5, "total": 0.5}
    assert overview["newMrr30d"] == {"NGN": 600_000}
    assert overview["recoveredRevenue30d"] == {"NGN": 600_000}
    assert overview["atRiskRevenue"] == {"NGN": 500_000}

    failures = await get_json(client, "/v1/analytics/failures", tenant, testClockId=clock_id)
    assert (failures["from"], failures["to"]) == ("2025-05-02T00:00:00.000Z", "2025-06-01T00:00:00.000Z")
    assert (failures["inFlight"], failures["openSchedules"]) == (500_000, 1)
    assert (failures["recovered"], failures["exhausted"], failures["recoveryRate"]) == (600_000, 200_000, 0.75)
    assert failures["byFailureCode"] == {"expired_card": 1}

    # Without the clock: all of the mode's data, at wall ("runtime clock") time.
    everything = await get_json(client, "/v1/analytics/overview", tenant)
    assert everything["asOf"] == "2025-01-31T09:00:00.000Z"
    assert everything["mrr"] == {"NGN": 600_000 * 5}
    assert everything["atRiskRevenue"] == {"NGN": 550_000}
    assert everything["recoveredRevenue30d"] == {"NGN": 600_000}


async def test_other_tenant_and_other_mode_are_invisible(
    client: httpx.AsyncClient, tenant: TenantKeys, make_tenant: Any, db: Database
) -> None:
    other = await make_tenant("Other Ltd")
    for seed in (Seed(db, other.id), Seed(db, tenant.id, "live")):
        sub = await seed.sub(await seed.plan(500_000))
        await seed.schedule(sub, "scheduled", 10_000)
        await seed.schedule(sub, "recovered", 20_000, recovered=NOW - timedelta(days=1))
        await seed.txn(sub, NOW - timedelta(days=1), "insufficient_funds")
    mine = Seed(db, tenant.id)
    await mine.sub(await mine.plan(1_000, "USD"))

    overview = await get_json(client, "/v1/analytics/overview", tenant)
    assert (overview["mrr"], overview["atRiskRevenue"], overview["recoveredRevenue30d"]) == ({"USD": 1_000}, {}, {})
    assert overview["activeSubscriptions"] == 1
    failures = await get_json(client, "/v1/analytics/failures", tenant)
    assert (failures["inFlight"], failures["recovered"], failures["byFailureCode"]) == (0, 0, {})

    live = await get_json(client, "/v1/analytics/overview", tenant, mode="live")
    assert (live["mrr"], live["atRiskRevenue"], live["recoveredRevenue30d"]) == (
        {"NGN": 500_000},
        {"NGN": 10_000},
        {"NGN": 20_000},
    )
    live_failures = await get_json(client, "/v1/analytics/failures", tenant, mode="live")
    assert live_failures["byFailureCode"] == {"insufficient_funds": 1}


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []
    db.statement_hooks.append(seen.append)
    try:
        yield seen
    finally:
        db.statement_hooks.remove(seen.append)


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("with_clock", [False, True])
async def test_one_statement_per_request(
    client: httpx.AsyncClient, tenant: TenantKeys, seed: Seed, db: Database, path: str, with_clock: bool
) -> None:
    sub = await seed.sub(await seed.plan(1_000))
    await seed.schedule(sub, "scheduled", 1_000)
    query = {"testClockId": await seed.clock(FROZEN)} if with_clock else {}
    await get_json(client, path, tenant, **query)  # warm: the credential lookup may be cached after this
    with statements(db) as seen:
        await get_json(client, path, tenant, **query)
    await client.aclose()  # let the throttled lastUsedAt write (if any) finish outside the count
    analytics = [sql for sql in seen if "api_keys" not in sql and "oauth_clients" not in sql]
    assert len(analytics) == 1, analytics
    assert analytics[0].lstrip().upper().startswith("WITH")
