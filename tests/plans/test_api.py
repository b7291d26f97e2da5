"""HTTP tests of /v1/plans (03 §1.1, §13.1) through the real ASGI app and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from duro.db.engine import Database
from tests.http_assertions import err, invalid, ok, unknown_key

TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
PLAN_ID = re.compile(r"^plan_[0-9A-HJKMNP-TV-Z]{26}$")

PLAN_FIELDS = {
    "object",
    "id",
    "name",
    "description",
    "amount",
    "currency",
    "interval",
    "intervalCount",
    "trialDays",
    "maxCycles",
    "active",
    "metadata",
    "createdAt",
    "updatedAt",
}
BASE = {"name": "Pro Monthly", "amount": 500000, "interval": "month"}
INTERVAL_MAX = {
    "hour": 8760,
    "day": 1095,
    "week": 156,
    "month": 36,
    "quarter": 12,
    "biannual": 6,
    "year": 3,
}


# --- helpers ---


def assert_plan_shape(plan: dict[str, Any]) -> None:
    assert set(plan) == PLAN_FIELDS
    assert plan["object"] == "plan"
    assert PLAN_ID.match(plan["id"])
    assert TS.match(plan["createdAt"])
    assert TS.match(plan["updatedAt"])
    assert plan["updatedAt"] >= plan["createdAt"]


async def create_plan(client: httpx.AsyncClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    plan: dict[str, Any] = ok(await client.post("/v1/plans", json={**BASE, **fields}, headers=headers), 201)
    assert_plan_shape(plan)
    return plan


async def read_plan(client: httpx.AsyncClient, headers: dict[str, str], plan_id: str) -> dict[str, Any]:
    plan: dict[str, Any] = ok(await client.get(f"/v1/plans/{plan_id}", headers=headers))
    return plan


async def list_ids(client: httpx.AsyncClient, headers: dict[str, str], query: str = "") -> list[str]:
    body = ok(await client.get(f"/v1/plans?limit=100{query}", headers=headers))
    return [p["id"] for p in body["items"]]


# --- POST /v1/plans: happy paths ---


async def test_create_minimal_plan_has_every_documented_field(client: Any, tenant: Any) -> None:
    r = await client.post("/v1/plans", json=BASE, headers=tenant.auth())
    plan = ok(r, 201)
    assert_plan_shape(plan)
    assert plan == {
        "object": "plan",
        "id": plan["id"],
        "name": "Pro Monthly",
        "description": None,
        "amount": 500000,
        "currency": "NGN",
        "interval": "month",
        "intervalCount": 1,
        "trialDays": 0,
        "maxCycles": None,
        "active": True,
        "metadata": {},
        "createdAt": plan["createdAt"],
        "updatedAt": plan["createdAt"],
    }


async def test_create_plan_with_every_field(client: Any, tenant: Any) -> None:
    body = {
        "name": "Gold Quarterly",
        "amount": 1_500_000,
        "interval": "quarter",
        "currency": "USD",
        "intervalCount": 2,
        "trialDays": 14,
        "maxCycles": 12,
        "description": "Two quarters at a time",
        "metadata": {"tier": "gold", "sku.id": "G-1", "x_y-z": ""},
    }
    plan = ok(await client.post("/v1/plans", json=body, headers=tenant.auth()), 201)
    assert_plan_shape(plan)
    for key, value in body.items():
        assert plan[key] == value, key
    assert plan["active"] is True
    assert await read_plan(client, tenant.auth(), plan["id"]) == plan


async def test_create_accepts_amount_bounds_and_unicode(client: Any, tenant: Any) -> None:
    free = await create_plan(client, tenant.auth(), amount=0, name="Ẹ̀kọ́ Free ₦")
    top = await create_plan(client, tenant.auth(), amount=1_000_000_000_000)
    assert free["amount"] == 0
    assert free["name"] == "Ẹ̀kọ́ Free ₦"
    assert top["amount"] == 1_000_000_000_000


async def test_create_default_currency_is_ngn(client: Any, tenant: Any) -> None:
    test_plan = await create_plan(client, tenant.auth())
    live_plan = await create_plan(client, tenant.auth("live"))
    assert test_plan["currency"] == "NGN"
    assert live_plan["currency"] == "NGN"


async def test_create_default_currency_comes_from_the_tenant(client: Any, make_tenant: Any, db: Database) -> None:
    usd = await make_tenant("Dollar Shop")
    ngn = await make_tenant("Naira Shop")
    async with db.core_transaction() as conn:
        await conn.execute(text("UPDATE core.tenants SET default_currency = 'USD' WHERE id = :t"), {"t": usd.id})
    assert (await create_plan(client, usd.auth()))["currency"] == "USD"
    assert (await create_plan(client, usd.auth("live")))["currency"] == "USD"
    assert (await create_plan(client, usd.auth(), currency="GBP"))["currency"] == "GBP"
    assert (await create_plan(client, ngn.auth()))["currency"] == "NGN"


@pytest.mark.parametrize("currency", ["NGN", "USD", "GBP", "EUR", "GHS", "KES", "ZAR"])
async def test_create_accepts_every_configured_currency(client: Any, tenant: Any, currency: str) -> None:
    assert (await create_plan(client, tenant.auth(), currency=currency))["currency"] == currency


@pytest.mark.parametrize(("interval", "top"), sorted(INTERVAL_MAX.items()))
async def test_create_accepts_the_longest_interval_count(client: Any, tenant: Any, interval: str, top: int) -> None:
    plan = await create_plan(client, tenant.auth(), interval=interval, intervalCount=top)
    assert plan["interval"] == interval
    assert plan["intervalCount"] == top


async def test_create_ignores_client_request_id(client: Any, tenant: Any) -> None:
    mine = "req_01AAAAAAAAAAAAAAAAAAAAAAAA"
    r = await client.post("/v1/plans", json=BASE, headers={**tenant.auth(), "X-Request-Id": mine})
    ok(r, 201)
    assert r.headers["x-request-id"] != mine


async def test_create_accepts_json_with_charset(client: Any, tenant: Any) -> None:
    headers = {**tenant.auth(), "Content-Type": "application/json; charset=utf-8"}
    r = await client.post("/v1/plans", content=b'{"name":"A","amount":1,"interval":"day"}', headers=headers)
    assert ok(r, 201)["name"] == "A"


# --- POST /v1/plans: 422 ---


@pytest.mark.parametrize(
    ("field", "value", "issue"),
    [
        ("amount", "500000", "valid integer"),
        ("amount", 5000.0, "valid integer"),
        ("amount", 5000.5, "valid integer"),
        ("amount", True, "valid integer"),
        ("amount", None, "valid integer"),
        ("amount", -1, "greater than or equal to 0"),
        ("amount", 1_000_000_000_001, "less than or equal to 1000000000000"),
        ("name", "", "at least 1"),
        ("name", "x" * 121, "at most 120"),
        ("name", 7, "valid string"),
        ("interval", "fortnight", "hour"),
        ("interval", "MONTH", "month"),
        ("currency", "usd", "must be one of"),
        ("currency", "XAF", "must be one of"),
        ("intervalCount", 0, "greater than or equal to 1"),
        ("intervalCount", "2", "valid integer"),
        ("trialDays", -1, "greater than or equal to 0"),
        ("trialDays", 731, "less than or equal to 730"),
        ("trialDays", 1.0, "valid integer"),
        ("maxCycles", 0, "greater than or equal to 1"),
        ("maxCycles", 1001, "less than or equal to 1000"),
        ("description", "d" * 501, "at most 500"),
        ("metadata", ["a"], "valid dictionary"),
        ("metadata", {f"k{i}": "v" for i in range(51)}, "at most 50 keys"),
        ("metadata", {"bad key": "v"}, "must be 1-40 characters"),
        ("metadata", {"k" * 41: "v"}, "must be 1-40 characters"),
        ("metadata", {"": "v"}, "must be 1-40 characters"),
        ("metadata", {"ké": "v"}, "must be 1-40 characters"),
        ("metadata", {"k": "v" * 501}, "at most 500 characters"),
    ],
)
async def test_create_rejects_invalid_field(client: Any, tenant: Any, field: str, value: Any, issue: str) -> None:
    r = await client.post("/v1/plans", json={**BASE, field: value}, headers=tenant.auth())
    e = invalid(r, field, issue)
    assert e["message"].startswith(field)
    assert await list_ids(client, tenant.auth()) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [("name", "Pro\x00"), ("description", "a\x00b"), ("metadata", {"k": "v\x00"})],
)
async def test_create_rejects_nul_characters(client: Any, tenant: Any, field: str, value: Any) -> None:
    # PostgreSQL cannot store U+0000: it must be refused as input, not fail as a 500.
    r = await client.post("/v1/plans", json={**BASE, field: value}, headers=tenant.auth())
    invalid(r, field, "NUL")
    assert await list_ids(client, tenant.auth()) == []


async def test_nul_in_path_id_or_cursor_is_not_a_server_error(client: Any, tenant: Any) -> None:
    plan = await create_plan(client, tenant.auth())
    not_found_ = ("not_found", "resource_missing")
    err(await client.get("/v1/plans/plan_%00", headers=tenant.auth()), 404, *not_found_)
    err(await client.patch("/v1/plans/plan_%00", json={"name": "x"}, headers=tenant.auth()), 404, *not_found_)
    err(await client.patch("/v1/plans/plan_%00", json={}, headers=tenant.auth()), 404, *not_found_)
    r = await client.get("/v1/plans", params={"cursor": plan["id"] + "\x00"}, headers=tenant.auth())
    err(r, 400, "bad_request", "invalid_cursor")
    r = await client.patch(f"/v1/plans/{plan['id']}", json={"name": "x\x00"}, headers=tenant.auth())
    invalid(r, "name", "NUL")
    assert await read_plan(client, tenant.auth(), plan["id"]) == plan


async def test_create_metadata_value_must_be_a_string(client: Any, tenant: Any) -> None:
    r = await client.post("/v1/plans", json={**BASE, "metadata": {"n": 1}}, headers=tenant.auth())
    invalid(r, "metadata.n", "valid string")


async def test_create_metadata_at_the_limits_is_accepted(client: Any, tenant: Any) -> None:
    meta = {f"k{i}": "v" for i in range(49)} | {"k" * 40: "v" * 500}
    plan = await create_plan(client, tenant.auth(), metadata=meta)
    assert plan["metadata"] == meta


@pytest.mark.parametrize(("interval", "top"), sorted(INTERVAL_MAX.items()))
async def test_create_rejects_interval_count_beyond_the_interval_max(
    client: Any, tenant: Any, interval: str, top: int
) -> None:
    body = {**BASE, "interval": interval, "intervalCount": top + 1}
    e = invalid(await client.post("/v1/plans", json=body, headers=tenant.auth()), "intervalCount", f"at most {top}")
    assert e["details"] == [{"path": "intervalCount", "issue": e["details"][0]["issue"]}]
    assert await list_ids(client, tenant.auth()) == []


@pytest.mark.parametrize("field", ["foo", "interval_count", "active", "id", "object", "createdAt"])
async def test_create_rejects_unknown_or_read_only_field(client: Any, tenant: Any, field: str) -> None:
    r = await client.post("/v1/plans", json={**BASE, field: 1}, headers=tenant.auth())
    invalid(r, field if field != "interval_count" else "intervalCount", "unknown")
    assert await list_ids(client, tenant.auth()) == []


async def test_create_requires_name_amount_interval(client: Any, tenant: Any) -> None:
    e = err(await client.post("/v1/plans", json={}, headers=tenant.auth()), 422, "validation_error")
    assert {d["path"]: d["issue"] for d in e["details"]} == {
        "name": "Field required",
        "amount": "Field required",
        "interval": "Field required",
    }


async def test_create_reports_every_invalid_field(client: Any, tenant: Any) -> None:
    body = {"name": "", "amount": -5, "interval": "month", "trialDays": 999}
    e = err(await client.post("/v1/plans", json=body, headers=tenant.auth()), 422, "validation_error")
    assert sorted(d["path"] for d in e["details"]) == ["amount", "name", "trialDays"]


# --- POST /v1/plans: 400 ---


@pytest.mark.parametrize(
    "raw", [b"{bad json", b'{"name": "x",}', b"[1, 2]", b"[]", b'"a string"', b"42", b"null", b"\xff\xfe"]
)
async def test_create_rejects_a_body_that_is_not_a_json_object(client: Any, tenant: Any, raw: bytes) -> None:
    headers = {**tenant.auth(), "Content-Type": "application/json"}
    r = await client.post("/v1/plans", content=raw, headers=headers)
    e = err(r, 400, "bad_request", "malformed_json")
    assert e["details"] == []
    assert await list_ids(client, tenant.auth()) == []


async def test_create_rejects_an_empty_body(client: Any, tenant: Any) -> None:
    r = await client.post("/v1/plans", headers={**tenant.auth(), "Content-Type": "application/json"})
    err(r, 400, "bad_request", "malformed_json")


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None])
async def test_create_rejects_a_wrong_content_type(client: Any, tenant: Any, ctype: str | None) -> None:
    headers = tenant.auth()
    if ctype is not None:
        headers["Content-Type"] = ctype
    r = await client.post("/v1/plans", content=b'{"name":"A","amount":1,"interval":"day"}', headers=headers)
    err(r, 400, "bad_request", "unsupported_media_type")
    assert await list_ids(client, tenant.auth()) == []


async def test_create_rejects_a_body_over_one_mib(client: Any, tenant: Any) -> None:
    body = b'{"name":"' + b"a" * (1024 * 1024) + b'","amount":1,"interval":"day"}'
    r = await client.post("/v1/plans", content=body, headers={**tenant.auth(), "Content-Type": "application/json"})
    err(r, 400, "bad_request", "payload_too_large")


# --- GET /v1/plans/{id} ---


async def test_get_plan(client: Any, tenant: Any) -> None:
    plan = await create_plan(client, tenant.auth(), metadata={"a": "b"})
    got = await read_plan(client, tenant.auth(), plan["id"])
    assert_plan_shape(got)
    assert got == plan


async def test_get_unknown_plan_is_404(client: Any, tenant: Any) -> None:
    r = await client.get("/v1/plans/plan_01AAAAAAAAAAAAAAAAAAAAAAAA", headers=tenant.auth())
    e = err(r, 404, "not_found", "resource_missing")
    assert e["details"] == []


async def test_delete_plan_is_an_unknown_route(client: Any, tenant: Any) -> None:
    plan = await create_plan(client, tenant.auth())
    err(await client.delete(f"/v1/plans/{plan['id']}", headers=tenant.auth()), 404, "not_found", "unknown_route")
    assert await read_plan(client, tenant.auth(), plan["id"]) == plan


# --- GET /v1/plans ---


async def test_list_plans_shape_and_order(client: Any, tenant: Any) -> None:
    first = await create_plan(client, tenant.auth(), name="first")
    second = await create_plan(client, tenant.auth(), name="second")
    third = await create_plan(client, tenant.auth(), name="third")
    body = ok(await client.get("/v1/plans", headers=tenant.auth()))
    assert set(body) == {"object", "items", "nextCursor", "hasMore"}
    assert body["object"] == "list"
    assert body["items"] == [third, second, first]
    assert body["nextCursor"] is None
    assert body["hasMore"] is False


async def test_list_plans_empty(client: Any, tenant: Any) -> None:
    body = ok(await client.get("/v1/plans", headers=tenant.auth()))
    assert body == {"object": "list", "items": [], "nextCursor": None, "hasMore": False}


async def test_list_plans_paginates_with_cursor(client: Any, tenant: Any) -> None:
    made = [await create_plan(client, tenant.auth(), name=f"p{i}") for i in range(5)]
    newest_first = [p["id"] for p in reversed(made)]
    page1 = ok(await client.get("/v1/plans?limit=2", headers=tenant.auth()))
    assert [p["id"] for p in page1["items"]] == newest_first[:2]
    assert page1["hasMore"] is True
    assert page1["nextCursor"] == newest_first[1]
    page2 = ok(await client.get(f"/v1/plans?limit=2&cursor={page1['nextCursor']}", headers=tenant.auth()))
    assert [p["id"] for p in page2["items"]] == newest_first[2:4]
    assert page2["hasMore"] is True
    assert page2["nextCursor"] == newest_first[3]
    page3 = ok(await client.get(f"/v1/plans?limit=2&cursor={page2['nextCursor']}", headers=tenant.auth()))
    assert [p["id"] for p in page3["items"]] == newest_first[4:]
    assert page3["hasMore"] is False
    assert page3["nextCursor"] is None


async def test_list_plans_default_limit_is_20(client: Any, tenant: Any) -> None:
    for i in range(21):
        await create_plan(client, tenant.auth(), name=f"p{i}")
    body = ok(await client.get("/v1/plans", headers=tenant.auth()))
    assert len(body["items"]) == 20
    assert body["hasMore"] is True
    full = ok(await client.get("/v1/plans?limit=100", headers=tenant.auth()))
    assert len(full["items"]) == 21
    assert full["hasMore"] is False


async def test_list_plans_filter_active(client: Any, tenant: Any) -> None:
    live_one = await create_plan(client, tenant.auth(), name="kept")
    archived = await create_plan(client, tenant.auth(), name="archived")
    ok(await client.patch(f"/v1/plans/{archived['id']}", json={"active": False}, headers=tenant.auth()))
    assert await list_ids(client, tenant.auth(), "&active=true") == [live_one["id"]]
    assert await list_ids(client, tenant.auth(), "&active=false") == [archived["id"]]
    assert await list_ids(client, tenant.auth()) == [archived["id"], live_one["id"]]


async def test_list_plans_cursor_must_belong_to_the_filtered_list(client: Any, tenant: Any) -> None:
    active = await create_plan(client, tenant.auth())
    r = await client.get(f"/v1/plans?active=false&cursor={active['id']}", headers=tenant.auth())
    err(r, 400, "bad_request", "invalid_cursor")


@pytest.mark.parametrize(
    ("query", "path", "issue"),
    [
        ("limit=0", "limit", "greater than or equal to 1"),
        ("limit=101", "limit", "less than or equal to 100"),
        ("limit=-3", "limit", "greater than or equal to 1"),
        ("limit=ten", "limit", "valid integer"),
        ("active=maybe", "active", "valid boolean"),
    ],
)
async def test_list_plans_rejects_bad_query(client: Any, tenant: Any, query: str, path: str, issue: str) -> None:
    invalid(await client.get(f"/v1/plans?{query}", headers=tenant.auth()), path, issue)


async def test_list_plans_limit_bounds_are_accepted(client: Any, tenant: Any) -> None:
    await create_plan(client, tenant.auth())
    await create_plan(client, tenant.auth())
    one = ok(await client.get("/v1/plans?limit=1", headers=tenant.auth()))
    assert len(one["items"]) == 1
    assert one["hasMore"] is True
    hundred = ok(await client.get("/v1/plans?limit=100", headers=tenant.auth()))
    assert len(hundred["items"]) == 2
    assert hundred["hasMore"] is False


async def test_list_plans_rejects_unknown_cursor(client: Any, tenant: Any) -> None:
    await create_plan(client, tenant.auth())
    r = await client.get("/v1/plans?cursor=plan_01AAAAAAAAAAAAAAAAAAAAAAAA", headers=tenant.auth())
    e = err(r, 400, "bad_request", "invalid_cursor")
    assert e["details"] == []


async def test_list_plans_rejects_a_cursor_from_another_list(client: Any, tenant: Any) -> None:
    await create_plan(client, tenant.auth())
    cus = ok(await client.post("/v1/customers", json={}, headers=tenant.auth()), 201)
    err(await client.get(f"/v1/plans?cursor={cus['id']}", headers=tenant.auth()), 400, "bad_request", "invalid_cursor")


async def test_list_plans_rejects_a_cursor_of_another_tenant_or_mode(client: Any, make_tenant: Any) -> None:
    a = await make_tenant()
    b = await make_tenant()
    await create_plan(client, a.auth())
    other_tenant = await create_plan(client, b.auth())
    other_mode = await create_plan(client, a.auth("live"))
    for cursor in (other_tenant["id"], other_mode["id"]):
        r = await client.get(f"/v1/plans?cursor={cursor}", headers=a.auth())
        err(r, 400, "bad_request", "invalid_cursor")


# --- PATCH /v1/plans/{id} ---


async def test_patch_updates_mutable_fields(client: Any, tenant: Any) -> None:
    plan = await create_plan(client, tenant.auth(), description="old", metadata={"a": "1", "b": "2"})
    changes = {"name": "Renamed", "description": "new text", "trialDays": 7, "metadata": {"c": "3"}}
    r = await client.patch(f"/v1/plans/{plan['id']}", json=changes, headers=tenant.auth())
    updated = ok(r)
    assert_plan_shape(updated)
    assert updated == {**plan, **changes, "updatedAt": updated["updatedAt"]}
    assert updated["updatedAt"] >= plan["updatedAt"]
    assert await read_plan(client, tenant.auth(), plan["id"]) == updated


async def test_patch_description_accepts_null(client: Any, tenant: Any) -> None:
    plan = await create_plan(client, tenant.auth(), description="something")
    updated = ok(await client.patch(f"/v1/plans/{plan['id']}", json={"description": None}, headers=tenant.auth()))
    assert updated["description"] is None
    assert (await read_plan(client, tenant.auth(), plan["id"]))["description"] is None


async def test_patch_metadata_replaces_and_empty_object_clears(client: Any, tenant: Any) -> None:
    plan = await create_plan(client, tenant.auth(), metadata={"a": "1", "b": "2"})
    url = f"/v1/plans/{plan['id']}"
    assert ok(await client.patch(url, json={"metadata": {"b": "9"}}, headers=tenant.auth()))["metadata"] == {"b": "9"}
    assert ok(await client.patch(url, json={"metadata": {}}, headers=tenant.auth()))["metadata"] == {}
    assert (await read_plan(client, tenant.auth(), plan["id"]))["metadata"] == {}


async def test_patch_only_touches_sent_fields(client: Any, tenant: Any) -> None:
    plan = await create_plan(client, tenant.auth(), description="keep", trialDays=3, metadata={"k": "v"})
    updated = ok(await client.patch(f"/v1/plans/{plan['id']}", json={"name": "New"}, headers=tenant.auth()))
    assert updated["description"] == "keep"
    assert updated["trialDays"] == 3
    assert updated["metadata"] == {"k": "v"}
    assert updated["name"] == "New"


async def test_patch_archive_and_unarchive(client: Any, tenant: Any) -> None:
    plan = await create_plan(client, tenant.auth())
    url = f"/v1/plans/{plan['id']}"
    archived = ok(await client.patch(url, json={"active": False}, headers=tenant.auth()))
    assert archived["active"] is False
    assert {k: v for k, v in archived.items() if k not in ("active", "updatedAt")} == {
        k: v for k, v in plan.items() if k not in ("active", "updatedAt")
    }
    assert (await read_plan(client, tenant.auth(), plan["id"]))["active"] is False
    restored = ok(await client.patch(url, json={"active": True}, headers=tenant.auth()))
    assert restored["active"] is True


async def test_patch_with_empty_body_changes_nothing(client: Any, tenant: Any) -> None:
    plan = await create_plan(client, tenant.auth())
    assert ok(await client.patch(f"/v1/plans/{plan['id']}", json={}, headers=tenant.auth())) == plan
    assert await read_plan(client, tenant.auth(), plan["id"]) == plan


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", 100),
        ("amount", 500000),
        ("currency", "USD"),
        ("interval", "year"),
        ("intervalCount", 2),
        ("maxCycles", 5),
        ("id", "plan_01AAAAAAAAAAAAAAAAAAAAAAAA"),
        ("object", "plan"),
        ("createdAt", "2025-01-01T00:00:00.000Z"),
        ("foo", "bar"),
    ],
)
async def test_patch_rejects_immutable_and_unknown_fields(client: Any, tenant: Any, field: str, value: Any) -> None:
    plan = await create_plan(client, tenant.auth())
    r = await client.patch(f"/v1/plans/{plan['id']}", json={"name": "Changed", field: value}, headers=tenant.auth())
    invalid(r, field, "unknown or read-only field")
    assert await read_plan(client, tenant.auth(), plan["id"]) == plan


@pytest.mark.parametrize("field", ["name", "trialDays", "active", "metadata"])
async def test_patch_rejects_null_for_non_nullable_fields(client: Any, tenant: Any, field: str) -> None:
    plan = await create_plan(client, tenant.auth(), metadata={"k": "v"})
    r = await client.patch(f"/v1/plans/{plan['id']}", json={field: None}, headers=tenant.auth())
    invalid(r, field, "cannot be null")
    assert await read_plan(client, tenant.auth(), plan["id"]) == plan


@pytest.mark.parametrize(
    ("field", "value", "issue"),
    [
        ("name", "", "at least 1"),
        ("name", "n" * 121, "at most 120"),
        ("description", "d" * 501, "at most 500"),
        ("trialDays", 731, "less than or equal to 730"),
        ("trialDays", "7", "valid integer"),
        ("active", "false", "valid boolean"),
        ("active", 0, "valid boolean"),
        ("metadata", {f"k{i}": "v" for i in range(51)}, "at most 50 keys"),
        ("metadata", {"no spaces": "v"}, "must be 1-40 characters"),
        ("metadata", {"k": "v" * 501}, "at most 500 characters"),
    ],
)
async def test_patch_rejects_invalid_values(client: Any, tenant: Any, field: str, value: Any, issue: str) -> None:
    plan = await create_plan(client, tenant.auth())
    r = await client.patch(f"/v1/plans/{plan['id']}", json={field: value}, headers=tenant.auth())
    invalid(r, field, issue)
    assert await read_plan(client, tenant.auth(), plan["id"]) == plan


async def test_patch_unknown_plan_is_404(client: Any, tenant: Any) -> None:
    r = await client.patch("/v1/plans/plan_01AAAAAAAAAAAAAAAAAAAAAAAA", json={"name": "x"}, headers=tenant.auth())
    err(r, 404, "not_found", "resource_missing")


async def test_patch_unknown_plan_with_empty_body_is_404(client: Any, tenant: Any) -> None:
    r = await client.patch("/v1/plans/plan_01AAAAAAAAAAAAAAAAAAAAAAAA", json={}, headers=tenant.auth())
    err(r, 404, "not_found", "resource_missing")


@pytest.mark.parametrize("raw", [b"{oops", b"[]", b'["name"]', b"null"])
async def test_patch_rejects_malformed_json(client: Any, tenant: Any, raw: bytes) -> None:
    plan = await create_plan(client, tenant.auth())
    headers = {**tenant.auth(), "Content-Type": "application/json"}
    err(
        await client.patch(f"/v1/plans/{plan['id']}", content=raw, headers=headers),
        400,
        "bad_request",
        "malformed_json",
    )
    assert await read_plan(client, tenant.auth(), plan["id"]) == plan


async def test_patch_rejects_wrong_content_type(client: Any, tenant: Any) -> None:
    plan = await create_plan(client, tenant.auth())
    headers = {**tenant.auth(), "Content-Type": "text/plain"}
    r = await client.patch(f"/v1/plans/{plan['id']}", content=b'{"name":"x"}', headers=headers)
    err(r, 400, "bad_request", "unsupported_media_type")
    assert await read_plan(client, tenant.auth(), plan["id"]) == plan


# --- 401 ---


def _bad_authorizations(tenant: Any) -> list[tuple[dict[str, str], str]]:
    key = tenant.test_secret
    return [
        ({}, "missing_credential"),
        ({"Authorization": ""}, "missing_credential"),
        ({"Authorization": f"Basic {key}"}, "invalid_credential"),
        ({"Authorization": f"Token {key}"}, "invalid_credential"),
        ({"Authorization": key}, "invalid_credential"),
        ({"Authorization": "Bearer"}, "invalid_credential"),
        ({"Authorization": "Bearer "}, "invalid_credential"),
        ({"Authorization": "Bearer sk_test_short"}, "invalid_credential"),
        ({"Authorization": f"Bearer {key}!"}, "invalid_credential"),
        ({"Authorization": f"Bearer {key[:-1]}"}, "invalid_credential"),
        ({"Authorization": "Bearer sk_prod_" + key[8:]}, "invalid_credential"),
        ({"Authorization": "Bearer not.a.jwt"}, "invalid_credential"),
        ({"Authorization": f"Bearer {unknown_key()}"}, "invalid_credential"),
        ({"Authorization": f"Bearer {unknown_key('sk_live_')}"}, "invalid_credential"),
        ({"Authorization": f"Bearer {unknown_key('pk_test_')}"}, "invalid_credential"),
    ]


async def _every_endpoint(client: Any, headers: dict[str, str], plan_id: str) -> list[httpx.Response]:
    return [
        await client.post("/v1/plans", json=BASE, headers=headers),
        await client.get("/v1/plans", headers=headers),
        await client.get(f"/v1/plans/{plan_id}", headers=headers),
        await client.patch(f"/v1/plans/{plan_id}", json={"name": "hacked"}, headers=headers),
    ]


async def test_every_endpoint_rejects_missing_or_invalid_credentials(client: Any, tenant: Any) -> None:
    plan = await create_plan(client, tenant.auth())
    for headers, reason in _bad_authorizations(tenant):
        for r in await _every_endpoint(client, headers, plan["id"]):
            e = err(r, 401, "unauthorized", reason)
            assert e["details"] == []
    assert await list_ids(client, tenant.auth()) == [plan["id"]]
    assert await read_plan(client, tenant.auth(), plan["id"]) == plan


async def test_unauthenticated_request_is_401_before_body_checks(client: Any, tenant: Any) -> None:
    r = await client.post("/v1/plans", content=b"{bad", headers={"Content-Type": "text/plain"})
    err(r, 401, "unauthorized", "missing_credential")


@pytest.mark.parametrize(("mode", "kind"), [("test", "secret"), ("live", "secret"), ("test", "publishable")])
async def test_revoked_key_is_rejected_on_every_endpoint(
    client: Any, tenant: Any, revoke_key: Any, mode: str, kind: str
) -> None:
    plan = await create_plan(client, tenant.auth(mode))
    ok(await client.get("/v1/plans", headers=tenant.auth(mode)))
    await revoke_key(tenant, mode, kind)
    for r in await _every_endpoint(client, tenant.auth(mode, kind), plan["id"]):
        err(r, 401, "unauthorized", "invalid_credential")


async def test_revoking_one_tenants_key_leaves_others_working(client: Any, make_tenant: Any, revoke_key: Any) -> None:
    a = await make_tenant()
    b = await make_tenant()
    await revoke_key(a, "test", "secret")
    err(await client.get("/v1/plans", headers=a.auth()), 401, "unauthorized", "invalid_credential")
    ok(await client.get("/v1/plans", headers=a.auth("live")))
    ok(await client.get("/v1/plans", headers=b.auth()))


# --- 403 ---


@pytest.mark.parametrize("mode", ["test", "live"])
async def test_publishable_key_is_forbidden_and_changes_nothing(client: Any, tenant: Any, mode: str) -> None:
    plan = await create_plan(client, tenant.auth(mode))
    for r in await _every_endpoint(client, tenant.auth(mode, "publishable"), plan["id"]):
        e = err(r, 403, "forbidden", "publishable_key_not_allowed")
        assert e["details"] == []
    assert await list_ids(client, tenant.auth(mode)) == [plan["id"]]
    assert await read_plan(client, tenant.auth(mode), plan["id"]) == plan


async def test_publishable_key_is_forbidden_even_with_an_invalid_body(client: Any, tenant: Any) -> None:
    r = await client.post("/v1/plans", json={"amount": "x"}, headers=tenant.auth("test", "publishable"))
    err(r, 403, "forbidden", "publishable_key_not_allowed")


# --- tenant and mode isolation ---


async def test_other_tenants_plan_is_404_and_unchanged(client: Any, make_tenant: Any) -> None:
    owner = await make_tenant()
    intruder = await make_tenant()
    plan = await create_plan(client, owner.auth(), metadata={"k": "v"})
    url = f"/v1/plans/{plan['id']}"
    err(await client.get(url, headers=intruder.auth()), 404, "not_found", "resource_missing")
    for body in ({"name": "stolen"}, {"active": False}, {"metadata": {}}, {}):
        err(await client.patch(url, json=body, headers=intruder.auth()), 404, "not_found", "resource_missing")
    err(await client.get(url, headers=intruder.auth("live")), 404, "not_found", "resource_missing")
    assert await read_plan(client, owner.auth(), plan["id"]) == plan
    assert await list_ids(client, intruder.auth()) == []


async def test_other_modes_plan_is_404_and_unchanged(client: Any, tenant: Any) -> None:
    test_plan = await create_plan(client, tenant.auth(), name="test plan")
    live_plan = await create_plan(client, tenant.auth("live"), name="live plan")
    for plan, wrong in ((test_plan, "live"), (live_plan, "test")):
        url = f"/v1/plans/{plan['id']}"
        err(await client.get(url, headers=tenant.auth(wrong)), 404, "not_found", "resource_missing")
        r = await client.patch(url, json={"name": "moved", "active": False}, headers=tenant.auth(wrong))
        err(r, 404, "not_found", "resource_missing")
    assert await read_plan(client, tenant.auth(), test_plan["id"]) == test_plan
    assert await read_plan(client, tenant.auth("live"), live_plan["id"]) == live_plan


async def test_lists_are_separated_by_mode_and_tenant(client: Any, make_tenant: Any) -> None:
    a = await make_tenant()
    b = await make_tenant()
    a_test = await create_plan(client, a.auth())
    a_live = await create_plan(client, a.auth("live"))
    b_test = await create_plan(client, b.auth())
    b_live = await create_plan(client, b.auth("live"))
    assert await list_ids(client, a.auth()) == [a_test["id"]]
    assert await list_ids(client, a.auth("live")) == [a_live["id"]]
    assert await list_ids(client, b.auth()) == [b_test["id"]]
    assert await list_ids(client, b.auth("live")) == [b_live["id"]]
    assert await list_ids(client, a.auth("live"), "&active=true") == [a_live["id"]]
