"""`/v1/checkout/sessions` (06 §2): create with secret or publishable keys, amounts, errors, list, expire,
isolation."""

from __future__ import annotations

from typing import Any

from tests.checkout.harness import plan, session
from tests.http_assertions import err, ok


async def test_create_a_subscription_session(client: Any, tenant: Any) -> None:
    p = await plan(client, tenant)
    out = ok(
        await session(
            client, tenant, planId=p["id"], customerEmail="ada@example.com", successUrl="https://m.example/thanks",
            metadata={"orderRef": "A-1001"},
        ),
        201,
    )  # fmt: skip
    assert out["object"] == "checkout_session"
    assert out["token"].startswith("cs_test_")
    assert out["url"] == f"http://localhost:8000/checkout/{out['token']}"
    assert (out["status"], out["kind"], out["planId"], out["amount"], out["currency"]) == (
        "pending",
        "subscription",
        p["id"],
        500000,
        "NGN",
    )
    assert (out["subtotal"], out["discount"], out["metadata"]) == (500000, 0, {"orderRef": "A-1001"})
    got = ok(await client.get(f"/v1/checkout/sessions/{out['id']}", headers=tenant.auth()))
    assert got == out


async def test_trial_promo_and_one_off_amounts(client: Any, tenant: Any) -> None:
    trial = await plan(client, tenant, trialDays=7)
    t = ok(await session(client, tenant, planId=trial["id"]), 201)
    assert (t["subtotal"], t["discount"], t["amount"]) == (0, 0, 0)
    p = await plan(client, tenant)
    promo = {"code": "HALF", "discountType": "percentage", "discountValue": 50}
    ok(await client.post("/v1/promo-codes", json=promo, headers=tenant.auth()), 201)
    d = ok(await session(client, tenant, planId=p["id"], promoCode="half"), 201)
    assert (d["subtotal"], d["discount"], d["amount"], d["promoCode"]) == (500000, 250000, 250000, "HALF")
    err(await session(client, tenant, planId=p["id"], promoCode="NOPE"), 422, "validation_error", "promo_code_invalid")
    one = ok(await session(client, tenant, amount=12345, description="Consulting"), 201)
    assert (one["kind"], one["amount"], one["currency"], one["planId"]) == ("payment", 12345, "NGN", None)


async def test_publishable_keys_start_subscriptions_only(client: Any, tenant: Any) -> None:
    p = await plan(client, tenant)
    assert (await session(client, tenant, kind="publishable", planId=p["id"])).status_code == 201
    err(await session(client, tenant, kind="publishable", amount=100), 403, "forbidden", "publishable_key_not_allowed")
    # Reading sessions stays a secret-key call.
    r = await client.get("/v1/checkout/sessions", headers=tenant.auth("test", "publishable"))
    assert r.status_code == 403


async def test_validation_and_lookup_errors(client: Any, tenant: Any) -> None:
    p = await plan(client, tenant)
    assert (await session(client, tenant)).status_code == 422  # neither planId nor amount
    assert (await session(client, tenant, planId=p["id"], amount=5)).status_code == 422
    assert (await session(client, tenant, planId=p["id"], successUrl="ftp://x.example")).status_code == 422
    err(await session(client, tenant, planId="plan_01AAAAAAAAAAAAAAAAAAAAAAAA"), 404, "not_found", "resource_missing")
    ok(await client.patch(f"/v1/plans/{p['id']}", json={"active": False}, headers=tenant.auth()))
    err(await session(client, tenant, planId=p["id"]), 409, "conflict", "plan_inactive")
    # http redirect URLs only in test mode.
    live = await plan(client, tenant, "live")
    assert (
        await session(client, tenant, "live", planId=live["id"], successUrl="http://m.example/x")
    ).status_code == 422
    cus = ok(await client.post("/v1/customers", json={"name": "B"}, headers=tenant.auth()), 201)
    ok(await client.post(f"/v1/customers/{cus['id']}/blacklist", json={"reason": "fraud"}, headers=tenant.auth()))
    live_ok = await plan(client, tenant)
    err(
        await session(client, tenant, planId=live_ok["id"], customerId=cus["id"]),
        403,
        "forbidden",
        "customer_blacklisted",
    )


async def test_list_expire_and_isolation(client: Any, tenant: Any, make_tenant: Any) -> None:
    p = await plan(client, tenant)
    a = ok(await session(client, tenant, planId=p["id"]), 201)
    b = ok(await session(client, tenant, planId=p["id"]), 201)
    gone = ok(await client.post(f"/v1/checkout/sessions/{a['id']}/expire", headers=tenant.auth()))
    assert gone["status"] == "expired"
    pending = ok(await client.get("/v1/checkout/sessions?status=pending", headers=tenant.auth()))
    assert [s["id"] for s in pending["items"]] == [b["id"]]
    expired = ok(await client.get("/v1/checkout/sessions?status=expired", headers=tenant.auth()))
    assert [s["id"] for s in expired["items"]] == [a["id"]]
    other = await make_tenant("Other Ltd")
    assert (await client.get(f"/v1/checkout/sessions/{b['id']}", headers=other.auth())).status_code == 404
    assert (await client.get(f"/v1/checkout/sessions/{b['id']}", headers=tenant.auth("live"))).status_code == 404
    assert (await client.get("/v1/checkout/sessions", headers={"Authorization": "Bearer nope"})).status_code == 401


async def test_maintenance_marks_expired_sessions(client: Any, tenant: Any, db: Any, app: Any) -> None:
    from sqlalchemy import text

    from duro.checkout.expiry import expire_sessions

    p = await plan(client, tenant)
    s = ok(await session(client, tenant, planId=p["id"]), 201)
    async with db.core_transaction() as conn:
        await conn.execute(
            text(
                "UPDATE sandbox.checkout_sessions SET expires_at = now() - interval '1 minute' "
                "WHERE tenant_id = :t AND id = :i"
            ),
            {"t": tenant.id, "i": s["id"]},
        )
    # Reads treat it as expired at once; maintenance writes it down.
    assert ok(await client.get(f"/v1/checkout/sessions/{s['id']}", headers=tenant.auth()))["status"] == "expired"
    assert await expire_sessions(app.state.runtime, "test") == 1
    assert await expire_sessions(app.state.runtime, "test") == 0
