"""HTTP tests of /v1/customers/{id}/payment-methods (03 §1.3, §13.2) and of the customer's
`defaultPaymentMethodId` (03 §1.2), through the real ASGI app and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from duro.db.engine import Database
from duro.gateway.protocol import BANK_RAILS
from duro.kit.clock import SystemClock
from duro.kit.crypto import sha256_hex
from tests.http_assertions import err, invalid, not_found, ok, unknown_key
from tests.payment_methods.harness import (
    GOOD_ACCOUNT,
    MASTERCARD,
    MISSING_PM,
    VISA,
    account,
    add,
    assert_pm_shape,
    card,
    customer,
    events,
    insert_method,
    insert_subscription,
    link_identity,
    listed,
    new_customer,
    pm_url,
    sql,
    stored_methods,
)

# Every simulator number (03 §2): 11 cards, 10 bank accounts usable on each of the 4 bank rails.
CARDS = [
    VISA,
    MASTERCARD,
    "4000000000000051",
    "4000000000000054",
    "4000000000000005",
    "4000000000000119",
    "4000000000000078",
    "4000000000000096",
    "4000000000000028",
    "4000000000000341",
    "4000000000000408",
]
ACCOUNTS = [GOOD_ACCOUNT, *(f"0000000{n}" for n in ("051", "054", "005", "119", "078", "096", "028", "341", "408"))]


def _this_month() -> tuple[int, int]:
    now = SystemClock().now()
    return now.year, now.month


# --- POST: creating ---


async def test_add_card_answers_201_with_exactly_the_documented_fields(client: Any, tenant: Any) -> None:
    cus = await new_customer(client, tenant.auth())
    pm = ok(await client.post(pm_url(cus["id"]), json=card(exp_month=7, exp_year=2031), headers=tenant.auth()), 201)
    assert_pm_shape(pm)
    assert pm == {
        "object": "payment_method",
        "id": pm["id"],
        "rail": "card",
        "brand": "visa",
        "last4": "4242",
        "expMonth": 7,
        "expYear": 2031,
        "bankName": None,
        "owner": "customer",
        "customerId": cus["id"],
        "usable": True,
        "isDefault": True,
        "createdAt": pm["createdAt"],
    }
    assert await listed(client, tenant.auth(), cus["id"]) == [pm]


async def test_first_method_becomes_default_and_emits_customer_updated(client: Any, tenant: Any) -> None:
    cus = await new_customer(client, tenant.auth())
    pm = await add(client, tenant.auth(), cus["id"], card())
    after = await customer(client, tenant.auth(), cus["id"])
    assert after["defaultPaymentMethodId"] == pm["id"]
    assert after["updatedAt"] >= cus["updatedAt"]
    [event] = await events(client, tenant.auth())
    assert event["data"]["object"] == after
    assert event["data"]["previousAttributes"] == {"defaultPaymentMethodId": None}


async def test_card_number_is_normalised_and_branded(client: Any, tenant: Any) -> None:
    cus = await new_customer(client, tenant.auth())
    pm = await add(client, tenant.auth(), cus["id"], card(" 5555-5555 5555-4444 "))
    assert (pm["brand"], pm["last4"]) == ("mastercard", "4444")


async def test_rail_card_may_accompany_test_card(client: Any, tenant: Any) -> None:
    cus = await new_customer(client, tenant.auth())
    pm = await add(client, tenant.auth(), cus["id"], card(rail="card"))
    assert pm["rail"] == "card"


@pytest.mark.parametrize("rail", BANK_RAILS)
async def test_add_bank_account_on_every_bank_rail(client: Any, tenant: Any, rail: str) -> None:
    cus = await new_customer(client, tenant.auth())
    pm = await add(client, tenant.auth(), cus["id"], account(rail, "012-345 6789"))
    assert pm == {
        "object": "payment_method",
        "id": pm["id"],
        "rail": rail,
        "brand": None,
        "last4": "6789",
        "expMonth": None,
        "expYear": None,
        "bankName": "Duro Test Bank",
        "owner": "customer",
        "customerId": cus["id"],
        "usable": True,
        "isDefault": True,
        "createdAt": pm["createdAt"],
    }


async def test_stored_token_and_fingerprint(client: Any, tenant: Any, db: Database) -> None:
    cus = await new_customer(client, tenant.auth())
    pm_card = await add(client, tenant.auth(), cus["id"], card("4242 4242-4242 4242"))
    pm_bank = await add(client, tenant.auth(), cus["id"], account("transfer", "0000000051"))
    rows = {r["id"]: r for r in await stored_methods(db, tenant.id)}
    c, b = rows[pm_card["id"]], rows[pm_bank["id"]]
    assert (c["gateway_token"], c["fingerprint"]) == (f"sim:{VISA}", sha256_hex(f"card:{VISA}"))
    assert (b["gateway_token"], b["fingerprint"]) == ("sim:0000000051", sha256_hex("transfer:0000000051"))
    for row in (c, b):
        assert (row["tenant_id"], row["customer_id"], row["identity_id"]) == (tenant.id, cus["id"], None)
        assert (row["status"], row["disabled_at"], row["checkout_session_id"]) == ("active", None, None)


async def test_current_month_card_is_accepted(client: Any, tenant: Any) -> None:
    year, month = _this_month()
    cus = await new_customer(client, tenant.auth())
    pm = await add(client, tenant.auth(), cus["id"], card(exp_month=month, exp_year=year))
    assert (pm["expMonth"], pm["expYear"]) == (month, year)


# --- POST: the same number again ---


async def test_same_number_again_answers_200_with_the_existing_method(client: Any, tenant: Any, db: Database) -> None:
    cus = await new_customer(client, tenant.auth())
    first = await add(client, tenant.auth(), cus["id"], card())
    events_before = await events(client, tenant.auth())
    for body in (card(), card("4242-4242-4242-4242", exp_month=1, exp_year=2090), card(setDefault=True)):
        again = ok(await client.post(pm_url(cus["id"]), json=body, headers=tenant.auth()), 200)
        assert again == first
    assert len(await stored_methods(db, tenant.id)) == 1
    assert await events(client, tenant.auth()) == events_before


async def test_same_account_on_another_rail_is_another_method(client: Any, tenant: Any) -> None:
    cus = await new_customer(client, tenant.auth())
    ussd = await add(client, tenant.auth(), cus["id"], account("ussd"))
    transfer = await add(client, tenant.auth(), cus["id"], account("transfer"))
    assert ussd["id"] != transfer["id"]
    again = ok(await client.post(pm_url(cus["id"]), json=account("ussd"), headers=tenant.auth()), 200)
    assert again["id"] == ussd["id"]


async def test_same_number_for_another_customer_is_another_method(client: Any, tenant: Any) -> None:
    a = await new_customer(client, tenant.auth())
    b = await new_customer(client, tenant.auth())
    pa = await add(client, tenant.auth(), a["id"], card())
    pb = await add(client, tenant.auth(), b["id"], card())
    assert pa["id"] != pb["id"]
    assert pb["customerId"] == b["id"]


async def test_existing_method_with_set_default_becomes_default(client: Any, tenant: Any) -> None:
    cus = await new_customer(client, tenant.auth())
    first = await add(client, tenant.auth(), cus["id"], card())
    second = await add(client, tenant.auth(), cus["id"], card(MASTERCARD))
    assert second["isDefault"] is False
    again = ok(await client.post(pm_url(cus["id"]), json=card(MASTERCARD, setDefault=True), headers=tenant.auth()))
    assert again == {**second, "isDefault": True}
    assert (await customer(client, tenant.auth(), cus["id"]))["defaultPaymentMethodId"] == second["id"]
    last = (await events(client, tenant.auth()))[-1]
    assert last["data"]["previousAttributes"] == {"defaultPaymentMethodId": first["id"]}


async def test_existing_disabled_method_is_answered_but_not_made_default(
    client: Any, tenant: Any, db: Database
) -> None:
    cus = await new_customer(client, tenant.auth())
    fp = sha256_hex(f"card:{MASTERCARD}")
    pm_id = await insert_method(db, tenant_id=tenant.id, customer_id=cus["id"], disabled=True, fingerprint=fp)
    again = ok(await client.post(pm_url(cus["id"]), json=card(MASTERCARD), headers=tenant.auth()), 200)
    assert (again["id"], again["usable"], again["isDefault"]) == (pm_id, False, False)
    assert (await customer(client, tenant.auth(), cus["id"]))["defaultPaymentMethodId"] is None
    r = await client.post(pm_url(cus["id"]), json=card(MASTERCARD, setDefault=True), headers=tenant.auth())
    e = err(r, 422, "validation_error", "payment_method_unusable")
    assert [d["path"] for d in e["details"]] == ["setDefault"]
    assert await events(client, tenant.auth()) == []


async def test_concurrent_saves_of_one_number_create_one_method(client: Any, tenant: Any, db: Database) -> None:
    cus = await new_customer(client, tenant.auth())
    answers = await asyncio.gather(
        *(client.post(pm_url(cus["id"]), json=card(), headers=tenant.auth()) for _ in range(10))
    )
    assert sorted(r.status_code for r in answers) == [200] * 9 + [201]
    assert len({r.json()["id"] for r in answers}) == 1
    assert len(await stored_methods(db, tenant.id)) == 1
    assert len(await events(client, tenant.auth())) == 1


# --- POST: setDefault ---


async def test_later_methods_are_not_default_unless_asked(client: Any, tenant: Any) -> None:
    cus = await new_customer(client, tenant.auth())
    first = await add(client, tenant.auth(), cus["id"], card())
    second = await add(client, tenant.auth(), cus["id"], account())
    assert (first["isDefault"], second["isDefault"]) == (True, False)
    third = await add(client, tenant.auth(), cus["id"], account("transfer", setDefault=True))
    assert third["isDefault"] is True
    assert (await customer(client, tenant.auth(), cus["id"]))["defaultPaymentMethodId"] == third["id"]
    prev = [e["data"]["previousAttributes"] for e in await events(client, tenant.auth())]
    assert prev == [{"defaultPaymentMethodId": None}, {"defaultPaymentMethodId": first["id"]}]
    assert [m["id"] for m in await listed(client, tenant.auth(), cus["id"])] == [third["id"], second["id"], first["id"]]


async def test_set_default_false_leaves_the_customer_without_default(client: Any, tenant: Any) -> None:
    cus = await new_customer(client, tenant.auth())
    pm = await add(client, tenant.auth(), cus["id"], card(setDefault=False))
    assert pm["isDefault"] is False
    assert (await customer(client, tenant.auth(), cus["id"]))["defaultPaymentMethodId"] is None
    assert await events(client, tenant.auth()) == []
    # Still no default, so the next one becomes it.
    assert (await add(client, tenant.auth(), cus["id"], account()))["isDefault"] is True


async def test_a_disabled_default_counts_as_no_default(client: Any, tenant: Any, db: Database) -> None:
    cus = await new_customer(client, tenant.auth())
    first = await add(client, tenant.auth(), cus["id"], card())
    await sql(
        db,
        "UPDATE sandbox.payment_methods SET disabled_at = now() WHERE tenant_id = :t AND id = :id",
        t=tenant.id,
        id=first["id"],
    )
    second = await add(client, tenant.auth(), cus["id"], account())
    assert second["isDefault"] is True


# --- POST: refusals ---


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (card("4111111111111111"), "testCard.number"),
        (card("4242424242424241"), "testCard.number"),
        (card(GOOD_ACCOUNT), "testCard.number"),
        (card("424242424242424x"), "testCard.number"),
        (account("ussd", VISA), "testAccount"),
        (account("direct_debit", "0000000000"), "testAccount"),
    ],
)
async def test_unknown_test_number_is_422_and_stores_nothing(
    client: Any, tenant: Any, db: Database, body: dict[str, Any], path: str
) -> None:
    cus = await new_customer(client, tenant.auth())
    e = err(
        await client.post(pm_url(cus["id"]), json=body, headers=tenant.auth()),
        422,
        "validation_error",
        "unknown_test_number",
    )
    assert [d["path"] for d in e["details"]] == [path]
    assert await stored_methods(db, tenant.id) == []
    assert await customer(client, tenant.auth(), cus["id"]) == cus


async def test_expired_card_is_422_invalid_expiry(client: Any, tenant: Any, db: Database) -> None:
    year, month = _this_month()
    cus = await new_customer(client, tenant.auth())
    cases = [
        (card(exp_month=12, exp_year=year - 1), "testCard.expYear"),
        (card(exp_month=1, exp_year=2020), "testCard.expYear"),
    ]
    if month > 1:
        cases.append((card(exp_month=month - 1, exp_year=year), "testCard.expMonth"))
    for body, path in cases:
        r = await client.post(pm_url(cus["id"]), json=body, headers=tenant.auth())
        e = err(r, 422, "validation_error", "invalid_expiry")
        assert [d["path"] for d in e["details"]] == [path]
    assert await stored_methods(db, tenant.id) == []


async def test_expired_card_is_refused_even_when_already_saved(client: Any, tenant: Any) -> None:
    cus = await new_customer(client, tenant.auth())
    await add(client, tenant.auth(), cus["id"], card())
    r = await client.post(pm_url(cus["id"]), json=card(exp_year=2020), headers=tenant.auth())
    err(r, 422, "validation_error", "invalid_expiry")


@pytest.mark.parametrize(
    ("body", "path", "issue"),
    [
        ({}, "testCard", "required"),
        ({"setDefault": True}, "testCard", "required"),
        ({"rail": "card"}, "testCard", "required"),
        ({"rail": "ussd"}, "testAccount", "required with rail ussd"),
        ({"testAccount": GOOD_ACCOUNT}, "rail", "required with testAccount"),
        ({**card(), "testAccount": GOOD_ACCOUNT, "rail": "ussd"}, "testAccount", "not allowed"),
        (card(rail="ussd"), "rail", "must be card"),
        (account("card"), "rail", "bank rail"),
        (account("paypal"), "rail", "Input should be"),
        (card(exp_month=13), "testCard.expMonth", "less than or equal to 12"),
        (card(exp_month=0), "testCard.expMonth", "greater than or equal to 1"),
        (card(exp_year=30), "testCard.expYear", "greater than or equal to 1000"),
        (card(exp_year="2030"), "testCard.expYear", "valid integer"),
        (card(number=4242424242424242), "testCard.number", "valid string"),
        (card(number=""), "testCard.number", "at least 1"),
        (card(number="4" * 65), "testCard.number", "at most 64"),
        ({"testCard": {"number": VISA, "expYear": 2030}}, "testCard.expMonth", "required"),
        ({"testCard": {**card()["testCard"], "cvc": "123"}}, "testCard.cvc", "unknown or read-only"),
        ({"testCard": VISA}, "testCard", "valid dictionary"),
        (account(number=123), "testAccount", "valid string"),
        (card(setDefault="yes"), "setDefault", "valid boolean"),
        (card(customerId="cus_x"), "customerId", "unknown or read-only"),
    ],
)
async def test_invalid_body_is_422_and_changes_nothing(
    client: Any, tenant: Any, db: Database, body: dict[str, Any], path: str, issue: str
) -> None:
    cus = await new_customer(client, tenant.auth())
    invalid(await client.post(pm_url(cus["id"]), json=body, headers=tenant.auth()), path, issue)
    assert await stored_methods(db, tenant.id) == []


async def test_malformed_json_is_400(client: Any, tenant: Any) -> None:
    cus = await new_customer(client, tenant.auth())
    headers = {**tenant.auth(), "Content-Type": "application/json"}
    err(await client.post(pm_url(cus["id"]), content=b"{", headers=headers), 400, "bad_request", "malformed_json")


async def test_fifty_methods_per_customer(client: Any, tenant: Any, db: Database) -> None:
    cus = await new_customer(client, tenant.auth())
    bodies = [card(n) for n in CARDS] + [account(rail, n) for rail in BANK_RAILS for n in ACCOUNTS]
    assert len(bodies) == 51
    for body in bodies[:50]:
        await add(client, tenant.auth(), cus["id"], body)
    r = await client.post(pm_url(cus["id"]), json=bodies[50], headers=tenant.auth())
    err(r, 409, "conflict", "payment_method_limit_reached")
    assert len(await stored_methods(db, tenant.id)) == 50
    # A number the customer already has is still answered at the limit.
    assert ok(await client.post(pm_url(cus["id"]), json=bodies[2], headers=tenant.auth()))["last4"] == "0051"
    # Another customer is not affected, and deleting one makes room.
    other = await new_customer(client, tenant.auth())
    await add(client, tenant.auth(), other["id"], bodies[50])
    items = await listed(client, tenant.auth(), cus["id"])
    assert len(items) == 50
    ok(await client.delete(pm_url(cus["id"], items[-1]["id"]), headers=tenant.auth()))
    await add(client, tenant.auth(), cus["id"], bodies[50])


async def test_disabled_methods_count_towards_the_limit(client: Any, tenant: Any, db: Database) -> None:
    cus = await new_customer(client, tenant.auth())
    for i in range(50):
        await insert_method(db, tenant_id=tenant.id, customer_id=cus["id"], disabled=i % 2 == 0)
    r = await client.post(pm_url(cus["id"]), json=card(), headers=tenant.auth())
    err(r, 409, "conflict", "payment_method_limit_reached")


async def test_unknown_customer_is_404(client: Any, tenant: Any) -> None:
    not_found(await client.post(pm_url("cus_01AAAAAAAAAAAAAAAAAAAAAAAA"), json=card(), headers=tenant.auth()))
    not_found(await client.get(pm_url("cus_01AAAAAAAAAAAAAAAAAAAAAAAA"), headers=tenant.auth()))
    not_found(await client.delete(pm_url("cus_01AAAAAAAAAAAAAAAAAAAAAAAA", MISSING_PM), headers=tenant.auth()))
    not_found(await client.get(pm_url("cus_%00"), headers=tenant.auth()))


async def test_live_mode_post_is_test_mode_only(client: Any, tenant: Any, db: Database) -> None:
    live_cus = await new_customer(client, tenant.auth("live"))
    test_cus = await new_customer(client, tenant.auth())
    for cus_id in (live_cus["id"], test_cus["id"], "cus_01AAAAAAAAAAAAAAAAAAAAAAAA"):
        for body in (card(), account()):
            r = await client.post(pm_url(cus_id), json=body, headers=tenant.auth("live"))
            assert err(r, 403, "forbidden", "test_mode_only")["details"] == []
    assert await stored_methods(db, tenant.id, "live") == []
    assert await stored_methods(db, tenant.id) == []
    assert await customer(client, tenant.auth("live"), live_cus["id"]) == live_cus
    assert await listed(client, tenant.auth("live"), live_cus["id"]) == []


async def test_idempotent_replay_keeps_the_status(client: Any, tenant: Any) -> None:
    cus = await new_customer(client, tenant.auth())
    created = await client.post(pm_url(cus["id"]), json=card(), headers={**tenant.auth(), "Idempotency-Key": "k1"})
    replay = await client.post(pm_url(cus["id"]), json=card(), headers={**tenant.auth(), "Idempotency-Key": "k1"})
    assert (created.status_code, replay.status_code) == (201, 201)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == created.json()
    existing = await client.post(pm_url(cus["id"]), json=card(), headers={**tenant.auth(), "Idempotency-Key": "k2"})
    replay2 = await client.post(pm_url(cus["id"]), json=card(), headers={**tenant.auth(), "Idempotency-Key": "k2"})
    assert (existing.status_code, replay2.status_code) == (200, 200)
    assert replay2.json() == existing.json() == created.json()


# --- GET ---


async def test_list_is_every_attached_method_default_first(client: Any, tenant: Any, db: Database) -> None:
    cus = await new_customer(client, tenant.auth())
    other = await new_customer(client, tenant.auth())
    await link_identity(db, tenant.id, cus["id"], "idn_A")
    first = await add(client, tenant.auth(), cus["id"], card())  # the default
    second = await add(client, tenant.auth(), cus["id"], account())
    identity_pm = await insert_method(db, tenant_id=None, identity_id="idn_A")
    disabled_pm = await insert_method(db, tenant_id=tenant.id, customer_id=cus["id"], disabled=True)
    # Not the customer's: pending, another customer's, another identity's.
    await insert_method(db, tenant_id=tenant.id, customer_id=cus["id"], status="pending")
    await insert_method(db, tenant_id=None, identity_id="idn_A", status="pending")
    await add(client, tenant.auth(), other["id"], card())
    await insert_method(db, tenant_id=None, identity_id="idn_B")

    items = await listed(client, tenant.auth(), cus["id"])
    assert [m["id"] for m in items] == [first["id"], disabled_pm, identity_pm, second["id"]]
    assert [m["isDefault"] for m in items] == [True, False, False, False]
    assert [m["usable"] for m in items] == [True, False, True, True]
    ident = items[2]
    assert (ident["owner"], ident["customerId"], ident["brand"], ident["last4"]) == (
        "identity",
        None,
        "mastercard",
        "4444",
    )
    assert items[1]["owner"] == "customer"


async def test_list_of_customer_without_methods_is_empty(client: Any, tenant: Any) -> None:
    cus = await new_customer(client, tenant.auth())
    assert await listed(client, tenant.auth(), cus["id"]) == []


async def test_identity_methods_are_not_listed_for_unlinked_customers(client: Any, tenant: Any, db: Database) -> None:
    cus = await new_customer(client, tenant.auth(), phone="08012345678")
    await insert_method(db, tenant_id=None, identity_id="idn_A")
    assert await listed(client, tenant.auth(), cus["id"]) == []


# --- DELETE ---


async def test_delete_a_method(client: Any, tenant: Any, db: Database) -> None:
    cus = await new_customer(client, tenant.auth())
    default = await add(client, tenant.auth(), cus["id"], card())
    other = await add(client, tenant.auth(), cus["id"], account())
    events_before = await events(client, tenant.auth())
    gone = ok(await client.delete(pm_url(cus["id"], other["id"]), headers=tenant.auth()))
    assert gone == other
    assert [m["id"] for m in await listed(client, tenant.auth(), cus["id"])] == [default["id"]]
    assert (await customer(client, tenant.auth(), cus["id"]))["defaultPaymentMethodId"] == default["id"]
    assert await events(client, tenant.auth()) == events_before
    assert [r["id"] for r in await stored_methods(db, tenant.id)] == [default["id"]]
    not_found(await client.delete(pm_url(cus["id"], other["id"]), headers=tenant.auth()))


async def test_deleting_the_default_clears_it(client: Any, tenant: Any) -> None:
    cus = await new_customer(client, tenant.auth())
    pm = await add(client, tenant.auth(), cus["id"], card())
    gone = ok(await client.delete(pm_url(cus["id"], pm["id"]), headers=tenant.auth()))
    assert gone == pm  # as it was when deleted
    after = await customer(client, tenant.auth(), cus["id"])
    assert after["defaultPaymentMethodId"] is None
    last = (await events(client, tenant.auth()))[-1]
    assert last["data"]["object"] == after
    assert last["data"]["previousAttributes"] == {"defaultPaymentMethodId": pm["id"]}
    # Saving the number again makes a new method.
    again = await add(client, tenant.auth(), cus["id"], card())
    assert again["id"] != pm["id"]
    assert again["isDefault"] is True


async def test_identity_owned_method_cannot_be_deleted(client: Any, tenant: Any, db: Database) -> None:
    cus = await new_customer(client, tenant.auth())
    await link_identity(db, tenant.id, cus["id"], "idn_A")
    pm_id = await insert_method(db, tenant_id=None, identity_id="idn_A")
    r = await client.delete(pm_url(cus["id"], pm_id), headers=tenant.auth())
    assert err(r, 403, "forbidden", "insufficient_permission")["details"] == []
    assert [m["id"] for m in await listed(client, tenant.auth(), cus["id"])] == [pm_id]


@pytest.mark.parametrize("status", ["active", "trialing", "incomplete", "past_due", "paused", "unpaid"])
async def test_method_of_a_live_subscription_is_in_use(client: Any, tenant: Any, db: Database, status: str) -> None:
    cus = await new_customer(client, tenant.auth())
    pm = await add(client, tenant.auth(), cus["id"], card())
    await insert_subscription(db, tenant.id, cus["id"], pm["id"], status)
    r = await client.delete(pm_url(cus["id"], pm["id"]), headers=tenant.auth())
    err(r, 409, "conflict", "payment_method_in_use")
    assert await listed(client, tenant.auth(), cus["id"]) == [pm]
    assert (await customer(client, tenant.auth(), cus["id"]))["defaultPaymentMethodId"] == pm["id"]


@pytest.mark.parametrize("status", ["canceled", "expired", "incomplete_expired"])
async def test_method_of_an_ended_subscription_can_be_deleted(
    client: Any, tenant: Any, db: Database, status: str
) -> None:
    cus = await new_customer(client, tenant.auth())
    pm = await add(client, tenant.auth(), cus["id"], card())
    await insert_subscription(db, tenant.id, cus["id"], pm["id"], status)
    await insert_subscription(db, tenant.id, cus["id"], None, "active")  # uses the default, not this id
    ok(await client.delete(pm_url(cus["id"], pm["id"]), headers=tenant.auth()))
    assert await listed(client, tenant.auth(), cus["id"]) == []


async def test_delete_through_another_customer_is_404(client: Any, tenant: Any, db: Database) -> None:
    owner = await new_customer(client, tenant.auth())
    other = await new_customer(client, tenant.auth())
    pm = await add(client, tenant.auth(), owner["id"], card())
    pending = await insert_method(db, tenant_id=tenant.id, customer_id=other["id"], status="pending")
    not_found(await client.delete(pm_url(other["id"], pm["id"]), headers=tenant.auth()))
    not_found(await client.delete(pm_url(other["id"], pending), headers=tenant.auth()))
    not_found(await client.delete(pm_url(other["id"], MISSING_PM), headers=tenant.auth()))
    not_found(await client.delete(pm_url(other["id"], "pm_%00"), headers=tenant.auth()))
    assert await listed(client, tenant.auth(), owner["id"]) == [pm]


# --- credentials, tenants and modes ---


async def _every_endpoint(client: Any, headers: dict[str, str], cus_id: str, pm_id: str) -> list[httpx.Response]:
    return [
        await client.post(pm_url(cus_id), json=card(MASTERCARD), headers=headers),
        await client.get(pm_url(cus_id), headers=headers),
        await client.delete(pm_url(cus_id, pm_id), headers=headers),
    ]


async def test_every_endpoint_rejects_missing_or_invalid_credentials(client: Any, tenant: Any, db: Database) -> None:
    cus = await new_customer(client, tenant.auth())
    pm = await add(client, tenant.auth(), cus["id"], card())
    cases = [
        ({}, "missing_credential"),
        ({"Authorization": f"Bearer {unknown_key()}"}, "invalid_credential"),
        ({"Authorization": f"Bearer {tenant.test_secret}x"}, "invalid_credential"),
        ({"Authorization": "Bearer a.b.c"}, "invalid_credential"),
    ]
    for headers, reason in cases:
        for r in await _every_endpoint(client, headers, cus["id"], pm["id"]):
            err(r, 401, "unauthorized", reason)
    assert await listed(client, tenant.auth(), cus["id"]) == [pm]


@pytest.mark.parametrize("mode", ["test", "live"])
async def test_publishable_key_is_forbidden(client: Any, tenant: Any, db: Database, mode: str) -> None:
    cus = await new_customer(client, tenant.auth(mode))
    pm_id = MISSING_PM
    if mode == "test":
        pm_id = (await add(client, tenant.auth(), cus["id"], card()))["id"]
    for r in await _every_endpoint(client, tenant.auth(mode, "publishable"), cus["id"], pm_id):
        err(r, 403, "forbidden", "publishable_key_not_allowed")
    assert len(await stored_methods(db, tenant.id, mode)) == (1 if mode == "test" else 0)


async def test_other_tenant_gets_404_and_changes_nothing(client: Any, make_tenant: Any, db: Database) -> None:
    owner = await make_tenant()
    intruder = await make_tenant()
    cus = await new_customer(client, owner.auth())
    pm = await add(client, owner.auth(), cus["id"], card())
    for r in await _every_endpoint(client, intruder.auth(), cus["id"], pm["id"]):
        not_found(r)
    # Through the intruder's own customer, the owner's method does not exist either.
    mine = await new_customer(client, intruder.auth())
    not_found(await client.delete(pm_url(mine["id"], pm["id"]), headers=intruder.auth()))
    r = await client.patch(
        f"/v1/customers/{mine['id']}", json={"defaultPaymentMethodId": pm["id"]}, headers=intruder.auth()
    )
    assert [d["path"] for d in not_found(r)["details"]] == ["defaultPaymentMethodId"]
    assert await listed(client, owner.auth(), cus["id"]) == [pm]
    assert await stored_methods(db, intruder.id) == []


async def test_other_mode_gets_404_and_changes_nothing(client: Any, tenant: Any, db: Database) -> None:
    cus = await new_customer(client, tenant.auth())
    pm = await add(client, tenant.auth(), cus["id"], card())
    not_found(await client.get(pm_url(cus["id"]), headers=tenant.auth("live")))
    not_found(await client.delete(pm_url(cus["id"], pm["id"]), headers=tenant.auth("live")))
    live_cus = await new_customer(client, tenant.auth("live"))
    not_found(await client.delete(pm_url(live_cus["id"], pm["id"]), headers=tenant.auth("live")))
    r = await client.patch(
        f"/v1/customers/{live_cus['id']}", json={"defaultPaymentMethodId": pm["id"]}, headers=tenant.auth("live")
    )
    not_found(r)
    # A live method is invisible in test mode.
    live_pm = await insert_method(db, tenant_id=tenant.id, customer_id=live_cus["id"], mode="live")
    not_found(await client.delete(pm_url(cus["id"], live_pm), headers=tenant.auth()))
    assert [m["id"] for m in await listed(client, tenant.auth("live"), live_cus["id"])] == [live_pm]
    assert await listed(client, tenant.auth(), cus["id"]) == [pm]


# --- PATCH /v1/customers/{id} defaultPaymentMethodId ---


async def _patch_default(client: Any, headers: dict[str, str], cus_id: str, pm_id: str | None) -> httpx.Response:
    r: httpx.Response = await client.patch(
        f"/v1/customers/{cus_id}", json={"defaultPaymentMethodId": pm_id}, headers=headers
    )
    return r


async def test_patch_default_to_another_method(client: Any, tenant: Any) -> None:
    cus = await new_customer(client, tenant.auth())
    first = await add(client, tenant.auth(), cus["id"], card())
    second = await add(client, tenant.auth(), cus["id"], account())
    updated = ok(await _patch_default(client, tenant.auth(), cus["id"], second["id"]))
    assert updated["defaultPaymentMethodId"] == second["id"]
    last = (await events(client, tenant.auth()))[-1]
    assert last["data"]["previousAttributes"] == {"defaultPaymentMethodId": first["id"]}
    assert [m["id"] for m in await listed(client, tenant.auth(), cus["id"])] == [second["id"], first["id"]]
    cleared = ok(await _patch_default(client, tenant.auth(), cus["id"], None))
    assert cleared["defaultPaymentMethodId"] is None
    assert [m["isDefault"] for m in await listed(client, tenant.auth(), cus["id"])] == [False, False]


async def test_patch_default_to_linked_identity_method(client: Any, tenant: Any, db: Database) -> None:
    cus = await new_customer(client, tenant.auth())
    await link_identity(db, tenant.id, cus["id"], "idn_A")
    pm_id = await insert_method(db, tenant_id=None, identity_id="idn_A")
    assert ok(await _patch_default(client, tenant.auth(), cus["id"], pm_id))["defaultPaymentMethodId"] == pm_id
    [only] = await listed(client, tenant.auth(), cus["id"])
    assert (only["id"], only["isDefault"], only["owner"]) == (pm_id, True, "identity")


async def test_patch_default_refusals(client: Any, tenant: Any, db: Database) -> None:
    cus = await new_customer(client, tenant.auth())
    other = await new_customer(client, tenant.auth())
    await link_identity(db, tenant.id, cus["id"], "idn_A")
    others_pm = (await add(client, tenant.auth(), other["id"], card()))["id"]
    disabled = await insert_method(db, tenant_id=tenant.id, customer_id=cus["id"], disabled=True)
    pending = await insert_method(db, tenant_id=tenant.id, customer_id=cus["id"], status="pending")
    identity_disabled = await insert_method(db, tenant_id=None, identity_id="idn_A", disabled=True)
    foreign_identity = await insert_method(db, tenant_id=None, identity_id="idn_B")
    before = await customer(client, tenant.auth(), cus["id"])
    events_before = await events(client, tenant.auth())
    for pm_id in (others_pm, disabled, pending, identity_disabled):
        r = await _patch_default(client, tenant.auth(), cus["id"], pm_id)
        e = err(r, 422, "validation_error", "payment_method_unusable")
        assert [d["path"] for d in e["details"]] == ["defaultPaymentMethodId"]
    for pm_id in (MISSING_PM, foreign_identity, "pm_%00"):
        e = not_found(await _patch_default(client, tenant.auth(), cus["id"], pm_id))
        assert [d["path"] for d in e["details"]] == ["defaultPaymentMethodId"]
    assert await customer(client, tenant.auth(), cus["id"]) == before
    assert await events(client, tenant.auth()) == events_before


async def test_patch_keeping_the_current_default_changes_nothing(client: Any, tenant: Any) -> None:
    cus = await new_customer(client, tenant.auth())
    pm = await add(client, tenant.auth(), cus["id"], card())
    before = await customer(client, tenant.auth(), cus["id"])
    events_before = await events(client, tenant.auth())
    assert ok(await _patch_default(client, tenant.auth(), cus["id"], pm["id"])) == before
    assert await events(client, tenant.auth()) == events_before
