"""HTTP tests of /v1/customers (03 §1.2, §13.2) through the real ASGI app and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import text

from duro.db.engine import Database
from duro.kit.crypto import sha256_hex
from tests.http_assertions import err, invalid, not_found, ok, unknown_key

TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
CUS_ID = re.compile(r"^cus_[0-9A-HJKMNP-TV-Z]{26}$")
MISSING_ID = "cus_01AAAAAAAAAAAAAAAAAAAAAAAA"

CUSTOMER_FIELDS = {
    "object",
    "id",
    "email",
    "phone",
    "name",
    "merchantRef",
    "metadata",
    "blacklisted",
    "blacklistReason",
    "blacklistedAt",
    "identityId",
    "defaultPaymentMethodId",
    "createdAt",
    "updatedAt",
}
E164 = "+2348012345678"
SAME_PHONE = ["08012345678", "2348012345678", "+234 801 234 5678", "+2348012345678", " 0801 234 5678 "]


# --- helpers ---


def assert_customer_shape(cus: dict[str, Any]) -> None:
    assert set(cus) == CUSTOMER_FIELDS
    assert cus["object"] == "customer"
    assert CUS_ID.match(cus["id"])
    assert TS.match(cus["createdAt"])
    assert TS.match(cus["updatedAt"])
    assert cus["updatedAt"] >= cus["createdAt"]
    assert cus["blacklistedAt"] is None or TS.match(cus["blacklistedAt"])


async def create_customer(client: httpx.AsyncClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    cus: dict[str, Any] = ok(await client.post("/v1/customers", json=fields, headers=headers), 201)
    assert_customer_shape(cus)
    return cus


async def read_customer(client: httpx.AsyncClient, headers: dict[str, str], cus_id: str) -> dict[str, Any]:
    cus: dict[str, Any] = ok(await client.get(f"/v1/customers/{cus_id}", headers=headers))
    return cus


async def list_ids(client: httpx.AsyncClient, headers: dict[str, str], **query: Any) -> list[str]:
    r = await client.get("/v1/customers", params={"limit": 100, **query}, headers=headers)
    return [c["id"] for c in ok(r)["items"]]


async def event_count(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    return len(ok(await client.get("/v1/events?limit=100", headers=headers))["items"])


async def key_id(db: Database, keys: Any, mode: str = "test") -> str:
    schema = {"test": "sandbox", "live": "live"}[mode]
    async with db.core_transaction() as conn:
        found = await conn.execute(
            text(f"SELECT id FROM {schema}.api_keys WHERE tenant_id = :t AND key_hash = :h"),
            {"t": keys.id, "h": sha256_hex(getattr(keys, f"{mode}_secret"))},
        )
        return str(found.scalar_one())


async def audit_rows(db: Database, tenant_id: str) -> list[dict[str, Any]]:
    async with db.core_transaction() as conn:
        rows = await conn.execute(
            text(
                "SELECT action, actor_type, actor_id, actor_label, target_type, target_id, mode, before, after,"
                " request_id FROM core.audit_logs WHERE tenant_id = :t AND action LIKE 'customer.%' ORDER BY at, id"
            ),
            {"t": tenant_id},
        )
        return [dict(r._mapping) for r in rows]


# --- POST /v1/customers ---


async def test_create_empty_customer_has_every_documented_field(client: Any, tenant: Any) -> None:
    cus = ok(await client.post("/v1/customers", json={}, headers=tenant.auth()), 201)
    assert_customer_shape(cus)
    assert cus == {
        "object": "customer",
        "id": cus["id"],
        "email": None,
        "phone": None,
        "name": None,
        "merchantRef": None,
        "metadata": {},
        "blacklisted": False,
        "blacklistReason": None,
        "blacklistedAt": None,
        "identityId": None,
        "defaultPaymentMethodId": None,
        "createdAt": cus["createdAt"],
        "updatedAt": cus["createdAt"],
    }


async def test_create_customer_with_every_field(client: Any, tenant: Any) -> None:
    body = {
        "email": "  Ada.Obi@Example.COM ",
        "phone": "0801 234 5678",
        "name": "Adaọbi Ọkafor",
        "merchantRef": "crm-42/ä #1",
        "metadata": {"segment": "smb", "crm.id": "42"},
    }
    cus = await create_customer(client, tenant.auth(), **body)
    assert cus["email"] == "ada.obi@example.com"
    assert cus["phone"] == E164
    assert cus["name"] == "Adaọbi Ọkafor"
    assert cus["merchantRef"] == "crm-42/ä #1"
    assert cus["metadata"] == {"segment": "smb", "crm.id": "42"}
    assert await read_customer(client, tenant.auth(), cus["id"]) == cus


@pytest.mark.parametrize("phone", SAME_PHONE)
async def test_create_normalises_phone_to_e164(client: Any, tenant: Any, phone: str) -> None:
    assert (await create_customer(client, tenant.auth(), phone=phone))["phone"] == E164


async def test_create_keeps_foreign_numbers_in_e164(client: Any, tenant: Any) -> None:
    assert (await create_customer(client, tenant.auth(), phone="+44 20 7946 0958"))["phone"] == "+442079460958"


async def test_create_accepts_the_length_limits(client: Any, tenant: Any) -> None:
    cus = await create_customer(client, tenant.auth(), name="n" * 200, merchantRef="r" * 100)
    assert len(cus["name"]) == 200
    assert len(cus["merchantRef"]) == 100


async def test_create_accepts_explicit_nulls(client: Any, tenant: Any) -> None:
    cus = await create_customer(client, tenant.auth(), email=None, phone=None, name=None, merchantRef=None)
    assert cus["email"] is None
    assert cus["phone"] is None
    assert cus["merchantRef"] is None


LONG_EMAIL = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 58 + ".com"


@pytest.mark.parametrize(
    ("field", "value", "issue"),
    [
        ("email", "not-an-email", "not a valid email"),
        ("email", "a@", "not a valid email"),
        ("email", "a b@example.com", "not a valid email"),
        ("email", LONG_EMAIL, "at most 254"),
        ("email", 5, "valid string"),
        ("phone", "123", "not a valid phone"),
        ("phone", "phone", "not a valid phone"),
        ("phone", "+234 801", "not a valid phone"),
        ("phone", 8012345678, "valid string"),
        ("name", "n" * 201, "at most 200"),
        ("merchantRef", "", "at least 1"),
        ("merchantRef", "r" * 101, "at most 100"),
        ("merchantRef", "tab\there", "printable"),
        ("merchantRef", "nul\x00", "printable"),
        ("merchantRef", 42, "valid string"),
        ("metadata", None, "valid dictionary"),
        ("metadata", {f"k{i}": "v" for i in range(51)}, "at most 50 keys"),
        ("metadata", {"bad key": "v"}, "must be 1-40 characters"),
        ("metadata", {"k" * 41: "v"}, "must be 1-40 characters"),
        ("metadata", {"k": "v" * 501}, "at most 500 characters"),
        ("foo", "bar", "unknown or read-only"),
        ("merchant_ref", "x", "unknown or read-only"),
        ("blacklisted", True, "unknown or read-only"),
        ("identityId", "idn_01AAAAAAAAAAAAAAAAAAAAAAAA", "unknown or read-only"),
        ("defaultPaymentMethodId", None, "unknown or read-only"),
        ("id", MISSING_ID, "unknown or read-only"),
    ],
)
async def test_create_rejects_invalid_field(client: Any, tenant: Any, field: str, value: Any, issue: str) -> None:
    r = await client.post("/v1/customers", json={"name": "Ada", field: value}, headers=tenant.auth())
    path = "merchantRef" if field == "merchant_ref" else field
    invalid(r, path, issue)
    assert await list_ids(client, tenant.auth()) == []
    assert await event_count(client, tenant.auth()) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("name", "Ada\x00"), ("metadata", {"k": "\x00"}), ("email", "a\x00@example.com"), ("merchantRef", "r\x00")],
)
async def test_create_rejects_nul_characters(client: Any, tenant: Any, field: str, value: Any) -> None:
    r = await client.post("/v1/customers", json={field: value}, headers=tenant.auth())
    e = err(r, 422, "validation_error")
    assert [d["path"] for d in e["details"]] == [field]
    assert await list_ids(client, tenant.auth()) == []


async def test_nul_in_path_query_or_body_is_not_a_server_error(client: Any, tenant: Any, db: Database) -> None:
    cus = await create_customer(client, tenant.auth(), merchantRef="r-1")
    bad = "cus_%00"
    not_found(await client.get(f"/v1/customers/{bad}", headers=tenant.auth()))
    not_found(await client.patch(f"/v1/customers/{bad}", json={"name": "x"}, headers=tenant.auth()))
    not_found(await client.post(f"/v1/customers/{bad}/blacklist", json={"reason": "x"}, headers=tenant.auth()))
    not_found(await client.delete(f"/v1/customers/{bad}/blacklist", headers=tenant.auth()))
    not_found(await client.get("/v1/customers/ref/r-1%00", headers=tenant.auth()))
    r = await client.get("/v1/customers", params={"merchantRef": "r-1\x00"}, headers=tenant.auth())
    invalid(r, "merchantRef", "printable")
    r = await client.get("/v1/customers", params={"cursor": cus["id"] + "\x00"}, headers=tenant.auth())
    err(r, 400, "bad_request", "invalid_cursor")
    r = await client.post(f"/v1/customers/{cus['id']}/blacklist", json={"reason": "x\x00"}, headers=tenant.auth())
    invalid(r, "reason", "NUL")
    r = await client.patch(f"/v1/customers/{cus['id']}", json={"metadata": {"k": "\x00"}}, headers=tenant.auth())
    invalid(r, "metadata", "NUL")
    assert await read_customer(client, tenant.auth(), cus["id"]) == cus
    assert await audit_rows(db, tenant.id) == []


async def test_create_reports_every_invalid_field(client: Any, tenant: Any) -> None:
    body = {"email": "bad", "phone": "123", "name": "n" * 201}
    e = err(await client.post("/v1/customers", json=body, headers=tenant.auth()), 422, "validation_error")
    assert sorted(d["path"] for d in e["details"]) == ["email", "name", "phone"]


@pytest.mark.parametrize("raw", [b"{", b"[]", b'[{"name": "x"}]', b"null", b"true"])
async def test_create_rejects_malformed_json(client: Any, tenant: Any, raw: bytes) -> None:
    r = await client.post("/v1/customers", content=raw, headers={**tenant.auth(), "Content-Type": "application/json"})
    assert err(r, 400, "bad_request", "malformed_json")["details"] == []
    assert await list_ids(client, tenant.auth()) == []


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
async def test_create_rejects_wrong_content_type(client: Any, tenant: Any, ctype: str) -> None:
    r = await client.post("/v1/customers", content=b'{"name":"x"}', headers={**tenant.auth(), "Content-Type": ctype})
    err(r, 400, "bad_request", "unsupported_media_type")
    assert await list_ids(client, tenant.auth()) == []


async def test_create_duplicate_merchant_ref_is_409(client: Any, tenant: Any) -> None:
    first = await create_customer(client, tenant.auth(), merchantRef="crm-1")
    events_before = await event_count(client, tenant.auth())
    r = await client.post("/v1/customers", json={"merchantRef": "crm-1", "name": "Dup"}, headers=tenant.auth())
    e = err(r, 409, "conflict", "duplicate_merchant_ref")
    assert e["details"] == []
    assert await list_ids(client, tenant.auth()) == [first["id"]]
    assert await event_count(client, tenant.auth()) == events_before


async def test_merchant_ref_is_unique_per_tenant_and_mode_only(client: Any, make_tenant: Any) -> None:
    a = await make_tenant()
    b = await make_tenant()
    a_test = await create_customer(client, a.auth(), merchantRef="shared")
    a_live = await create_customer(client, a.auth("live"), merchantRef="shared")
    b_test = await create_customer(client, b.auth(), merchantRef="shared")
    assert len({a_test["id"], a_live["id"], b_test["id"]}) == 3
    err(
        await client.post("/v1/customers", json={"merchantRef": "shared"}, headers=a.auth("live")),
        409,
        "conflict",
        "duplicate_merchant_ref",
    )


async def test_customers_without_merchant_ref_do_not_conflict(client: Any, tenant: Any) -> None:
    await create_customer(client, tenant.auth())
    await create_customer(client, tenant.auth())
    assert len(await list_ids(client, tenant.auth())) == 2


# --- GET /v1/customers/{id} ---


async def test_get_customer(client: Any, tenant: Any) -> None:
    cus = await create_customer(client, tenant.auth(), email="x@example.com", metadata={"a": "b"})
    got = await read_customer(client, tenant.auth(), cus["id"])
    assert_customer_shape(got)
    assert got == cus


async def test_get_unknown_customer_is_404(client: Any, tenant: Any) -> None:
    assert not_found(await client.get(f"/v1/customers/{MISSING_ID}", headers=tenant.auth()))["details"] == []


# --- GET /v1/customers/ref/{merchantRef} ---


@pytest.mark.parametrize("ref", ["crm-77", "A.B_c-1", "order/2024/7", "with space #1?x=%41&y", "ünïcødé"])
async def test_lookup_by_merchant_ref(client: Any, tenant: Any, ref: str) -> None:
    await create_customer(client, tenant.auth(), merchantRef="other")
    cus = await create_customer(client, tenant.auth(), merchantRef=ref)
    got = ok(await client.get(f"/v1/customers/ref/{quote(ref, safe='')}", headers=tenant.auth()))
    assert_customer_shape(got)
    assert got == cus


async def test_lookup_by_unknown_ref_is_404(client: Any, tenant: Any) -> None:
    await create_customer(client, tenant.auth(), merchantRef="crm-1")
    not_found(await client.get("/v1/customers/ref/crm-2", headers=tenant.auth()))
    not_found(await client.get("/v1/customers/ref/CRM-1", headers=tenant.auth()))


async def test_lookup_follows_merchant_ref_changes(client: Any, tenant: Any) -> None:
    cus = await create_customer(client, tenant.auth(), merchantRef="old-ref")
    ok(await client.patch(f"/v1/customers/{cus['id']}", json={"merchantRef": "new-ref"}, headers=tenant.auth()))
    not_found(await client.get("/v1/customers/ref/old-ref", headers=tenant.auth()))
    assert ok(await client.get("/v1/customers/ref/new-ref", headers=tenant.auth()))["id"] == cus["id"]


async def test_lookup_by_ref_is_scoped_to_tenant_and_mode(client: Any, make_tenant: Any) -> None:
    owner = await make_tenant()
    other = await make_tenant()
    await create_customer(client, owner.auth(), merchantRef="only-test")
    not_found(await client.get("/v1/customers/ref/only-test", headers=owner.auth("live")))
    not_found(await client.get("/v1/customers/ref/only-test", headers=other.auth()))
    assert ok(await client.get("/v1/customers/ref/only-test", headers=owner.auth()))["merchantRef"] == "only-test"


# --- GET /v1/customers ---


async def test_list_customers_shape_and_order(client: Any, tenant: Any) -> None:
    made = [await create_customer(client, tenant.auth(), name=f"c{i}") for i in range(3)]
    body = ok(await client.get("/v1/customers", headers=tenant.auth()))
    assert set(body) == {"object", "items", "nextCursor", "hasMore"}
    assert body["object"] == "list"
    assert body["items"] == list(reversed(made))
    assert body["nextCursor"] is None
    assert body["hasMore"] is False


async def test_list_customers_paginates(client: Any, tenant: Any) -> None:
    made = [(await create_customer(client, tenant.auth()))["id"] for _ in range(3)]
    page1 = ok(await client.get("/v1/customers?limit=2", headers=tenant.auth()))
    assert [c["id"] for c in page1["items"]] == [made[2], made[1]]
    assert page1["hasMore"] is True
    assert page1["nextCursor"] == made[1]
    page2 = ok(await client.get(f"/v1/customers?limit=2&cursor={made[1]}", headers=tenant.auth()))
    assert [c["id"] for c in page2["items"]] == [made[0]]
    assert page2["hasMore"] is False
    assert page2["nextCursor"] is None


async def test_list_filter_by_email_is_normalised(client: Any, tenant: Any) -> None:
    ada = await create_customer(client, tenant.auth(), email="ada@example.com")
    await create_customer(client, tenant.auth(), email="bola@example.com")
    await create_customer(client, tenant.auth())
    for query in ("ada@example.com", "ADA@Example.com", "  Ada@EXAMPLE.COM "):
        assert await list_ids(client, tenant.auth(), email=query) == [ada["id"]], query
    assert await list_ids(client, tenant.auth(), email="nobody@example.com") == []


@pytest.mark.parametrize("query", SAME_PHONE)
async def test_list_filter_by_phone_is_normalised(client: Any, tenant: Any, query: str) -> None:
    match = await create_customer(client, tenant.auth(), phone="08012345678")
    await create_customer(client, tenant.auth(), phone="08098765432")
    assert await list_ids(client, tenant.auth(), phone=query) == [match["id"]]


async def test_list_filter_by_merchant_ref(client: Any, tenant: Any) -> None:
    await create_customer(client, tenant.auth(), merchantRef="a-1")
    b = await create_customer(client, tenant.auth(), merchantRef="b/2")
    assert await list_ids(client, tenant.auth(), merchantRef="b/2") == [b["id"]]
    assert await list_ids(client, tenant.auth(), merchantRef="B/2") == []


async def test_list_filter_by_blacklisted(client: Any, tenant: Any) -> None:
    clean = await create_customer(client, tenant.auth())
    bad = await create_customer(client, tenant.auth())
    ok(await client.post(f"/v1/customers/{bad['id']}/blacklist", json={"reason": "fraud"}, headers=tenant.auth()))
    assert await list_ids(client, tenant.auth(), blacklisted="true") == [bad["id"]]
    assert await list_ids(client, tenant.auth(), blacklisted="false") == [clean["id"]]
    assert await list_ids(client, tenant.auth()) == [bad["id"], clean["id"]]


async def test_list_filters_combine_with_and(client: Any, tenant: Any) -> None:
    both = await create_customer(client, tenant.auth(), email="x@example.com", phone="08012345678")
    await create_customer(client, tenant.auth(), email="x@example.com", phone="08098765432")
    await create_customer(client, tenant.auth(), email="y@example.com", phone="08012345678")
    assert await list_ids(client, tenant.auth(), email="x@example.com", phone="+2348012345678") == [both["id"]]
    assert await list_ids(client, tenant.auth(), email="x@example.com", blacklisted="true") == []


@pytest.mark.parametrize(
    ("query", "path", "issue"),
    [
        ({"email": "not-an-email"}, "email", "not a valid email"),
        ({"phone": "123"}, "phone", "not a valid phone"),
        ({"blacklisted": "maybe"}, "blacklisted", "valid boolean"),
        ({"merchantRef": "r" * 101}, "merchantRef", "at most 100"),
        ({"limit": "0"}, "limit", "greater than or equal to 1"),
        ({"limit": "101"}, "limit", "less than or equal to 100"),
        ({"limit": "1.5"}, "limit", "valid integer"),
    ],
)
async def test_list_rejects_invalid_query(
    client: Any, tenant: Any, query: dict[str, str], path: str, issue: str
) -> None:
    invalid(await client.get("/v1/customers", params=query, headers=tenant.auth()), path, issue)


async def test_list_rejects_invalid_cursors(client: Any, make_tenant: Any) -> None:
    a = await make_tenant()
    b = await make_tenant()
    mine = await create_customer(client, a.auth())
    theirs = await create_customer(client, b.auth())
    live = await create_customer(client, a.auth("live"))
    plan = ok(await client.post("/v1/plans", json={"name": "P", "amount": 1, "interval": "day"}, headers=a.auth()), 201)
    for cursor in (MISSING_ID, theirs["id"], live["id"], plan["id"], "garbage"):
        r = await client.get("/v1/customers", params={"cursor": cursor}, headers=a.auth())
        assert err(r, 400, "bad_request", "invalid_cursor")["details"] == []
    r = await client.get("/v1/customers", params={"cursor": mine["id"], "blacklisted": "true"}, headers=a.auth())
    err(r, 400, "bad_request", "invalid_cursor")


# --- PATCH /v1/customers/{id} ---


async def test_patch_updates_fields(client: Any, tenant: Any) -> None:
    cus = await create_customer(client, tenant.auth(), name="Old", metadata={"a": "1"})
    body = {
        "email": " New@Example.com",
        "phone": "+234 801 234 5678",
        "name": "New",
        "merchantRef": "ref-9",
        "metadata": {"b": "2"},
    }
    updated = ok(await client.patch(f"/v1/customers/{cus['id']}", json=body, headers=tenant.auth()))
    assert_customer_shape(updated)
    assert updated == {
        **cus,
        "email": "new@example.com",
        "phone": E164,
        "name": "New",
        "merchantRef": "ref-9",
        "metadata": {"b": "2"},
        "updatedAt": updated["updatedAt"],
    }
    assert updated["updatedAt"] >= cus["updatedAt"]
    assert await read_customer(client, tenant.auth(), cus["id"]) == updated


@pytest.mark.parametrize("phone", SAME_PHONE)
async def test_patch_normalises_phone(client: Any, tenant: Any, phone: str) -> None:
    cus = await create_customer(client, tenant.auth())
    assert (
        ok(await client.patch(f"/v1/customers/{cus['id']}", json={"phone": phone}, headers=tenant.auth()))["phone"]
        == E164
    )


@pytest.mark.parametrize("field", ["email", "phone", "name", "merchantRef", "defaultPaymentMethodId"])
async def test_patch_accepts_null_for_nullable_fields(client: Any, tenant: Any, field: str) -> None:
    cus = await create_customer(
        client, tenant.auth(), email="a@example.com", phone="08012345678", name="A", merchantRef="r-1"
    )
    updated = ok(await client.patch(f"/v1/customers/{cus['id']}", json={field: None}, headers=tenant.auth()))
    assert updated[field] is None
    assert (await read_customer(client, tenant.auth(), cus["id"]))[field] is None


async def test_patch_rejects_null_metadata(client: Any, tenant: Any) -> None:
    cus = await create_customer(client, tenant.auth(), metadata={"k": "v"})
    r = await client.patch(f"/v1/customers/{cus['id']}", json={"metadata": None}, headers=tenant.auth())
    invalid(r, "metadata", "cannot be null")
    assert await read_customer(client, tenant.auth(), cus["id"]) == cus


async def test_patch_metadata_replaces_and_clears(client: Any, tenant: Any) -> None:
    cus = await create_customer(client, tenant.auth(), metadata={"a": "1", "b": "2"})
    url = f"/v1/customers/{cus['id']}"
    assert ok(await client.patch(url, json={"metadata": {"c": "3"}}, headers=tenant.auth()))["metadata"] == {"c": "3"}
    assert ok(await client.patch(url, json={"metadata": {}}, headers=tenant.auth()))["metadata"] == {}


async def test_patch_with_empty_body_changes_nothing(client: Any, tenant: Any) -> None:
    cus = await create_customer(client, tenant.auth(), name="Same")
    assert ok(await client.patch(f"/v1/customers/{cus['id']}", json={}, headers=tenant.auth())) == cus
    assert await read_customer(client, tenant.auth(), cus["id"]) == cus


async def test_patch_with_equal_values_changes_nothing(client: Any, tenant: Any) -> None:
    cus = await create_customer(
        client, tenant.auth(), email="a@example.com", phone="08012345678", merchantRef="r", metadata={"k": "v"}
    )
    same = {"email": "A@Example.com", "phone": "2348012345678", "merchantRef": "r", "metadata": {"k": "v"}}
    assert ok(await client.patch(f"/v1/customers/{cus['id']}", json=same, headers=tenant.auth())) == cus
    assert await read_customer(client, tenant.auth(), cus["id"]) == cus


@pytest.mark.parametrize(
    ("field", "value", "issue"),
    [
        ("email", "nope", "not a valid email"),
        ("phone", "12", "not a valid phone"),
        ("name", "n" * 201, "at most 200"),
        ("merchantRef", "", "at least 1"),
        ("merchantRef", "x" * 101, "at most 100"),
        ("metadata", {f"k{i}": "v" for i in range(51)}, "at most 50 keys"),
        ("metadata", {"bad/key": "v"}, "must be 1-40 characters"),
        ("metadata", {"k": "v" * 501}, "at most 500 characters"),
        ("defaultPaymentMethodId", 5, "valid string"),
        ("blacklisted", True, "unknown or read-only"),
        ("blacklistReason", "x", "unknown or read-only"),
        ("blacklistedAt", None, "unknown or read-only"),
        ("identityId", None, "unknown or read-only"),
        ("createdAt", "2025-01-01T00:00:00.000Z", "unknown or read-only"),
        ("object", "customer", "unknown or read-only"),
        ("foo", 1, "unknown or read-only"),
    ],
)
async def test_patch_rejects_invalid_field(client: Any, tenant: Any, field: str, value: Any, issue: str) -> None:
    cus = await create_customer(client, tenant.auth(), name="Keep")
    events_before = await event_count(client, tenant.auth())
    r = await client.patch(f"/v1/customers/{cus['id']}", json={"name": "Changed", field: value}, headers=tenant.auth())
    invalid(r, field, issue)
    assert await read_customer(client, tenant.auth(), cus["id"]) == cus
    assert await event_count(client, tenant.auth()) == events_before


async def test_patch_duplicate_merchant_ref_is_409_and_changes_nothing(client: Any, tenant: Any) -> None:
    await create_customer(client, tenant.auth(), merchantRef="taken")
    cus = await create_customer(client, tenant.auth(), merchantRef="mine", name="Before")
    events_before = await event_count(client, tenant.auth())
    r = await client.patch(
        f"/v1/customers/{cus['id']}", json={"merchantRef": "taken", "name": "After"}, headers=tenant.auth()
    )
    err(r, 409, "conflict", "duplicate_merchant_ref")
    assert await read_customer(client, tenant.auth(), cus["id"]) == cus
    assert await event_count(client, tenant.auth()) == events_before


async def test_patch_keeping_own_merchant_ref_is_allowed(client: Any, tenant: Any) -> None:
    cus = await create_customer(client, tenant.auth(), merchantRef="mine")
    updated = ok(
        await client.patch(
            f"/v1/customers/{cus['id']}", json={"merchantRef": "mine", "name": "X"}, headers=tenant.auth()
        )
    )
    assert updated["merchantRef"] == "mine"
    assert updated["name"] == "X"


async def test_released_merchant_ref_can_be_reused(client: Any, tenant: Any) -> None:
    first = await create_customer(client, tenant.auth(), merchantRef="r-1")
    ok(await client.patch(f"/v1/customers/{first['id']}", json={"merchantRef": None}, headers=tenant.auth()))
    second = await create_customer(client, tenant.auth(), merchantRef="r-1")
    assert ok(await client.get("/v1/customers/ref/r-1", headers=tenant.auth()))["id"] == second["id"]


async def test_patch_unknown_default_payment_method_is_404_naming_the_field(client: Any, tenant: Any) -> None:
    cus = await create_customer(client, tenant.auth())
    r = await client.patch(
        f"/v1/customers/{cus['id']}",
        json={"defaultPaymentMethodId": "pm_01AAAAAAAAAAAAAAAAAAAAAAAA"},
        headers=tenant.auth(),
    )
    e = not_found(r)
    assert [d["path"] for d in e["details"]] == ["defaultPaymentMethodId"]
    assert await read_customer(client, tenant.auth(), cus["id"]) == cus


async def test_patch_unknown_customer_is_404(client: Any, tenant: Any) -> None:
    not_found(await client.patch(f"/v1/customers/{MISSING_ID}", json={"name": "x"}, headers=tenant.auth()))
    not_found(await client.patch(f"/v1/customers/{MISSING_ID}", json={}, headers=tenant.auth()))


@pytest.mark.parametrize(
    ("raw", "ctype", "reason"),
    [
        (b"{nope", "application/json", "malformed_json"),
        (b"[]", "application/json", "malformed_json"),
        (b'{"name":"x"}', "text/plain", "unsupported_media_type"),
    ],
)
async def test_patch_rejects_bad_bodies(client: Any, tenant: Any, raw: bytes, ctype: str, reason: str) -> None:
    cus = await create_customer(client, tenant.auth())
    headers = {**tenant.auth(), "Content-Type": ctype}
    err(await client.patch(f"/v1/customers/{cus['id']}", content=raw, headers=headers), 400, "bad_request", reason)
    assert await read_customer(client, tenant.auth(), cus["id"]) == cus


# --- POST/DELETE /v1/customers/{id}/blacklist ---


async def test_blacklist_and_unblacklist(client: Any, tenant: Any) -> None:
    cus = await create_customer(client, tenant.auth(), name="Eve")
    url = f"/v1/customers/{cus['id']}/blacklist"
    listed = ok(await client.post(url, json={"reason": "chargeback fraud"}, headers=tenant.auth()))
    assert_customer_shape(listed)
    assert listed["blacklisted"] is True
    assert listed["blacklistReason"] == "chargeback fraud"
    assert TS.match(listed["blacklistedAt"])
    assert {k: v for k, v in listed.items() if not k.startswith("blacklist") and k != "updatedAt"} == {
        k: v for k, v in cus.items() if not k.startswith("blacklist") and k != "updatedAt"
    }
    assert await read_customer(client, tenant.auth(), cus["id"]) == listed

    cleared = ok(await client.delete(url, headers=tenant.auth()))
    assert_customer_shape(cleared)
    assert cleared["blacklisted"] is False
    assert cleared["blacklistReason"] is None
    assert cleared["blacklistedAt"] is None
    assert await read_customer(client, tenant.auth(), cus["id"]) == cleared


async def test_blacklist_is_idempotent_and_updates_the_reason(client: Any, tenant: Any) -> None:
    cus = await create_customer(client, tenant.auth())
    url = f"/v1/customers/{cus['id']}/blacklist"
    first = ok(await client.post(url, json={"reason": "first"}, headers=tenant.auth()))
    again = ok(await client.post(url, json={"reason": "first"}, headers=tenant.auth()))
    assert again == first
    second = ok(await client.post(url, json={"reason": "second"}, headers=tenant.auth()))
    assert second["blacklisted"] is True
    assert second["blacklistReason"] == "second"
    assert second["blacklistedAt"] == first["blacklistedAt"]
    assert await read_customer(client, tenant.auth(), cus["id"]) == second


async def test_unblacklist_is_idempotent(client: Any, tenant: Any) -> None:
    cus = await create_customer(client, tenant.auth())
    url = f"/v1/customers/{cus['id']}/blacklist"
    assert ok(await client.delete(url, headers=tenant.auth())) == cus
    ok(await client.post(url, json={"reason": "r"}, headers=tenant.auth()))
    cleared = ok(await client.delete(url, headers=tenant.auth()))
    assert ok(await client.delete(url, headers=tenant.auth())) == cleared


async def test_blacklist_accepts_500_char_reason(client: Any, tenant: Any) -> None:
    cus = await create_customer(client, tenant.auth())
    r = await client.post(f"/v1/customers/{cus['id']}/blacklist", json={"reason": "r" * 500}, headers=tenant.auth())
    assert ok(r)["blacklistReason"] == "r" * 500


@pytest.mark.parametrize(
    ("body", "path", "issue"),
    [
        ({}, "reason", "field required"),
        ({"reason": ""}, "reason", "at least 1"),
        ({"reason": "r" * 501}, "reason", "at most 500"),
        ({"reason": None}, "reason", "valid string"),
        ({"reason": 7}, "reason", "valid string"),
        ({"reason": "ok", "until": "never"}, "until", "unknown or read-only"),
    ],
)
async def test_blacklist_rejects_invalid_body(
    client: Any, tenant: Any, db: Database, body: dict[str, Any], path: str, issue: str
) -> None:
    cus = await create_customer(client, tenant.auth())
    invalid(await client.post(f"/v1/customers/{cus['id']}/blacklist", json=body, headers=tenant.auth()), path, issue)
    assert await read_customer(client, tenant.auth(), cus["id"]) == cus
    assert await audit_rows(db, tenant.id) == []


@pytest.mark.parametrize(
    ("raw", "ctype", "reason"),
    [
        (b"{", "application/json", "malformed_json"),
        (b'["reason"]', "application/json", "malformed_json"),
        (b"", "application/json", "malformed_json"),
        (b'{"reason":"x"}', "text/plain", "unsupported_media_type"),
    ],
)
async def test_blacklist_rejects_bad_bodies(client: Any, tenant: Any, raw: bytes, ctype: str, reason: str) -> None:
    cus = await create_customer(client, tenant.auth())
    headers = {**tenant.auth(), "Content-Type": ctype}
    r = await client.post(f"/v1/customers/{cus['id']}/blacklist", content=raw, headers=headers)
    err(r, 400, "bad_request", reason)
    assert await read_customer(client, tenant.auth(), cus["id"]) == cus


async def test_blacklist_unknown_customer_is_404(client: Any, tenant: Any) -> None:
    not_found(await client.post(f"/v1/customers/{MISSING_ID}/blacklist", json={"reason": "x"}, headers=tenant.auth()))
    not_found(await client.delete(f"/v1/customers/{MISSING_ID}/blacklist", headers=tenant.auth()))


async def test_blacklist_changes_are_audited(client: Any, tenant: Any, db: Database) -> None:
    cus = await create_customer(client, tenant.auth())
    url = f"/v1/customers/{cus['id']}/blacklist"
    r1 = await client.post(url, json={"reason": "first"}, headers=tenant.auth())
    first = ok(r1)
    ok(await client.post(url, json={"reason": "first"}, headers=tenant.auth()))  # no change: no audit row
    r2 = await client.post(url, json={"reason": "second"}, headers=tenant.auth())
    r3 = await client.delete(url, headers=tenant.auth())
    ok(await client.delete(url, headers=tenant.auth()))  # no change: no audit row
    assert first["blacklisted"] is True

    kid = await key_id(db, tenant)
    actor = {"actor_type": "api_key", "actor_id": kid, "actor_label": tenant.test_secret[:12]}
    target = {"target_type": "customer", "target_id": cus["id"], "mode": "test"}
    assert await audit_rows(db, tenant.id) == [
        {
            "action": "customer.blacklisted",
            **actor,
            **target,
            "before": {"blacklisted": False, "blacklistReason": None},
            "after": {"blacklisted": True, "blacklistReason": "first"},
            "request_id": r1.headers["x-request-id"],
        },
        {
            "action": "customer.blacklisted",
            **actor,
            **target,
            "before": {"blacklistReason": "first"},
            "after": {"blacklistReason": "second"},
            "request_id": r2.headers["x-request-id"],
        },
        {
            "action": "customer.unblacklisted",
            **actor,
            **target,
            "before": {"blacklisted": True, "blacklistReason": "second"},
            "after": {"blacklisted": False, "blacklistReason": None},
            "request_id": r3.headers["x-request-id"],
        },
    ]


async def test_live_blacklist_audit_records_live_mode(client: Any, tenant: Any, db: Database) -> None:
    cus = await create_customer(client, tenant.auth("live"))
    ok(await client.post(f"/v1/customers/{cus['id']}/blacklist", json={"reason": "x"}, headers=tenant.auth("live")))
    rows = await audit_rows(db, tenant.id)
    assert [(r["action"], r["mode"], r["actor_id"]) for r in rows] == [
        ("customer.blacklisted", "live", await key_id(db, tenant, "live"))
    ]


async def test_plain_patch_is_not_audited(client: Any, tenant: Any, db: Database) -> None:
    cus = await create_customer(client, tenant.auth())
    ok(await client.patch(f"/v1/customers/{cus['id']}", json={"name": "x"}, headers=tenant.auth()))
    assert await audit_rows(db, tenant.id) == []


# --- 401 / 403 on every endpoint ---


async def _every_endpoint(client: Any, headers: dict[str, str], cus: dict[str, Any]) -> list[httpx.Response]:
    cid = cus["id"]
    return [
        await client.post("/v1/customers", json={"name": "Mallory"}, headers=headers),
        await client.get("/v1/customers", headers=headers),
        await client.get(f"/v1/customers/{cid}", headers=headers),
        await client.get(f"/v1/customers/ref/{cus['merchantRef']}", headers=headers),
        await client.patch(f"/v1/customers/{cid}", json={"name": "Mallory"}, headers=headers),
        await client.post(f"/v1/customers/{cid}/blacklist", json={"reason": "x"}, headers=headers),
        await client.delete(f"/v1/customers/{cid}/blacklist", headers=headers),
    ]


async def test_every_endpoint_rejects_missing_or_invalid_credentials(client: Any, tenant: Any, db: Database) -> None:
    cus = await create_customer(client, tenant.auth(), merchantRef="r-1")
    cases = [
        ({}, "missing_credential"),
        ({"Authorization": f"Basic {tenant.test_secret}"}, "invalid_credential"),
        ({"Authorization": tenant.test_secret}, "invalid_credential"),
        ({"Authorization": "Bearer "}, "invalid_credential"),
        ({"Authorization": "Bearer sk_test_123"}, "invalid_credential"),
        ({"Authorization": f"Bearer {tenant.test_secret}x"}, "invalid_credential"),
        ({"Authorization": "Bearer a.b.c"}, "invalid_credential"),
        ({"Authorization": f"Bearer {unknown_key()}"}, "invalid_credential"),
        ({"Authorization": f"Bearer {unknown_key('sk_live_')}"}, "invalid_credential"),
    ]
    for headers, reason in cases:
        for r in await _every_endpoint(client, headers, cus):
            assert err(r, 401, "unauthorized", reason)["details"] == []
    assert await list_ids(client, tenant.auth()) == [cus["id"]]
    assert await read_customer(client, tenant.auth(), cus["id"]) == cus
    assert await audit_rows(db, tenant.id) == []


@pytest.mark.parametrize("mode", ["test", "live"])
async def test_revoked_key_is_rejected_on_every_endpoint(
    client: Any, tenant: Any, revoke_key: Any, db: Database, mode: str
) -> None:
    cus = await create_customer(client, tenant.auth(mode), merchantRef="r-1")
    await revoke_key(tenant, mode, "secret")
    for r in await _every_endpoint(client, tenant.auth(mode), cus):
        err(r, 401, "unauthorized", "invalid_credential")
    other = "live" if mode == "test" else "test"
    ok(await client.get("/v1/customers", headers=tenant.auth(other)))
    assert await audit_rows(db, tenant.id) == []


@pytest.mark.parametrize("mode", ["test", "live"])
async def test_publishable_key_is_forbidden_and_changes_nothing(
    client: Any, tenant: Any, db: Database, mode: str
) -> None:
    cus = await create_customer(client, tenant.auth(mode), merchantRef="r-1")
    events_before = await event_count(client, tenant.auth(mode))
    for r in await _every_endpoint(client, tenant.auth(mode, "publishable"), cus):
        assert err(r, 403, "forbidden", "publishable_key_not_allowed")["details"] == []
    assert await list_ids(client, tenant.auth(mode)) == [cus["id"]]
    assert await read_customer(client, tenant.auth(mode), cus["id"]) == cus
    assert await event_count(client, tenant.auth(mode)) == events_before
    assert await audit_rows(db, tenant.id) == []


# --- tenant and mode isolation ---


async def _probe_all(client: Any, headers: dict[str, str], cus: dict[str, Any]) -> list[httpx.Response]:
    cid = cus["id"]
    return [
        await client.get(f"/v1/customers/{cid}", headers=headers),
        await client.get(f"/v1/customers/ref/{cus['merchantRef']}", headers=headers),
        await client.patch(f"/v1/customers/{cid}", json={"name": "Mallory"}, headers=headers),
        await client.patch(f"/v1/customers/{cid}", json={}, headers=headers),
        await client.post(f"/v1/customers/{cid}/blacklist", json={"reason": "x"}, headers=headers),
        await client.delete(f"/v1/customers/{cid}/blacklist", headers=headers),
    ]


async def test_other_tenants_customer_is_404_and_unchanged(client: Any, make_tenant: Any, db: Database) -> None:
    owner = await make_tenant()
    intruder = await make_tenant()
    cus = await create_customer(client, owner.auth(), merchantRef="r-1", name="Victim")
    blacklisted = await create_customer(client, owner.auth(), merchantRef="r-2")
    blacklisted = ok(
        await client.post(f"/v1/customers/{blacklisted['id']}/blacklist", json={"reason": "x"}, headers=owner.auth())
    )
    owner_events = await event_count(client, owner.auth())
    owner_audit = await audit_rows(db, owner.id)
    for target in (cus, blacklisted):
        for r in await _probe_all(client, intruder.auth(), target):
            not_found(r)
    assert await read_customer(client, owner.auth(), cus["id"]) == cus
    assert await read_customer(client, owner.auth(), blacklisted["id"]) == blacklisted
    assert await event_count(client, owner.auth()) == owner_events
    assert await event_count(client, intruder.auth()) == 0
    assert await audit_rows(db, owner.id) == owner_audit
    assert await audit_rows(db, intruder.id) == []
    assert await list_ids(client, intruder.auth()) == []


async def test_other_modes_customer_is_404_and_unchanged(client: Any, tenant: Any, db: Database) -> None:
    test_cus = await create_customer(client, tenant.auth(), merchantRef="t-1")
    live_cus = await create_customer(client, tenant.auth("live"), merchantRef="l-1")
    for cus, wrong in ((test_cus, "live"), (live_cus, "test")):
        for r in await _probe_all(client, tenant.auth(wrong), cus):
            not_found(r)
    assert await read_customer(client, tenant.auth(), test_cus["id"]) == test_cus
    assert await read_customer(client, tenant.auth("live"), live_cus["id"]) == live_cus
    assert await audit_rows(db, tenant.id) == []


async def test_lists_are_separated_by_mode_and_tenant(client: Any, make_tenant: Any) -> None:
    a = await make_tenant()
    b = await make_tenant()
    a_test = await create_customer(client, a.auth(), email="same@example.com")
    a_live = await create_customer(client, a.auth("live"), email="same@example.com")
    b_test = await create_customer(client, b.auth(), email="same@example.com")
    assert await list_ids(client, a.auth()) == [a_test["id"]]
    assert await list_ids(client, a.auth("live")) == [a_live["id"]]
    assert await list_ids(client, b.auth()) == [b_test["id"]]
    assert await list_ids(client, b.auth("live")) == []
    assert await list_ids(client, a.auth("live"), email="same@example.com") == [a_live["id"]]
