"""Dashboard invoice screens (07 §3, §6): list with filters and pages, detail with lines, attempts and refunds,
pay now (declines flashed, the failed attempt kept) and refunds with the remainder and a required reason."""

from __future__ import annotations

import re
from typing import Any

from tests.http_assertions import ok
from tests.invoices.harness import get_invoice, incomplete_subscription
from tests.subscriptions.helpers import DECLINE_NSF, add_card, customer, plan, subscribe

BASE = "/dashboard/invoices"
MASTERCARD = "5555555555554444"


async def paid_invoice(dash: Any, tenant: Any) -> dict[str, Any]:
    """The paid NGN 5,000.00 first invoice of a new subscription."""
    p = await plan(dash.client, tenant)
    c = await customer(dash.client, tenant)
    sub = ok(await subscribe(dash.client, tenant, customerId=c["id"], planId=p["id"]), 201)
    invoice = await get_invoice(dash.client, tenant, sub["latestInvoiceId"])
    assert invoice["status"] == "paid"
    return invoice


def flash_of(html: str) -> str:
    found = re.search(r'<div class="flash flash-(\w+)" role="status">([^<]*)</div>', html)
    assert found, "no flash message"
    return f"{found.group(1)}: {found.group(2)}"


# --- list ---


async def test_list_shows_an_empty_state_then_invoices(tenant: Any, dash_as: Any) -> None:
    dash = await dash_as(tenant, "read_only")
    empty = await dash.get(BASE)
    assert empty.status_code == 200
    assert "No invoices yet" in empty.text
    invoice = await paid_invoice(dash, tenant)
    page = await dash.get(BASE)
    assert invoice["id"] in page.text
    assert "₦5,000.00" in page.text


