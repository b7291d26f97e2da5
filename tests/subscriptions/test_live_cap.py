"""The live-mode cap for unverified tenants (02 §10): reserved atomically before every live charge, released when
the charge fails, never applied in test mode."""

from __future__ import annotations

from typing import Any

from duro.db.engine import Database
from tests.http_assertions import err, ok
from tests.payment_methods.harness import insert_method, sql

CAP = 100_000_000


async def live_customer(client: Any, tenant: Any, db: Database, number: str) -> tuple[dict[str, Any], str]:
    cus = ok(await client.post("/v1/customers", json={"name": "Live"}, headers=tenant.auth("live")), 201)
    # Live methods come from checkout or the portal (not built yet): write the row as they would.
    pm_id = await insert_method(db, tenant_id=tenant.id, customer_id=cus["id"], number=number, mode="live")
    return cus, pm_id


async def volume(db: Database, tenant_id: str) -> int:
    rows = await sql(db, "SELECT live_gross_volume FROM core.tenants WHERE id = :t", t=tenant_id)
    return int(rows[0]["live_gross_volume"])


async def live_plan(client: Any, tenant: Any, amount: int, currency: str = "NGN") -> dict[str, Any]:
    body = {"name": f"Live {amount}", "amount": amount, "interval": "month", "currency": currency}
    return ok(await client.post("/v1/plans", json=body, headers=tenant.auth("live")), 201)  # type: ignore[no-any-return]


async def test_live_charges_count_against_the_cap(client: Any, tenant: Any, db: Database) -> None:
    cus, pm = await live_customer(client, tenant, db, "4242424242424242")
    plan = await live_plan(client, tenant, 60_000_000)
    body = {"customerId": cus["id"], "planId": plan["id"], "paymentMethodId": pm}
    first = ok(await client.post("/v1/subscriptions", json=body, headers=tenant.auth("live")), 201)
    assert first["status"] == "active"
    assert await volume(db, tenant.id) == 60_000_000
    # A second charge of the same size would pass NGN 1,000,000: refused before any gateway call, nothing created.
    r = await client.post("/v1/subscriptions", json=body, headers=tenant.auth("live"))
    err(r, 403, "forbidden", "kyc_required")
    assert await volume(db, tenant.id) == 60_000_000
    subs = ok(await client.get("/v1/subscriptions", headers=tenant.auth("live")))["items"]
    assert [s["id"] for s in subs] == [first["id"]]
    # Other currencies are refused outright while unverified.
    usd = await live_plan(client, tenant, 1000, "USD")
    r = await client.post("/v1/subscriptions", json={**body, "planId": usd["id"]}, headers=tenant.auth("live"))
    err(r, 403, "forbidden", "kyc_required")
    # Verified tenants have no cap.
    await sql(db, "UPDATE core.tenants SET tier = 'verified' WHERE id = :t", t=tenant.id)
    assert ok(await client.post("/v1/subscriptions", json=body, headers=tenant.auth("live")), 201)["status"] == "active"
    assert await volume(db, tenant.id) == 120_000_000


async def test_a_failed_live_charge_releases_its_reservation(client: Any, tenant: Any, db: Database) -> None:
    cus, pm = await live_customer(client, tenant, db, "4000000000000051")
    plan = await live_plan(client, tenant, 5_000_000)
    body = {"customerId": cus["id"], "planId": plan["id"], "paymentMethodId": pm}
    sub = ok(await client.post("/v1/subscriptions", json=body, headers=tenant.auth("live")), 201)
    assert sub["status"] == "incomplete"
    assert await volume(db, tenant.id) == 0


async def test_test_mode_is_never_capped(client: Any, tenant: Any, db: Database) -> None:
    await sql(db, "UPDATE core.tenants SET live_gross_volume = :v WHERE id = :t", v=CAP, t=tenant.id)
    plan = ok(
        await client.post(
            "/v1/plans", json={"name": "Big", "amount": 90_000_000, "interval": "month"}, headers=tenant.auth()
        ),
        201,
    )
    cus = ok(await client.post("/v1/customers", json={}, headers=tenant.auth()), 201)
    card = {"testCard": {"number": "4242424242424242", "expMonth": 12, "expYear": 2099}}
    ok(await client.post(f"/v1/customers/{cus['id']}/payment-methods", json=card, headers=tenant.auth()), 201)
    sub = ok(
        await client.post(
            "/v1/subscriptions", json={"customerId": cus["id"], "planId": plan["id"]}, headers=tenant.auth()
        ),
        201,
    )
    assert sub["status"] == "active"
    assert await volume(db, tenant.id) == CAP
