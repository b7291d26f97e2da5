"""Cancel, pause, resume, PATCH and cancel-scheduled-change of /v1/subscriptions (03 §4, §7, §13.3).

States the API cannot reach yet (`past_due`, `unpaid`, `expired`, `incomplete_expired`: renewal and dunning
engines) are written straight to the database by `in_state`; everything else is driven through the API.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from duro.db.engine import Database
from duro.kit.ids import new_id
from tests.http_assertions import err, invalid, not_found, ok
from tests.subscriptions.helpers import (
    DECLINE_NSF,
    act,
    add_card,
    advance_clock,
    customer,
    event_types,
    events_of,
    get_sub,
    make_clock,
    plan,
    set_columns,
    subscribe,
)

ALL_STATES = (
    "incomplete",
    "incomplete_expired",
    "trialing",
    "active",
    "past_due",
    "paused",
    "unpaid",
    "canceled",
    "expired",
)
PAST = datetime(2020, 1, 1, tzinfo=UTC)


async def in_state(client: Any, tenant: Any, db: Database, status: str, **sub_body: Any) -> dict[str, Any]:
    """A new subscription in `status`, reached through the API where the API can reach it."""
    if status == "trialing":
        p = await plan(client, tenant, trialDays=14)
    else:
        p = await plan(client, tenant)
    card_less = status in ("incomplete", "incomplete_expired")
    c = await customer(client, tenant, card=None if card_less else "4242424242424242")
    sub = ok(await subscribe(client, tenant, customerId=c["id"], planId=p["id"], **sub_body), 201)
    expected_start = {"trialing": "trialing", "incomplete": "incomplete", "incomplete_expired": "incomplete"}
    assert sub["status"] == expected_start.get(status, "active")
    if status == "paused":
        ok(await act(client, tenant, sub["id"], "pause"))
    elif status == "canceled":
        ok(await act(client, tenant, sub["id"], "cancel"))
    elif status in ("past_due", "unpaid", "expired", "incomplete_expired"):
        # Direct write: the renewal and dunning engines that make these moves are not part of this module.
        ended: dict[str, Any] = {} if status == "past_due" else {"ended_at": datetime.now(UTC)}
        await set_columns(db, tenant, "subscriptions", sub["id"], status=status, **ended)
    return await get_sub(client, tenant, sub["id"])


async def event_count(client: Any, tenant: Any) -> int:
    return len(await event_types(client, tenant))


async def assert_refused(
    client: Any, tenant: Any, sub: dict[str, Any], call: Any, issue: str, reason: str = "illegal_transition"
) -> None:
    """`call` answers 409 with `issue` on `status`, and neither the subscription nor the event log changes."""
    before_events = await event_count(client, tenant)
    e = err(await call, 409, "conflict", reason)
    if reason == "illegal_transition":
        assert e["details"] == [{"path": "status", "issue": issue}]
    assert await get_sub(client, tenant, sub["id"]) == sub
    assert await event_count(client, tenant) == before_events


# --- cancel now -------------------------------------------------------------------------------------------------


async def test_cancel_active_now(client: Any, tenant: Any, db: Database) -> None:
    sub = await in_state(client, tenant, db, "active")
    done = ok(await act(client, tenant, sub["id"], "cancel", {"reason": "Moving to a competitor"}))
    assert done["status"] == "canceled"
    assert done["canceledAt"] == done["endedAt"] == done["updatedAt"]
    assert done["canceledAt"] >= sub["updatedAt"]
    assert done["cancelRequestedBy"] == "merchant"
    assert done["endedReason"] == "canceled_by_merchant"
    assert done["cancelAtPeriodEnd"] is False
    unchanged = {"status", "canceledAt", "endedAt", "cancelRequestedBy", "endedReason", "updatedAt"}
    assert {k: v for k, v in done.items() if k not in unchanged} == {k: v for k, v in sub.items() if k not in unchanged}
    assert await get_sub(client, tenant, sub["id"]) == done
    (event,) = await events_of(client, tenant, "subscription_cancelled")
    assert event["data"] == {
        "object": done,
        "cancellation": {"initiatedBy": "merchant", "atPeriodEnd": False, "reason": "Moving to a competitor"},
    }
    assert (await event_types(client, tenant))[-1] == "subscription_cancelled"
    # The paid first invoice is not refunded or voided (03 §7: no automatic refund).
    invoice = ok(await client.get(f"/v1/invoices/{sub['latestInvoiceId']}", headers=tenant.auth()))
    assert (invoice["status"], invoice["voidedAt"]) == ("paid", None)


async def test_cancel_without_body_or_reason(client: Any, tenant: Any, db: Database) -> None:
    sub = await in_state(client, tenant, db, "active")
    r = await client.post(f"/v1/subscriptions/{sub['id']}/cancel", headers=tenant.auth())
    assert ok(r)["status"] == "canceled"
    (event,) = await events_of(client, tenant, "subscription_cancelled")
    assert event["data"]["cancellation"] == {"initiatedBy": "merchant", "atPeriodEnd": False, "reason": None}


@pytest.mark.parametrize("status", ["incomplete", "trialing", "active", "past_due", "paused", "unpaid"])
async def test_cancel_now_is_allowed_from(client: Any, tenant: Any, db: Database, status: str) -> None:
    sub = await in_state(client, tenant, db, status)
    done = ok(await act(client, tenant, sub["id"], "cancel"))
    assert done["status"] == "canceled"
    assert done["canceledAt"] == done["endedAt"]
    assert done["endedReason"] == "canceled_by_merchant"
    assert done["pausedAt"] is None  # "while paused" (03 §1.4)
    assert done["incompleteExpiresAt"] is None  # "while incomplete"
    assert len(await events_of(client, tenant, "subscription_cancelled")) == 1


@pytest.mark.parametrize("status", ["canceled", "expired", "incomplete_expired"])
async def test_terminal_states_refuse_cancel(client: Any, tenant: Any, db: Database, status: str) -> None:
    sub = await in_state(client, tenant, db, status)
    for body in ({}, {"atPeriodEnd": False, "reason": "again"}):
        await assert_refused(
            client, tenant, sub, act(client, tenant, sub["id"], "cancel", body), f"{status} cannot cancel"
        )


async def test_cancel_voids_open_invoices_and_returns_their_credit(client: Any, tenant: Any, db: Database) -> None:
    sub = await in_state(client, tenant, db, "incomplete")
    invoice_id = sub["latestInvoiceId"]
    assert ok(await client.get(f"/v1/invoices/{invoice_id}", headers=tenant.auth()))["status"] == "open"
    # Direct writes: proration credit and debit come from plan changes (03 §8), which this module does not make.
    await set_columns(db, tenant, "invoices", invoice_id, credit_applied=100_000, amount=400_000)
    await set_columns(db, tenant, "subscriptions", sub["id"], pending_charge=30_000)
    done = ok(await act(client, tenant, sub["id"], "cancel"))
    invoice = ok(await client.get(f"/v1/invoices/{invoice_id}", headers=tenant.auth()))
    assert invoice["status"] == "void"
    assert invoice["voidedAt"] == done["canceledAt"]
    assert invoice["hostedPaymentUrl"] is None
    assert invoice["amountPaid"] == 0
    # The credit first nets the pending debit: balance and pendingCharge are never both > 0 (03 §1.4).
    assert (done["balance"], done["pendingCharge"]) == (70_000, 0)
    assert (
        ok(await client.get(f"/v1/invoices?status=open&subscriptionId={sub['id']}", headers=tenant.auth()))["items"]
        == []
    )


async def test_cancel_ends_live_dunning_schedules_only(client: Any, tenant: Any, db: Database) -> None:
    sub = await in_state(client, tenant, db, "past_due")
    now = datetime.now(UTC)
    live, finished = new_id("dun"), new_id("dun")
    # Direct writes: dunning schedules are opened by the renewal engine (04 §4), not by this module.
    async with db.core_transaction() as conn:
        for schedule_id, state, invoice_id in (
            (live, "scheduled", new_id("inv")),
            (finished, "exhausted", new_id("inv")),
        ):
            await conn.execute(
                text(
                    "INSERT INTO sandbox.dunning_schedules (id, tenant_id, invoice_id, subscription_id, customer_id,"
                    " state, amount, currency, next_attempt_at, started_at, escalation_at, created_at, updated_at)"
                    " VALUES (:id, :tenant_id, :invoice_id, :sub_id, :customer_id, :state, 500000, 'NGN', :now,"
                    " :now, :now, :now, :now)"
                ),
                {
                    "id": schedule_id,
                    "tenant_id": tenant.id,
                    "invoice_id": invoice_id,
                    "sub_id": sub["id"],
                    "customer_id": sub["customerId"],
                    "state": state,
                    "now": now,
                },
            )
    done = ok(await act(client, tenant, sub["id"], "cancel"))
    async with db.core_transaction() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT id, state, canceled_at, next_attempt_at FROM sandbox.dunning_schedules"
                    " WHERE tenant_id = :t ORDER BY id"
                ),
                {"t": tenant.id},
            )
        ).all()
    by_id = {row[0]: row for row in rows}
    assert by_id[live][1] == "canceled"
    assert by_id[live][2].isoformat(timespec="milliseconds").replace("+00:00", "Z") == done["canceledAt"]
    assert by_id[live][3] is None
    assert by_id[finished][1] == "exhausted"
    assert by_id[finished][2] is None


async def test_cancel_uses_the_test_clock_time(client: Any, tenant: Any, db: Database) -> None:
    clock = await make_clock(client, tenant, "2025-01-31T09:00:00Z")
    sub = await in_state(client, tenant, db, "active", testClockId=clock["id"])
    assert sub["createdAt"] == "2025-01-31T09:00:00.000Z"
    paused = ok(await act(client, tenant, sub["id"], "pause"))
    assert paused["pausedAt"] == paused["updatedAt"] == "2025-01-31T09:00:00.000Z"
    await advance_clock(client, tenant, clock["id"], "2025-02-10T12:00:00Z")
    done = ok(await act(client, tenant, sub["id"], "cancel"))
    assert done["canceledAt"] == done["endedAt"] == done["updatedAt"] == "2025-02-10T12:00:00.000Z"


async def test_cancel_after_a_failed_renewal(client: Any, tenant: Any, db: Database) -> None:
    """past_due through the real renewal engine: its open invoice is voided and its dunning schedule canceled."""
    clock = await make_clock(client, tenant, "2025-03-01T00:00:00Z")
    p = await plan(client, tenant, trialDays=3)
    c = await customer(client, tenant, card=DECLINE_NSF)
    sub = ok(await subscribe(client, tenant, customerId=c["id"], planId=p["id"], testClockId=clock["id"]), 201)
    await advance_clock(client, tenant, clock["id"], "2025-03-05T00:00:00Z")
    past_due = await get_sub(client, tenant, sub["id"])
    assert past_due["status"] == "past_due"
    invoice_id = past_due["latestInvoiceId"]
    assert ok(await client.get(f"/v1/invoices/{invoice_id}", headers=tenant.auth()))["status"] == "open"
    await advance_clock(client, tenant, clock["id"], "2025-03-06T00:00:00Z")
    done = ok(await act(client, tenant, sub["id"], "cancel", {"reason": "gave up"}))
    assert (done["status"], done["canceledAt"]) == ("canceled", "2025-03-06T00:00:00.000Z")
    invoice = ok(await client.get(f"/v1/invoices/{invoice_id}", headers=tenant.auth()))
    assert (invoice["status"], invoice["voidedAt"]) == ("void", "2025-03-06T00:00:00.000Z")
    async with db.core_transaction() as conn:
        schedule = (
            await conn.execute(
                text(
                    "SELECT state, canceled_at FROM sandbox.dunning_schedules WHERE tenant_id = :t AND invoice_id = :i"
                ),
                {"t": tenant.id, "i": invoice_id},
            )
        ).one()
    assert schedule[0] == "canceled"
    assert schedule[1] == datetime(2025, 3, 6, tzinfo=UTC)
    assert (await event_types(client, tenant))[-1] == "subscription_cancelled"


async def test_concurrent_cancels_cancel_once(client: Any, tenant: Any, db: Database) -> None:
    sub = await in_state(client, tenant, db, "incomplete")
    answers = await asyncio.gather(*(act(client, tenant, sub["id"], "cancel") for _ in range(6)))
    assert sorted(r.status_code for r in answers) == [200] + [409] * 5
    for r in answers:
        if r.status_code == 409:
            assert r.json()["error"]["details"] == [{"path": "status", "issue": "canceled cannot cancel"}]
    assert len(await events_of(client, tenant, "subscription_cancelled")) == 1


# --- cancel at period end ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["active", "trialing"])
async def test_cancel_at_period_end(client: Any, tenant: Any, db: Database, status: str) -> None:
    sub = await in_state(client, tenant, db, status)
    body = {"atPeriodEnd": True, "reason": "Too expensive"}
    done = ok(await act(client, tenant, sub["id"], "cancel", body))
    assert done["status"] == status
    assert done["cancelAtPeriodEnd"] is True
    assert done["cancelRequestedBy"] == "merchant"
    assert (done["canceledAt"], done["endedAt"], done["endedReason"]) == (None, None, None)
    assert done["currentPeriodEnd"] == sub["currentPeriodEnd"]
    (event,) = await events_of(client, tenant, "subscription_updated")
    assert event["data"] == {
        "object": done,
        "previousAttributes": {"cancelAtPeriodEnd": False, "cancelRequestedBy": None},
    }
    assert await events_of(client, tenant, "subscription_cancelled") == []
    # The same request again changes nothing: 200, no event, updatedAt kept.
    again = ok(await act(client, tenant, sub["id"], "cancel", body))
    assert again == done
    assert len(await events_of(client, tenant, "subscription_updated")) == 1
    # Canceling now later keeps the reason given earlier.
    now = ok(await act(client, tenant, sub["id"], "cancel"))
    assert now["status"] == "canceled"
    (cancelled,) = await events_of(client, tenant, "subscription_cancelled")
    assert cancelled["data"]["cancellation"]["reason"] == "Too expensive"


async def test_merchant_takes_over_a_customer_cancellation(client: Any, tenant: Any, db: Database) -> None:
    sub = await in_state(client, tenant, db, "active")
    # Direct write: customers cancel through the portal (06 §7), which is not built yet.
    await set_columns(
        db,
        tenant,
        "subscriptions",
        sub["id"],
        cancel_at_period_end=True,
        cancel_requested_by="customer",
        cancel_reason="I am moving abroad",
    )
    taken = ok(await act(client, tenant, sub["id"], "cancel", {"atPeriodEnd": True}))
    assert (taken["cancelAtPeriodEnd"], taken["cancelRequestedBy"]) == (True, "merchant")
    (event,) = await events_of(client, tenant, "subscription_updated")
    assert event["data"]["previousAttributes"] == {"cancelRequestedBy": "customer"}
    ok(await act(client, tenant, sub["id"], "cancel"))
    (cancelled,) = await events_of(client, tenant, "subscription_cancelled")
    # The customer's words are not reported as the merchant's reason.
    assert cancelled["data"]["cancellation"] == {"initiatedBy": "merchant", "atPeriodEnd": False, "reason": None}


@pytest.mark.parametrize("status", ["incomplete", "past_due", "paused", "unpaid", "canceled", "expired"])
async def test_cancel_at_period_end_is_refused_in(client: Any, tenant: Any, db: Database, status: str) -> None:
    sub = await in_state(client, tenant, db, status)
    call = act(client, tenant, sub["id"], "cancel", {"atPeriodEnd": True})
    await assert_refused(client, tenant, sub, call, f"{status} cannot cancel_at_period_end")


# --- pause and resume -------------------------------------------------------------------------------------------


async def test_pause_then_resume(client: Any, tenant: Any, db: Database) -> None:
    sub = await in_state(client, tenant, db, "active")
    paused = ok(await act(client, tenant, sub["id"], "pause"))
    assert paused["status"] == "paused"
    assert paused["pausedAt"] == paused["updatedAt"]
    assert paused["pausedAt"] >= sub["updatedAt"]
    for field in ("currentPeriodStart", "currentPeriodEnd", "billingAnchor", "cyclesCompleted", "activatedAt"):
        assert paused[field] == sub[field]
    (event,) = await events_of(client, tenant, "subscription_paused")
    assert event["data"] == {"object": paused}

    resumed = ok(await act(client, tenant, sub["id"], "resume"))
    assert resumed["status"] == "active"
    assert resumed["pausedAt"] is None
    assert resumed["updatedAt"] >= paused["updatedAt"]
    for field in ("currentPeriodStart", "currentPeriodEnd", "billingAnchor", "cyclesCompleted", "activatedAt"):
        assert resumed[field] == sub[field]
    (event,) = await events_of(client, tenant, "subscription_resumed")
    assert event["data"] == {"object": resumed}
    assert (await event_types(client, tenant))[-2:] == ["subscription_paused", "subscription_resumed"]
    assert await get_sub(client, tenant, sub["id"]) == resumed


@pytest.mark.parametrize("status", [s for s in ALL_STATES if s != "active"])
async def test_pause_is_refused_in(client: Any, tenant: Any, db: Database, status: str) -> None:
    sub = await in_state(client, tenant, db, status)
    await assert_refused(client, tenant, sub, act(client, tenant, sub["id"], "pause"), f"{status} cannot pause")


@pytest.mark.parametrize("status", [s for s in ALL_STATES if s != "paused"])
async def test_resume_is_refused_in(client: Any, tenant: Any, db: Database, status: str) -> None:
    sub = await in_state(client, tenant, db, status)
    await assert_refused(client, tenant, sub, act(client, tenant, sub["id"], "resume"), f"{status} cannot resume")


async def test_resume_after_the_period_ended_renews_at_once(client: Any, tenant: Any, db: Database) -> None:
    clock = await make_clock(client, tenant, "2025-01-31T09:00:00Z")
    sub = await in_state(client, tenant, db, "paused", testClockId=clock["id"])
    assert sub["currentPeriodEnd"] == "2025-02-28T09:00:00.000Z"
    await advance_clock(client, tenant, clock["id"], "2025-03-10T00:00:00Z")
    assert await get_sub(client, tenant, sub["id"]) == sub  # nothing is billed while paused
    resumed = ok(await act(client, tenant, sub["id"], "resume"))
    assert (resumed["status"], resumed["pausedAt"]) == ("active", None)
    # billingAnchor = currentPeriodEnd = now, then the renewal bills [now, nextBoundary(now, now)) (03 §7).
    assert resumed["billingAnchor"] == "2025-03-10T00:00:00.000Z"
    assert (resumed["currentPeriodStart"], resumed["currentPeriodEnd"]) == (
        "2025-03-10T00:00:00.000Z",
        "2025-04-10T00:00:00.000Z",
    )
    assert resumed["cyclesCompleted"] == sub["cyclesCompleted"] + 1
    assert (await event_types(client, tenant))[-4:] == [
        "subscription_resumed",
        "invoice_created",
        "invoice_paid",
        "subscription_payment_success",
    ]


async def test_resume_before_the_period_end_only_resumes(client: Any, tenant: Any, db: Database) -> None:
    sub = await in_state(client, tenant, db, "paused")
    resumed = ok(await act(client, tenant, sub["id"], "resume"))
    assert resumed["currentPeriodEnd"] == sub["currentPeriodEnd"]
    assert resumed["billingAnchor"] == sub["billingAnchor"]
    assert (await event_types(client, tenant))[-1] == "subscription_resumed"


async def test_resume_whose_renewal_fails_is_past_due(client: Any, tenant: Any, db: Database) -> None:
    sub = await in_state(client, tenant, db, "paused")
    # Direct writes: time passing for a wall-clock subscription, and its card starting to decline.
    await set_columns(db, tenant, "subscriptions", sub["id"], current_period_end=PAST)
    async with db.core_transaction() as conn:
        await conn.execute(
            text("UPDATE sandbox.payment_methods SET gateway_token = 'sim:4000000000000051' WHERE tenant_id = :t"),
            {"t": tenant.id},
        )
    resumed = ok(await act(client, tenant, sub["id"], "resume"))
    assert resumed["status"] == "past_due"
    assert (await event_types(client, tenant))[-2:] == ["subscription_payment_failed", "subscription_past_due"]


# --- PATCH ------------------------------------------------------------------------------------------------------


async def patch(client: Any, tenant: Any, sub_id: str, body: Any, **headers: str) -> Any:
    return await client.patch(f"/v1/subscriptions/{sub_id}", json=body, headers={**tenant.auth(), **headers})


@pytest.mark.parametrize("status", ALL_STATES)
async def test_patch_metadata_in_every_state(client: Any, tenant: Any, db: Database, status: str) -> None:
    sub = await in_state(client, tenant, db, status, metadata={"crm": "1"})
    done = ok(await patch(client, tenant, sub["id"], {"metadata": {"crm": "2", "team": "growth"}}))
    assert done["metadata"] == {"crm": "2", "team": "growth"}
    assert done["status"] == status
    (event,) = await events_of(client, tenant, "subscription_updated")
    assert event["data"] == {"object": done, "previousAttributes": {"metadata": {"crm": "1"}}}
    # Replaces the whole object (01 §4); the same value again is a no-op.
    assert ok(await patch(client, tenant, sub["id"], {"metadata": {"crm": "2", "team": "growth"}})) == done
    cleared = ok(await patch(client, tenant, sub["id"], {"metadata": {}}))
    assert cleared["metadata"] == {}
    assert len(await events_of(client, tenant, "subscription_updated")) == 2


async def test_patch_payment_method(client: Any, tenant: Any, db: Database) -> None:
    sub = await in_state(client, tenant, db, "active")
    second = await add_card(client, tenant, sub["customerId"], "5555555555554444")
    done = ok(await patch(client, tenant, sub["id"], {"paymentMethodId": second["id"]}))
    assert done["paymentMethodId"] == second["id"]
    assert done["updatedAt"] >= sub["updatedAt"]
    (event,) = await events_of(client, tenant, "subscription_updated")
    assert event["data"] == {"object": done, "previousAttributes": {"paymentMethodId": None}}
    back = ok(await patch(client, tenant, sub["id"], {"paymentMethodId": None}))  # null = the customer's default
    assert back["paymentMethodId"] is None
    latest = (await events_of(client, tenant, "subscription_updated"))[0]
    assert latest["data"]["previousAttributes"] == {"paymentMethodId": second["id"]}


async def test_patch_payment_method_must_be_chargeable(
    client: Any, tenant: Any, db: Database, make_tenant: Any
) -> None:
    sub = await in_state(client, tenant, db, "active")
    other = await customer(client, tenant)
    foreign = ok(await client.get(f"/v1/customers/{other['id']}/payment-methods", headers=tenant.auth()))["items"][0]
    before = await event_count(client, tenant)
    e = err(
        await patch(client, tenant, sub["id"], {"paymentMethodId": foreign["id"]}),
        422,
        "validation_error",
        "payment_method_unusable",
    )
    assert e["details"][0]["path"] == "paymentMethodId"
    e = not_found(await patch(client, tenant, sub["id"], {"paymentMethodId": "pm_01JGFMA2P3K8W1N6Y4D9C0B7QX"}))
    assert e["details"][0]["path"] == "paymentMethodId"
    other_tenant = await make_tenant("Other")
    theirs = await customer(client, other_tenant)
    their_pm = ok(await client.get(f"/v1/customers/{theirs['id']}/payment-methods", headers=other_tenant.auth()))
    e = not_found(await patch(client, tenant, sub["id"], {"paymentMethodId": their_pm["items"][0]["id"]}))
    assert e["details"][0]["path"] == "paymentMethodId"
    assert await get_sub(client, tenant, sub["id"]) == sub
    assert await event_count(client, tenant) == before


@pytest.mark.parametrize("status", ["unpaid", "canceled", "expired", "incomplete_expired"])
async def test_patch_payment_method_is_refused_in(client: Any, tenant: Any, db: Database, status: str) -> None:
    sub = await in_state(client, tenant, db, status)
    for body in ({"paymentMethodId": None}, {"paymentMethodId": None, "metadata": {"a": "b"}}):
        await assert_refused(client, tenant, sub, patch(client, tenant, sub["id"], body), f"{status} cannot update")


@pytest.mark.parametrize("status", ["incomplete", "past_due", "paused"])
async def test_patch_payment_method_outside_active(client: Any, tenant: Any, db: Database, status: str) -> None:
    sub = await in_state(client, tenant, db, status)
    pm = await add_card(client, tenant, sub["customerId"], "5555555555554444")
    assert ok(await patch(client, tenant, sub["id"], {"paymentMethodId": pm["id"]}))["paymentMethodId"] == pm["id"]


async def test_patch_cancel_at_period_end(client: Any, tenant: Any, db: Database) -> None:
    sub = await in_state(client, tenant, db, "active")
    set_on = ok(await patch(client, tenant, sub["id"], {"cancelAtPeriodEnd": True, "metadata": {"why": "price"}}))
    assert (set_on["cancelAtPeriodEnd"], set_on["cancelRequestedBy"], set_on["metadata"]) == (
        True,
        "merchant",
        {"why": "price"},
    )
    (event,) = await events_of(client, tenant, "subscription_updated")  # one event for the whole PATCH
    assert event["data"]["previousAttributes"] == {
        "cancelAtPeriodEnd": False,
        "cancelRequestedBy": None,
        "metadata": {},
    }
    cleared = ok(await patch(client, tenant, sub["id"], {"cancelAtPeriodEnd": False}))
    assert (cleared["cancelAtPeriodEnd"], cleared["cancelRequestedBy"]) == (False, None)
    latest = (await events_of(client, tenant, "subscription_updated"))[0]
    assert latest["data"] == {
        "object": cleared,
        "previousAttributes": {"cancelAtPeriodEnd": True, "cancelRequestedBy": "merchant"},
    }
    assert ok(await patch(client, tenant, sub["id"], {"cancelAtPeriodEnd": False})) == cleared
    assert len(await events_of(client, tenant, "subscription_updated")) == 2


@pytest.mark.parametrize("status", ["incomplete", "past_due", "paused", "unpaid", "canceled"])
async def test_patch_cancel_at_period_end_is_refused_in(client: Any, tenant: Any, db: Database, status: str) -> None:
    sub = await in_state(client, tenant, db, status)
    for body in ({"cancelAtPeriodEnd": False}, {"cancelAtPeriodEnd": True, "metadata": {"a": "b"}}):
        call = patch(client, tenant, sub["id"], body)
        await assert_refused(client, tenant, sub, call, f"{status} cannot cancel_at_period_end")


async def test_patch_without_changes_keeps_everything(client: Any, tenant: Any, db: Database) -> None:
    sub = await in_state(client, tenant, db, "active", metadata={"k": "v"})
    before = await event_count(client, tenant)
    for body in ({}, {"metadata": {"k": "v"}}, {"paymentMethodId": None}, {"cancelAtPeriodEnd": False}):
        assert ok(await patch(client, tenant, sub["id"], body)) == sub
    assert await event_count(client, tenant) == before


async def test_patch_validation(client: Any, tenant: Any, db: Database) -> None:
    sub = await in_state(client, tenant, db, "active")
    invalid(await patch(client, tenant, sub["id"], {"metadata": None}), "metadata", "cannot be null")
    invalid(await patch(client, tenant, sub["id"], {"cancelAtPeriodEnd": None}), "cancelAtPeriodEnd", "cannot be null")
    invalid(await patch(client, tenant, sub["id"], {"cancelAtPeriodEnd": "yes"}), "cancelAtPeriodEnd", "bool")
    invalid(await patch(client, tenant, sub["id"], {"status": "canceled"}), "status", "unknown or read-only")
    invalid(await patch(client, tenant, sub["id"], {"metadata": {"k": "x" * 501}}), "metadata", "500")
    assert await get_sub(client, tenant, sub["id"]) == sub


# --- cancel-scheduled-change ------------------------------------------------------------------------------------


async def test_cancel_scheduled_change(client: Any, tenant: Any, db: Database) -> None:
    sub = await in_state(client, tenant, db, "active")
    target = await plan(client, tenant, name="Pro Yearly", interval="year")
    # Direct write: scheduling (change-plan with `effective: period_end`, 03 §8) is not built yet.
    await set_columns(db, tenant, "subscriptions", sub["id"], scheduled_plan_id=target["id"])
    scheduled = await get_sub(client, tenant, sub["id"])
    done = ok(await act(client, tenant, sub["id"], "cancel-scheduled-change"))
    assert done["scheduledPlanId"] is None
    assert done["planId"] == sub["planId"]
    assert done["updatedAt"] >= scheduled["updatedAt"]
    (event,) = await events_of(client, tenant, "subscription_updated")
    assert event["data"] == {"object": done, "previousAttributes": {"scheduledPlanId": target["id"]}}
    call = act(client, tenant, sub["id"], "cancel-scheduled-change")
    await assert_refused(client, tenant, done, call, "", reason="no_scheduled_change")


@pytest.mark.parametrize("status", ["incomplete", "past_due", "paused", "unpaid", "canceled", "expired"])
async def test_cancel_scheduled_change_is_refused_in(client: Any, tenant: Any, db: Database, status: str) -> None:
    sub = await in_state(client, tenant, db, status)
    await set_columns(db, tenant, "subscriptions", sub["id"], scheduled_plan_id=sub["planId"])  # as above
    sub = await get_sub(client, tenant, sub["id"])
    call = act(client, tenant, sub["id"], "cancel-scheduled-change")
    await assert_refused(client, tenant, sub, call, f"{status} cannot schedule_plan_change")


# --- bodies, idempotency, credentials, isolation ---------------------------------------------------------------


async def test_action_bodies_are_validated(client: Any, tenant: Any, db: Database) -> None:
    sub = await in_state(client, tenant, db, "active")
    invalid(await act(client, tenant, sub["id"], "cancel", {"reason": "x" * 501}), "reason", "500")
    invalid(await act(client, tenant, sub["id"], "cancel", {"atPeriodEnd": "true"}), "atPeriodEnd", "bool")
    invalid(await act(client, tenant, sub["id"], "cancel", {"atPeriodEnd": None}), "atPeriodEnd", "bool")
    for action in ("pause", "resume", "cancel-scheduled-change"):
        invalid(await act(client, tenant, sub["id"], action, {"at": 1}), "at", "unknown or read-only")
    assert await get_sub(client, tenant, sub["id"]) == sub
    assert ok(await client.post(f"/v1/subscriptions/{sub['id']}/pause", headers=tenant.auth()))["status"] == "paused"


async def test_same_idempotency_key_replays(client: Any, tenant: Any, db: Database) -> None:
    sub = await in_state(client, tenant, db, "active")
    first = await act(client, tenant, sub["id"], "cancel", {"reason": "r"}, **{"Idempotency-Key": "cancel-1"})
    second = await act(client, tenant, sub["id"], "cancel", {"reason": "r"}, **{"Idempotency-Key": "cancel-1"})
    assert ok(first)["status"] == "canceled"
    assert ok(second) == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert len(await events_of(client, tenant, "subscription_cancelled")) == 1
    # A refusal is stored too: the same key answers the same 409 even though a fresh request would too.
    refused = await act(client, tenant, sub["id"], "pause", **{"Idempotency-Key": "pause-1"})
    again = await act(client, tenant, sub["id"], "pause", **{"Idempotency-Key": "pause-1"})
    err(refused, 409, "conflict", "illegal_transition")
    assert again.status_code == 409
    assert again.headers["idempotent-replayed"] == "true"
    other = await in_state(client, tenant, db, "active")
    body = {"metadata": {"a": "1"}}
    first = await patch(client, tenant, other["id"], body, **{"Idempotency-Key": "patch-1"})
    replay = await patch(client, tenant, other["id"], body, **{"Idempotency-Key": "patch-1"})
    assert ok(replay) == ok(first)
    assert len(await events_of(client, tenant, "subscription_updated")) == 1


ACTIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("post", "cancel", {}),
    ("post", "pause", {}),
    ("post", "resume", {}),
    ("post", "cancel-scheduled-change", {}),
    ("patch", "", {"metadata": {"a": "b"}}),
]


def _request(client: Any, method: str, sub_id: str, action: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    url = f"/v1/subscriptions/{sub_id}" + (f"/{action}" if action else "")
    return client.request(method.upper(), url, json=body, headers=headers)


async def test_credentials_and_isolation(client: Any, tenant: Any, db: Database, make_tenant: Any) -> None:
    sub = await in_state(client, tenant, db, "active")
    other = await make_tenant("Other")
    before = await event_count(client, tenant)
    for method, action, body in ACTIONS:
        not_found(await _request(client, method, sub["id"], action, body, other.auth()))
        not_found(await _request(client, method, sub["id"], action, body, tenant.auth("live")))
        not_found(await _request(client, method, "sub_01JGFMA2P3K8W1N6Y4D9C0B7QX", action, body, tenant.auth()))
        err(await _request(client, method, sub["id"], action, body, {}), 401, "unauthorized", "missing_credential")
        r = await _request(client, method, sub["id"], action, body, tenant.auth("test", "publishable"))
        err(r, 403, "forbidden", "publishable_key_not_allowed")
    assert await get_sub(client, tenant, sub["id"]) == sub
    assert await event_count(client, tenant) == before
    assert ok(await client.get("/v1/events", headers=other.auth()))["items"] == []


async def test_live_mode_subscription_is_invisible_to_test_mode(client: Any, tenant: Any, db: Database) -> None:
    p = await plan(client, tenant, mode="live", trialDays=7)
    c = ok(await client.post("/v1/customers", json={}, headers=tenant.auth("live")), 201)
    r = await client.post(
        "/v1/subscriptions", json={"customerId": c["id"], "planId": p["id"]}, headers=tenant.auth("live")
    )
    sub = ok(r, 201)
    not_found(await act(client, tenant, sub["id"], "cancel"))
    r = await client.post(f"/v1/subscriptions/{sub['id']}/cancel", json={}, headers=tenant.auth("live"))
    assert ok(r)["status"] == "canceled"
    assert len(await events_of(client, tenant, "subscription_cancelled", mode="live")) == 1
    assert await events_of(client, tenant, "subscription_cancelled") == []
