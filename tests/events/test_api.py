"""HTTP tests of /v1/events (05 §1, §2, §9) and of the customer events written by /v1/customers (03 §13.2)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text

from duro.db.engine import Database
from duro.kit.ids import new_id
from tests.http_assertions import err, invalid, not_found, ok

TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
EVT_ID = re.compile(r"^evt_[0-9A-HJKMNP-TV-Z]{26}$")
MISSING_ID = "evt_01AAAAAAAAAAAAAAAAAAAAAAAA"
EVENT_FIELDS = {"object", "id", "type", "createdAt", "livemode", "dispatchedAt", "data"}


# --- helpers ---


def assert_event_shape(evt: dict[str, Any], livemode: bool = False) -> None:
    # A retrieved event also lists its delivery status per endpoint (none here: no endpoints).
    assert set(evt) - {"deliveries"} == EVENT_FIELDS
    assert evt.get("deliveries", []) == []
    assert evt["object"] == "event"
    assert EVT_ID.match(evt["id"])
    assert TS.match(evt["createdAt"])
    assert evt["livemode"] is livemode
    assert evt["dispatchedAt"] is None
    assert isinstance(evt["data"], dict)
    assert "object" in evt["data"]


async def events(client: httpx.AsyncClient, headers: dict[str, str], **query: Any) -> list[dict[str, Any]]:
    body = ok(await client.get("/v1/events", params={"limit": 100, **query}, headers=headers))
    assert body["object"] == "list"
    assert body["hasMore"] is False
    items: list[dict[str, Any]] = body["items"]
    return items


async def new_events(client: httpx.AsyncClient, headers: dict[str, str], seen: int) -> list[dict[str, Any]]:
    """Events written since the list had `seen` items, oldest first."""
    items = await events(client, headers)
    return list(reversed(items[: len(items) - seen]))


async def create_customer(client: httpx.AsyncClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    cus: dict[str, Any] = ok(await client.post("/v1/customers", json=fields, headers=headers), 201)
    return cus


async def patch_customer(
    client: httpx.AsyncClient, headers: dict[str, str], cus_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    cus: dict[str, Any] = ok(await client.patch(f"/v1/customers/{cus_id}", json=body, headers=headers))
    return cus


async def insert_event(db: Database, tenant_id: str, mode: str, type_: str, created_at: datetime) -> str:
    """An event row as the outbox stores it, for retention tests that need an old `created_at`."""
    schema = {"test": "sandbox", "live": "live"}[mode]
    event_id = new_id("evt")
    async with db.core_transaction() as conn:
        await conn.execute(
            text(
                f"INSERT INTO {schema}.events (id, tenant_id, type, data, created_at)"
                " VALUES (:id, :tenant_id, :type, CAST(:data AS jsonb), :created_at)"
            ),
            {
                "id": event_id,
                "tenant_id": tenant_id,
                "type": type_,
                "data": orjson.dumps({"object": {"object": "customer", "id": "cus_x"}}).decode(),
                "created_at": created_at,
            },
        )
    return event_id


# --- customer_created ---


@pytest.mark.parametrize("mode", ["test", "live"])
async def test_customer_create_writes_customer_created(client: Any, tenant: Any, mode: str) -> None:
    cus = await create_customer(
        client, tenant.auth(mode), email="Ada@Example.com", phone="08012345678", metadata={"k": "v"}
    )
    body = ok(await client.get("/v1/events", headers=tenant.auth(mode)))
    assert set(body) == {"object", "items", "nextCursor", "hasMore"}
    assert body["nextCursor"] is None
    assert body["hasMore"] is False
    [evt] = body["items"]
    assert_event_shape(evt, livemode=(mode == "live"))
    assert evt["type"] == "customer_created"
    assert evt["data"] == {"object": cus}
    assert evt["createdAt"] >= cus["createdAt"]
    got = ok(await client.get(f"/v1/customers/{cus['id']}", headers=tenant.auth(mode)))
    assert evt["data"]["object"] == got


@pytest.mark.parametrize("mode", ["test", "live"])
async def test_retrieve_event(client: Any, tenant: Any, mode: str) -> None:
    cus = await create_customer(client, tenant.auth(mode), name="Ada")
    [listed] = await events(client, tenant.auth(mode))
    got = ok(await client.get(f"/v1/events/{listed['id']}", headers=tenant.auth(mode)))
    assert_event_shape(got, livemode=(mode == "live"))
    assert got.pop("deliveries") == []  # retrieve adds the delivery status per endpoint (none here)
    assert got == listed
    assert got["data"]["object"] == cus


# --- customer_updated ---


async def test_patch_writes_customer_updated_with_previous_attributes(client: Any, tenant: Any) -> None:
    h = tenant.auth()
    cus = await create_customer(client, h, name="Old", email="old@example.com", metadata={"a": "1"}, merchantRef="r")
    updated = await patch_customer(
        client, h, cus["id"], {"name": "New", "phone": "+234 801 234 5678", "metadata": {"b": "2"}, "merchantRef": "r"}
    )
    [created, evt] = await new_events(client, h, 0)
    assert created["type"] == "customer_created"
    assert_event_shape(evt)
    assert evt["type"] == "customer_updated"
    assert evt["data"] == {
        "object": updated,
        "previousAttributes": {"name": "Old", "phone": None, "metadata": {"a": "1"}},
    }
    assert evt["id"] > created["id"]


async def test_patch_to_null_records_the_old_value(client: Any, tenant: Any) -> None:
    cus = await create_customer(client, tenant.auth(), email="a@example.com", name="A")
    updated = await patch_customer(client, tenant.auth(), cus["id"], {"email": None})
    [evt] = await new_events(client, tenant.auth(), 1)
    assert evt["data"] == {"object": updated, "previousAttributes": {"email": "a@example.com"}}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": "Same"},
        {"email": "SAME@example.com ", "phone": "2348012345678"},
        {"metadata": {"k": "v"}, "merchantRef": "ref"},
        {"defaultPaymentMethodId": None},
    ],
)
async def test_patch_that_changes_nothing_emits_nothing(client: Any, tenant: Any, body: dict[str, Any]) -> None:
    cus = await create_customer(
        client,
        tenant.auth(),
        name="Same",
        email="same@example.com",
        phone="08012345678",
        metadata={"k": "v"},
        merchantRef="ref",
    )
    assert await patch_customer(client, tenant.auth(), cus["id"], body) == cus
    assert [e["type"] for e in await events(client, tenant.auth())] == ["customer_created"]


async def test_blacklist_changes_emit_customer_updated(client: Any, tenant: Any) -> None:
    h = tenant.auth()
    cus = await create_customer(client, h, name="Eve")
    url = f"/v1/customers/{cus['id']}/blacklist"
    first = ok(await client.post(url, json={"reason": "first"}, headers=h))
    ok(await client.post(url, json={"reason": "first"}, headers=h))  # unchanged: no event
    second = ok(await client.post(url, json={"reason": "second"}, headers=h))
    cleared = ok(await client.delete(url, headers=h))
    ok(await client.delete(url, headers=h))  # unchanged: no event

    emitted = await new_events(client, h, 1)
    assert [e["type"] for e in emitted] == ["customer_updated"] * 3
    for evt in emitted:
        assert_event_shape(evt)
    assert [e["data"] for e in emitted] == [
        {
            "object": first,
            "previousAttributes": {"blacklisted": False, "blacklistReason": None, "blacklistedAt": None},
        },
        {"object": second, "previousAttributes": {"blacklistReason": "first"}},
        {
            "object": cleared,
            "previousAttributes": {
                "blacklisted": True,
                "blacklistReason": "second",
                "blacklistedAt": first["blacklistedAt"],
            },
        },
    ]
    assert emitted[0]["id"] < emitted[1]["id"] < emitted[2]["id"]


async def test_live_customer_updated_has_livemode_true(client: Any, tenant: Any) -> None:
    cus = await create_customer(client, tenant.auth("live"))
    updated = await patch_customer(client, tenant.auth("live"), cus["id"], {"name": "Live"})
    [evt] = await new_events(client, tenant.auth("live"), 1)
    assert_event_shape(evt, livemode=True)
    assert evt["data"] == {"object": updated, "previousAttributes": {"name": None}}


async def test_plan_changes_emit_no_events(client: Any, tenant: Any) -> None:
    r = await client.post("/v1/plans", json={"name": "P", "amount": 1, "interval": "day"}, headers=tenant.auth())
    plan = ok(r, 201)
    ok(await client.patch(f"/v1/plans/{plan['id']}", json={"active": False}, headers=tenant.auth()))
    assert await events(client, tenant.auth()) == []


# --- failed requests write no event ---


async def test_failed_requests_write_no_event(client: Any, tenant: Any) -> None:
    h = tenant.auth()
    taken = await create_customer(client, h, merchantRef="taken")
    other = await create_customer(client, h, merchantRef="other")
    before = await events(client, h)
    assert len(before) == 2

    r = await client.post("/v1/customers", json={"merchantRef": "taken", "name": "x"}, headers=h)
    err(r, 409, "conflict", "duplicate_merchant_ref")
    r = await client.patch(f"/v1/customers/{other['id']}", json={"merchantRef": "taken", "name": "y"}, headers=h)
    err(r, 409, "conflict", "duplicate_merchant_ref")
    invalid(await client.post("/v1/customers", json={"email": "bad"}, headers=h), "email", "not a valid email")
    invalid(await client.patch(f"/v1/customers/{taken['id']}", json={"metadata": None}, headers=h), "metadata", "null")
    r = await client.patch(
        f"/v1/customers/{taken['id']}",
        json={"name": "z", "defaultPaymentMethodId": "pm_01AAAAAAAAAAAAAAAAAAAAAAAA"},
        headers=h,
    )
    not_found(r)
    invalid(await client.post(f"/v1/customers/{taken['id']}/blacklist", json={"reason": ""}, headers=h), "reason", "")
    not_found(
        await client.post("/v1/customers/cus_01AAAAAAAAAAAAAAAAAAAAAAAA/blacklist", json={"reason": "x"}, headers=h)
    )
    r = await client.post("/v1/customers", content=b"{", headers={**h, "Content-Type": "application/json"})
    err(r, 400, "bad_request", "malformed_json")
    r = await client.post("/v1/customers", json={"name": "pk"}, headers=tenant.auth("test", "publishable"))
    err(r, 403, "forbidden", "publishable_key_not_allowed")
    err(await client.post("/v1/customers", json={"name": "anon"}), 401, "unauthorized", "missing_credential")

    assert await events(client, h) == before
    assert ok(await client.get(f"/v1/customers/{other['id']}", headers=h)) == other


# --- GET /v1/events ---


async def test_list_is_newest_first_and_paginates(client: Any, tenant: Any) -> None:
    h = tenant.auth()
    cus = await create_customer(client, h, name="0")
    for i in range(1, 5):
        await patch_customer(client, h, cus["id"], {"name": str(i)})
    all_items = await events(client, h)
    assert [e["type"] for e in all_items] == ["customer_updated"] * 4 + ["customer_created"]
    assert [e["data"]["object"]["name"] for e in all_items] == ["4", "3", "2", "1", "0"]
    ids = [e["id"] for e in all_items]
    assert ids == sorted(ids, reverse=True)

    page1 = ok(await client.get("/v1/events?limit=2", headers=h))
    assert [e["id"] for e in page1["items"]] == ids[:2]
    assert page1["hasMore"] is True
    assert page1["nextCursor"] == ids[1]
    page2 = ok(await client.get("/v1/events", params={"limit": 2, "cursor": page1["nextCursor"]}, headers=h))
    assert [e["id"] for e in page2["items"]] == ids[2:4]
    assert page2["nextCursor"] == ids[3]
    page3 = ok(await client.get("/v1/events", params={"limit": 2, "cursor": page2["nextCursor"]}, headers=h))
    assert [e["id"] for e in page3["items"]] == ids[4:]
    assert page3["hasMore"] is False
    assert page3["nextCursor"] is None


async def test_list_empty(client: Any, tenant: Any) -> None:
    body = ok(await client.get("/v1/events", headers=tenant.auth()))
    assert body == {"object": "list", "items": [], "nextCursor": None, "hasMore": False}


async def test_list_filter_by_type(client: Any, tenant: Any) -> None:
    h = tenant.auth()
    a = await create_customer(client, h)
    b = await create_customer(client, h)
    await patch_customer(client, h, a["id"], {"name": "A"})
    created = await events(client, h, type="customer_created")
    assert [e["data"]["object"]["id"] for e in created] == [b["id"], a["id"]]
    assert {e["type"] for e in created} == {"customer_created"}
    updated = await events(client, h, type="customer_updated")
    assert [(e["type"], e["data"]["object"]["id"]) for e in updated] == [("customer_updated", a["id"])]
    assert await events(client, h, type="invoice_paid") == []
    assert await events(client, h, type="CUSTOMER_CREATED") == []


async def test_type_filter_paginates_within_the_type(client: Any, tenant: Any) -> None:
    h = tenant.auth()
    made = [await create_customer(client, h) for _ in range(3)]
    await patch_customer(client, h, made[0]["id"], {"name": "x"})
    page1 = ok(await client.get("/v1/events", params={"type": "customer_created", "limit": 2}, headers=h))
    assert [e["data"]["object"]["id"] for e in page1["items"]] == [made[2]["id"], made[1]["id"]]
    assert page1["hasMore"] is True
    r = await client.get(
        "/v1/events", params={"type": "customer_created", "limit": 2, "cursor": page1["nextCursor"]}, headers=h
    )
    page2 = ok(r)
    assert [e["data"]["object"]["id"] for e in page2["items"]] == [made[0]["id"]]
    assert page2["hasMore"] is False


@pytest.mark.parametrize(
    ("query", "path", "issue"),
    [
        ({"limit": "0"}, "limit", "greater than or equal to 1"),
        ({"limit": "101"}, "limit", "less than or equal to 100"),
        ({"limit": "x"}, "limit", "valid integer"),
        ({"type": "t" * 81}, "type", "at most 80"),
        ({"createdGte": "2025-01-01T00:00:00"}, "createdGte", "timezone"),
        ({"createdLt": "yesterday"}, "createdLt", "datetime"),
    ],
)
async def test_list_rejects_invalid_query(
    client: Any, tenant: Any, query: dict[str, str], path: str, issue: str
) -> None:
    invalid(await client.get("/v1/events", params=query, headers=tenant.auth()), path, issue)


async def test_list_created_range_filters(client: Any, tenant: Any) -> None:
    await create_customer(client, tenant.auth())
    [evt] = await events(client, tenant.auth())
    assert await events(client, tenant.auth(), createdGte=evt["createdAt"]) == [evt]
    assert await events(client, tenant.auth(), createdLt=evt["createdAt"]) == []
    assert await events(client, tenant.auth(), createdGte="2999-01-01T00:00:00+01:00") == []


async def test_list_rejects_invalid_cursors(client: Any, make_tenant: Any) -> None:
    a = await make_tenant()
    b = await make_tenant()
    await create_customer(client, a.auth())
    mine = await create_customer(client, a.auth())
    await patch_customer(client, a.auth(), mine["id"], {"name": "x"})
    await create_customer(client, b.auth())
    await create_customer(client, a.auth("live"))
    [theirs] = await events(client, b.auth())
    [live] = await events(client, a.auth("live"))
    [updated] = await events(client, a.auth(), type="customer_updated")
    for cursor in (MISSING_ID, theirs["id"], live["id"], mine["id"], "nonsense"):
        r = await client.get("/v1/events", params={"cursor": cursor}, headers=a.auth())
        assert err(r, 400, "bad_request", "invalid_cursor")["details"] == []
    r = await client.get("/v1/events", params={"cursor": updated["id"], "type": "customer_created"}, headers=a.auth())
    err(r, 400, "bad_request", "invalid_cursor")


# --- retention ---


async def test_events_past_retention_are_gone(client: Any, tenant: Any, db: Database, settings: Any) -> None:
    now = datetime.now(UTC)
    old = await insert_event(db, tenant.id, "test", "customer_created", now - timedelta(days=91))
    recent = await insert_event(db, tenant.id, "test", "customer_created", now - timedelta(days=89))
    assert settings.event_retention_days == 90
    not_found(await client.get(f"/v1/events/{old}", headers=tenant.auth()))
    assert ok(await client.get(f"/v1/events/{recent}", headers=tenant.auth()))["id"] == recent
    assert [e["id"] for e in await events(client, tenant.auth())] == [recent]
    r = await client.get("/v1/events", params={"createdGte": "2000-01-01T00:00:00Z"}, headers=tenant.auth())
    assert [e["id"] for e in ok(r)["items"]] == [recent]


# --- GET /v1/events/{id}: 404 ---


async def test_retrieve_unknown_event_is_404(client: Any, tenant: Any) -> None:
    assert not_found(await client.get(f"/v1/events/{MISSING_ID}", headers=tenant.auth()))["details"] == []
    not_found(await client.get("/v1/events/not-an-id", headers=tenant.auth()))


async def test_nul_in_path_query_or_cursor_is_not_a_server_error(client: Any, tenant: Any) -> None:
    await create_customer(client, tenant.auth())
    [evt] = await events(client, tenant.auth())
    not_found(await client.get("/v1/events/evt_%00", headers=tenant.auth()))
    r = await client.get("/v1/events", params={"cursor": evt["id"] + "\x00"}, headers=tenant.auth())
    err(r, 400, "bad_request", "invalid_cursor")
    invalid(await client.get("/v1/events", params={"type": "customer\x00"}, headers=tenant.auth()), "type", "printable")


async def test_other_tenants_event_is_404(client: Any, make_tenant: Any) -> None:
    owner = await make_tenant()
    intruder = await make_tenant()
    await create_customer(client, owner.auth(), name="Victim")
    [evt] = await events(client, owner.auth())
    not_found(await client.get(f"/v1/events/{evt['id']}", headers=intruder.auth()))
    not_found(await client.get(f"/v1/events/{evt['id']}", headers=intruder.auth("live")))
    assert ok(await client.get(f"/v1/events/{evt['id']}", headers=owner.auth())) == {**evt, "deliveries": []}
    assert await events(client, intruder.auth()) == []


async def test_other_modes_event_is_404(client: Any, tenant: Any) -> None:
    await create_customer(client, tenant.auth())
    await create_customer(client, tenant.auth("live"))
    [test_evt] = await events(client, tenant.auth())
    [live_evt] = await events(client, tenant.auth("live"))
    not_found(await client.get(f"/v1/events/{test_evt['id']}", headers=tenant.auth("live")))
    not_found(await client.get(f"/v1/events/{live_evt['id']}", headers=tenant.auth()))
    assert ok(await client.get(f"/v1/events/{test_evt['id']}", headers=tenant.auth())) == {**test_evt, "deliveries": []}
    got_live = ok(await client.get(f"/v1/events/{live_evt['id']}", headers=tenant.auth("live")))
    assert got_live == {**live_evt, "deliveries": []}


async def test_lists_are_separated_by_mode_and_tenant(client: Any, make_tenant: Any) -> None:
    a = await make_tenant()
    b = await make_tenant()
    a_test = await create_customer(client, a.auth())
    a_live = await create_customer(client, a.auth("live"))
    b_test = await create_customer(client, b.auth())
    a_test_events = await events(client, a.auth())
    a_live_events = await events(client, a.auth("live"))
    assert [(e["data"]["object"]["id"], e["livemode"]) for e in a_test_events] == [(a_test["id"], False)]
    assert [(e["data"]["object"]["id"], e["livemode"]) for e in a_live_events] == [(a_live["id"], True)]
    assert [e["data"]["object"]["id"] for e in await events(client, b.auth())] == [b_test["id"]]
    assert await events(client, b.auth("live")) == []


async def test_events_are_read_only(client: Any, tenant: Any) -> None:
    await create_customer(client, tenant.auth())
    [evt] = await events(client, tenant.auth())
    err(await client.post("/v1/events", json={}, headers=tenant.auth()), 404, "not_found", "unknown_route")
    r = await client.delete(f"/v1/events/{evt['id']}", headers=tenant.auth())
    err(r, 404, "not_found", "unknown_route")
    assert await events(client, tenant.auth()) == [evt]


# --- 401 / 403 ---


async def test_every_endpoint_rejects_missing_or_invalid_credentials(client: Any, tenant: Any) -> None:
    await create_customer(client, tenant.auth())
    [evt] = await events(client, tenant.auth())
    cases = [
        ({}, "missing_credential"),
        ({"Authorization": f"Basic {tenant.test_secret}"}, "invalid_credential"),
        ({"Authorization": "Bearer"}, "invalid_credential"),
        ({"Authorization": "Bearer sk_test_nope"}, "invalid_credential"),
        (
            {"Authorization": f"Bearer {tenant.test_secret[:-1]}{'A' if tenant.test_secret[-1] != 'A' else 'B'}"},
            "invalid_credential",
        ),
        ({"Authorization": "Bearer x.y.z"}, "invalid_credential"),
    ]
    for headers, reason in cases:
        for url in ("/v1/events", f"/v1/events/{evt['id']}"):
            assert err(await client.get(url, headers=headers), 401, "unauthorized", reason)["details"] == []


async def test_revoked_key_is_rejected(client: Any, tenant: Any, revoke_key: Any) -> None:
    await create_customer(client, tenant.auth("live"))
    [evt] = await events(client, tenant.auth("live"))
    await revoke_key(tenant, "live", "secret")
    for url in ("/v1/events", f"/v1/events/{evt['id']}"):
        err(await client.get(url, headers=tenant.auth("live")), 401, "unauthorized", "invalid_credential")


@pytest.mark.parametrize("mode", ["test", "live"])
async def test_publishable_key_is_forbidden(client: Any, tenant: Any, mode: str) -> None:
    await create_customer(client, tenant.auth(mode))
    [evt] = await events(client, tenant.auth(mode))
    for url in ("/v1/events", f"/v1/events/{evt['id']}", "/v1/events?type=customer_created"):
        r = await client.get(url, headers=tenant.auth(mode, "publishable"))
        assert err(r, 403, "forbidden", "publishable_key_not_allowed")["details"] == []
