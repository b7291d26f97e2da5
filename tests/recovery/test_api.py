"""/v1/recovery/schedules (04 §4, §7): the dunning schedule object, list filters and keyset pages, retrieve,
credentials, tenant and mode isolation. Schedules are inserted directly (the dunning engine has its own tests),
plus one opened by a real failed renewal to pin the serializer to what the engine writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from duro.db.engine import Database
from duro.kit.ids import new_id
from tests.http_assertions import err, invalid, not_found, ok, unknown_key
from tests.subscriptions.helpers import DECLINE_NSF, advance_clock, customer, make_clock, plan, subscribe

URL = "/v1/recovery/schedules"
FIELDS = {
    "object", "id", "invoiceId", "subscriptionId", "customerId", "state", "amount", "currency", "attemptsMade",
    "maxAttempts", "nextAttemptAt", "paymentMethodId", "rail", "lastFailureCode", "lastFailureCategory", "lastAction",
    "lastReason", "startedAt", "escalationAt", "recoveredAt", "exhaustedAt", "exhaustReason", "canceledAt",
    "decisions", "createdAt", "updatedAt",
}  # fmt: skip
DECISION_FIELDS = {"at", "attemptsMade", "failureCode", "action", "nextAttemptAt", "rail", "paymentMethodId", "reason"}
T0 = datetime(2025, 3, 1, 9, 0, 0, 123456, tzinfo=UTC)


async def insert_schedule(
    db: Database, tenant: Any, mode: str = "test", *, created_at: datetime = T0, **over: Any
) -> dict[str, Any]:
    """A schedule row straight into the mode's table; returns the values written."""
    values: dict[str, Any] = {
        "id": new_id("dun"),
        "tenant_id": tenant.id,
        "invoice_id": new_id("inv"),
        "subscription_id": "sub_A",
        "customer_id": "cus_A",
        "state": "scheduled",
        "amount": 500000,
        "currency": "NGN",
        "attempts_made": 1,
        "max_attempts": 5,
        "next_attempt_at": created_at + timedelta(hours=24),
        "payment_method_id": "pm_A",
        "rail": "card",
        "last_failure_code": "insufficient_funds",
        "last_failure_category": "soft_decline",
        "last_action": "retry",
        "last_reason": "Insufficient funds: retrying in 24 hours",
        "started_at": created_at,
        "escalation_at": created_at + timedelta(days=14),
        "recovered_at": None,
        "exhausted_at": None,
        "exhaust_reason": None,
        "canceled_at": None,
        "decisions": [
            {
                "at": "2025-03-01T09:00:00.123Z",
                "attemptsMade": 0,
                "failureCode": "insufficient_funds",
                "action": "retry",
                "nextAttemptAt": "2025-03-01T09:00:00.123Z",
                "rail": "card",
                "paymentMethodId": "pm_A",
                "reason": "Insufficient funds: retrying now",
            }
        ],
        "created_at": created_at,
        "updated_at": created_at,
        **over,
    }
    schema = "sandbox" if mode == "test" else "live"
    columns = ", ".join(values)
    params = ", ".join(f":{k}" for k in values)
    async with db.core_transaction() as conn:
        await conn.execute(text(f"INSERT INTO {schema}.dunning_schedules ({columns}) VALUES ({params})"), values)
    return values


async def listed(client: Any, tenant: Any, query: str = "", mode: str = "test") -> dict[str, Any]:
    return ok(await client.get(f"{URL}{query}", headers=tenant.auth(mode)))  # type: ignore[no-any-return]


def ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


# --- retrieve ---


async def test_retrieve_renders_every_field(client: Any, tenant: Any, db: Database) -> None:
    row = await insert_schedule(db, tenant)
    body = ok(await client.get(f"{URL}/{row['id']}", headers=tenant.auth()))
    assert set(body) == FIELDS
    assert body == {
        "object": "dunning_schedule",
        "id": row["id"],
        "invoiceId": row["invoice_id"],
        "subscriptionId": "sub_A",
        "customerId": "cus_A",
        "state": "scheduled",
        "amount": 500000,
        "currency": "NGN",
        "attemptsMade": 1,
        "maxAttempts": 5,
        "nextAttemptAt": "2025-03-02T09:00:00.123Z",
        "paymentMethodId": "pm_A",
        "rail": "card",
        "lastFailureCode": "insufficient_funds",
        "lastFailureCategory": "soft_decline",
        "lastAction": "retry",
        "lastReason": "Insufficient funds: retrying in 24 hours",
        "startedAt": "2025-03-01T09:00:00.123Z",
        "escalationAt": "2025-03-15T09:00:00.123Z",
        "recoveredAt": None,
        "exhaustedAt": None,
        "exhaustReason": None,
        "canceledAt": None,
        "decisions": row["decisions"],
        "createdAt": "2025-03-01T09:00:00.123Z",
        "updatedAt": "2025-03-01T09:00:00.123Z",
    }


