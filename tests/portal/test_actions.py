"""Portal actions (06 §7): ownership (404), merchant permissions (403), each action through the /v1 domain
services with the customer as requester, retry-payment's charge (04 §4) and its limit, and the invoices list."""

from __future__ import annotations

from typing import Any

from duro.db.engine import Database
from tests.http_assertions import err, invalid, not_found, ok
from tests.invoices.harness import (
    incomplete_subscription,
    past_due_subscription,
    payment_failed,
    scalar,
    schedule_row,
)
from tests.portal.conftest import (
    OTHER_PHONE,
    Who,
    active_subscription,
    give_phone,
    portal_url,
    set_columns,
    set_permissions,
)
from tests.subscriptions.helpers import (
    GOOD_CARD,
    advance_clock,
    customer,
    event_types,
    events_of,
    get_sub,
    make_clock,
    plan,
    subscribe,
)

MASTERCARD = "5555555555554444"


async def identity_card(client: Any, who: Who, number: str = MASTERCARD, mode: str = "test") -> dict[str, Any]:
    body = {"testCard": {"number": number, "expMonth": 12, "expYear": 2099}}
    r = await client.post(f"/identity/payment-methods?mode={mode}", json=body, headers=who.auth)
    return ok(r, 201)  # type: ignore[no-any-return]


def portal_shape(body: dict[str, Any]) -> None:
    assert set(body) == {
        "id",
        "status",
        "cancelAtPeriodEnd",
        "currentPeriodEnd",
        "nextChargeAt",
        "amount",
        "currency",
        "plan",
        "paymentMethod",
    }


# --- who may act ------------------------------------------------------------------------------------------------


async def test_another_identitys_subscription_is_404_and_nothing_changes(
    client: Any, tenant: Any, me: Who, make_identity: Any
) -> None:
    sub = await active_subscription(client, tenant)
    other = await make_identity(OTHER_PHONE)
    before = await event_types(client, tenant)
    for action, body in (
        ("cancel", {"atPeriodEnd": True}),
        ("pause", {}),
        ("resume", {}),
        ("retry-payment", {}),
        ("payment-method", {"paymentMethodId": "pm_nope"}),
    ):
        not_found(await client.post(portal_url(sub["id"], action), json=body, headers=other.auth))
    not_found(await client.get(portal_url(sub["id"], "invoices"), headers=other.auth))
    assert await get_sub(client, tenant, sub["id"]) == sub
    assert await event_types(client, tenant) == before


async def test_other_mode_unknown_id_and_bad_mode_are_404(client: Any, tenant: Any, me: Who) -> None:
    sub = await active_subscription(client, tenant)
    not_found(await client.post(portal_url(sub["id"], "cancel", mode="live"), json={}, headers=me.auth))
    not_found(await client.post(portal_url("sub_nope", "cancel"), json={}, headers=me.auth))
    not_found(await client.post(portal_url(sub["id"], "cancel", mode="sandbox"), json={}, headers=me.auth))
    err(
        await client.post(portal_url(sub["id"], "frobnicate"), json={}, headers=me.auth),
        404,
        "not_found",
        "unknown_route",
    )
    assert (await get_sub(client, tenant, sub["id"]))["cancelAtPeriodEnd"] is False


async def test_wrong_credential_and_invalid_body(client: Any, tenant: Any, me: Who) -> None:
    sub = await active_subscription(client, tenant)
    err(await client.post(portal_url(sub["id"], "cancel"), json={}), 401, "unauthorized", "missing_credential")
    r = await client.post(portal_url(sub["id"], "cancel"), json={}, headers=tenant.auth())
    err(r, 401, "unauthorized", "wrong_credential_kind")
    invalid(
        await client.post(portal_url(sub["id"], "cancel"), json={"atPeriodEnd": "yes"}, headers=me.auth),
        "atPeriodEnd",
        "",
    )
    invalid(await client.post(portal_url(sub["id"], "pause"), json={"x": 1}, headers=me.auth), "x", "")
    invalid(await client.post(portal_url(sub["id"], "payment-method"), json={}, headers=me.auth), "paymentMethodId", "")
    assert (await get_sub(client, tenant, sub["id"]))["cancelAtPeriodEnd"] is False


