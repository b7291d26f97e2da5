"""POST /v1/invoices/{id}/refund (03 §11, §13.4): amounts, the never-exceed guarantee, events, audit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from duro.api.unit import NeedsGateway
from duro.db.engine import Database
from duro.gateway.protocol import RefundOutcome
from duro.idempotency import store
from duro.invoices.refunds import finish_refund, prepare_refund, redrive_pending_refunds
from duro.invoices.schemas import RefundRequest
from duro.kit import jsonenc
from duro.subscriptions.runner import worker_context
from tests.http_assertions import err, invalid, not_found, ok
from tests.invoices.harness import get_invoice, incomplete_subscription, make_clock, refund, scalar
from tests.subscriptions.helpers import customer, event_types, events_of, get_sub, plan, subscribe

RESPONSE_FIELDS = {"invoiceId", "refunded", "status", "refund"}
REFUND_FIELDS = {"object", "id", "invoiceId", "transactionId", "amount", "currency", "reason", "status", "createdAt"}


async def paid_subscription(client: Any, tenant: Any, **body: Any) -> dict[str, Any]:
    p = await plan(client, tenant)
    c = await customer(client, tenant)
    sub = ok(await subscribe(client, tenant, customerId=c["id"], planId=p["id"], **body), 201)
    assert sub["status"] == "active"
    return sub  # type: ignore[no-any-return]


async def test_full_refund_by_default(client: Any, tenant: Any, db: Database) -> None:
    sub = await paid_subscription(client, tenant)
    invoice_id = sub["latestInvoiceId"]
    before = await get_invoice(client, tenant, invoice_id)
    charge = before["attempts"][0]
    events_before = await event_types(client, tenant)

    answer = ok(await refund(client, tenant, invoice_id, {"reason": "requested_by_customer"}))
    assert set(answer) == RESPONSE_FIELDS
    assert (answer["invoiceId"], answer["refunded"], answer["status"]) == (invoice_id, 500000, "paid")
    made = answer["refund"]
    assert set(made) == REFUND_FIELDS
    assert made["id"].startswith("rfd_")
    assert (made["object"], made["invoiceId"], made["transactionId"]) == ("refund", invoice_id, charge["id"])
    assert (made["amount"], made["currency"], made["status"]) == (500000, "NGN", "succeeded")
    assert made["reason"] == "requested_by_customer"

    invoice = await get_invoice(client, tenant, invoice_id)
    assert (invoice["status"], invoice["amountPaid"], invoice["amountRefunded"]) == ("paid", 500000, 500000)
    assert invoice["refunds"] == [made]
    assert await get_sub(client, tenant, sub["id"]) == sub  # refunds never change the subscription

    assert (await event_types(client, tenant))[len(events_before) :] == ["subscription_payment_refunded"]
    (event,) = await events_of(client, tenant, "subscription_payment_refunded")
    data = event["data"]
    assert set(data) == {"object", "refund", "subscriptionId", "invoiceId", "amount", "currency"}
    assert data["object"]["id"] == invoice_id
    assert data["object"]["amountRefunded"] == 500000
    assert data["refund"] == made
    assert (data["subscriptionId"], data["invoiceId"], data["amount"], data["currency"]) == (
        sub["id"],
        invoice_id,
        500000,
        "NGN",
    )
    ledger = "SELECT outcome FROM sandbox.sim_charges WHERE reference = :r AND kind = 'refund'"
    assert await scalar(db, ledger, r=made["id"]) == {
        "succeeded": True,
        "failureCode": None,
        "message": None,
        "transactionReference": charge["id"],
        "amount": 500000,
    }

    async with db.core_transaction() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT actor_type, actor_label, target_type, target_id, mode, before, after, request_id"
                    " FROM core.audit_logs WHERE tenant_id = :t AND action = 'invoice.refunded'"
                ),
                {"t": tenant.id},
            )
        ).all()
    assert len(rows) == 1
    row = rows[0]
    assert (row.actor_type, row.target_type, row.target_id, row.mode) == ("api_key", "invoice", invoice_id, "test")
    assert row.actor_label.startswith("sk_test_")
    assert row.before == {"amountRefunded": 0}
    assert row.after["amountRefunded"] == 500000
    assert row.after["refund"]["id"] == made["id"]
    assert row.request_id.startswith("req_")

    e = err(
        await refund(client, tenant, invoice_id, {"reason": "again"}),
        422,
        "validation_error",
        "refund_exceeds_remaining",
    )
    assert e["details"][0]["path"] == "amount"


async def test_partial_refunds_until_nothing_is_left(client: Any, tenant: Any) -> None:
    sub = await paid_subscription(client, tenant)
    invoice_id = sub["latestInvoiceId"]
    first = ok(await refund(client, tenant, invoice_id, {"amount": 100000, "reason": "partial"}))
    assert (first["refunded"], first["refund"]["amount"]) == (100000, 100000)
    e = err(
        await refund(client, tenant, invoice_id, {"amount": 400001, "reason": "too much"}),
        422,
        "validation_error",
        "refund_exceeds_remaining",
    )
    assert e["details"] == [{"path": "amount", "issue": "must be at most 400000, the refundable remainder"}]
    rest = ok(await refund(client, tenant, invoice_id, {"reason": "the rest"}))  # default: the remainder
    assert (rest["refunded"], rest["refund"]["amount"], rest["status"]) == (500000, 400000, "paid")
    invoice = await get_invoice(client, tenant, invoice_id)
    assert [r["amount"] for r in invoice["refunds"]] == [100000, 400000]
    assert invoice["amountRefunded"] == invoice["amountPaid"]
    e = err(
        await refund(client, tenant, invoice_id, {"amount": 1, "reason": "one more"}),
        422,
        "validation_error",
        "refund_exceeds_remaining",
    )
    assert e["details"][0]["path"] == "amount"
    assert len(await events_of(client, tenant, "subscription_payment_refunded")) == 2


async def test_validation(client: Any, tenant: Any, db: Database) -> None:
    sub = await paid_subscription(client, tenant)
    invoice_id = sub["latestInvoiceId"]
    invalid(await refund(client, tenant, invoice_id, {}), "reason", "required")
    invalid(await refund(client, tenant, invoice_id, {"reason": ""}), "reason", "at least 1")
    invalid(await refund(client, tenant, invoice_id, {"reason": "x" * 501}), "reason", "at most 500")
    invalid(await refund(client, tenant, invoice_id, {"reason": "r", "amount": 0}), "amount", "greater than or equal")
    invalid(await refund(client, tenant, invoice_id, {"reason": "r", "amount": "100"}), "amount", "integer")
    invalid(
        await refund(client, tenant, invoice_id, {"reason": "r", "paymentMethodId": "x"}), "paymentMethodId", "unknown"
    )
    assert await scalar(db, "SELECT count(*) FROM sandbox.refunds WHERE tenant_id = :t", t=tenant.id) == 0


async def test_unpaid_and_chargeless_invoices_are_not_refundable(client: Any, tenant: Any) -> None:
    sub = await incomplete_subscription(client, tenant)
    e = err(
        await refund(client, tenant, sub["latestInvoiceId"], {"reason": "r"}), 409, "conflict", "invoice_not_refundable"
    )
    assert e["details"] == []
    ok(await client.post(f"/v1/subscriptions/{sub['id']}/cancel", json={}, headers=tenant.auth()))
    err(
        await refund(client, tenant, sub["latestInvoiceId"], {"reason": "r"}), 409, "conflict", "invoice_not_refundable"
    )

    free = await plan(client, tenant, name="Free", amount=0)
    c = await customer(client, tenant, card=None)
    zero = ok(await subscribe(client, tenant, customerId=c["id"], planId=free["id"]), 201)
    assert (await get_invoice(client, tenant, zero["latestInvoiceId"]))["status"] == "paid"
    err(
        await refund(client, tenant, zero["latestInvoiceId"], {"reason": "r"}),
        409,
        "conflict",
        "invoice_not_refundable",
    )
    not_found(await refund(client, tenant, "inv_01JGFMA2P3K8W1N6Y4D9C0B7QX", {"reason": "r"}))


async def test_concurrent_refunds_never_exceed_the_amount_paid(client: Any, tenant: Any, db: Database) -> None:
    sub = await paid_subscription(client, tenant)
    invoice_id = sub["latestInvoiceId"]
    answers = await asyncio.gather(
        *(refund(client, tenant, invoice_id, {"amount": 50000, "reason": f"part {n}"}) for n in range(20))
    )
    by_status: dict[int, int] = {}
    for r in answers:
        by_status[r.status_code] = by_status.get(r.status_code, 0) + 1
    assert by_status == {200: 10, 422: 10}, [r.text for r in answers]
    assert all(r.json()["error"]["reason"] == "refund_exceeds_remaining" for r in answers if r.status_code == 422)
    assert sorted(r.json()["refunded"] for r in answers if r.status_code == 200) == [50000 * k for k in range(1, 11)]
    invoice = await get_invoice(client, tenant, invoice_id)
    assert invoice["amountRefunded"] == invoice["amountPaid"] == 500000
    assert len(invoice["refunds"]) == 10
    assert await scalar(db, "SELECT count(*) FROM sandbox.sim_charges WHERE kind = 'refund'") == 10
    total = "SELECT sum(amount) FROM sandbox.refunds WHERE tenant_id = :t AND status = 'succeeded'"
    assert await scalar(db, total, t=tenant.id) == 500000


async def test_idempotent_replay(client: Any, tenant: Any, db: Database) -> None:
    sub = await paid_subscription(client, tenant)
    body = {"amount": 1000, "reason": "once"}
    first = await refund(client, tenant, sub["latestInvoiceId"], body, **{"Idempotency-Key": "rf-1"})
    ok(first)
    second = await refund(client, tenant, sub["latestInvoiceId"], body, **{"Idempotency-Key": "rf-1"})
    assert (second.status_code, second.headers["idempotent-replayed"]) == (200, "true")
    assert second.content == first.content
    reused = await refund(client, tenant, sub["latestInvoiceId"], {**body, "amount": 2}, **{"Idempotency-Key": "rf-1"})
    err(reused, 422, "validation_error", "idempotency_key_reused")
    assert await scalar(db, "SELECT count(*) FROM sandbox.refunds WHERE tenant_id = :t", t=tenant.id) == 1
    assert (await get_invoice(client, tenant, sub["latestInvoiceId"]))["amountRefunded"] == 1000


async def test_credentials_tenants_and_modes(client: Any, tenant: Any, make_tenant: Any, db: Database) -> None:
    sub = await paid_subscription(client, tenant)
    url = f"/v1/invoices/{sub['latestInvoiceId']}/refund"
    body = {"reason": "r"}
    other = await make_tenant("Other")
    not_found(await client.post(url, json=body, headers=other.auth()))
    not_found(await client.post(url, json=body, headers=tenant.auth("live")))
    err(await client.post(url, json=body), 401, "unauthorized", "missing_credential")
    r = await client.post(url, json=body, headers=tenant.auth("test", "publishable"))
    err(r, 403, "forbidden", "publishable_key_not_allowed")
    assert await scalar(db, "SELECT count(*) FROM sandbox.refunds WHERE tenant_id = :t", t=tenant.id) == 0
    assert (await get_invoice(client, tenant, sub["latestInvoiceId"]))["amountRefunded"] == 0


async def test_refund_times_follow_the_test_clock(client: Any, tenant: Any) -> None:
    clock = await make_clock(client, tenant, "2025-02-02T10:00:00Z")
    sub = await paid_subscription(client, tenant, testClockId=clock["id"])
    made = ok(await refund(client, tenant, sub["latestInvoiceId"], {"amount": 100000, "reason": "r"}))["refund"]
    assert made["createdAt"] == "2025-02-02T10:00:00.000Z"


async def test_a_crashed_refund_is_finished_once(client: Any, tenant: Any, db: Database, app: Any) -> None:
    runtime = app.state.runtime
    sub = await paid_subscription(client, tenant)
    invoice_id = sub["latestInvoiceId"]
    body = {"amount": 200000, "reason": "crash"}
    path = f"/v1/invoices/{invoice_id}/refund"

    # A request claimed its key 2 minutes ago, reserved its refund, then died before the gateway call.
    fp = store.fingerprint("POST", path, "", jsonenc.canonical(body))
    long_ago = datetime.now(UTC) - timedelta(minutes=2)
    await store.claim(db, "test", tenant.id, "crashed", fp, "req_01JGFMA2P3K8W1N6Y4D9C0B7QX", long_ago)
    async with db.transaction("test") as conn:
        step = await prepare_refund(worker_context(runtime, conn, tenant.id, "test"), invoice_id, RefundRequest(**body))
        assert isinstance(step, NeedsGateway)
        await store.set_recovery_point(conn, tenant.id, "crashed", step.recovery_point)

    invoice = await get_invoice(client, tenant, invoice_id)
    assert (invoice["amountRefunded"], invoice["refunds"]) == (0, [])  # a reservation is not a refund yet
    rest = ok(await refund(client, tenant, invoice_id, {"reason": "the rest"}))  # the reservation holds 200000
    assert rest["refund"]["amount"] == 300000

    retried = ok(await refund(client, tenant, invoice_id, body, **{"Idempotency-Key": "crashed"}))
    assert retried["refund"]["id"] == step.recovery_point
    assert (retried["refund"]["status"], retried["refunded"]) == ("succeeded", 500000)
    assert await redrive_pending_refunds(runtime, "test", older_than=timedelta(0)) == 0
    assert await scalar(db, "SELECT count(*) FROM sandbox.sim_charges WHERE kind = 'refund'") == 2


async def test_maintenance_finishes_an_abandoned_refund(client: Any, tenant: Any, db: Database, app: Any) -> None:
    runtime = app.state.runtime
    sub = await paid_subscription(client, tenant)
    invoice_id = sub["latestInvoiceId"]
    async with db.transaction("test") as conn:
        ctx = worker_context(runtime, conn, tenant.id, "test")
        step = await prepare_refund(ctx, invoice_id, RefundRequest(reason="abandoned"))
    assert isinstance(step, NeedsGateway)
    r = await refund(client, tenant, invoice_id, {"amount": 1, "reason": "r"})
    err(r, 422, "validation_error", "refund_exceeds_remaining")  # the whole amount is reserved
    assert await redrive_pending_refunds(runtime, "test", older_than=timedelta(0)) == 1
    assert await redrive_pending_refunds(runtime, "test", older_than=timedelta(0)) == 0
    invoice = await get_invoice(client, tenant, invoice_id)
    assert invoice["amountRefunded"] == 500000
    assert [r["status"] for r in invoice["refunds"]] == ["succeeded"]
    (event,) = await events_of(client, tenant, "subscription_payment_refunded")
    assert event["data"]["refund"]["id"] == step.recovery_point
    audit = "SELECT actor_type FROM core.audit_logs WHERE tenant_id = :t AND action = 'invoice.refunded'"
    assert await scalar(db, audit, t=tenant.id) == "system"


async def test_a_refused_refund_releases_its_reservation(client: Any, tenant: Any, db: Database, app: Any) -> None:
    runtime = app.state.runtime
    sub = await paid_subscription(client, tenant)
    invoice_id = sub["latestInvoiceId"]
    async with db.transaction("test") as conn:
        ctx = worker_context(runtime, conn, tenant.id, "test")
        step = await prepare_refund(ctx, invoice_id, RefundRequest(reason="refused"))
    assert isinstance(step, NeedsGateway)
    async with db.transaction("test") as conn:  # the simulator always refunds; a real processor may not
        ctx = worker_context(runtime, conn, tenant.id, "test")
        answer = await finish_refund(ctx, step.recovery_point, RefundOutcome(False, "processor_error", "try later"))
    assert (answer["refunded"], answer["refund"]["status"]) == (0, "failed")
    invoice = await get_invoice(client, tenant, invoice_id)
    assert invoice["amountRefunded"] == 0
    assert [r["status"] for r in invoice["refunds"]] == ["failed"]
    assert await events_of(client, tenant, "subscription_payment_refunded") == []
    made = ok(await refund(client, tenant, invoice_id, {"reason": "again"}))
    assert made["refunded"] == 500000