async def test_retrieve_a_finished_schedule(client: Any, tenant: Any, db: Database) -> None:
    ended = T0 + timedelta(days=14)
    row = await insert_schedule(
        db,
        tenant,
        state="exhausted",
        next_attempt_at=None,
        exhausted_at=ended,
        exhaust_reason="escalation",
        last_action="exhaust",
        max_attempts=None,
        decisions=[],
    )
    body = ok(await client.get(f"{URL}/{row['id']}", headers=tenant.auth()))
    assert (body["state"], body["exhaustReason"], body["exhaustedAt"]) == (
        "exhausted",
        "escalation",
        "2025-03-15T09:00:00.123Z",
    )
    assert (body["nextAttemptAt"], body["maxAttempts"], body["decisions"]) == (None, None, [])


@pytest.mark.parametrize("schedule_id", ["dun_01JGFMA2P3K8W1N6Y4D9C0B7QX", "nope", "dun_%00"])
async def test_unknown_id_is_404(client: Any, tenant: Any, schedule_id: str) -> None:
    not_found(await client.get(f"{URL}/{schedule_id}", headers=tenant.auth()))


# --- list ---


async def test_list_is_newest_first_with_keyset_pages(client: Any, tenant: Any, db: Database) -> None:
    rows = [await insert_schedule(db, tenant, created_at=T0 + timedelta(minutes=i)) for i in range(5)]
    # Same createdAt: the id breaks the tie (01 §7).
    twin = await insert_schedule(db, tenant, created_at=T0 + timedelta(minutes=4))
    expected = [twin["id"], *(r["id"] for r in reversed(rows))]
    everything = await listed(client, tenant)
    assert everything["object"] == "list"
    assert (ids(everything), everything["hasMore"], everything["nextCursor"]) == (expected, False, None)
    assert all(set(item) == FIELDS for item in everything["items"])

    seen: list[str] = []
    cursor = None
    while True:
        page = await listed(client, tenant, f"?limit=2{'' if cursor is None else '&cursor=' + cursor}")
        seen += ids(page)
        assert len(page["items"]) <= 2
        if not page["hasMore"]:
            assert page["nextCursor"] is None
            break
        cursor = page["nextCursor"]
        assert cursor == page["items"][-1]["id"]
    assert seen == expected


async def test_list_filters(client: Any, tenant: Any, db: Database) -> None:
    a1 = await insert_schedule(db, tenant, created_at=T0)
    a2 = await insert_schedule(db, tenant, created_at=T0 + timedelta(minutes=1), state="recovered")
    b1 = await insert_schedule(
        db, tenant, created_at=T0 + timedelta(minutes=2), subscription_id="sub_B", customer_id="cus_A"
    )
    c1 = await insert_schedule(
        db,
        tenant,
        created_at=T0 + timedelta(minutes=3),
        subscription_id="sub_C",
        customer_id="cus_C",
        state="awaiting_customer",
    )
    assert ids(await listed(client, tenant, "?state=scheduled")) == [b1["id"], a1["id"]]
    assert ids(await listed(client, tenant, "?state=recovered")) == [a2["id"]]
    assert ids(await listed(client, tenant, "?state=exhausted")) == []
    assert ids(await listed(client, tenant, "?subscriptionId=sub_A")) == [a2["id"], a1["id"]]
    assert ids(await listed(client, tenant, "?customerId=cus_A")) == [b1["id"], a2["id"], a1["id"]]
    assert ids(await listed(client, tenant, "?customerId=cus_C&state=awaiting_customer")) == [c1["id"]]
    assert ids(await listed(client, tenant, "?customerId=cus_A&subscriptionId=sub_A&state=scheduled")) == [a1["id"]]
    assert ids(await listed(client, tenant, "?customerId=cus_nobody")) == []
    # Pages keep the filter; a cursor outside the filtered list is not an item of it.
    first = await listed(client, tenant, "?customerId=cus_A&limit=1")
    assert (ids(first), first["hasMore"]) == ([b1["id"]], True)
    rest = await listed(client, tenant, f"?customerId=cus_A&limit=5&cursor={first['nextCursor']}")
    assert ids(rest) == [a2["id"], a1["id"]]
    r = await client.get(f"{URL}?customerId=cus_A&cursor={c1['id']}", headers=tenant.auth())
    err(r, 400, "bad_request", "invalid_cursor")


@pytest.mark.parametrize(
    ("query", "path"),
    [
        ("?state=pending", "state"),
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?limit=ten", "limit"),
        (f"?customerId={'c' * 65}", "customerId"),
    ],
)
async def test_list_query_validation(client: Any, tenant: Any, query: str, path: str) -> None:
    invalid(await client.get(f"{URL}{query}", headers=tenant.auth()), path, "")


async def test_unknown_cursor_is_400(client: Any, tenant: Any, db: Database) -> None:
    await insert_schedule(db, tenant)
    for cursor in ("dun_01JGFMA2P3K8W1N6Y4D9C0B7QX", "garbage"):
        err(await client.get(f"{URL}?cursor={cursor}", headers=tenant.auth()), 400, "bad_request", "invalid_cursor")