async def test_a_disabled_permission_is_403(client: Any, db: Database, tenant: Any, me: Who) -> None:
    sub = await active_subscription(client, tenant)
    # pauseSubscription is off by default.
    r = await client.post(portal_url(sub["id"], "pause"), json={}, headers=me.auth)
    err(r, 403, "forbidden", "portal_action_disabled")
    await set_permissions(
        db,
        tenant.id,
        cancelSubscription=False,
        updatePaymentMethod=False,
        retryPayment=False,
        viewInvoices=False,
    )
    for action, body in (("cancel", {}), ("payment-method", {"paymentMethodId": "pm_x"}), ("retry-payment", {})):
        r = await client.post(portal_url(sub["id"], action), json=body, headers=me.auth)
        err(r, 403, "forbidden", "portal_action_disabled")
    r = await client.get(portal_url(sub["id"], "invoices"), headers=me.auth)
    err(r, 403, "forbidden", "portal_action_disabled")
    assert await get_sub(client, tenant, sub["id"]) == sub


# --- cancel, pause, resume --------------------------------------------------------------------------------------


async def test_cancel_defaults_to_period_end_and_period_end_mode_forces_it(client: Any, tenant: Any, me: Who) -> None:
    sub = await active_subscription(client, tenant)
    body = ok(await client.post(portal_url(sub["id"], "cancel"), json={"atPeriodEnd": False}, headers=me.auth))
    portal_shape(body)
    assert (body["status"], body["cancelAtPeriodEnd"], body["nextChargeAt"]) == ("active", True, None)
    after = await get_sub(client, tenant, sub["id"])
    assert after["cancelRequestedBy"] == "customer"
    [event] = await events_of(client, tenant, "subscription_updated")
    assert event["data"]["object"]["cancelAtPeriodEnd"] is True


async def test_cancel_immediately_when_the_merchant_allows_it(client: Any, db: Database, tenant: Any, me: Who) -> None:
    await set_permissions(db, tenant.id, cancelMode="immediate")
    sub = await active_subscription(client, tenant)
    body = ok(await client.post(portal_url(sub["id"], "cancel"), json={"atPeriodEnd": False}, headers=me.auth))
    assert body["status"] == "canceled"
    after = await get_sub(client, tenant, sub["id"])
    assert (after["endedReason"], after["cancelRequestedBy"]) == ("canceled_by_customer", "customer")
    [event] = await events_of(client, tenant, "subscription_cancelled")
    assert event["data"]["cancellation"]["initiatedBy"] == "customer"
    # Terminal now: the service's 409.
    r = await client.post(portal_url(sub["id"], "cancel"), json={"atPeriodEnd": False}, headers=me.auth)
    err(r, 409, "conflict", "illegal_transition")


async def test_pause_then_resume(client: Any, db: Database, tenant: Any, me: Who) -> None:
    await set_permissions(db, tenant.id, pauseSubscription=True)
    sub = await active_subscription(client, tenant)
    paused = ok(await client.post(portal_url(sub["id"], "pause"), headers=me.auth))
    assert (paused["status"], paused["nextChargeAt"]) == ("paused", None)
    err(
        await client.post(portal_url(sub["id"], "pause"), json={}, headers=me.auth),
        409,
        "conflict",
        "illegal_transition",
    )
    resumed = ok(await client.post(portal_url(sub["id"], "resume"), json={}, headers=me.auth))
    assert (resumed["status"], resumed["nextChargeAt"]) == ("active", sub["currentPeriodEnd"])
    types = await event_types(client, tenant)
    assert types[-2:] == ["subscription_paused", "subscription_resumed"]


# --- payment method ---------------------------------------------------------------------------------------------


