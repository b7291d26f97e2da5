"""Paying with a phone identity (06 §3 steps 3, 6 and 9): save the card to the phone, pay again with the saved
method at another merchant, the customer linked to the identity; saved methods need the identity token."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from duro.db.engine import Database
from tests.checkout.harness import GOOD, card, count, pay, plan, session
from tests.http_assertions import err, ok
from tests.portal.conftest import PHONE


async def test_save_to_phone_then_pay_with_the_saved_method(
    client: Any, tenant: Any, make_tenant: Any, db: Database, make_identity: Any
) -> None:
    who = await make_identity(PHONE)
    p = await plan(client, tenant)
    s = ok(await session(client, tenant, planId=p["id"]), 201)
    # saveToPhone without a matching verified phone is refused.
    err(
        await pay(client, s["token"], card(GOOD, phone=PHONE, saveToPhone=True)),
        422,
        "validation_error",
        "identity_required",
    )
    done = ok(await pay(client, s["token"], card(GOOD, phone=PHONE, saveToPhone=True), **who.auth))
    cus = ok(await client.get(f"/v1/customers/{done['customerId']}", headers=tenant.auth()))
    assert cus["identityId"] == who.id  # linked: the person verified and paid
    saved = ok(await client.get("/identity/payment-methods?mode=test", headers=who.auth))
    (method,) = saved["items"]
    assert (method["rail"], method["last4"]) == ("card", "4242")
    sub = ok(await client.get(f"/v1/subscriptions/{done['subscriptionId']}", headers=tenant.auth()))
    assert sub["paymentMethodId"] == method["id"]

    # Another merchant: the saved method pays without card details, and the new customer is linked too.
    other = await make_tenant("Second Shop")
    p2 = await plan(client, other)
    s2 = ok(await session(client, other, planId=p2["id"]), 201)
    body = {"rail": "card", "paymentMethodId": method["id"], "phone": PHONE}
    err(await pay(client, s2["token"], body), 401, "unauthorized", "missing_credential")
    done2 = ok(await pay(client, s2["token"], body, **who.auth))
    cus2 = ok(await client.get(f"/v1/customers/{done2['customerId']}", headers=other.auth()))
    assert cus2["identityId"] == who.id
    used = "SELECT payment_method_id FROM sandbox.transactions WHERE tenant_id = :t AND status = 'succeeded'"
    async with db.core_transaction() as conn:
        assert (await conn.execute(text(used), {"t": other.id})).scalar_one() == method["id"]
    assert await count(db, "SELECT count(*) FROM sandbox.customers WHERE tenant_id = :t", t=other.id) == 1
    # A method of another identity is not found.
    stranger = await make_identity("+2348098765432")
    s3 = ok(await session(client, other, planId=p2["id"]), 201)
    err(await pay(client, s3["token"], body, **stranger.auth), 404, "not_found", "resource_missing")