async def test_list_filters_by_status_and_kind(tenant: Any, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    paid = await paid_invoice(dash, tenant)
    sub = await incomplete_subscription(dash.client, tenant)
    open_id = sub["latestInvoiceId"]
    only_open = await dash.get(f"{BASE}?status=open")
    assert open_id in only_open.text
    assert paid["id"] not in only_open.text
    renewals = await dash.get(f"{BASE}?kind=renewal")
    assert "No invoice matches these filters." in renewals.text
    by_sub = await dash.get(f"{BASE}?subscriptionId={sub['id']}")
    assert open_id in by_sub.text
    assert paid["id"] not in by_sub.text


async def test_list_pages_by_twenty(tenant: Any, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    p = await plan(dash.client, tenant)
    c = await customer(dash.client, tenant)
    ids = set()
    for _ in range(21):
        ids.add(ok(await subscribe(dash.client, tenant, customerId=c["id"], planId=p["id"]), 201)["latestInvoiceId"])
    first = await dash.get(BASE)
    shown = set(re.findall(r'href="/dashboard/invoices/(inv_\w+)"', first.text))
    assert len(shown) == 20
    nxt = re.search(r'<a rel="next" href="([^"]+)"', first.text)
    assert nxt, "no next page link"
    second = await dash.get(nxt.group(1).replace("&amp;", "&"))
    rest = set(re.findall(r'href="/dashboard/invoices/(inv_\w+)"', second.text))
    assert shown | rest == ids
    assert not shown & rest


# --- detail and pay ---


async def test_detail_shows_lines_and_failed_attempts(tenant: Any, dash_as: Any) -> None:
    dash = await dash_as(tenant, "read_only")
    sub = await incomplete_subscription(dash.client, tenant)
    page = await dash.get(f"{BASE}/{sub['latestInvoiceId']}")
    assert page.status_code == 200
    assert "Pro Monthly" in page.text  # the plan line
    assert '<code data-testid="failure-code">insufficient_funds</code>' in page.text
    assert 'data-testid="hosted-link"' in page.text
    assert 'data-testid="pay-form"' not in page.text  # read_only cannot pay
    assert (await dash.get(f"{BASE}/inv_doesnotexist")).status_code == 404


async def test_pay_now_with_another_card(tenant: Any, dash_as: Any) -> None:
    dash = await dash_as(tenant, "developer")
    sub = await incomplete_subscription(dash.client, tenant)
    invoice_id = sub["latestInvoiceId"]
    good = await add_card(dash.client, tenant, sub["customerId"], MASTERCARD)
    page = await dash.get(f"{BASE}/{invoice_id}")
    assert 'data-testid="pay-form"' in page.text
    assert f'value="{good["id"]}"' in page.text
    answer = await dash.post(f"{BASE}/{invoice_id}/pay", {"paymentMethodId": good["id"]})
    assert answer.status_code == 303
    after = await get_invoice(dash.client, tenant, invoice_id)
    assert after["status"] == "paid"
    assert [a["status"] for a in after["attempts"]] == ["failed", "succeeded"]
    assert flash_of((await dash.get(answer.headers["location"])).text) == "success: Invoice paid (paid)."


async def test_a_declined_payment_is_flashed_and_its_attempt_kept(tenant: Any, dash_as: Any) -> None:
    dash = await dash_as(tenant, "finance")
    sub = await incomplete_subscription(dash.client, tenant, card=DECLINE_NSF)
    invoice_id = sub["latestInvoiceId"]
    answer = await dash.post(f"{BASE}/{invoice_id}/pay")
    assert answer.status_code == 303
    page = (await dash.get(answer.headers["location"])).text
    assert flash_of(page).startswith("error: Payment failed: ")
    after = await get_invoice(dash.client, tenant, invoice_id)
    assert after["status"] == "open"
    assert [(a["status"], a["failureCode"]) for a in after["attempts"]] == [("failed", "insufficient_funds")] * 2
    assert page.count('data-testid="failure-code"') == 2


async def test_pay_of_a_paid_invoice_is_refused_with_a_message(tenant: Any, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    invoice = await paid_invoice(dash, tenant)
    answer = await dash.post(f"{BASE}/{invoice['id']}/pay")
    assert answer.status_code == 303
    assert flash_of((await dash.get(answer.headers["location"])).text).startswith("error:")
    assert len((await get_invoice(dash.client, tenant, invoice["id"]))["attempts"]) == 1


async def test_read_only_cannot_pay_and_csrf_is_required(tenant: Any, dash_as: Any) -> None:
    owner = await dash_as(tenant, "owner")
    sub = await incomplete_subscription(owner.client, tenant)
    invoice_id = sub["latestInvoiceId"]
    await add_card(owner.client, tenant, sub["customerId"], MASTERCARD, default=True)
    reader = await dash_as(tenant, "read_only")
    assert (await reader.post(f"{BASE}/{invoice_id}/pay")).status_code == 403
    assert (await owner.client.post(f"{BASE}/{invoice_id}/pay", data={})).status_code == 403  # no CSRF token
    after = await get_invoice(owner.client, tenant, invoice_id)
    assert (after["status"], len(after["attempts"])) == ("open", 1)


# --- refunds ---


async def test_finance_refunds_part_then_the_rest(tenant: Any, dash_as: Any) -> None:
    dash = await dash_as(tenant, "finance")
    invoice = await paid_invoice(dash, tenant)
    detail = (await dash.get(f"{BASE}/{invoice['id']}")).text
    assert f'href="{BASE}/{invoice["id"]}/refund"' in detail
    form = await dash.get(f"{BASE}/{invoice['id']}/refund")
    assert form.status_code == 200
    assert '<strong data-testid="refundable">₦5,000.00</strong>' in form.text
    assert "data-confirm=" in form.text
    partial = await dash.post(f"{BASE}/{invoice['id']}/refund", {"amount": "1,000.50", "reason": "goodwill"})
    assert partial.status_code == 303
    after = await get_invoice(dash.client, tenant, invoice["id"])
    assert after["amountRefunded"] == 100050
    assert [(r["amount"], r["reason"], r["status"]) for r in after["refunds"]] == [(100050, "goodwill", "succeeded")]
    assert (
        '<strong data-testid="refundable">₦3,999.50</strong>' in (await dash.get(f"{BASE}/{invoice['id']}/refund")).text
    )
    rest = await dash.post(f"{BASE}/{invoice['id']}/refund", {"amount": "", "reason": "closing the account"})
    assert rest.status_code == 303
    assert (await get_invoice(dash.client, tenant, invoice["id"]))["amountRefunded"] == 500000
    assert 'data-testid="nothing-refundable"' in (await dash.get(f"{BASE}/{invoice['id']}/refund")).text


async def test_refund_errors_are_inline_and_nothing_is_refunded(tenant: Any, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    invoice = await paid_invoice(dash, tenant)
    no_reason = await dash.post(f"{BASE}/{invoice['id']}/refund", {"amount": "10"})
    assert no_reason.status_code == 422
    assert 'data-field="reason"' in no_reason.text
    assert 'value="10"' in no_reason.text
    too_much = await dash.post(f"{BASE}/{invoice['id']}/refund", {"amount": "5,000.01", "reason": "x"})
    assert too_much.status_code == 422
    assert 'data-field="amount">must be at most 500000' in too_much.text
    garbled = await dash.post(f"{BASE}/{invoice['id']}/refund", {"amount": "ten", "reason": "x"})
    assert garbled.status_code == 422
    assert 'data-field="amount"' in garbled.text
    after = await get_invoice(dash.client, tenant, invoice["id"])
    assert (after["amountRefunded"], after["refunds"]) == (0, [])


async def test_refund_of_an_open_invoice_is_refused(tenant: Any, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    sub = await incomplete_subscription(dash.client, tenant)
    form = await dash.get(f"{BASE}/{sub['latestInvoiceId']}/refund")
    assert 'data-testid="nothing-refundable"' in form.text
    refused = await dash.post(f"{BASE}/{sub['latestInvoiceId']}/refund", {"reason": "x"})
    assert refused.status_code == 422
    assert "Only paid invoices can be refunded" in refused.text


async def test_developer_cannot_refund(tenant: Any, dash_as: Any) -> None:
    dev = await dash_as(tenant, "developer")
    invoice = await paid_invoice(dev, tenant)
    detail = (await dev.get(f"{BASE}/{invoice['id']}")).text
    assert f'href="{BASE}/{invoice["id"]}/refund"' not in detail
    assert "Your role cannot issue refunds." in (await dev.get(f"{BASE}/{invoice['id']}/refund")).text
    refused = await dev.post(f"{BASE}/{invoice['id']}/refund", {"amount": "100", "reason": "nope"})
    assert refused.status_code == 403
    no_csrf = await (await dash_as(tenant, "finance")).client.post(
        f"{BASE}/{invoice['id']}/refund", data={"reason": "x"}
    )
    assert no_csrf.status_code == 403
    after = await get_invoice(dev.client, tenant, invoice["id"])
    assert (after["amountRefunded"], after["refunds"]) == (0, [])


# --- modes ---


async def test_live_mode_shows_no_test_invoices(tenant: Any, dash_as: Any) -> None:
    test_dash = await dash_as(tenant, "owner")
    invoice = await paid_invoice(test_dash, tenant)
    live = await dash_as(tenant, "finance", mode="live")
    page = await live.get(BASE)
    assert invoice["id"] not in page.text
    assert "No invoices yet" in page.text
    assert (await live.get(f"{BASE}/{invoice['id']}")).status_code == 404
    assert (await live.post(f"{BASE}/{invoice['id']}/refund", {"reason": "x"})).status_code == 404
    assert (await get_invoice(test_dash.client, tenant, invoice["id"]))["amountRefunded"] == 0