async def test_payment_method_links_the_customer_and_sets_the_method(client: Any, tenant: Any, me: Who) -> None:
    sub = await active_subscription(client, tenant)
    card = await identity_card(client, me)
    body = ok(
        await client.post(
            portal_url(sub["id"], "payment-method"), json={"paymentMethodId": card["id"]}, headers=me.auth
        )
    )
    assert body["paymentMethod"] == {"rail": "card", "brand": "mastercard", "last4": "4444"}
    after = await get_sub(client, tenant, sub["id"])
    assert after["paymentMethodId"] == card["id"]
    cus = ok(await client.get(f"/v1/customers/{sub['customerId']}", headers=tenant.auth()))
    assert cus["identityId"] == me.id
    updated = (await events_of(client, tenant, "customer_updated"))[0]  # newest
    assert updated["data"]["previousAttributes"] == {"identityId": None}
    assert (await event_types(client, tenant))[-2:] == ["customer_updated", "subscription_updated"]


async def test_payment_method_must_be_the_identitys_own_in_this_mode(
    client: Any, tenant: Any, me: Who, make_identity: Any
) -> None:
    sub = await active_subscription(client, tenant)
    other = await make_identity(OTHER_PHONE)
    theirs = await identity_card(client, other)
    live_card = await identity_card(client, me, mode="live")
    merchant_pm = ok(await client.get(f"/v1/customers/{sub['customerId']}/payment-methods", headers=tenant.auth()))
    for pm_id in (theirs["id"], live_card["id"], merchant_pm["items"][0]["id"], "pm_nope"):
        r = await client.post(portal_url(sub["id"], "payment-method"), json={"paymentMethodId": pm_id}, headers=me.auth)
        e = not_found(r)
        assert e["details"] == [{"path": "paymentMethodId", "issue": e["details"][0]["issue"]}]
    cus = ok(await client.get(f"/v1/customers/{sub['customerId']}", headers=tenant.auth()))
    assert cus["identityId"] is None
    assert await get_sub(client, tenant, sub["id"]) == sub


async def test_payment_method_on_a_customer_linked_elsewhere_is_identity_conflict(
    client: Any, db: Database, tenant: Any, me: Who, make_identity: Any
) -> None:
    sub = await active_subscription(client, tenant)
    other = await make_identity(OTHER_PHONE)
    await set_columns(db, tenant, "customers", sub["customerId"], identity_id=other.id)
    card = await identity_card(client, me)
    r = await client.post(
        portal_url(sub["id"], "payment-method"), json={"paymentMethodId": card["id"]}, headers=me.auth
    )
    err(r, 409, "conflict", "identity_conflict")
    assert await get_sub(client, tenant, sub["id"]) == sub


# --- retry payment ----------------------------------------------------------------------------------------------


async def test_retry_declined_is_402_and_leaves_the_schedule(client: Any, db: Database, tenant: Any, me: Who) -> None:
    sub, _ = await past_due_subscription(client, tenant)
    await give_phone(db, tenant, sub["customerId"])
    invoice = ok(await client.get(f"/v1/invoices/{sub['latestInvoiceId']}", headers=tenant.auth()))
    schedule_before = await schedule_row(db, tenant, invoice["dunningScheduleId"])

    e = payment_failed(
        await client.post(portal_url(sub["id"], "retry-payment"), json={}, headers=me.auth), "insufficient_funds"
    )
    source = await scalar(
        db,
        "SELECT source FROM sandbox.transactions WHERE tenant_id = :t AND id = :x",
        t=tenant.id,
        x=e["payment"]["transactionId"],
    )
    assert source == "portal_retry"
    schedule_after = await schedule_row(db, tenant, invoice["dunningScheduleId"])
    assert (schedule_after.state, schedule_after.attempts_made, schedule_after.next_attempt_at) == (
        schedule_before.state,
        schedule_before.attempts_made,
        schedule_before.next_attempt_at,
    )
    assert (await get_sub(client, tenant, sub["id"]))["status"] == "past_due"
    assert (await event_types(client, tenant))[-1] == "subscription_payment_failed"


async def test_retry_success_recovers(client: Any, db: Database, tenant: Any, me: Who) -> None:
    sub, _ = await past_due_subscription(client, tenant)
    await give_phone(db, tenant, sub["customerId"])
    card = await identity_card(client, me, GOOD_CARD)
    ok(
        await client.post(
            portal_url(sub["id"], "payment-method"), json={"paymentMethodId": card["id"]}, headers=me.auth
        )
    )

    body = ok(await client.post(portal_url(sub["id"], "retry-payment"), json={}, headers=me.auth))
    portal_shape(body)
    assert body["status"] == "active"
    assert body["paymentMethod"] == {"rail": "card", "brand": "visa", "last4": "4242"}
    invoice = ok(await client.get(f"/v1/invoices/{sub['latestInvoiceId']}", headers=tenant.auth()))
    assert invoice["status"] == "paid"
    assert invoice["attempts"][-1]["source"] == "portal_retry"
    schedule = await schedule_row(db, tenant, invoice["dunningScheduleId"])
    assert schedule.state == "recovered"
    types = await event_types(client, tenant)
    assert "subscription_recovered" in types


