"""POST /v1/subscriptions (03 §5) through the real app and the simulator gateway."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text

from duro.db.engine import Database
from tests.http_assertions import err, not_found, ok
from tests.subscriptions.helpers import DECLINE_NSF, STOLEN, add_card, customer, event_types, plan, subscribe

CUSTOMER_EVENTS = ["customer_created", "customer_updated"]  # created, then the default method was set


async def test_paid_creation(client: Any, tenant: Any) -> None:
    p = await plan(client, tenant)
    c = await customer(client, tenant)
    sub = ok(await subscribe(client, tenant, customerId=c["id"], planId=p["id"]), 201)
    assert sub["status"] == "active"
    assert sub["cyclesCompleted"] == 1
    assert sub["activatedAt"] >= sub["createdAt"]
    assert sub["billingAnchor"] == sub["currentPeriodStart"] == sub["createdAt"]
    assert sub["incompleteExpiresAt"] is None
    invoice = ok(await client.get(f"/v1/invoices/{sub['latestInvoiceId']}", headers=tenant.auth()))
    assert invoice["status"] == "paid"
    assert invoice["kind"] == "subscription_create"
    assert invoice["amount"] == invoice["amountPaid"] == 500000
    assert invoice["idempotencyKey"] == f"create_{sub['id']}"
    assert invoice["periodStart"] == sub["currentPeriodStart"]
    assert invoice["periodEnd"] == sub["currentPeriodEnd"]
    assert [line["type"] for line in invoice["lines"]] == ["plan"]
    assert len(invoice["attempts"]) == 1
    attempt = invoice["attempts"][0]
    assert attempt["status"] == "succeeded"
    assert attempt["source"] == "subscription_create"
    assert attempt["attemptNumber"] == 1
    assert attempt["rail"] == "card"
    assert attempt["reference"] == attempt["id"]
    assert invoice["refunds"] == []
    assert await event_types(client, tenant) == [
        *CUSTOMER_EVENTS,
        "subscription_created",
        "invoice_created",
        "invoice_paid",
        "subscription_payment_success",
        "subscription_activated",
    ]


async def test_trial_needs_no_method_and_charges_nothing(client: Any, tenant: Any) -> None:
    p = await plan(client, tenant, trialDays=14)
    c = await customer(client, tenant, card=None)
    sub = ok(await subscribe(client, tenant, customerId=c["id"], planId=p["id"]), 201)
    assert sub["status"] == "trialing"
    assert sub["latestInvoiceId"] is None
    assert sub["trialStart"] == sub["currentPeriodStart"]
    assert sub["trialEnd"] == sub["currentPeriodEnd"] == sub["billingAnchor"]
    assert sub["cyclesCompleted"] == 0
    override = ok(await subscribe(client, tenant, customerId=c["id"], planId=p["id"], trialDays=0), 201)
    assert override["status"] == "incomplete"  # the request's trialDays wins over the plan's; no method
    listed = ok(await client.get("/v1/invoices", headers=tenant.auth()))
    assert len(listed["items"]) == 1


async def test_declined_first_charge_leaves_it_incomplete(client: Any, tenant: Any) -> None:
    p = await plan(client, tenant)
    c = await customer(client, tenant, card=DECLINE_NSF)
    sub = ok(await subscribe(client, tenant, customerId=c["id"], planId=p["id"]), 201)
    assert sub["status"] == "incomplete"
    assert sub["incompleteExpiresAt"] is not None
    assert sub["activatedAt"] is None
    invoice = ok(await client.get(f"/v1/invoices/{sub['latestInvoiceId']}", headers=tenant.auth()))
    assert invoice["status"] == "open"
    (attempt,) = invoice["attempts"]
    assert attempt["status"] == "failed"
    assert attempt["failureCode"] == "insufficient_funds"
    assert attempt["failureCategory"] == "insufficient_funds"
    assert attempt["declineCode"] == "51"
    types = await event_types(client, tenant)
    assert types[-3:] == ["subscription_created", "invoice_created", "subscription_payment_failed"]
    events = ok(await client.get("/v1/events?type=subscription_payment_failed", headers=tenant.auth()))["items"]
    data = events[0]["data"]
    assert data["failureCode"] == "insufficient_funds"
    assert data["nextAttemptAt"] is None
    assert data["transaction"]["id"] == attempt["id"]
    assert data["object"]["id"] == invoice["id"]


async def test_no_method_is_a_failed_transaction_without_rail(client: Any, tenant: Any) -> None:
    p = await plan(client, tenant)
    c = await customer(client, tenant, card=None)
    sub = ok(await subscribe(client, tenant, customerId=c["id"], planId=p["id"]), 201)
    assert sub["status"] == "incomplete"
    txns = ok(await client.get(f"/v1/customers/{c['id']}/transactions", headers=tenant.auth()))["items"]
    assert len(txns) == 1
    assert txns[0]["failureCode"] == "no_payment_method"
    assert txns[0]["rail"] is None
    assert txns[0]["paymentMethodId"] is None


async def test_stolen_card_is_disabled(client: Any, tenant: Any) -> None:
    p = await plan(client, tenant)
    c = await customer(client, tenant, card=STOLEN)
    sub = ok(await subscribe(client, tenant, customerId=c["id"], planId=p["id"]), 201)
    assert sub["status"] == "incomplete"
    methods = ok(await client.get(f"/v1/customers/{c['id']}/payment-methods", headers=tenant.auth()))["items"]
    assert all(m["usable"] is False for m in methods if m["last4"] == "0119")


async def test_explicit_payment_method(client: Any, tenant: Any, make_tenant: Any) -> None:
    p = await plan(client, tenant)
    c = await customer(client, tenant, card=DECLINE_NSF)
    good = await add_card(client, tenant, c["id"], "5555555555554444")
    sub = ok(await subscribe(client, tenant, customerId=c["id"], planId=p["id"], paymentMethodId=good["id"]), 201)
    assert sub["status"] == "active"
    assert sub["paymentMethodId"] == good["id"]
    other = await customer(client, tenant)
    foreign = ok(await client.get(f"/v1/customers/{other['id']}/payment-methods", headers=tenant.auth()))["items"][0]
    e = err(
        await subscribe(client, tenant, customerId=c["id"], planId=p["id"], paymentMethodId=foreign["id"]),
        422,
        "validation_error",
        "payment_method_unusable",
    )
    assert e["details"][0]["path"] == "paymentMethodId"
    e = not_found(
        await subscribe(
            client, tenant, customerId=c["id"], planId=p["id"], paymentMethodId="pm_01JGFMA2P3K8W1N6Y4D9C0B7QX"
        )
    )
    assert e["details"][0]["path"] == "paymentMethodId"


async def test_promo_code_on_the_first_invoice(client: Any, tenant: Any) -> None:
    p = await plan(client, tenant)
    c = await customer(client, tenant)
    promo = ok(
        await client.post(
            "/v1/promo-codes",
            json={"code": "LAUNCH50", "discountType": "percentage", "discountValue": 50},
            headers=tenant.auth(),
        ),
        201,
    )
    sub = ok(await subscribe(client, tenant, customerId=c["id"], planId=p["id"], promoCode="launch50"), 201)
    assert sub["promoCodeId"] == promo["id"]
    assert sub["discountCyclesRemaining"] == 0
    invoice = ok(await client.get(f"/v1/invoices/{sub['latestInvoiceId']}", headers=tenant.auth()))
    assert (invoice["subtotal"], invoice["discount"], invoice["amount"]) == (500000, 250000, 250000)
    assert invoice["lines"][1] == {
        "type": "discount",
        "description": "LAUNCH50 (50% off)",
        "amount": -250000,
        "periodStart": None,
        "periodEnd": None,
    }
    assert sum(line["amount"] for line in invoice["lines"]) == invoice["amount"]
    assert invoice["attempts"][0]["amount"] == 250000
    assert ok(await client.get(f"/v1/promo-codes/{promo['id']}", headers=tenant.auth()))["redeemedCount"] == 1


async def test_promo_reasons_change_nothing(client: Any, tenant: Any, db: Database) -> None:
    p = await plan(client, tenant)
    other_plan = await plan(client, tenant, name="Other")
    c = await customer(client, tenant)
    for body in (
        {"code": "OFF", "discountType": "percentage", "discountValue": 10, "planId": other_plan["id"]},
        {"code": "GONE", "discountType": "percentage", "discountValue": 10, "maxRedemptions": 1},
        {"code": "USD", "discountType": "fixed", "discountValue": 10, "currency": "USD"},
    ):
        ok(await client.post("/v1/promo-codes", json=body, headers=tenant.auth()), 201)
    ok(await subscribe(client, tenant, customerId=c["id"], planId=p["id"], promoCode="GONE"), 201)
    cases = {
        "NOPE": "promo_code_invalid",
        "OFF": "promo_code_not_applicable",
        "GONE": "promo_code_exhausted",
        "USD": "promo_code_not_applicable",
    }
    for code, reason in cases.items():
        e = err(
            await subscribe(client, tenant, customerId=c["id"], planId=p["id"], promoCode=code),
            422,
            "validation_error",
            reason,
        )
        assert e["details"][0]["path"] == "promoCode"
    async with db.core_transaction() as conn:
        subs = (
            await conn.execute(
                text("SELECT count(*) FROM sandbox.subscriptions WHERE tenant_id = :t"), {"t": tenant.id}
            )
        ).scalar_one()
    assert subs == 1


async def test_zero_amount_plan_is_paid_without_a_charge(client: Any, tenant: Any) -> None:
    p = await plan(client, tenant, amount=0)
    c = await customer(client, tenant, card=None)
    sub = ok(await subscribe(client, tenant, customerId=c["id"], planId=p["id"]), 201)
    assert sub["status"] == "active"
    invoice = ok(await client.get(f"/v1/invoices/{sub['latestInvoiceId']}", headers=tenant.auth()))
    assert invoice["status"] == "paid"
    assert invoice["attempts"] == []
    success = ok(await client.get("/v1/events?type=subscription_payment_success", headers=tenant.auth()))["items"]
    assert success[0]["data"]["transaction"] is None


async def test_preconditions(client: Any, tenant: Any) -> None:
    p = await plan(client, tenant)
    c = await customer(client, tenant)
    missing = "cus_01JGFMA2P3K8W1N6Y4D9C0B7QX"
    assert not_found(await subscribe(client, tenant, customerId=missing, planId=p["id"]))["details"][0]["path"] == (
        "customerId"
    )
    e = not_found(await subscribe(client, tenant, customerId=c["id"], planId="plan_01JGFMA2P3K8W1N6Y4D9C0B7QX"))
    assert e["details"][0]["path"] == "planId"
    e = not_found(await subscribe(client, tenant, customerId=c["id"], planId=p["id"], testClockId="clock_x"))
    assert e["details"][0]["path"] == "testClockId"
    ok(await client.post(f"/v1/customers/{c['id']}/blacklist", json={"reason": "fraud"}, headers=tenant.auth()))
    err(await subscribe(client, tenant, customerId=c["id"], planId=p["id"]), 403, "forbidden", "customer_blacklisted")
    archived = await plan(client, tenant, name="Old")
    ok(await client.patch(f"/v1/plans/{archived['id']}", json={"active": False}, headers=tenant.auth()))
    c2 = await customer(client, tenant)
    err(await subscribe(client, tenant, customerId=c2["id"], planId=archived["id"]), 409, "conflict", "plan_inactive")
    live_plan = await plan(client, tenant, mode="live")
    live_cus = ok(await client.post("/v1/customers", json={}, headers=tenant.auth("live")), 201)
    r = await client.post(
        "/v1/subscriptions",
        json={"customerId": live_cus["id"], "planId": live_plan["id"], "testClockId": "clock_x"},
        headers=tenant.auth("live"),
    )
    err(r, 403, "forbidden", "test_mode_only")


async def test_validation_and_credentials(client: Any, tenant: Any, make_tenant: Any) -> None:
    p = await plan(client, tenant)
    c = await customer(client, tenant)
    r = await subscribe(client, tenant, customerId=c["id"], planId=p["id"], trialDays=731)
    assert err(r, 422, "validation_error")["details"][0]["path"] == "trialDays"
    r = await subscribe(client, tenant, customerId=c["id"])
    assert err(r, 422, "validation_error")["details"][0]["path"] == "planId"
    body = {"customerId": c["id"], "planId": p["id"]}
    err(await client.post("/v1/subscriptions", json=body), 401, "unauthorized", "missing_credential")
    r = await client.post("/v1/subscriptions", json=body, headers=tenant.auth("test", "publishable"))
    err(r, 403, "forbidden", "publishable_key_not_allowed")
    other = await make_tenant("Other")
    assert not_found(await subscribe(client, other, customerId=c["id"], planId=p["id"]))["details"][0]["path"] == (
        "customerId"
    )
    r = await client.post("/v1/subscriptions", json=body, headers=tenant.auth("live"))
    assert not_found(r)["details"][0]["path"] == "customerId"


async def test_reads_are_isolated(client: Any, tenant: Any, make_tenant: Any) -> None:
    p = await plan(client, tenant)
    c = await customer(client, tenant)
    sub = ok(await subscribe(client, tenant, customerId=c["id"], planId=p["id"]), 201)
    invoice = ok(await client.get(f"/v1/invoices/{sub['latestInvoiceId']}", headers=tenant.auth()))
    txn_id = invoice["attempts"][0]["id"]
    other = await make_tenant("Other")
    for url in (
        f"/v1/subscriptions/{sub['id']}",
        f"/v1/invoices/{invoice['id']}",
        f"/v1/transactions/{txn_id}",
        f"/v1/customers/{c['id']}/subscriptions",
        f"/v1/customers/{c['id']}/transactions",
    ):
        assert ok(await client.get(url, headers=tenant.auth()))
        not_found(await client.get(url, headers=other.auth()))
        not_found(await client.get(url, headers=tenant.auth("live")))
        err(await client.get(url), 401, "unauthorized", "missing_credential")
        err(
            await client.get(url, headers=tenant.auth("test", "publishable")),
            403,
            "forbidden",
            "publishable_key_not_allowed",
        )
    for url in ("/v1/subscriptions", "/v1/invoices", "/v1/transactions"):
        assert len(ok(await client.get(url, headers=tenant.auth()))["items"]) == 1
        assert ok(await client.get(url, headers=tenant.auth("live")))["items"] == []
        assert ok(await client.get(url, headers=other.auth()))["items"] == []
    filtered = ok(await client.get(f"/v1/subscriptions?status=active&customerId={c['id']}", headers=tenant.auth()))
    assert [s["id"] for s in filtered["items"]] == [sub["id"]]
    assert ok(await client.get("/v1/subscriptions?status=canceled", headers=tenant.auth()))["items"] == []
    paid = ok(await client.get(f"/v1/invoices?status=paid&subscriptionId={sub['id']}", headers=tenant.auth()))
    assert [i["id"] for i in paid["items"]] == [invoice["id"]]
    got = ok(await client.get(f"/v1/transactions/{txn_id}", headers=tenant.auth()))
    assert got["status"] == "succeeded"


async def test_idempotent_creation_charges_once(client: Any, tenant: Any, db: Database) -> None:
    p = await plan(client, tenant)
    c = await customer(client, tenant)
    body = {"customerId": c["id"], "planId": p["id"]}
    answers = await asyncio.gather(
        *(
            client.post("/v1/subscriptions", json=body, headers={**tenant.auth(), "Idempotency-Key": "k1"})
            for _ in range(10)
        )
    )
    created = [r for r in answers if r.status_code == 201]
    assert created
    assert all(r.status_code in (201, 409) for r in answers)
    assert len({r.json()["id"] for r in created}) == 1
    async with db.core_transaction() as conn:
        counts = (
            await conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM sandbox.subscriptions WHERE tenant_id = :t),"
                    " (SELECT count(*) FROM sandbox.transactions WHERE tenant_id = :t),"
                    " (SELECT count(*) FROM sandbox.sim_charges)"
                ),
                {"t": tenant.id},
            )
        ).one()
    assert tuple(counts) == (1, 1, 1)


async def test_max_redemptions_hold_under_concurrent_creation(client: Any, tenant: Any) -> None:
    p = await plan(client, tenant)
    promo = ok(
        await client.post(
            "/v1/promo-codes",
            json={
                "code": "TEN",
                "discountType": "fixed",
                "discountValue": 1000,
                "currency": "NGN",
                "maxRedemptions": 10,
            },
            headers=tenant.auth(),
        ),
        201,
    )
    customers = [await customer(client, tenant) for _ in range(50)]
    answers = await asyncio.gather(
        *(subscribe(client, tenant, customerId=c["id"], planId=p["id"], promoCode="ten") for c in customers)
    )
    created = [r for r in answers if r.status_code == 201]
    refused = [r for r in answers if r.status_code == 422]
    assert len(created) == 10
    assert len(refused) == 40
    assert {r.json()["error"]["reason"] for r in refused} == {"promo_code_exhausted"}
    final = ok(await client.get(f"/v1/promo-codes/{promo['id']}", headers=tenant.auth()))
    assert (final["redeemedCount"], final["remaining"]) == (10, 0)
