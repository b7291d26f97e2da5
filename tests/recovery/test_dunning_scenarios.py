"""A scenario per failure class on a test clock (04 §1–5, §8): every decision, retry, event and message, through
the real API, the real renewal engine and the real dunning code paths that the clock drives."""

from __future__ import annotations

from typing import Any

from duro.db.engine import Database
from tests.http_assertions import ok
from tests.invoices.harness import pay
from tests.recovery.scenario import (
    DO_NOT_HONOR,
    EXPIRED,
    GOOD,
    GOOD_ACCOUNT,
    PAYDAY,
    PROCESSOR_ERROR,
    STOLEN,
    advance,
    attach,
    decisions,
    messages,
    new_customer,
    schedule_of,
    settings,
    trial_ending,
)
from tests.subscriptions.helpers import advance_clock, event_types, events_of, get_sub, plan


def _after(types: list[str], first: str) -> list[str]:
    return types[types.index(first) :]


async def test_payday_card_fails_on_the_20th_and_recovers_on_payday(client: Any, tenant: Any, db: Database) -> None:
    s = await trial_ending(client, tenant, start="2025-03-13T10:00:00Z", trial_days=7, card=PAYDAY)
    await advance(client, tenant, s, "2025-03-27T00:00:00Z")
    sched = await schedule_of(client, tenant, s.sub["id"])
    assert sched["state"] == "scheduled"
    assert sched["escalationAt"] == "2025-04-03T10:00:00.000Z"
    assert decisions(sched) == [("retry_payday", "2025-03-28T09:00:00.000Z", 0)]
    assert "payday" in sched["lastReason"]
    assert (await get_sub(client, tenant, s.sub["id"]))["status"] == "past_due"

    await advance(client, tenant, s, "2025-03-29T00:00:00Z")
    sched = await schedule_of(client, tenant, s.sub["id"])
    assert (sched["state"], sched["attemptsMade"], sched["recoveredAt"]) == (
        "recovered",
        1,
        "2025-03-28T09:00:00.000Z",
    )
    after = await get_sub(client, tenant, s.sub["id"])
    assert after["status"] == "active"
    # The period is the recovered invoice's: from the failed renewal on the 20th, one month (03 §10).
    assert (after["currentPeriodStart"], after["currentPeriodEnd"]) == (
        "2025-03-20T10:00:00.000Z",
        "2025-04-20T10:00:00.000Z",
    )
    invoice = ok(await client.get(f"/v1/invoices/{sched['invoiceId']}", headers=tenant.auth()))
    assert (invoice["status"], invoice["paidAt"]) == ("paid", "2025-03-28T09:00:00.000Z")
    assert [a["source"] for a in invoice["attempts"]] == ["renewal", "dunning"]
    types = _after(await event_types(client, tenant), "invoice_created")
    assert types == [
        "invoice_created",
        "subscription_payment_failed",
        "subscription_past_due",
        "invoice_paid",
        "subscription_payment_recovered",
        "subscription_recovered",
        "subscription_updated",  # the paying card becomes the subscription's own method (it used the default)
    ]
    (failed,) = await events_of(client, tenant, "subscription_payment_failed")
    assert failed["data"]["nextAttemptAt"] == "2025-03-28T09:00:00.000Z"
    sent = [(k, st) for k, st, _ in await messages(db, tenant)]
    # The 7-day trial is long enough for a renewal reminder 3 days ahead (04 §8).
    assert sent == [("renewal_reminder", "captured"), ("dunning_1", "captured"), ("payment_recovered", "captured")]


