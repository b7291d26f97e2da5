"""The hosted payment page of an invoice (06 §1 "Invoice payment", 04 §4 "Update link"): a dunning invoice of a
customer without a phone gets a `hostedPaymentUrl`; paying it there recovers the subscription."""

from __future__ import annotations

from typing import Any

from tests.checkout.harness import GOOD, card, pay
from tests.http_assertions import ok
from tests.recovery.scenario import EXPIRED, advance, schedule_of, trial_ending
from tests.subscriptions.helpers import events_of, get_sub


async def test_a_card_update_link_pays_and_recovers(client: Any, tenant: Any) -> None:
    s = await trial_ending(client, tenant, start="2025-03-01T00:00:00Z", trial_days=3, card=EXPIRED)
    await advance(client, tenant, s, "2025-03-05T00:00:00Z")
    sched = await schedule_of(client, tenant, s.sub["id"])
    assert sched["state"] == "awaiting_customer"
    invoice = ok(await client.get(f"/v1/invoices/{sched['invoiceId']}", headers=tenant.auth()))
    url = invoice["hostedPaymentUrl"]
    assert url.startswith("http://localhost:8000/checkout/cs_test_")
    (action,) = await events_of(client, tenant, "subscription_payment_action_required")
    assert action["data"]["updateUrl"] == url  # no phone: the invoice's page is the update link
    token = url.rsplit("/", 1)[1]
    view = ok(await client.get(f"/api/checkout/{token}"))
    assert (view["kind"], view["amountDue"], view["expiresAt"]) == ("invoice", 500000, sched["escalationAt"])
    done = ok(await pay(client, token, card(GOOD)))
    assert (done["status"], done["invoiceId"], done["subscriptionId"]) == ("completed", invoice["id"], s.sub["id"])
    assert (await schedule_of(client, tenant, s.sub["id"]))["state"] == "recovered"
    after = await get_sub(client, tenant, s.sub["id"])
    assert after["status"] == "active"
    paid = ok(await client.get(f"/v1/invoices/{invoice['id']}", headers=tenant.auth()))
    assert (paid["status"], paid["attempts"][-1]["source"]) == ("paid", "hosted_invoice")
    assert paid["paidAt"] == "2025-03-05T00:00:00.000Z"  # clock time: the session belongs to the test clock