async def test_retry_on_incomplete_activates(client: Any, db: Database, tenant: Any, me: Who) -> None:
    sub = await incomplete_subscription(client, tenant)
    await give_phone(db, tenant, sub["customerId"])
    card = await identity_card(client, me, GOOD_CARD)
    ok(
        await client.post(
            portal_url(sub["id"], "payment-method"), json={"paymentMethodId": card["id"]}, headers=me.auth
        )
    )
    body = ok(await client.post(portal_url(sub["id"], "retry-payment"), json={}, headers=me.auth))
    assert body["status"] == "active"


async def test_retry_on_active_is_illegal(client: Any, tenant: Any, me: Who) -> None:
    sub = await active_subscription(client, tenant)
    r = await client.post(portal_url(sub["id"], "retry-payment"), json={}, headers=me.auth)
    err(r, 409, "conflict", "illegal_transition")


async def test_retry_is_limited_to_five_per_hour(client: Any, db: Database, tenant: Any, me: Who) -> None:
    sub = await incomplete_subscription(client, tenant)
    await give_phone(db, tenant, sub["customerId"])
    for _ in range(5):
        payment_failed(
            await client.post(portal_url(sub["id"], "retry-payment"), json={}, headers=me.auth), "insufficient_funds"
        )
    r = await client.post(portal_url(sub["id"], "retry-payment"), json={}, headers=me.auth)
    err(r, 429, "rate_limited", "rate_limited")
    assert int(r.headers["retry-after"]) >= 1
    attempts = await scalar(
        db,
        "SELECT count(*) FROM sandbox.transactions "
        "WHERE tenant_id = :t AND subscription_id = :s AND source = 'portal_retry'",
        t=tenant.id,
        s=sub["id"],
    )
    assert attempts == 5


# --- invoices ---------------------------------------------------------------------------------------------------


async def test_invoices_list_with_keyset_pages(client: Any, db: Database, tenant: Any, me: Who) -> None:
    clock = await make_clock(client, tenant, "2025-03-01T00:00:00Z")
    p = await plan(client, tenant)
    c = await customer(client, tenant, card=GOOD_CARD)
    await give_phone(db, tenant, c["id"])
    sub = ok(await subscribe(client, tenant, customerId=c["id"], planId=p["id"], testClockId=clock["id"]), 201)
    await advance_clock(client, tenant, clock["id"], "2025-04-02T00:00:00Z")

    first = ok(await client.get(portal_url(sub["id"], "invoices") + "?limit=1", headers=me.auth))
    assert set(first) == {"object", "items", "nextCursor", "hasMore"}
    assert (first["object"], first["hasMore"]) == ("list", True)
    [newest] = first["items"]
    assert set(newest) == {"id", "status", "amount", "amountRefunded", "currency", "periodStart", "periodEnd", "paidAt"}
    assert first["nextCursor"] == newest["id"]
    second = ok(
        await client.get(portal_url(sub["id"], "invoices") + f"?limit=1&cursor={newest['id']}", headers=me.auth)
    )
    [older] = second["items"]
    assert (second["hasMore"], second["nextCursor"]) == (False, None)
    assert older["periodEnd"] == newest["periodStart"]
    assert (older["status"], older["amount"], older["amountRefunded"], older["currency"]) == ("paid", 500000, 0, "NGN")
    assert older["paidAt"] is not None

    r = await client.get(portal_url(sub["id"], "invoices") + "?cursor=inv_nope", headers=me.auth)
    err(r, 400, "bad_request", "invalid_cursor")
    invalid(await client.get(portal_url(sub["id"], "invoices") + "?limit=0", headers=me.auth), "limit", "")