async def test_payday_card_failing_on_the_6th_backs_off_then_exhausts(client: Any, tenant: Any, db: Database) -> None:
    s = await trial_ending(client, tenant, start="2025-02-27T10:00:00Z", trial_days=7, card=PAYDAY)
    await advance(client, tenant, s, "2025-03-14T00:00:00Z")
    sched = await schedule_of(client, tenant, s.sub["id"])
    # 28 March is after the 20 March deadline: back-off at +0 h, +24 h, +72 h, +120 h, +168 h (04 §3's table).
    assert decisions(sched) == [
        ("retry", "2025-03-06T10:00:00.000Z", 0),
        ("retry", "2025-03-07T10:00:00.000Z", 1),
        ("retry", "2025-03-09T10:00:00.000Z", 2),
        ("retry", "2025-03-11T10:00:00.000Z", 3),
        ("retry", "2025-03-13T10:00:00.000Z", 4),
        ("exhaust", None, 5),
    ]
    assert "after the escalation deadline" in sched["decisions"][0]["reason"]
    assert (sched["state"], sched["exhaustReason"], sched["attemptsMade"]) == ("exhausted", "max_attempts", 5)
    assert sched["decisions"][-1]["reason"] == "Gave up after 5 retries"
    after = await get_sub(client, tenant, s.sub["id"])
    assert (after["status"], after["endedReason"], after["endedAt"]) == (
        "unpaid",
        "dunning_unpaid",
        "2025-03-13T10:00:00.000Z",
    )
    invoice = ok(await client.get(f"/v1/invoices/{sched['invoiceId']}", headers=tenant.auth()))
    assert invoice["status"] == "uncollectible"
    types = await event_types(client, tenant)
    assert types[-3:] == ["subscription_payment_failed", "invoice_uncollectible", "subscription_unpaid"]
    (uncollectible,) = await events_of(client, tenant, "invoice_uncollectible")
    assert uncollectible["data"]["scheduleId"] == sched["id"]
    keys = [k for k, _, _ in await messages(db, tenant)]
    # dunning_1 at opening; the +0 h retry is < 24 h later (no message); then one per failed retry, up to dunning_4.
    assert keys == ["renewal_reminder", "dunning_1", "dunning_2", "dunning_3", "dunning_4", "dunning_exhausted"]


async def test_expired_card_waits_for_the_customer_who_adds_a_card_and_pays(
    client: Any, tenant: Any, db: Database
) -> None:
    s = await trial_ending(
        client, tenant, start="2025-03-01T00:00:00Z", trial_days=3, card=EXPIRED, phone="+2348031234567"
    )
    await advance(client, tenant, s, "2025-03-06T00:00:00Z")
    sched = await schedule_of(client, tenant, s.sub["id"])
    assert (sched["state"], sched["nextAttemptAt"], sched["attemptsMade"]) == ("awaiting_customer", None, 0)
    assert decisions(sched) == [("request_card_update", None, 0)]
    assert sched["lastReason"] == "expired_card: waiting for a new payment method"
    types = _after(await event_types(client, tenant), "invoice_created")
    assert types == [
        "invoice_created",
        "subscription_payment_failed",
        "subscription_past_due",
        "subscription_payment_action_required",
    ]
    (action,) = await events_of(client, tenant, "subscription_payment_action_required")
    assert action["data"]["updateUrl"] == "http://localhost:8000/portal?mode=test"
    assert (action["data"]["scheduleId"], action["data"]["reason"]) == (sched["id"], sched["lastReason"])
    assert [(k, d) for k, _, d in await messages(db, tenant)] == [
        ("payment_action_required", f"action_{sched['id']}_0")
    ]

    card = await attach(client, tenant, s.customer["id"], GOOD)
    paid = ok(await pay(client, tenant, sched["invoiceId"], {"paymentMethodId": card["id"]}))
    assert paid["status"] == "paid"
    sched = await schedule_of(client, tenant, s.sub["id"])
    assert (sched["state"], sched["attemptsMade"]) == ("recovered", 0)  # a payment is not an automatic retry
    after = await get_sub(client, tenant, s.sub["id"])
    assert (after["status"], after["paymentMethodId"]) == ("active", card["id"])
    assert [k for k, _, _ in await messages(db, tenant)] == ["payment_action_required", "payment_recovered"]


async def test_do_not_honor_retries_once_then_switches_rail(client: Any, tenant: Any) -> None:
    s = await trial_ending(client, tenant, start="2025-03-01T00:00:00Z", trial_days=3, card=DO_NOT_HONOR)
    ussd = await attach(client, tenant, s.customer["id"], GOOD_ACCOUNT, rail="ussd")
    await advance(client, tenant, s, "2025-03-06T00:00:00Z")
    sched = await schedule_of(client, tenant, s.sub["id"])
    assert decisions(sched) == [
        ("retry", "2025-03-04T00:00:00.000Z", 0),  # the single same-method retry, at +0 h
        ("switch_rail", "2025-03-05T00:00:00.000Z", 1),  # second decline on the card: along the chain, +24 h
    ]
    assert sched["decisions"][0]["paymentMethodId"] == s.card["id"]
    assert (sched["decisions"][1]["paymentMethodId"], sched["decisions"][1]["rail"]) == (ussd["id"], "ussd")
    assert (sched["state"], sched["attemptsMade"], sched["paymentMethodId"]) == ("recovered", 2, ussd["id"])
    after = await get_sub(client, tenant, s.sub["id"])
    assert (after["status"], after["paymentMethodId"]) == ("active", ussd["id"])
    (updated,) = [
        e
        for e in await events_of(client, tenant, "subscription_updated")
        if "paymentMethodId" in e["data"].get("previousAttributes", {})
    ]
    assert updated["data"]["object"]["paymentMethodId"] == ussd["id"]


