"""/v1/promo-codes: create, list, retrieve, update; validation, isolation, atomic redemption."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from duro.context import Actor, RepositoryContext
from duro.db.engine import Database
from duro.kit.clock import SystemClock
from duro.promo_codes.repository import PromoCodeRepository
from tests.http_assertions import err, invalid, not_found, ok

FIELDS = {
    "object", "id", "code", "discountType", "discountValue", "currency", "planId", "duration", "durationCycles",
    "maxRedemptions", "redeemedCount", "remaining", "active", "expiresAt", "metadata", "createdAt", "updatedAt",
}  # fmt: skip


def future(days: int = 30) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


async def make_plan(client: Any, tenant: Any, mode: str = "test", currency: str = "NGN") -> dict[str, Any]:
    body = {"name": "Pro", "amount": 500000, "interval": "month", "currency": currency}
    return ok(await client.post("/v1/plans", json=body, headers=tenant.auth(mode)), 201)  # type: ignore[no-any-return]


async def create(client: Any, tenant: Any, mode: str = "test", **body: Any) -> Any:
    payload = {"code": "launch50", "discountType": "percentage", "discountValue": 50, **body}
    return await client.post("/v1/promo-codes", json=payload, headers=tenant.auth(mode))


async def test_create_and_read_back(client: Any, tenant: Any) -> None:
    plan = await make_plan(client, tenant)
    promo = ok(
        await create(
            client,
            tenant,
            planId=plan["id"],
            duration="repeating",
            durationCycles=3,
            maxRedemptions=5,
            expiresAt="2099-01-01T01:00:00+01:00",
            metadata={"campaign": "launch"},
        ),
        201,
    )
    assert set(promo) == FIELDS
    assert promo["object"] == "promo_code"
    assert promo["id"].startswith("promo_")
    assert promo["code"] == "LAUNCH50"  # stored upper case
    assert promo["currency"] is None
    assert promo["planId"] == plan["id"]
    assert promo["redeemedCount"] == 0
    assert promo["remaining"] == 5
    assert promo["expiresAt"] == "2099-01-01T00:00:00.000Z"  # converted to UTC
    assert ok(await client.get(f"/v1/promo-codes/{promo['id']}", headers=tenant.auth())) == promo


async def test_defaults_and_fixed_codes(client: Any, tenant: Any) -> None:
    promo = ok(
        await create(client, tenant, code="TENOFF", discountType="fixed", discountValue=1000, currency="NGN"), 201
    )
    assert promo["duration"] == "once"
    assert promo["durationCycles"] is None
    assert promo["maxRedemptions"] is None
    assert promo["remaining"] is None
    assert promo["expiresAt"] is None
    assert promo["metadata"] == {}


@pytest.mark.parametrize(
    ("body", "path", "issue"),
    [
        ({"discountValue": 101}, "discountValue", "1-100"),
        ({"discountValue": 0}, "discountValue", "greater than or equal to 1"),
        ({"discountValue": "50"}, "discountValue", "integer"),
        ({"discountValue": 50.0}, "discountValue", "integer"),
        ({"discountType": "fixed", "discountValue": 100}, "currency", "required"),
        ({"currency": "NGN"}, "currency", "null"),
        ({"discountType": "fixed", "discountValue": 100, "currency": "XXX"}, "currency", "must be one of"),
        ({"duration": "repeating"}, "durationCycles", "repeating"),
        ({"durationCycles": 2}, "durationCycles", "repeating"),
        ({"duration": "repeating", "durationCycles": 121}, "durationCycles", "less than or equal to 120"),
        ({"duration": "sometimes"}, "duration", "once"),
        ({"code": "ab"}, "code", "at least 3"),
        ({"code": "a" * 41}, "code", "at most 40"),
        ({"code": "NO SPACES"}, "code", "pattern"),
        ({"maxRedemptions": 0}, "maxRedemptions", "greater than or equal to 1"),
        ({"expiresAt": "2099-01-01T00:00:00"}, "expiresAt", "timezone"),
        ({"expiresAt": "soon"}, "expiresAt", "datetime"),
        ({"redeemedCount": 3}, "redeemedCount", "unknown"),
        ({"metadata": {"k": "v" * 501}}, "metadata", "500"),
    ],
)
async def test_validation(client: Any, tenant: Any, body: dict[str, Any], path: str, issue: str) -> None:
    invalid(await create(client, tenant, **body), path, issue)
    assert ok(await client.get("/v1/promo-codes", headers=tenant.auth()))["items"] == []


async def test_expiry_must_be_in_the_future(client: Any, tenant: Any) -> None:
    invalid(await create(client, tenant, expiresAt="2001-01-01T00:00:00Z"), "expiresAt", "future")


async def test_unknown_plan_is_404_naming_the_field(client: Any, tenant: Any) -> None:
    e = not_found(await create(client, tenant, planId="plan_01JGFMA2P3K8W1N6Y4D9C0B7QX"))
    assert e["details"][0]["path"] == "planId"


async def test_fixed_code_must_match_the_plan_currency(client: Any, tenant: Any) -> None:
    plan = await make_plan(client, tenant, currency="USD")
    e = err(
        await create(client, tenant, discountType="fixed", discountValue=100, currency="NGN", planId=plan["id"]),
        422,
        "validation_error",
        "currency_mismatch",
    )
    assert e["details"][0]["path"] == "currency"


async def test_codes_are_unique_case_insensitively(client: Any, tenant: Any, make_tenant: Any) -> None:
    ok(await create(client, tenant, code="Summer"), 201)
    err(await create(client, tenant, code="SUMMER"), 409, "conflict", "duplicate_code")
    ok(await create(client, tenant, mode="live", code="summer"), 201)  # the other mode is another namespace
    other = await make_tenant("Other")
    ok(await create(client, other, code="summer"), 201)  # and so is another tenant


async def test_list_filters(client: Any, tenant: Any) -> None:
    a = ok(await create(client, tenant, code="AAA"), 201)
    b = ok(await create(client, tenant, code="BBB"), 201)
    ok(await client.patch(f"/v1/promo-codes/{b['id']}", json={"active": False}, headers=tenant.auth()))
    listed = ok(await client.get("/v1/promo-codes", headers=tenant.auth()))
    assert [p["id"] for p in listed["items"]] == [b["id"], a["id"]]
    active = ok(await client.get("/v1/promo-codes?active=true", headers=tenant.auth()))
    assert [p["id"] for p in active["items"]] == [a["id"]]
    by_code = ok(await client.get("/v1/promo-codes?code=aaa", headers=tenant.auth()))
    assert [p["id"] for p in by_code["items"]] == [a["id"]]


async def test_patch_rules(client: Any, tenant: Any, db: Database, settings: Any) -> None:
    promo = ok(await create(client, tenant, maxRedemptions=5), 201)
    async with db.transaction("test") as conn:
        ctx = RepositoryContext(conn, tenant.id, "test", SystemClock(), settings, Actor("system", None, "test"))
        for _ in range(3):
            assert await ctx.repo(PromoCodeRepository).redeem(promo["id"], SystemClock().now()) is not None
    invalid(
        await client.patch(f"/v1/promo-codes/{promo['id']}", json={"maxRedemptions": 2}, headers=tenant.auth()),
        "maxRedemptions",
        "at least redeemedCount (3)",
    )
    updated = ok(
        await client.patch(
            f"/v1/promo-codes/{promo['id']}",
            json={"maxRedemptions": 3, "expiresAt": "2098-05-05T05:05:05Z", "metadata": {"a": "b"}},
            headers=tenant.auth(),
        )
    )
    assert updated["remaining"] == 0
    assert updated["expiresAt"] == "2098-05-05T05:05:05.000Z"
    assert updated["metadata"] == {"a": "b"}
    cleared = ok(
        await client.patch(f"/v1/promo-codes/{promo['id']}", json={"maxRedemptions": None}, headers=tenant.auth())
    )
    assert cleared["remaining"] is None
    for body, path in (
        ({"active": None}, "active"),
        ({"code": "NEW"}, "code"),
        ({"discountValue": 5}, "discountValue"),
    ):
        invalid(await client.patch(f"/v1/promo-codes/{promo['id']}", json=body, headers=tenant.auth()), path, "")


async def test_credentials_and_isolation(client: Any, tenant: Any, make_tenant: Any) -> None:
    promo = ok(await create(client, tenant), 201)
    url = f"/v1/promo-codes/{promo['id']}"
    err(await client.get(url), 401, "unauthorized", "missing_credential")
    err(
        await client.get(url, headers={"Authorization": "Bearer sk_test_nope"}),
        401,
        "unauthorized",
        "invalid_credential",
    )
    body = {"code": "PKPK", "discountType": "percentage", "discountValue": 5}
    pk = tenant.auth("test", "publishable")
    err(await client.post("/v1/promo-codes", json=body, headers=pk), 403, "forbidden", "publishable_key_not_allowed")
    err(await client.get(url, headers=pk), 403, "forbidden", "publishable_key_not_allowed")
    other = await make_tenant("Other")
    not_found(await client.get(url, headers=other.auth()))
    not_found(await client.patch(url, json={"active": False}, headers=other.auth()))
    not_found(await client.get(url, headers=tenant.auth("live")))
    not_found(await client.patch(url, json={"active": False}, headers=tenant.auth("live")))
    assert ok(await client.get(url, headers=tenant.auth()))["active"] is True  # nothing changed
    assert ok(await client.get("/v1/promo-codes", headers=tenant.auth("live")))["items"] == []


async def test_redemption_is_atomic_under_concurrency(client: Any, tenant: Any, db: Database, settings: Any) -> None:
    promo = ok(await create(client, tenant, maxRedemptions=10), 201)

    async def redeem() -> bool:
        async with db.transaction("test") as conn:
            ctx = RepositoryContext(conn, tenant.id, "test", SystemClock(), settings, Actor("system", None, "test"))
            return await ctx.repo(PromoCodeRepository).redeem(promo["id"], SystemClock().now()) is not None

    results = await asyncio.gather(*(redeem() for _ in range(50)))
    assert results.count(True) == 10
    final = ok(await client.get(f"/v1/promo-codes/{promo['id']}", headers=tenant.auth()))
    assert final["redeemedCount"] == 10
    assert final["remaining"] == 0


async def test_expired_or_inactive_codes_cannot_be_redeemed(
    client: Any, tenant: Any, db: Database, settings: Any
) -> None:
    promo = ok(await create(client, tenant, expiresAt=future(1)), 201)
    ok(await client.patch(f"/v1/promo-codes/{promo['id']}", json={"active": False}, headers=tenant.auth()))
    async with db.transaction("test") as conn:
        ctx = RepositoryContext(conn, tenant.id, "test", SystemClock(), settings, Actor("system", None, "test"))
        repo = ctx.repo(PromoCodeRepository)
        assert await repo.redeem(promo["id"], SystemClock().now()) is None
    ok(await client.patch(f"/v1/promo-codes/{promo['id']}", json={"active": True}, headers=tenant.auth()))
    async with db.transaction("test") as conn:
        ctx = RepositoryContext(conn, tenant.id, "test", SystemClock(), settings, Actor("system", None, "test"))
        repo = ctx.repo(PromoCodeRepository)
        assert await repo.redeem(promo["id"], datetime.now(UTC) + timedelta(days=2)) is None  # past its expiry
        assert await repo.redeem(promo["id"], SystemClock().now()) is not None
