"""`GET /v1/notifications` and `GET /v1/notifications/{id}` (06 §10) through the ASGI app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from duro.config import Settings
from duro.db.engine import Database
from duro.models.billing import invoices, subscriptions
from duro.notifications.outbox import notify_customer, notify_platform
from tests.conftest import TenantKeys
from tests.http_assertions import err, invalid, not_found, ok, unknown_key
from tests.notifications import support
from tests.notifications.support import context, get

AT = datetime(2025, 2, 10, 9, 30, tzinfo=UTC)
OBJECT_FIELDS = {
    "object",
    "id",
    "channel",
    "templateKey",
    "recipient",
    "subject",
    "bodyText",
    "bodyHtml",
    "whatsappTemplate",
    "status",
    "attempts",
    "error",
    "related",
    "createdAt",
    "sentAt",
}


async def seed(db: Database, settings: Settings, tenant: TenantKeys, mode: Any = "test") -> dict[str, Any]:
    """Two customers: a receipt and a renewal reminder for the first (1 and 2 minutes after AT), a muted
    `payment_recovered` for the second (3 minutes)."""
    cus = await support.customer(db, tenant.id, mode)
    cus2 = await support.customer(db, tenant.id, mode, email="bola@example.com")
    plan = await support.plan(db, tenant.id, mode, name="Gold")
    sub = await support.subscription(db, tenant.id, cus, plan, AT - timedelta(days=20), AT + timedelta(days=10), mode)
    inv = await support.invoice(db, tenant.id, cus, sub, mode, period_end=AT + timedelta(days=10))
    inv2 = await support.invoice(db, tenant.id, cus2, None, mode)
    await support.override(db, tenant.id, "payment_recovered", muted=True)
    ids: dict[str, Any] = {"customer": cus, "customer2": cus2, "subscription": sub, "invoice": inv, "invoice2": inv2}
    async with context(db, settings, tenant.id, mode) as ctx:
        row = await get(ctx, invoices, inv)
        (ids["receipt"],) = await notify_customer(
            ctx, "receipt", dedup_key=f"receipt_{inv}", customer_id=cus, at=AT + timedelta(minutes=1), invoice=row
        )
        (ids["reminder"],) = await notify_customer(
            ctx,
            "renewal_reminder",
            dedup_key=f"reminder_{sub}",
            customer_id=cus,
            at=AT + timedelta(minutes=2),
            subscription=await get(ctx, subscriptions, sub),
        )
        row2 = await get(ctx, invoices, inv2)
        (ids["recovered"],) = await notify_customer(
            ctx,
            "payment_recovered",
            dedup_key="recovered_x",
            customer_id=cus2,
            at=AT + timedelta(minutes=3),
            invoice=row2,
        )
    return ids


async def listed(client: Any, tenant: TenantKeys, query: str = "", mode: str = "test") -> list[str]:
    page = ok(await client.get(f"/v1/notifications{query}", headers=tenant.auth(mode)))
    assert page["object"] == "list"
    return [item["id"] for item in page["items"]]


async def test_list_newest_first_and_filters(client: Any, db: Database, settings: Settings, tenant: TenantKeys) -> None:
    ids = await seed(db, settings, tenant)
    # Platform messages are never listed.
    await notify_platform(
        db,
        "member_invite",
        recipient="x@example.com",
        channel="email",
        values={"tenant_name": "Acme Ltd", "invite_link": "https://x"},
        dedup_key="invite",
        tenant_id=tenant.id,
        at=AT + timedelta(minutes=9),
    )
    everything = [ids["recovered"], ids["reminder"], ids["receipt"]]
    assert await listed(client, tenant) == everything
    assert await listed(client, tenant, f"?customerId={ids['customer']}") == [ids["reminder"], ids["receipt"]]
    assert await listed(client, tenant, f"?subscriptionId={ids['subscription']}") == [ids["reminder"], ids["receipt"]]
    assert await listed(client, tenant, f"?invoiceId={ids['invoice']}") == [ids["receipt"]]
    assert await listed(client, tenant, "?templateKey=renewal_reminder") == [ids["reminder"]]
    assert await listed(client, tenant, "?status=suppressed") == [ids["recovered"]]
    assert await listed(client, tenant, "?status=captured&customerId=" + ids["customer"]) == [
        ids["reminder"],
        ids["receipt"],
    ]
    assert await listed(client, tenant, "?status=sent") == []
    page = ok(await client.get("/v1/notifications?limit=2", headers=tenant.auth()))
    assert [i["id"] for i in page["items"]] == everything[:2]
    assert page["hasMore"] is True
    page2 = ok(await client.get(f"/v1/notifications?limit=2&cursor={page['nextCursor']}", headers=tenant.auth()))
    assert [i["id"] for i in page2["items"]] == everything[2:]
    assert page2["hasMore"] is False


async def test_retrieve_object(client: Any, db: Database, settings: Settings, tenant: TenantKeys) -> None:
    ids = await seed(db, settings, tenant)
    body = ok(await client.get(f"/v1/notifications/{ids['receipt']}", headers=tenant.auth()))
    assert set(body) == OBJECT_FIELDS
    assert body["object"] == "notification"
    assert body["id"] == ids["receipt"]
    assert (body["channel"], body["templateKey"], body["recipient"]) == ("email", "receipt", "ada@example.com")
    assert (body["status"], body["attempts"], body["error"], body["sentAt"]) == ("captured", 0, None, None)
    assert body["createdAt"] == "2025-02-10T09:31:00.000Z"
    assert body["subject"] == "Your Acme Ltd receipt for Gold"
    assert "₦5,000.00" in body["bodyText"]
    assert body["bodyHtml"].startswith("<!DOCTYPE html>")
    assert body["whatsappTemplate"] is None
    assert body["related"] == {
        "customerId": ids["customer"],
        "subscriptionId": ids["subscription"],
        "invoiceId": ids["invoice"],
        "scheduleId": None,
    }
    listed_item = ok(await client.get("/v1/notifications?templateKey=receipt", headers=tenant.auth()))["items"][0]
    assert listed_item == body


async def test_validation_and_credentials(client: Any, db: Database, settings: Settings, tenant: TenantKeys) -> None:
    ids = await seed(db, settings, tenant)
    invalid(await client.get("/v1/notifications?status=bogus", headers=tenant.auth()), "status", "")
    invalid(await client.get("/v1/notifications?templateKey=otp", headers=tenant.auth()), "templateKey", "")
    invalid(await client.get("/v1/notifications?limit=0", headers=tenant.auth()), "limit", "")
    err(await client.get("/v1/notifications"), 401, "unauthorized", "missing_credential")
    r = await client.get(f"/v1/notifications/{ids['receipt']}", headers={"Authorization": f"Bearer {unknown_key()}"})
    assert err(r, 401, "unauthorized", r.json()["error"]["reason"])["reason"]
    r = await client.get("/v1/notifications", headers=tenant.auth("test", "publishable"))
    err(r, 403, "forbidden", "publishable_key_not_allowed")
    # Nothing about the messages changed.
    assert ok(await client.get(f"/v1/notifications/{ids['receipt']}", headers=tenant.auth()))["status"] == "captured"


async def test_other_tenant_and_other_mode_are_404(
    client: Any, db: Database, settings: Settings, tenant: TenantKeys, make_tenant: Any
) -> None:
    ids = await seed(db, settings, tenant)
    other = await make_tenant("Other")
    not_found(await client.get(f"/v1/notifications/{ids['receipt']}", headers=other.auth()))
    not_found(await client.get(f"/v1/notifications/{ids['receipt']}", headers=other.auth("live")))
    not_found(await client.get(f"/v1/notifications/{ids['receipt']}", headers=tenant.auth("live")))
    not_found(await client.get("/v1/notifications/ntf_missing", headers=tenant.auth()))
    not_found(await client.get("/v1/notifications/ntf_%00", headers=tenant.auth()))
    assert await listed(client, other) == []
    assert await listed(client, tenant, mode="live") == []
    live = await seed(db, settings, tenant, "live")
    assert await listed(client, tenant, mode="live") == [live["recovered"], live["reminder"], live["receipt"]]
    body = ok(await client.get(f"/v1/notifications/{live['receipt']}", headers=tenant.auth("live")))
    assert body["status"] == "pending"


async def test_openapi_documents_the_routes(client: Any) -> None:
    spec = ok(await client.get("/openapi.json"))
    for path in ("/v1/notifications", "/v1/notifications/{notification_id}"):
        op = spec["paths"][path]["get"]
        assert {"401", "404", "422", "429", "500"} <= set(op["responses"])
        assert op["security"] == [{"bearer": []}]
    params = {p["name"] for p in spec["paths"]["/v1/notifications"]["get"]["parameters"]}
    assert {"customerId", "subscriptionId", "invoiceId", "templateKey", "status", "limit", "cursor"} <= params