# --- isolation and credentials ---


async def test_other_tenants_schedules_are_invisible(client: Any, make_tenant: Any, db: Database) -> None:
    mine, other = await make_tenant(), await make_tenant()
    theirs = await insert_schedule(db, other)
    own = await insert_schedule(db, mine)
    not_found(await client.get(f"{URL}/{theirs['id']}", headers=mine.auth()))
    assert ids(await listed(client, mine)) == [own["id"]]
    assert ids(await listed(client, mine, "?subscriptionId=sub_A")) == [own["id"]]
    err(await client.get(f"{URL}?cursor={theirs['id']}", headers=mine.auth()), 400, "bad_request", "invalid_cursor")
    assert ids(await listed(client, other)) == [theirs["id"]]


async def test_modes_are_isolated(client: Any, tenant: Any, db: Database) -> None:
    test_row = await insert_schedule(db, tenant)
    live_row = await insert_schedule(db, tenant, "live")
    not_found(await client.get(f"{URL}/{live_row['id']}", headers=tenant.auth()))
    not_found(await client.get(f"{URL}/{test_row['id']}", headers=tenant.auth("live")))
    assert ids(await listed(client, tenant)) == [test_row["id"]]
    assert ids(await listed(client, tenant, mode="live")) == [live_row["id"]]
    assert ok(await client.get(f"{URL}/{live_row['id']}", headers=tenant.auth("live")))["id"] == live_row["id"]


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing_credential"),
        ({"Authorization": f"Bearer {unknown_key()}"}, "invalid_credential"),
        ({"Authorization": "Bearer not-a-key"}, "invalid_credential"),
    ],
)
async def test_wrong_credential_is_401(
    client: Any, tenant: Any, db: Database, headers: dict[str, str], reason: str
) -> None:
    row = await insert_schedule(db, tenant)
    err(await client.get(URL, headers=headers), 401, "unauthorized", reason)
    err(await client.get(f"{URL}/{row['id']}", headers=headers), 401, "unauthorized", reason)


@pytest.mark.parametrize("mode", ["test", "live"])
async def test_publishable_key_is_403(client: Any, tenant: Any, db: Database, mode: str) -> None:
    row = await insert_schedule(db, tenant, mode)
    pk = tenant.auth(mode, "publishable")
    err(await client.get(URL, headers=pk), 403, "forbidden", "publishable_key_not_allowed")
    err(await client.get(f"{URL}/{row['id']}", headers=pk), 403, "forbidden", "publishable_key_not_allowed")


async def test_openapi_documents_the_schedule_routes(client: Any) -> None:
    spec = ok(await client.get("/openapi.json"))
    for path in (URL, URL + "/{schedule_id}"):
        op = spec["paths"][path]["get"]
        assert {"200", "401", "403", "404", "422", "429", "500"} <= set(op["responses"]), path
        assert op["security"] == [{"bearer": []}]
    names = {p["name"] for p in spec["paths"][URL]["get"]["parameters"]}
    assert {"state", "subscriptionId", "customerId", "limit", "cursor"} <= names
    out = spec["components"]["schemas"]["DunningScheduleOut"]["properties"]
    assert set(out) == FIELDS


# --- a schedule the engine opened ---


async def test_a_schedule_opened_by_a_failed_renewal(client: Any, tenant: Any) -> None:
    clock = await make_clock(client, tenant, "2025-03-01T00:00:00Z")
    p = await plan(client, tenant, trialDays=3)
    c = await customer(client, tenant, card=DECLINE_NSF)
    sub = ok(await subscribe(client, tenant, customerId=c["id"], planId=p["id"], testClockId=clock["id"]), 201)
    await advance_clock(client, tenant, clock["id"], "2025-03-04T01:00:00Z")
    sub = ok(await client.get(f"/v1/subscriptions/{sub['id']}", headers=tenant.auth()))
    assert sub["status"] == "past_due"

    page = await listed(client, tenant, f"?subscriptionId={sub['id']}")
    assert len(page["items"]) == 1
    schedule = page["items"][0]
    assert set(schedule) == FIELDS
    assert schedule["id"].startswith("dun_")
    assert (schedule["invoiceId"], schedule["customerId"]) == (sub["latestInvoiceId"], c["id"])
    assert (schedule["amount"], schedule["currency"]) == (p["amount"], p["currency"])
    assert schedule["startedAt"] == "2025-03-04T00:00:00.000Z"  # clock time (03 §12)
    assert schedule["escalationAt"] == "2025-03-18T00:00:00.000Z"
    assert schedule["decisions"]
    assert all(set(d) == DECISION_FIELDS for d in schedule["decisions"])
    assert ok(await client.get(f"{URL}/{schedule['id']}", headers=tenant.auth())) == schedule
    assert ids(await listed(client, tenant, f"?customerId={c['id']}")) == [schedule["id"]]
