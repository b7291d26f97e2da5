"""Keyset pagination of /v1 lists (01 §7): `limit` 1-100 (default 20), `cursor` = id of the last item,
order `createdAt desc, id desc`, and no duplicates or gaps while rows are being inserted."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from duro.customers.repository import CustomerRepository
from duro.db.engine import Database, Mode
from duro.kit.clock import SystemClock
from duro.kit.ids import new_id
from duro.models.customers import customers
from tests.conftest import TenantKeys

LISTS = ["/v1/customers", "/v1/plans", "/v1/events"]


async def seed_customers(db: Database, tenant_id: str, n: int, mode: Mode = "test") -> list[str]:
    """`n` customers an hour in the past, ids in insertion order, with many `created_at` ties and
    `created_at` deliberately not following id order, so both sort keys matter. Returns the expected
    list order (createdAt desc, id desc)."""
    base = SystemClock().now() - timedelta(hours=1)
    rows: list[tuple[Any, str]] = []
    async with db.transaction(mode) as conn:
        repo = CustomerRepository(conn, tenant_id)
        for i in range(n):
            created = base + timedelta(milliseconds=(i * 37) % max(2, n // 4))
            cid = new_id("cus")
            await repo.insert_row(
                {"id": cid, "name": f"seed {i}", "metadata": {}, "created_at": created, "updated_at": created}
            )
            rows.append((created, cid))
    assert len({c for c, _ in rows}) < n  # there really are ties
    return [cid for _, cid in sorted(rows, reverse=True)]


async def customer_count(db: Database, tenant_id: str) -> int:
    async with db.transaction("test") as conn:
        stmt = select(func.count()).select_from(customers).where(customers.c.tenant_id == tenant_id)
        return int((await conn.execute(stmt)).scalar_one())


def sort_key(item: dict[str, Any]) -> tuple[str, str]:
    # createdAt is fixed-width `YYYY-MM-DDTHH:MM:SS.mmmZ`, so string order is time order.
    return item["createdAt"], item["id"]


async def test_walk_with_concurrent_inserts_has_no_duplicates_or_gaps(
    client: Any, tenant: TenantKeys, db: Database
) -> None:
    expected = await seed_customers(db, tenant.id, 250)
    inserted: list[str] = []
    progress = asyncio.Event()
    stop = asyncio.Event()

    async def inserter(tag: str) -> None:
        n = 0
        while not stop.is_set():
            r = await client.post("/v1/customers", json={"name": f"late {tag} {n}"}, headers=tenant.auth())
            assert r.status_code == 201, r.text
            inserted.append(r.json()["id"])
            n += 1
            progress.set()

    async def inserts_happen(count: int) -> None:
        target = len(inserted) + count
        while len(inserted) < target:
            progress.clear()
            await progress.wait()

    tasks = [asyncio.create_task(inserter(tag)) for tag in ("a", "b")]
    try:
        await inserts_happen(2)
        pages: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100}
            if cursor is not None:
                params["cursor"] = cursor
            r = await client.get("/v1/customers", params=params, headers=tenant.auth())
            assert r.status_code == 200, r.text
            page = r.json()
            pages.append(page)
            if not page["hasMore"]:
                break
            cursor = page["nextCursor"]
            # Rows land between every two page reads.
            await inserts_happen(3)
        inserted_before_stop = len(inserted)
    finally:
        stop.set()
        await asyncio.gather(*tasks)

    walked = [item for page in pages for item in page["items"]]
    ids = [item["id"] for item in walked]
    assert len(ids) == len(set(ids)), "an item was listed twice"
    assert [i for i in ids if i in set(expected)] == expected, "a seeded item is missing or out of order"
    assert set(ids) - set(expected) <= set(inserted)
    assert [sort_key(i) for i in walked] == sorted((sort_key(i) for i in walked), reverse=True)
    assert len(pages) >= 3
    for page in pages[:-1]:
        assert len(page["items"]) == 100
        assert page["nextCursor"] == page["items"][-1]["id"]
    assert pages[-1]["nextCursor"] is None
    assert inserted_before_stop >= 2 + 3 * (len(pages) - 1)
    assert await customer_count(db, tenant.id) == 250 + len(inserted)


async def test_order_is_created_at_desc_then_id_desc(client: Any, tenant: TenantKeys, db: Database) -> None:
    expected = await seed_customers(db, tenant.id, 60)
    r = await client.get("/v1/customers", params={"limit": 100}, headers=tenant.auth())
    body = r.json()
    assert [c["id"] for c in body["items"]] == expected
    assert body["hasMore"] is False
    assert body["nextCursor"] is None


async def test_rows_written_in_order_list_in_reverse(client: Any, tenant: TenantKeys) -> None:
    created = await client.post("/v1/customers", json={"name": "Ada"}, headers=tenant.auth())
    cid = created.json()["id"]
    updated = await client.patch(f"/v1/customers/{cid}", json={"name": "Ada L."}, headers=tenant.auth())
    other = await client.post("/v1/customers", json={"name": "Bob"}, headers=tenant.auth())
    assert created.status_code == other.status_code == 201
    assert updated.status_code == 200
    events = (await client.get("/v1/events", headers=tenant.auth())).json()["items"]
    assert [(e["type"], e["data"]["object"]["id"]) for e in events] == [
        ("customer_created", other.json()["id"]),
        ("customer_updated", cid),
        ("customer_created", cid),
    ]


async def test_default_limit_is_20(client: Any, tenant: TenantKeys, db: Database) -> None:
    expected = await seed_customers(db, tenant.id, 25)
    r = await client.get("/v1/customers", headers=tenant.auth())
    body = r.json()
    assert set(body) == {"object", "items", "nextCursor", "hasMore"}
    assert body["object"] == "list"
    assert [c["id"] for c in body["items"]] == expected[:20]
    assert body["hasMore"] is True
    assert body["nextCursor"] == expected[19]

    rest = (await client.get("/v1/customers", params={"cursor": body["nextCursor"]}, headers=tenant.auth())).json()
    assert [c["id"] for c in rest["items"]] == expected[20:]
    assert rest["hasMore"] is False
    assert rest["nextCursor"] is None


async def test_exactly_full_last_page_has_no_more(client: Any, tenant: TenantKeys, db: Database) -> None:
    expected = await seed_customers(db, tenant.id, 10)
    r = (await client.get("/v1/customers", params={"limit": 10}, headers=tenant.auth())).json()
    assert [c["id"] for c in r["items"]] == expected
    assert r["hasMore"] is False
    assert r["nextCursor"] is None


@pytest.mark.parametrize("path", LISTS)
async def test_empty_list(client: Any, tenant: TenantKeys, path: str) -> None:
    r = await client.get(path, headers=tenant.auth())
    assert r.status_code == 200
    assert r.json() == {"object": "list", "items": [], "nextCursor": None, "hasMore": False}


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5", ""])
async def test_limit_out_of_range_is_422(client: Any, tenant: TenantKeys, path: str, limit: str) -> None:
    r = await client.get(path, params={"limit": limit}, headers=tenant.auth())
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert [d["path"] for d in error["details"]] == ["limit"]


@pytest.mark.parametrize("limit", [1, 100])
async def test_limit_bounds_are_accepted(client: Any, tenant: TenantKeys, db: Database, limit: int) -> None:
    await seed_customers(db, tenant.id, 101)
    body = (await client.get("/v1/customers", params={"limit": limit}, headers=tenant.auth())).json()
    assert len(body["items"]) == limit
    assert body["hasMore"] is True


async def invalid_cursor(client: httpx.AsyncClient, path: str, cursor: str, tenant: TenantKeys, **params: Any) -> None:
    r = await client.get(path, params={"cursor": cursor, **params}, headers=tenant.auth())
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert (error["code"], error["reason"]) == ("bad_request", "invalid_cursor")


async def test_cursor_of_another_tenant_is_invalid(client: Any, make_tenant: Any) -> None:
    acme: TenantKeys = await make_tenant("Acme")
    globex: TenantKeys = await make_tenant("Globex")
    foreign = (await client.post("/v1/customers", json={"name": "G"}, headers=globex.auth())).json()["id"]
    await client.post("/v1/customers", json={"name": "A"}, headers=acme.auth())
    await invalid_cursor(client, "/v1/customers", foreign, acme)
    # The same cursor is fine for its owner.
    ok = await client.get("/v1/customers", params={"cursor": foreign}, headers=globex.auth())
    assert ok.status_code == 200
    assert ok.json()["items"] == []


async def test_cursor_of_another_mode_is_invalid(client: Any, tenant: TenantKeys) -> None:
    live_id = (await client.post("/v1/customers", json={"name": "L"}, headers=tenant.auth("live"))).json()["id"]
    await client.post("/v1/customers", json={"name": "T"}, headers=tenant.auth("test"))
    await invalid_cursor(client, "/v1/customers", live_id, tenant)


async def test_cursor_of_another_list_or_unknown_is_invalid(client: Any, tenant: TenantKeys) -> None:
    plan = await client.post(
        "/v1/plans", json={"name": "Pro", "amount": 1000, "interval": "month"}, headers=tenant.auth()
    )
    customer = await client.post("/v1/customers", json={"name": "C"}, headers=tenant.auth())
    await invalid_cursor(client, "/v1/customers", plan.json()["id"], tenant)
    await invalid_cursor(client, "/v1/plans", customer.json()["id"], tenant)
    await invalid_cursor(client, "/v1/customers", "cus_01JGFJJZ4V8Q2M6T3X9K0D5R7B", tenant)
    await invalid_cursor(client, "/v1/customers", "garbage", tenant)
    await invalid_cursor(client, "/v1/events", customer.json()["id"], tenant)


async def test_cursor_outside_the_filtered_list_is_invalid(client: Any, tenant: TenantKeys) -> None:
    listed = await client.post("/v1/customers", json={"name": "Listed"}, headers=tenant.auth())
    blocked = await client.post("/v1/customers", json={"name": "Blocked"}, headers=tenant.auth())
    r = await client.post(
        f"/v1/customers/{blocked.json()['id']}/blacklist", json={"reason": "fraud"}, headers=tenant.auth()
    )
    assert r.status_code == 200
    await invalid_cursor(client, "/v1/customers", listed.json()["id"], tenant, blacklisted="true")
    ok = await client.get(
        "/v1/customers", params={"cursor": blocked.json()["id"], "blacklisted": "true"}, headers=tenant.auth()
    )
    assert ok.status_code == 200