async def test_stolen_card_switches_rail_at_once_and_disables_the_card(client: Any, tenant: Any) -> None:
    s = await trial_ending(client, tenant, start="2025-03-01T00:00:00Z", trial_days=3, card=STOLEN)
    transfer = await attach(client, tenant, s.customer["id"], GOOD_ACCOUNT, rail="transfer")
    await advance(client, tenant, s, "2025-03-05T00:00:00Z")
    sched = await schedule_of(client, tenant, s.sub["id"])
    assert decisions(sched) == [("switch_rail", "2025-03-04T00:00:00.000Z", 0)]
    assert sched["decisions"][0]["paymentMethodId"] == transfer["id"]
    assert (sched["state"], sched["attemptsMade"]) == ("recovered", 1)
    r = await client.get(f"/v1/customers/{s.customer['id']}/payment-methods", headers=tenant.auth())
    by_id = {m["id"]: m for m in ok(r)["items"]}
    assert by_id[s.card["id"]]["usable"] is False
    assert (await get_sub(client, tenant, s.sub["id"]))["paymentMethodId"] == transfer["id"]


async def test_transient_errors_follow_the_back_off_and_cancel_per_escalation(
    client: Any, tenant: Any, db: Database
) -> None:
    await settings(client, tenant, dunningEscalation="cancel")
    s = await trial_ending(client, tenant, start="2025-03-01T00:00:00Z", trial_days=3, card=PROCESSOR_ERROR)
    await advance(client, tenant, s, "2025-03-12T00:00:00Z")
    sched = await schedule_of(client, tenant, s.sub["id"])
    assert [d[1] for d in decisions(sched)] == [
        "2025-03-04T00:00:00.000Z",
        "2025-03-05T00:00:00.000Z",
        "2025-03-07T00:00:00.000Z",
        "2025-03-09T00:00:00.000Z",
        "2025-03-11T00:00:00.000Z",
        None,
    ]
    assert (sched["state"], sched["exhaustReason"]) == ("exhausted", "max_attempts")
    after = await get_sub(client, tenant, s.sub["id"])
    assert (after["status"], after["endedReason"], after["canceledAt"]) == (
        "canceled",
        "dunning_canceled",
        "2025-03-11T00:00:00.000Z",
    )
    assert (await event_types(client, tenant))[-2:] == ["invoice_uncollectible", "subscription_cancelled"]
    assert [k for k, _, _ in await messages(db, tenant)][-1] == "dunning_exhausted"


async def test_keep_leaves_the_subscription_past_due_and_a_later_payment_recovers(client: Any, tenant: Any) -> None:
    await settings(client, tenant, dunningEscalation="keep", maxAttempts=1)
    s = await trial_ending(client, tenant, start="2025-03-01T00:00:00Z", trial_days=3, card=PROCESSOR_ERROR)
    await advance(client, tenant, s, "2025-03-25T00:00:00Z")  # well past the 14-day deadline: keep ignores it
    sched = await schedule_of(client, tenant, s.sub["id"])
    assert (sched["state"], sched["exhaustReason"], sched["attemptsMade"]) == ("exhausted", "max_attempts", 1)
    assert (await get_sub(client, tenant, s.sub["id"]))["status"] == "past_due"
    card = await attach(client, tenant, s.customer["id"], GOOD)
    paid = ok(await pay(client, tenant, sched["invoiceId"], {"paymentMethodId": card["id"]}))
    assert paid["status"] == "paid"
    assert (await schedule_of(client, tenant, s.sub["id"]))["state"] == "recovered"
    assert (await get_sub(client, tenant, s.sub["id"]))["status"] == "active"


async def test_escalation_ends_a_waiting_schedule_on_time(client: Any, tenant: Any, db: Database) -> None:
    s = await trial_ending(client, tenant, start="2025-03-01T00:00:00Z", trial_days=3, card=EXPIRED)
    await advance(client, tenant, s, "2025-03-17T23:00:00Z")
    assert (await schedule_of(client, tenant, s.sub["id"]))["state"] == "awaiting_customer"
    await advance(client, tenant, s, "2025-03-19T00:00:00Z")
    sched = await schedule_of(client, tenant, s.sub["id"])
    assert (sched["state"], sched["exhaustReason"], sched["exhaustedAt"]) == (
        "exhausted",
        "escalation",
        "2025-03-18T00:00:00.000Z",
    )
    assert [d["action"] for d in sched["decisions"]] == ["request_card_update", "exhaust"]
    assert sched["decisions"][-1]["reason"] == "Escalated: not recovered within 14 days"
    assert (await get_sub(client, tenant, s.sub["id"]))["status"] == "unpaid"
    assert [k for k, _, _ in await messages(db, tenant)] == ["payment_action_required", "dunning_exhausted"]


