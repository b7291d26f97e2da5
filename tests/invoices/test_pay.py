"""POST /v1/invoices/{id}/pay (03 §11; 04 §4 merchant-initiated payments) through the real app and the simulator."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from duro.api.unit import NeedsCharge
from duro.db.engine import Database
from duro.idempotency import store
from duro.invoices.pay import prepare_pay
from duro.invoices.schemas import PayRequest
from duro.kit import jsonenc
from duro.subscriptions.runner import worker_context
from duro.workers.maintenance import redrive_pending
from tests.http_assertions import err, invalid, not_found, ok
from tests.invoices.harness import (
    get_invoice,
    incomplete_subscription,
    past_due_subscription,
    pay,
    payment_failed,
    scalar,
    schedule_row,
)
from tests.subscriptions.helpers import (
    GOOD_CARD,
    STOLEN,
    add_card,
    customer,
    event_types,
    events_of,
    get_sub,
    plan,
    set_columns,
    subscribe,
)

MASTERCARD = "5555555555554444"


async def test_incomplete_subscription_activates_with_a_new_card(client: Any, tenant: Any) -> None:
    sub = await incomplete_subscription(client, tenant)
    invoice_id = sub["latestInvoiceId"]
    good = await add_card(client, tenant, sub["customerId"], MASTERCARD)
    before = await event_types(client, tenant)

    paid = ok(await pay(client, tenant, invoice_id, {"paymentMethodId": good["id"]}))
    assert paid["id"] == invoice_id
    assert paid["status"] == "paid"
    assert paid["amountPaid"] == paid["amount"] == 500000
    assert paid["paidAt"] is not None
    assert paid["refunds"] == []
    first, second = paid["attempts"]
    assert (first["status"], first["source"], first["failureCode"]) == (
        "failed",
        "subscription_create",
        "insufficient_funds",
    )
    assert (second["status"], second["source"], second["attemptNumber"]) == ("succeeded", "merchant_retry", 2)
    assert second["paymentMethodId"] == good["id"]
    assert paid == await get_invoice(client, tenant, invoice_id)  # the response is the invoice as GET shows it

    after = await get_sub(client, tenant, sub["id"])
    assert after["status"] == "active"
    assert after["paymentMethodId"] == good["id"]  # the paying method is adopted (03 §5 item 5)
    assert after["activatedAt"] is not None
    assert after["cyclesCompleted"] == 1
    assert after["incompleteExpiresAt"] is None
    # The period stays the one computed at creation.
    assert (after["currentPeriodStart"], after["currentPeriodEnd"]) == (
        sub["currentPeriodStart"],
        sub["currentPeriodEnd"],
    )

    types = await event_types(client, tenant)
    assert types[len(before) :] == [
        "invoice_paid",
        "subscription_payment_success",
        "subscription_activated",
        "subscription_updated",
    ]
    (success,) = await events_of(client, tenant, "subscription_payment_success")
    assert success["data"]["transaction"]["id"] == second["id"]
    assert success["data"]["object"]["status"] == "paid"
    assert (success["data"]["amount"], success["data"]["currency"]) == (500000, "NGN")
    (activated,) = await events_of(client, tenant, "subscription_activated")
    assert activated["data"]["invoiceId"] == invoice_id
    (updated,) = await events_of(client, tenant, "subscription_updated")
    assert updated["data"]["previousAttributes"] == {"paymentMethodId": None}
    assert updated["data"]["object"]["paymentMethodId"] == good["id"]

    again = await pay(client, tenant, invoice_id, {"paymentMethodId": good["id"]})
    assert "paid" in err(again, 409, "conflict", "invoice_not_payable")["message"]


async def test_same_method_is_not_a_subscription_update(client: Any, tenant: Any) -> None:
    p = await plan(client, tenant)
    c = await customer(client, tenant, card=STOLEN)
    good = await add_card(client, tenant, c["id"], GOOD_CARD)
    # created with an explicit method that declines, so `paymentMethodId` is already set
    bad = ok(await client.get(f"/v1/customers/{c['id']}/payment-methods", headers=tenant.auth()))["items"]
    stolen = next(m for m in bad if m["last4"] == "0119")
    sub = ok(await subscribe(client, tenant, customerId=c["id"], planId=p["id"], paymentMethodId=stolen["id"]), 201)
    assert (sub["status"], sub["paymentMethodId"]) == ("incomplete", stolen["id"])
    ok(
        await client.patch(
            f"/v1/subscriptions/{sub['id']}", json={"paymentMethodId": good["id"]}, headers=tenant.auth()
        )
    )
    before = await event_types(client, tenant)
    ok(await pay(client, tenant, sub["latestInvoiceId"]))  # no body: the subscription's (new) method
    assert (await event_types(client, tenant))[len(before) :] == [
        "invoice_paid",
        "subscription_payment_success",
        "subscription_activated",
    ]
    assert (await get_sub(client, tenant, sub["id"]))["paymentMethodId"] == good["id"]


async def test_declined_payment_is_a_402_and_changes_nothing_else(client: Any, tenant: Any) -> None:
    sub = await incomplete_subscription(client, tenant)
    invoice_id = sub["latestInvoiceId"]
    before_invoice = await get_invoice(client, tenant, invoice_id)
    before_events = await event_types(client, tenant)

    r = await client.post(f"/v1/invoices/{invoice_id}/pay", headers=tenant.auth())  # no body at all
    e = payment_failed(r, "insufficient_funds")
    assert e["payment"]["declineCode"] == "51"

    invoice = await get_invoice(client, tenant, invoice_id)
    assert invoice["status"] == "open"
    assert invoice["updatedAt"] == before_invoice["updatedAt"]
    assert invoice["amountPaid"] == 0
    attempt = invoice["attempts"][-1]
    assert attempt["id"] == e["payment"]["transactionId"]
    assert (attempt["status"], attempt["source"], attempt["attemptNumber"]) == ("failed", "merchant_retry", 2)
    after = await get_sub(client, tenant, sub["id"])
    assert after == sub  # still incomplete, nothing adopted, nothing touched
    assert (await event_types(client, tenant))[len(before_events) :] == ["subscription_payment_failed"]
    failed = (await events_of(client, tenant, "subscription_payment_failed"))[0]["data"]
    assert failed["transaction"]["id"] == attempt["id"]
    assert (failed["failureCode"], failed["nextAttemptAt"]) == ("insufficient_funds", None)


async def test_stolen_card_declined_on_pay_is_disabled(client: Any, tenant: Any) -> None:
    sub = await incomplete_subscription(client, tenant)
    stolen = await add_card(client, tenant, sub["customerId"], STOLEN)
    payment_failed(await pay(client, tenant, sub["latestInvoiceId"], {"paymentMethodId": stolen["id"]}), "stolen_card")
    methods = ok(await client.get(f"/v1/customers/{sub['customerId']}/payment-methods", headers=tenant.auth()))
    assert [m["usable"] for m in methods["items"] if m["id"] == stolen["id"]] == [False]
    r = await pay(client, tenant, sub["latestInvoiceId"], {"paymentMethodId": stolen["id"]})
    e = err(r, 422, "validation_error", "payment_method_unusable")
    assert e["details"][0]["path"] == "paymentMethodId"


async def test_no_method_records_a_failed_attempt_and_answers_402(client: Any, tenant: Any) -> None:
    sub = await incomplete_subscription(client, tenant, card=None)
    e = payment_failed(await pay(client, tenant, sub["latestInvoiceId"]), "no_payment_method")
    assert e["payment"]["declineCode"] is None
    invoice = await get_invoice(client, tenant, sub["latestInvoiceId"])
    attempt = invoice["attempts"][-1]
    assert attempt["id"] == e["payment"]["transactionId"]
    assert (attempt["rail"], attempt["paymentMethodId"], attempt["source"]) == (None, None, "merchant_retry")
    assert invoice["status"] == "open"
    assert (await event_types(client, tenant))[-1] == "subscription_payment_failed"


async def test_method_errors_name_the_field_and_change_nothing(client: Any, tenant: Any, db: Database) -> None:
    sub = await incomplete_subscription(client, tenant)
    other = await customer(client, tenant)
    foreign = ok(await client.get(f"/v1/customers/{other['id']}/payment-methods", headers=tenant.auth()))["items"][0]
    e = not_found(
        await pay(client, tenant, sub["latestInvoiceId"], {"paymentMethodId": "pm_01JGFMA2P3K8W1N6Y4D9C0B7QX"})
    )
    assert e["details"][0]["path"] == "paymentMethodId"
    e = err(
        await pay(client, tenant, sub["latestInvoiceId"], {"paymentMethodId": foreign["id"]}),
        422,
        "validation_error",
        "payment_method_unusable",
    )
    assert e["details"][0]["path"] == "paymentMethodId"
    invalid(await pay(client, tenant, sub["latestInvoiceId"], {"paymentMethodId": 42}), "paymentMethodId", "string")
    invalid(await pay(client, tenant, sub["latestInvoiceId"], {"amount": 1}), "amount", "unknown")
    count = "SELECT count(*) FROM sandbox.transactions WHERE tenant_id = :t"
    assert await scalar(db, count, t=tenant.id) == 1  # only the creation attempt


async def test_paid_void_and_unknown_invoices_are_not_payable(client: Any, tenant: Any) -> None:
    p = await plan(client, tenant)
    c = await customer(client, tenant)
    active = ok(await subscribe(client, tenant, customerId=c["id"], planId=p["id"]), 201)
    e = err(await pay(client, tenant, active["latestInvoiceId"]), 409, "conflict", "invoice_not_payable")
    assert e["details"] == []

    sub = await incomplete_subscription(client, tenant)
    ok(await client.post(f"/v1/subscriptions/{sub['id']}/cancel", json={}, headers=tenant.auth()))
    assert (await get_invoice(client, tenant, sub["latestInvoiceId"]))["status"] == "void"
    err(await pay(client, tenant, sub["latestInvoiceId"]), 409, "conflict", "invoice_not_payable")
    not_found(await pay(client, tenant, "inv_01JGFMA2P3K8W1N6Y4D9C0B7QX"))


async def test_incomplete_past_its_expiry_is_not_payable(client: Any, tenant: Any, db: Database) -> None:
    sub = await incomplete_subscription(client, tenant)
    # The billing loop has not run yet; the 23 h have passed (set directly: no clock is attached).
    await set_columns(db, tenant, "subscriptions", sub["id"], incomplete_expires_at=datetime.now(UTC) - timedelta(1))
    e = err(await pay(client, tenant, sub["latestInvoiceId"]), 409, "conflict", "invoice_not_payable")
    assert "run out" in e["message"]


async def test_past_due_recovers_with_a_merchant_payment(client: Any, tenant: Any, db: Database) -> None:
    sub, _clock = await past_due_subscription(client, tenant)
    invoice = await get_invoice(client, tenant, sub["latestInvoiceId"])
    schedule_id = invoice["dunningScheduleId"]
    assert invoice["kind"] == "renewal"
    assert schedule_id is not None
    assert sub["activatedAt"] is None  # the trial never converted
    before = await event_types(client, tenant)

    # The clock ran the dunning retries due by now: +0 h and +24 h after the failure on 4 March (04 §2).
    opened = await schedule_row(db, tenant, schedule_id)
    assert (opened.state, opened.attempts_made) == ("scheduled", 2)
    # Declined again first: schedule unchanged, no attempt counted (04 §4).
    payment_failed(await pay(client, tenant, invoice["id"]), "insufficient_funds")
    schedule = await schedule_row(db, tenant, schedule_id)
    assert (schedule.state, schedule.attempts_made, schedule.next_attempt_at) == (
        opened.state,
        opened.attempts_made,
        opened.next_attempt_at,
    )

    good = await add_card(client, tenant, sub["customerId"], GOOD_CARD)
    paid = ok(await pay(client, tenant, invoice["id"], {"paymentMethodId": good["id"]}))
    assert paid["status"] == "paid"
    assert paid["paidAt"] == "2025-03-05T00:00:00.000Z"  # test clock time (03 §12)
    assert paid["attempts"][-1]["createdAt"] == "2025-03-05T00:00:00.000Z"
    sources = [a["source"] for a in paid["attempts"]]
    assert sources == ["renewal", "dunning", "dunning", "merchant_retry", "merchant_retry"]

    after = await get_sub(client, tenant, sub["id"])
    assert after["status"] == "active"
    assert (after["currentPeriodStart"], after["currentPeriodEnd"]) == (paid["periodStart"], paid["periodEnd"])
    assert after["currentPeriodEnd"] == "2025-04-04T00:00:00.000Z"
    assert after["activatedAt"] == "2025-03-05T00:00:00.000Z"  # first activation, by recovery
    assert after["cyclesCompleted"] == 1
    assert after["paymentMethodId"] == good["id"]

    schedule = await schedule_row(db, tenant, schedule_id)
    assert schedule.state == "recovered"
    assert schedule.recovered_at.isoformat() == "2025-03-05T00:00:00+00:00"
    assert schedule.attempts_made == 2  # merchant payments never count as dunning attempts

    types = await event_types(client, tenant)
    assert types[len(before) :] == [
        "subscription_payment_failed",
        "invoice_paid",
        "subscription_payment_recovered",
        "subscription_recovered",
        "subscription_updated",
    ]
    (recovered_payment,) = await events_of(client, tenant, "subscription_payment_recovered")
    data = recovered_payment["data"]
    assert set(data) == {"object", "transaction", "scheduleId", "subscriptionId", "invoiceId", "amount", "currency"}
    assert (data["scheduleId"], data["subscriptionId"], data["invoiceId"]) == (schedule_id, sub["id"], invoice["id"])
    assert (data["amount"], data["currency"]) == (500000, "NGN")
    assert data["transaction"]["id"] == paid["attempts"][-1]["id"]
    (recovered,) = await events_of(client, tenant, "subscription_recovered")
    assert (recovered["data"]["invoiceId"], recovered["data"]["scheduleId"]) == (invoice["id"], schedule_id)
    assert recovered["data"]["object"]["status"] == "active"
    assert "subscription_payment_success" not in types[len(before) :]
    assert "subscription_activated" not in types[len(before) :]


async def test_uncollectible_invoice_is_payable_only_while_past_due(client: Any, tenant: Any, db: Database) -> None:
    sub, _clock = await past_due_subscription(client, tenant)
    invoice_id = sub["latestInvoiceId"]
    schedule_id = (await get_invoice(client, tenant, invoice_id))["dunningScheduleId"]
    # Dunning exhaustion with escalation `keep` is not built yet: put its end state in place directly.
    await set_columns(db, tenant, "invoices", invoice_id, status="uncollectible", uncollectible_at=datetime.now(UTC))
    await set_columns(db, tenant, "dunning_schedules", schedule_id, state="exhausted")
    await set_columns(db, tenant, "subscriptions", sub["id"], status="unpaid")
    err(await pay(client, tenant, invoice_id), 409, "conflict", "invoice_not_payable")

    await set_columns(db, tenant, "subscriptions", sub["id"], status="past_due")
    good = await add_card(client, tenant, sub["customerId"], GOOD_CARD, default=True)
    paid = ok(await pay(client, tenant, invoice_id))  # the subscription has no method of its own: the default
    assert paid["status"] == "paid"
    assert paid["attempts"][-1]["paymentMethodId"] == good["id"]
    assert (await get_sub(client, tenant, sub["id"]))["status"] == "active"
    assert (await schedule_row(db, tenant, schedule_id)).state == "recovered"


async def test_a_retry_in_flight_blocks_the_payment(client: Any, tenant: Any, db: Database) -> None:
    sub, _clock = await past_due_subscription(client, tenant)
    invoice = await get_invoice(client, tenant, sub["latestInvoiceId"])
    # A dunning worker's claim, between its commit and the attempt's first transaction.
    await set_columns(db, tenant, "dunning_schedules", invoice["dunningScheduleId"], state="in_flight")
    before = len(invoice["attempts"])
    e = err(await pay(client, tenant, invoice["id"]), 409, "conflict", "invoice_not_payable")
    assert "retry is in progress" in e["message"]
    assert len((await get_invoice(client, tenant, invoice["id"]))["attempts"]) == before


async def test_concurrent_payments_charge_once(client: Any, tenant: Any, db: Database) -> None:
    sub = await incomplete_subscription(client, tenant)
    good = await add_card(client, tenant, sub["customerId"], GOOD_CARD)
    answers = await asyncio.gather(
        *(pay(client, tenant, sub["latestInvoiceId"], {"paymentMethodId": good["id"]}) for _ in range(8))
    )
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200] + [409] * 7, [r.text for r in answers]
    assert all(r.json()["error"]["reason"] == "invoice_not_payable" for r in answers if r.status_code == 409)
    succeeded = "SELECT count(*) FROM sandbox.transactions WHERE tenant_id = :t AND status = 'succeeded'"
    assert await scalar(db, succeeded, t=tenant.id) == 1
    assert await scalar(db, "SELECT count(*) FROM sandbox.sim_charges WHERE kind = 'charge'") == 2
    types = await event_types(client, tenant)
    assert types.count("subscription_activated") == 1


async def test_idempotent_replay(client: Any, tenant: Any, db: Database) -> None:
    sub = await incomplete_subscription(client, tenant)
    declined = await pay(client, tenant, sub["latestInvoiceId"], **{"Idempotency-Key": "pay-1"})
    e = payment_failed(declined, "insufficient_funds")
    replay = await pay(client, tenant, sub["latestInvoiceId"], **{"Idempotency-Key": "pay-1"})
    assert replay.status_code == 402
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.content == declined.content

    good = await add_card(client, tenant, sub["customerId"], GOOD_CARD)
    body = {"paymentMethodId": good["id"]}
    first = await pay(client, tenant, sub["latestInvoiceId"], body, **{"Idempotency-Key": "pay-2"})
    ok(first)
    second = await pay(client, tenant, sub["latestInvoiceId"], body, **{"Idempotency-Key": "pay-2"})
    assert second.status_code == 200
    assert second.headers["idempotent-replayed"] == "true"
    assert second.content == first.content
    merchant = "SELECT count(*) FROM sandbox.transactions WHERE tenant_id = :t AND source = 'merchant_retry'"
    assert await scalar(db, merchant, t=tenant.id) == 2
    assert e["payment"]["transactionId"] != first.json()["attempts"][-1]["id"]


async def test_crash_after_the_first_step_is_finished_once(client: Any, tenant: Any, db: Database, app: Any) -> None:
    runtime = app.state.runtime
    sub = await incomplete_subscription(client, tenant)
    invoice_id = sub["latestInvoiceId"]
    good = await add_card(client, tenant, sub["customerId"], GOOD_CARD)
    body = {"paymentMethodId": good["id"]}
    path = f"/v1/invoices/{invoice_id}/pay"

    # A request claimed its key 2 minutes ago, committed its first step, then died before the gateway call.
    fp = store.fingerprint("POST", path, "", jsonenc.canonical(body))
    long_ago = datetime.now(UTC) - timedelta(minutes=2)
    await store.claim(db, "test", tenant.id, "crashed", fp, "req_01JGFMA2P3K8W1N6Y4D9C0B7QX", long_ago)
    async with db.transaction("test") as conn:
        step = await prepare_pay(worker_context(runtime, conn, tenant.id, "test"), invoice_id, PayRequest(**body))
        assert isinstance(step, NeedsCharge)
        await store.set_recovery_point(conn, tenant.id, "crashed", step.recovery_point)
    err(await pay(client, tenant, invoice_id, body), 409, "conflict", "invoice_not_payable")  # a charge is pending

    retried = ok(await pay(client, tenant, invoice_id, body, **{"Idempotency-Key": "crashed"}))
    assert retried["status"] == "paid"
    assert retried["attempts"][-1]["id"] == step.recovery_point
    assert await redrive_pending(runtime, "test", older_than=timedelta(0)) == 0  # nothing left pending
    assert await scalar(db, "SELECT count(*) FROM sandbox.sim_charges WHERE reference = :r", r=step.recovery_point) == 1
    assert (await get_sub(client, tenant, sub["id"]))["status"] == "active"


async def test_maintenance_finishes_an_abandoned_payment(client: Any, tenant: Any, db: Database, app: Any) -> None:
    runtime = app.state.runtime
    sub = await incomplete_subscription(client, tenant)
    good = await add_card(client, tenant, sub["customerId"], GOOD_CARD)
    async with db.transaction("test") as conn:  # the first step commits; the request never comes back
        ctx = worker_context(runtime, conn, tenant.id, "test")
        step = await prepare_pay(ctx, sub["latestInvoiceId"], PayRequest(paymentMethodId=good["id"]))
    assert isinstance(step, NeedsCharge)
    assert await redrive_pending(runtime, "test", older_than=timedelta(0)) == 1
    assert await redrive_pending(runtime, "test", older_than=timedelta(0)) == 0
    after = await get_sub(client, tenant, sub["id"])
    assert (after["status"], after["paymentMethodId"]) == ("active", good["id"])
    assert (await get_invoice(client, tenant, sub["latestInvoiceId"]))["status"] == "paid"


async def test_credentials_tenants_and_modes(client: Any, tenant: Any, make_tenant: Any, db: Database) -> None:
    sub = await incomplete_subscription(client, tenant, card=None)
    invoice_id = sub["latestInvoiceId"]
    other = await make_tenant("Other")
    not_found(await pay(client, other, invoice_id))
    not_found(await client.post(f"/v1/invoices/{invoice_id}/pay", json={}, headers=tenant.auth("live")))
    r = await client.post(f"/v1/invoices/{invoice_id}/pay", json={})
    err(r, 401, "unauthorized", "missing_credential")
    r = await client.post(f"/v1/invoices/{invoice_id}/pay", json={}, headers=tenant.auth("test", "publishable"))
    err(r, 403, "forbidden", "publishable_key_not_allowed")
    count = "SELECT count(*) FROM sandbox.transactions WHERE tenant_id = :t"
    assert await scalar(db, count, t=tenant.id) == 1  # nothing was attempted
    assert (await get_invoice(client, tenant, invoice_id))["status"] == "open"
