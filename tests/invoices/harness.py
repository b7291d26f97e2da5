"""Shared set-up of the invoice action tests: HTTP shortcuts, the 402 envelope, and direct reads of rows no
endpoint shows yet (dunning schedules, the gateway ledger, the audit log)."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text

from duro.db.engine import Database
from tests.http_assertions import REQ_ID, ok
from tests.subscriptions.helpers import DECLINE_NSF, customer, plan, subscribe


async def pay(client: Any, tenant: Any, invoice_id: str, body: Any = None, **headers: str) -> httpx.Response:
    url = f"/v1/invoices/{invoice_id}/pay"
    return await client.post(url, json={} if body is None else body, headers={**tenant.auth(), **headers})  # type: ignore[no-any-return]


async def refund(client: Any, tenant: Any, invoice_id: str, body: Any, **headers: str) -> httpx.Response:
    url = f"/v1/invoices/{invoice_id}/refund"
    return await client.post(url, json=body, headers={**tenant.auth(), **headers})  # type: ignore[no-any-return]


async def get_invoice(client: Any, tenant: Any, invoice_id: str, mode: str = "test") -> dict[str, Any]:
    return ok(await client.get(f"/v1/invoices/{invoice_id}", headers=tenant.auth(mode)))  # type: ignore[no-any-return]


def payment_failed(r: httpx.Response, reason: str) -> dict[str, Any]:
    """A 402: the envelope of 01 §5 plus `error.payment`; returns `error`."""
    assert r.status_code == 402, r.text
    assert REQ_ID.match(r.headers["x-request-id"])
    body = r.json()
    assert set(body) == {"error"}
    e: dict[str, Any] = body["error"]
    assert set(e) == {"code", "message", "reason", "details", "payment", "requestId"}
    assert (e["code"], e["reason"], e["details"]) == ("payment_failed", reason, [])
    assert e["requestId"] == r.headers["x-request-id"]
    assert e["message"]
    assert set(e["payment"]) == {"transactionId", "failureCode", "declineCode", "suggestedRails"}
    assert e["payment"]["failureCode"] == reason
    assert e["payment"]["suggestedRails"] == []
    return e


async def make_clock(client: Any, tenant: Any, at: str) -> dict[str, Any]:
    return ok(await client.post("/v1/test-clocks", json={"frozenTime": at}, headers=tenant.auth()), 201)  # type: ignore[no-any-return]


async def advance(client: Any, tenant: Any, clock_id: str, to: str) -> dict[str, Any]:
    r = await client.post(f"/v1/test-clocks/{clock_id}/advance", json={"to": to}, headers=tenant.auth())
    return ok(r)  # type: ignore[no-any-return]


async def incomplete_subscription(client: Any, tenant: Any, card: str | None = DECLINE_NSF) -> dict[str, Any]:
    """A subscription whose first charge was declined (or had no method): `incomplete`, its invoice `open`."""
    p = await plan(client, tenant)
    c = await customer(client, tenant, card=card)
    sub = ok(await subscribe(client, tenant, customerId=c["id"], planId=p["id"]), 201)
    assert sub["status"] == "incomplete"
    return sub  # type: ignore[no-any-return]


async def past_due_subscription(client: Any, tenant: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(subscription, clock): a 3-day trial on a test clock whose first renewal is declined, so the subscription
    is `past_due` with a `scheduled` dunning schedule whose first two retries (+0 h, +24 h) also failed (04 §2)."""
    clock = await make_clock(client, tenant, "2025-03-01T00:00:00Z")
    p = await plan(client, tenant, trialDays=3)
    c = await customer(client, tenant, card=DECLINE_NSF)
    sub = ok(await subscribe(client, tenant, customerId=c["id"], planId=p["id"], testClockId=clock["id"]), 201)
    await advance(client, tenant, clock["id"], "2025-03-05T00:00:00Z")
    after = ok(await client.get(f"/v1/subscriptions/{sub['id']}", headers=tenant.auth()))
    assert after["status"] == "past_due"
    return after, clock


async def schedule_row(db: Database, tenant: Any, schedule_id: str) -> Any:
    async with db.core_transaction() as conn:
        return (
            await conn.execute(
                text("SELECT * FROM sandbox.dunning_schedules WHERE tenant_id = :t AND id = :d"),
                {"t": tenant.id, "d": schedule_id},
            )
        ).one()


async def scalar(db: Database, sql: str, **params: Any) -> Any:
    async with db.core_transaction() as conn:
        return (await conn.execute(text(sql), params)).scalar_one()