async def test_dunning_off_waits_for_the_customer(client: Any, tenant: Any, db: Database) -> None:
    await settings(client, tenant, dunningEnabled=False)
    s = await trial_ending(client, tenant, start="2025-03-01T00:00:00Z", trial_days=3, card=PROCESSOR_ERROR)
    await advance(client, tenant, s, "2025-03-10T00:00:00Z")
    sched = await schedule_of(client, tenant, s.sub["id"])
    assert (sched["state"], sched["attemptsMade"]) == ("awaiting_customer", 0)
    assert sched["decisions"][0]["reason"].startswith("Automatic retries are off")
    assert "subscription_payment_action_required" not in await event_types(client, tenant)
    assert [k for k, _, _ in await messages(db, tenant)] == ["dunning_1"]


async def test_a_method_changed_by_the_merchant_is_used_from_the_next_retry(client: Any, tenant: Any) -> None:
    s = await trial_ending(client, tenant, start="2025-03-01T00:00:00Z", trial_days=3, card=PROCESSOR_ERROR)
    await advance(client, tenant, s, "2025-03-04T12:00:00Z")  # failed at 00:00, retried at once, next at +24 h
    card = await attach(client, tenant, s.customer["id"], GOOD)
    r = await client.patch(
        f"/v1/subscriptions/{s.sub['id']}", json={"paymentMethodId": card["id"]}, headers=tenant.auth()
    )
    ok(r)
    await advance(client, tenant, s, "2025-03-06T00:00:00Z")
    sched = await schedule_of(client, tenant, s.sub["id"])
    assert (sched["state"], sched["attemptsMade"], sched["recoveredAt"]) == (
        "recovered",
        2,
        "2025-03-05T00:00:00.000Z",
    )


async def test_a_month_of_failures_on_one_clock_in_the_analytics(client: Any, tenant: Any) -> None:
    """04 "Done when": the analytics scoped to the clock report what the dunning loop did."""
    clock = ok(
        await client.post("/v1/test-clocks", json={"frozenTime": "2025-03-13T10:00:00Z"}, headers=tenant.auth()), 201
    )
    p = await plan(client, tenant, trialDays=7)
    for card in (PAYDAY, PROCESSOR_ERROR, EXPIRED):  # recovered on payday, exhausted, still waiting
        cus = await new_customer(client, tenant)
        await attach(client, tenant, cus["id"], card, default=True)
        body = {"customerId": cus["id"], "planId": p["id"], "testClockId": clock["id"]}
        ok(await client.post("/v1/subscriptions", json=body, headers=tenant.auth()), 201)
    await advance_clock(client, tenant, clock["id"], "2025-03-30T00:00:00Z")

    q = {"testClockId": clock["id"], "from": "2025-03-01T00:00:00Z", "to": "2025-03-31T00:00:00Z"}
    summary = ok(await client.get("/v1/analytics/failures", params=q, headers=tenant.auth()))
    assert {k: summary[k] for k in ("inFlight", "recovered", "exhausted", "recoveryRate")} == {
        "inFlight": 500000,
        "recovered": 500000,
        "exhausted": 500000,
        "recoveryRate": 0.5,
    }
    assert (summary["openSchedules"], summary["recoveredCount"], summary["exhaustedCount"]) == (1, 1, 1)
    # Every failed attempt: the three renewals, then the five back-off retries of the processor error.
    assert summary["byFailureCode"] == {"insufficient_funds": 1, "processor_error": 6, "expired_card": 1}

    overview = ok(
        await client.get("/v1/analytics/overview", params={"testClockId": clock["id"]}, headers=tenant.auth())
    )
    assert overview["asOf"] == "2025-03-30T00:00:00.000Z"
    assert overview["mrr"] == {"NGN": 1000000}  # the recovered one and the past-due one
    assert (overview["activeSubscriptions"], overview["pastDue"], overview["unpaid"]) == (1, 1, 1)
    assert overview["newMrr30d"] == {"NGN": 500000}  # first activated by its recovery on the 28th
    assert overview["recoveredRevenue30d"] == {"NGN": 500000}
    assert overview["atRiskRevenue"] == {"NGN": 500000}
