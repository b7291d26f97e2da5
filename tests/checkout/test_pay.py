"""Paying a checkout session as a customer (06 §3), end to end through HTTP: each outcome, idempotent completion,
blacklist before any charge, expiry, mode isolation by token prefix, declines then another rail."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.checkout.harness import GOOD, GOOD_ACCOUNT, NSF, STOLEN, card, count, pay, plan, session
from tests.http_assertions import err, ok


async def test_a_subscription_is_paid_once_even_when_paid_twice(client: Any, tenant: Any, db: Any) -> None:
    p = await plan(client, tenant)
    s = ok(
        await session(client, tenant, planId=p["id"], successUrl="https://m.example/thanks?x=1", metadata={"o": "1"}),
        201,
    )
    view = ok(await client.get(f"/api/checkout/{s['token']}"))
    assert (view["object"], view["status"], view["amountDue"], view["mode"]) == (
        "checkout_view",
        "pending",
        500000,
        "test",
    )
    assert "metadata" not in view
    assert view["testNumbers"]["cards"]
    done = ok(await pay(client, s["token"], card(GOOD, email="ada@example.com", name="Ada")))
    assert done["status"] == "completed"
    assert done["redirectUrl"] == f"https://m.example/thanks?x=1&session_id={s['id']}"
    again = ok(await pay(client, s["token"], card(GOOD, email="ada@example.com")))
    assert again == done  # the stored result, nothing charged
    assert await count(db, "SELECT count(*) FROM sandbox.sim_charges WHERE kind = 'charge'") == 1
    got = ok(await client.get(f"/v1/checkout/sessions/{s['id']}", headers=tenant.auth()))
    assert (got["status"], got["subscriptionId"], got["customerId"]) == (
        "completed",
        done["subscriptionId"],
        done["customerId"],
    )
    sub = ok(await client.get(f"/v1/subscriptions/{done['subscriptionId']}", headers=tenant.auth()))
    assert (sub["status"], sub["metadata"], sub["cyclesCompleted"]) == ("active", {"o": "1"}, 1)
    invoice = ok(await client.get(f"/v1/invoices/{done['invoiceId']}", headers=tenant.auth()))
    assert (invoice["status"], invoice["amountPaid"], invoice["attempts"][0]["source"]) == ("paid", 500000, "checkout")
    cus = ok(await client.get(f"/v1/customers/{done['customerId']}", headers=tenant.auth()))
    assert (cus["email"], cus["name"], cus["defaultPaymentMethodId"]) == (
        "ada@example.com",
        "Ada",
        sub["paymentMethodId"],
    )
    events = ok(await client.get("/v1/events?limit=20", headers=tenant.auth()))
    types = [e["type"] for e in reversed(events["items"])]
    assert types[-8:] == [
        "customer_created",
        "customer_updated",  # the paying card became the new customer's default
        "subscription_created",
        "invoice_created",
        "invoice_paid",
        "subscription_payment_success",
        "subscription_activated",
        "checkout_completed",
    ]
    assert events["items"][0]["data"]["object"]["metadata"] == {"o": "1"}
    status = ok(await client.get(f"/api/checkout/{s['token']}/status"))
    assert (status["status"], status["subscriptionId"]) == ("completed", done["subscriptionId"])


async def test_concurrent_pays_charge_once(client: Any, tenant: Any, db: Any) -> None:
    p = await plan(client, tenant)
    s = ok(await session(client, tenant, planId=p["id"]), 201)
    answers = await asyncio.gather(*(pay(client, s["token"], card(GOOD, email="a@example.com")) for _ in range(6)))
    codes = sorted(r.status_code for r in answers)
    assert codes.count(200) >= 1
    assert set(codes) <= {200, 409}
    assert await count(db, "SELECT count(*) FROM sandbox.sim_charges WHERE kind = 'charge'") == 1
    assert await count(db, "SELECT count(*) FROM sandbox.subscriptions WHERE tenant_id = :t", t=tenant.id) == 1


async def test_a_decline_offers_another_rail(client: Any, tenant: Any, db: Any) -> None:
    p = await plan(client, tenant)
    s = ok(await session(client, tenant, planId=p["id"], customerEmail="ada@example.com"), 201)
    r = await pay(client, s["token"], card(NSF))
    assert r.status_code == 402, r.text
    e = r.json()["error"]
    assert (e["code"], e["reason"]) == ("payment_failed", "insufficient_funds")
    assert e["payment"]["suggestedRails"] == ["ussd", "transfer", "virtual_account", "direct_debit"]
    view = ok(await client.get(f"/api/checkout/{s['token']}"))
    assert view["status"] == "pending"
    status = ok(await client.get(f"/api/checkout/{s['token']}/status"))
    assert status["lastPaymentError"]["code"] == "insufficient_funds"
    done = ok(await pay(client, s["token"], {"rail": "ussd", "account": {"number": GOOD_ACCOUNT}}))
    assert done["status"] == "completed"
    sub = ok(await client.get(f"/v1/subscriptions/{done['subscriptionId']}", headers=tenant.auth()))
    method = ok(await client.get(f"/v1/customers/{done['customerId']}/payment-methods", headers=tenant.auth()))
    assert [m["rail"] for m in method["items"] if m["id"] == sub["paymentMethodId"]] == ["ussd"]
    assert await count(db, "SELECT count(*) FROM sandbox.customers WHERE tenant_id = :t", t=tenant.id) == 1


async def test_stolen_card_is_disabled(client: Any, tenant: Any, db: Any) -> None:
    p = await plan(client, tenant)
    s = ok(await session(client, tenant, planId=p["id"], customerEmail="x@example.com"), 201)
    r = await pay(client, s["token"], card(STOLEN))
    assert r.json()["error"]["reason"] == "stolen_card"
    disabled = "SELECT count(*) FROM sandbox.payment_methods WHERE tenant_id = :t AND disabled_at IS NOT NULL"
    assert await count(db, disabled, t=tenant.id) == 1


async def test_blacklisted_payer_is_refused_before_any_charge(client: Any, tenant: Any, db: Any) -> None:
    cus = ok(await client.post("/v1/customers", json={"email": "bad@example.com"}, headers=tenant.auth()), 201)
    ok(await client.post(f"/v1/customers/{cus['id']}/blacklist", json={"reason": "fraud"}, headers=tenant.auth()))
    p = await plan(client, tenant)
    s = ok(await session(client, tenant, planId=p["id"]), 201)
    err(await pay(client, s["token"], card(GOOD, email="bad@example.com")), 403, "forbidden", "customer_blacklisted")
    assert await count(db, "SELECT count(*) FROM sandbox.transactions WHERE tenant_id = :t", t=tenant.id) == 0
    assert await count(db, "SELECT count(*) FROM sandbox.sim_charges") == 0


async def test_trial_and_one_off(client: Any, tenant: Any, db: Any) -> None:
    trial = await plan(client, tenant, trialDays=7)
    t = ok(await session(client, tenant, planId=trial["id"]), 201)
    view = ok(await client.get(f"/api/checkout/{t['token']}"))
    assert (view["subtotal"], view["amountDue"]) == (0, 0)
    assert view["trialEnd"] is not None
    done = ok(await pay(client, t["token"], card(GOOD, phone="+2348031234567")))
    sub = ok(await client.get(f"/v1/subscriptions/{done['subscriptionId']}", headers=tenant.auth()))
    assert (sub["status"], done["invoiceId"], done["transactionId"]) == ("trialing", None, None)
    one = ok(await session(client, tenant, amount=12345, description="Setup fee"), 201)
    paid = ok(await pay(client, one["token"], card(GOOD, email="one@example.com")))
    invoice = ok(await client.get(f"/v1/invoices/{paid['invoiceId']}", headers=tenant.auth()))
    assert (invoice["kind"], invoice["status"], invoice["amount"], paid["subscriptionId"]) == (
        "one_off",
        "paid",
        12345,
        None,
    )
    assert await count(db, "SELECT count(*) FROM sandbox.sim_charges WHERE kind = 'charge'") == 1


async def test_expired_unknown_and_other_mode_tokens(client: Any, tenant: Any, db: Any) -> None:
    p = await plan(client, tenant)
    s = ok(await session(client, tenant, planId=p["id"]), 201)
    ok(await client.post(f"/v1/checkout/sessions/{s['id']}/expire", headers=tenant.auth()))
    err(await pay(client, s["token"], card(GOOD, email="a@example.com")), 409, "conflict", "checkout_expired")
    # The same random part under the other prefix does not exist: the prefix alone picks the schema.
    live_token = "cs_live_" + s["token"].removeprefix("cs_test_")
    assert (await client.get(f"/api/checkout/{live_token}")).status_code == 404
    assert (await client.get("/api/checkout/cs_prod_abc")).status_code == 404
    assert (await pay(client, live_token, card(GOOD, email="a@example.com"))).status_code == 404
    assert await count(db, "SELECT count(*) FROM live.transactions WHERE tenant_id = :t", t=tenant.id) == 0


async def test_bad_details_are_refused(client: Any, tenant: Any) -> None:
    p = await plan(client, tenant)
    s = ok(await session(client, tenant, planId=p["id"]), 201)
    bad = card("4111111111111111", email="a@example.com")
    err(await pay(client, s["token"], bad), 422, "validation_error", "unknown_test_number")
    old = {"rail": "card", "card": {"number": GOOD, "expMonth": 1, "expYear": 2001, "cvc": "123"}, "email": "a@x.io"}
    err(await pay(client, s["token"], old), 422, "validation_error", "invalid_expiry")
    assert (await pay(client, s["token"], card(GOOD))).status_code == 422  # no email or phone
    r = await pay(client, s["token"], {"rail": "card", "paymentMethodId": "pm_01AAAAAAAAAAAAAAAAAAAAAAAA"})
    err(r, 401, "unauthorized", "missing_credential")


@pytest.mark.parametrize(
    ("number", "outcome"),
    [
        ("4242424242424242", "completed"),
        ("5555555555554444", "completed"),
        ("4000000000000051", "insufficient_funds"),
        ("4000000000000054", "expired_card"),
        ("4000000000000005", "do_not_honor"),
        ("4000000000000119", "stolen_card"),
        ("4000000000000078", "card_not_supported"),
        ("4000000000000096", "processor_error"),
        ("4000000000000408", "timeout"),
        ("4000000000000341", "processor_error"),  # flaky: fails on the first attempt of the reference
    ],
)
async def test_each_simulator_outcome(client: Any, tenant: Any, db: Any, number: str, outcome: str) -> None:
    p = await plan(client, tenant)
    s = ok(await session(client, tenant, planId=p["id"], customerEmail="ada@example.com"), 201)
    r = await pay(client, s["token"], card(number))
    got = ok(await client.get(f"/v1/checkout/sessions/{s['id']}", headers=tenant.auth()))
    if outcome == "completed":
        assert r.json()["status"] == "completed"
        assert got["status"] == "completed"
        return
    assert r.status_code == 402, r.text
    assert r.json()["error"]["reason"] == outcome
    assert (got["status"], got["lastPaymentError"]["code"], got["subscriptionId"]) == ("pending", outcome, None)
    assert await count(db, "SELECT count(*) FROM sandbox.subscriptions WHERE tenant_id = :t", t=tenant.id) == 0
