"""`GET /portal/subscriptions` (06 §7): the exact JSON, grouping by merchant, the four statements, modes apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from duro.appearance import service as appearance
from duro.db.engine import Database
from tests.http_assertions import err, ok
from tests.portal.conftest import (
    CLOCK,
    OTHER_PHONE,
    Who,
    active_subscription,
    customer_with_phone,
    portal,
    set_columns,
    set_permissions,
)
from tests.subscriptions.helpers import plan


def _counted(db: Database) -> list[str]:
    seen: list[str] = []
    db.statement_hooks.append(seen.append)
    return seen


def _business(seen: list[str]) -> list[str]:
    """The endpoint's own statements: the token's identity lookup is authentication, not the listing."""
    return [s for s in seen if "customer_identities" not in s]


async def test_the_exact_shape_with_branding_and_method(client: Any, db: Database, make_tenant: Any, me: Who) -> None:
    tenant = await make_tenant("Demo Store")
    async with db.core_transaction() as conn:
        await appearance.set_draft(conn, tenant.id, "general", {"brandColor": "#AA0000"}, clock=CLOCK)
        await appearance.set_draft(conn, tenant.id, "portal", {"heading": "Your Demo Store plan"}, clock=CLOCK)
    await set_permissions(db, tenant.id, pauseSubscription=True)
    sub = await active_subscription(client, tenant)

    body = await portal(client, me)
    assert set(body) == {"object", "mode", "merchants"}
    assert (body["object"], body["mode"]) == ("portal_subscriptions", "test")
    [merchant] = body["merchants"]
    assert merchant == {
        "tenantId": tenant.id,
        "merchantName": "Demo Store",
        "logoUrl": None,
        "brandColor": "#AA0000",
        "portal": {
            "heading": "Your Demo Store plan",
            "supportUrl": None,
            "permissions": {
                "cancelSubscription": True,
                "cancelMode": "period_end",
                "pauseSubscription": True,
                "updatePaymentMethod": True,
                "retryPayment": True,
                "viewInvoices": True,
            },
        },
        "subscriptions": [
            {
                "id": sub["id"],
                "status": "active",
                "cancelAtPeriodEnd": False,
                "currentPeriodEnd": sub["currentPeriodEnd"],
                "nextChargeAt": sub["currentPeriodEnd"],
                "amount": 500000,
                "currency": "NGN",
                "plan": {
                    "id": sub["planId"],
                    "name": "Pro Monthly",
                    "amount": 500000,
                    "currency": "NGN",
                    "interval": "month",
                    "intervalCount": 1,
                },
                # No method of its own: the customer's default, which renewals charge, is shown.
                "paymentMethod": {"rail": "card", "brand": "visa", "last4": "4242"},
            }
        ],
    }


async def test_defaults_without_published_appearance_and_next_charge_rule(
    client: Any, db: Database, tenant: Any, me: Who
) -> None:
    sub = await active_subscription(client, tenant)
    ok(await client.post(f"/v1/subscriptions/{sub['id']}/cancel", json={"atPeriodEnd": True}, headers=tenant.auth()))
    [merchant] = (await portal(client, me))["merchants"]
    assert merchant["merchantName"] == "Acme Ltd"
    assert merchant["brandColor"] == "#0F766E"
    assert merchant["portal"]["heading"] is None
    assert merchant["portal"]["permissions"]["pauseSubscription"] is False
    [item] = merchant["subscriptions"]
    assert item["cancelAtPeriodEnd"] is True
    assert item["nextChargeAt"] is None  # cancelling at period end: no next charge


async def test_found_by_link_as_well_as_phone_and_hidden_statuses(
    client: Any, db: Database, tenant: Any, me: Who
) -> None:
    by_phone = await active_subscription(client, tenant)
    linked = await active_subscription(client, tenant, phone=OTHER_PHONE)
    await set_columns(db, tenant, "customers", linked["customerId"], identity_id=me.id)
    expired = await active_subscription(client, tenant)
    await set_columns(db, tenant, "subscriptions", expired["id"], status="incomplete_expired")
    stranger = await active_subscription(client, tenant, phone=OTHER_PHONE)

    [merchant] = (await portal(client, me))["merchants"]
    ids = [s["id"] for s in merchant["subscriptions"]]
    assert ids == [linked["id"], by_phone["id"]]  # newest first; never incomplete_expired nor a stranger's
    assert stranger["id"] not in ids


async def test_modes_are_never_merged(client: Any, db: Database, tenant: Any, me: Who) -> None:
    test_sub = await active_subscription(client, tenant)
    # Live mode: API-attached methods are test-only, so a trialing subscription without a method.
    p = await plan(client, tenant, mode="live", trialDays=14)
    c = await customer_with_phone(client, tenant, mode="live", card=None)
    body = {"customerId": c["id"], "planId": p["id"]}
    live_sub = ok(await client.post("/v1/subscriptions", json=body, headers=tenant.auth("live")), 201)
    assert live_sub["status"] == "trialing"

    live = await portal(client, me, "live")
    assert live["mode"] == "live"
    assert [s["id"] for m in live["merchants"] for s in m["subscriptions"]] == [live_sub["id"]]
    assert live["merchants"][0]["subscriptions"][0]["paymentMethod"] is None
    assert live["merchants"][0]["subscriptions"][0]["nextChargeAt"] == live_sub["currentPeriodEnd"]
    test = await portal(client, me, "test")
    assert [s["id"] for m in test["merchants"] for s in m["subscriptions"]] == [test_sub["id"]]
    default = ok(await client.get("/portal/subscriptions", headers=me.auth))
    assert default == live

    e = err(await client.get("/portal/subscriptions?mode=sandbox", headers=me.auth), 422, "validation_error")
    assert e["details"][0]["path"] == "mode"


async def test_credentials(client: Any, tenant: Any) -> None:
    err(await client.get("/portal/subscriptions"), 401, "unauthorized", "missing_credential")
    r = await client.get("/portal/subscriptions", headers=tenant.auth())
    err(r, 401, "unauthorized", "wrong_credential_kind")


async def test_one_statement_without_customers(client: Any, db: Database, tenant: Any, me: Who) -> None:
    await active_subscription(client, tenant, phone=OTHER_PHONE)
    seen = _counted(db)
    try:
        body = await portal(client, me)
    finally:
        db.statement_hooks.remove(seen.append)
    assert body["merchants"] == []
    assert len(_business(seen)) == 1


async def test_four_statements_for_one_subscription(client: Any, db: Database, tenant: Any, me: Who) -> None:
    await active_subscription(client, tenant)
    seen = _counted(db)
    try:
        body = await portal(client, me)
    finally:
        db.statement_hooks.remove(seen.append)
    assert len(body["merchants"][0]["subscriptions"]) == 1
    assert len(_business(seen)) == 4


async def test_four_statements_for_500_subscriptions_at_20_merchants(
    client: Any, db: Database, make_tenant: Any, me: Who
) -> None:
    tenants = [await make_tenant(f"Merchant {n:02d}") for n in range(20)]
    expected: dict[str, int] = {}
    start = datetime(2026, 1, 1, tzinfo=UTC)
    async with db.core_transaction() as conn:
        for n, t in enumerate(tenants):
            p = await plan(client, t, name=f"Plan {n}")
            c = await customer_with_phone(client, t)
            methods = ok(await client.get(f"/v1/customers/{c['id']}/payment-methods", headers=t.auth()))
            pm_id = methods["items"][0]["id"]
            # 25 subscriptions per merchant, straight into the table (the API would take minutes).
            await conn.execute(
                text(
                    "INSERT INTO sandbox.subscriptions (id, tenant_id, customer_id, plan_id, status, "
                    "current_period_start, current_period_end, billing_anchor, payment_method_id, created_at, "
                    "updated_at) SELECT :prefix || lpad(g::text, 24, '0'), :t, :c, :p, 'active', :start, :end, :start, "
                    "CASE WHEN g % 2 = 0 THEN :pm END, CAST(:start AS timestamptz) + g * interval '1 second', "
                    ":start FROM generate_series(1, 25) AS g"
                ),
                {
                    "prefix": f"sub_{n:02d}",
                    "t": t.id,
                    "c": c["id"],
                    "p": p["id"],
                    "pm": pm_id,
                    "start": start,
                    "end": start + timedelta(days=31),
                },
            )
            expected[t.id] = 25

    seen = _counted(db)
    try:
        body = await portal(client, me)
    finally:
        db.statement_hooks.remove(seen.append)
    assert len(_business(seen)) == 4
    assert {m["tenantId"]: len(m["subscriptions"]) for m in body["merchants"]} == expected
    assert [m["merchantName"] for m in body["merchants"]] == sorted(f"Merchant {n:02d}" for n in range(20))
    first = body["merchants"][0]["subscriptions"]
    # 12 with a method of their own, the other 13 shown with the customer's default (the same card here).
    assert all(s["paymentMethod"] is not None for s in first)
    assert all(s["plan"]["name"] == "Plan 0" for s in first)


async def test_the_method_shown_is_the_one_a_renewal_charges(client: Any, db: Database, tenant: Any, me: Who) -> None:
    """The subscription's own method when it has one, else the customer's default (renewal resolution, 03 §6)."""
    p = await plan(client, tenant)
    c = await customer_with_phone(client, tenant)  # default: visa 4242
    card = {"testCard": {"number": "5555555555554444", "expMonth": 12, "expYear": 2099}}
    other = ok(await client.post(f"/v1/customers/{c['id']}/payment-methods", json=card, headers=tenant.auth()), 201)
    own = {"customerId": c["id"], "planId": p["id"], "paymentMethodId": other["id"]}
    with_own = ok(await client.post("/v1/subscriptions", json=own, headers=tenant.auth()), 201)
    by_default = ok(
        await client.post("/v1/subscriptions", json={"customerId": c["id"], "planId": p["id"]}, headers=tenant.auth()),
        201,
    )
    shown = {s["id"]: s["paymentMethod"] for s in (await portal(client, me))["merchants"][0]["subscriptions"]}
    assert shown[with_own["id"]] == {"rail": "card", "brand": "mastercard", "last4": "4444"}
    assert shown[by_default["id"]] == {"rail": "card", "brand": "visa", "last4": "4242"}
