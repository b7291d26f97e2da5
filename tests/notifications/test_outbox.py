"""The outbox API (06 §9, 04 §8): what `notify_customer`, `queue_receipts` and `notify_platform` queue, in the
caller's transaction, on the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from duro.config import Settings
from duro.db.engine import Database
from duro.models.billing import dunning_schedules, invoices, subscriptions
from duro.notifications.outbox import notify_customer, notify_platform, queue_receipts
from tests.conftest import TenantKeys
from tests.notifications import support
from tests.notifications.support import context, get, outbox

AT = datetime(2025, 2, 10, 9, 30, tzinfo=UTC)
START = datetime(2025, 1, 28, 0, 0, tzinfo=UTC)
END = datetime(2025, 2, 28, 0, 0, tzinfo=UTC)


async def world(db: Database, tenant: TenantKeys, mode: str = "test", **customer: Any) -> dict[str, str]:
    cus = await support.customer(db, tenant.id, mode, **customer)
    plan = await support.plan(db, tenant.id, mode, name="Gold")
    sub = await support.subscription(db, tenant.id, cus, plan, START, END, mode)
    inv = await support.invoice(
        db, tenant.id, cus, sub, mode, amount=500000, period_end=END, hosted_payment_url="https://pay.example/i/1"
    )
    return {"customer": cus, "plan": plan, "subscription": sub, "invoice": inv}


async def receipt(
    db: Database, settings: Settings, tenant: TenantKeys, w: dict[str, str], mode: Any = "test"
) -> list[str]:
    async with context(db, settings, tenant.id, mode) as ctx:
        return await notify_customer(
            ctx,
            "receipt",
            dedup_key=f"receipt_{w['invoice']}",
            customer_id=w["customer"],
            at=AT,
            subscription=await get(ctx, subscriptions, w["subscription"]),
            invoice=await get(ctx, invoices, w["invoice"]),
        )


async def test_sandbox_message_is_rendered_and_captured(db: Database, settings: Settings, tenant: TenantKeys) -> None:
    w = await world(db, tenant)
    ids = await receipt(db, settings, tenant, w)
    rows = await outbox(db, tenant.id)
    assert [r["id"] for r in rows] == ids
    assert len(ids) == 1
    assert ids[0].startswith("ntf_")
    row = rows[0]
    assert row["status"] == "captured"
    assert row["sent_at"] is None
    assert row["next_attempt_at"] is None
    assert row["created_at"] == AT
    assert (row["channel"], row["template_key"], row["recipient"]) == ("email", "receipt", "ada@example.com")
    assert row["dedup_key"] == f"receipt_{w['invoice']}"
    assert row["subject"] == "Your Acme Ltd receipt for Gold"
    body = row["body_text"]
    assert body.startswith("Hi Ada Obi,\n\n")
    assert "₦5,000.00 for Gold" in body
    assert f"Invoice: {w['invoice']}" in body
    assert "Paid through: 28 Feb 2025" in body
    # No phone: the portal is unreachable for this customer, so the link is the invoice's payment page.
    assert "Manage your subscription: https://pay.example/i/1" in body
    assert "Acme Ltd</td>" in row["body_html"]
    assert '<a href="https://pay.example/i/1"' in row["body_html"]
    assert row["whatsapp_template"] is None
    related = {
        "customerId": w["customer"],
        "subscriptionId": w["subscription"],
        "invoiceId": w["invoice"],
        "scheduleId": None,
    }
    assert row["related"] == related
    assert (row["customer_id"], row["subscription_id"], row["invoice_id"]) == (
        w["customer"],
        w["subscription"],
        w["invoice"],
    )


async def test_live_message_is_pending_and_due_at_once(db: Database, settings: Settings, tenant: TenantKeys) -> None:
    w = await world(db, tenant, "live", phone="+2348012345678")
    ids = await receipt(db, settings, tenant, w, "live")
    rows = await outbox(db, tenant.id, "live")
    assert [r["id"] for r in rows] == ids
    assert (rows[0]["status"], rows[0]["next_attempt_at"], rows[0]["attempts"]) == ("pending", AT, 0)
    # A phone means the portal (WhatsApp sign-in) of the message's mode.
    assert "Manage your subscription: http://localhost:8000/portal?mode=live" in rows[0]["body_text"]
    assert await outbox(db, tenant.id, "test") == []


async def test_replay_queues_nothing(db: Database, settings: Settings, tenant: TenantKeys) -> None:
    w = await world(db, tenant)
    first = await receipt(db, settings, tenant, w)
    again = await receipt(db, settings, tenant, w)
    assert len(first) == 1
    assert again == []
    assert [r["id"] for r in await outbox(db, tenant.id)] == first


async def test_no_address_no_row_and_name_fallback(db: Database, settings: Settings, tenant: TenantKeys) -> None:
    w = await world(db, tenant, email=None, phone="+2348012345678")
    # Default channel email, customer with a phone only: no row.
    assert await receipt(db, settings, tenant, w) == []
    nobody = await world(db, tenant, email=None, phone=None)
    assert await receipt(db, settings, tenant, nobody) == []
    assert await outbox(db, tenant.id) == []
    nameless = await world(db, tenant, name=None)
    await receipt(db, settings, tenant, nameless)
    (row,) = await outbox(db, tenant.id)
    assert row["body_text"].startswith("Hi there,")


async def test_override_enabled_replaces_text(db: Database, settings: Settings, tenant: TenantKeys) -> None:
    await support.override(
        db,
        tenant.id,
        "receipt",
        subject="Thanks, {{ customer_name }}!",
        body="Paid {{amount}} for {{plan_name}}. {{mystery_tag}}",
        enabled=True,
    )
    w = await world(db, tenant, name="{{store_name}} <b>")
    await receipt(db, settings, tenant, w)
    (row,) = await outbox(db, tenant.id)
    assert row["subject"] == "Thanks, {{store_name}} <b>!"  # a value is never expanded again
    assert row["body_text"] == "Paid ₦5,000.00 for Gold. {{mystery_tag}}"
    assert "Paid ₦5,000.00 for Gold. {{mystery_tag}}" in row["body_html"]


async def test_override_not_enabled_keeps_default(db: Database, settings: Settings, tenant: TenantKeys) -> None:
    await support.override(db, tenant.id, "receipt", subject="Custom", body="Custom body", enabled=False)
    w = await world(db, tenant)
    await receipt(db, settings, tenant, w)
    (row,) = await outbox(db, tenant.id)
    assert row["subject"] == "Your Acme Ltd receipt for Gold"


async def test_muted_template_is_stored_suppressed(db: Database, settings: Settings, tenant: TenantKeys) -> None:
    await support.override(db, tenant.id, "receipt", muted=True, channel="both")
    w = await world(db, tenant, "live", phone="+2348012345678")
    ids = await receipt(db, settings, tenant, w, "live")
    rows = await outbox(db, tenant.id, "live")
    assert len(ids) == 1
    assert [(r["status"], r["channel"], r["next_attempt_at"]) for r in rows] == [("suppressed", "email", None)]


async def test_override_channel_both_queues_email_and_whatsapp(
    db: Database, settings: Settings, tenant: TenantKeys
) -> None:
    await support.override(db, tenant.id, "receipt", channel="both", enabled=True)
    w = await world(db, tenant, phone="+2348012345678")
    ids = await receipt(db, settings, tenant, w)
    rows = await outbox(db, tenant.id)
    assert len(ids) == 2
    by_channel = {r["channel"]: r for r in rows}
    assert set(by_channel) == {"email", "whatsapp"}
    assert {r["dedup_key"] for r in rows} == {f"receipt_{w['invoice']}"}
    wa = by_channel["whatsapp"]
    assert wa["recipient"] == "+2348012345678"
    assert wa["subject"] is None
    assert wa["body_html"] is None
    assert wa["whatsapp_template"] == {
        "name": "duro_receipt",
        "language": "en",
        "params": [
            "Acme Ltd",
            "Ada Obi",
            "₦5,000.00",
            "Gold",
            w["invoice"],
            "28 Feb 2025",
            "http://localhost:8000/portal?mode=test",
        ],
    }
    # Customer with an email only: the WhatsApp half has no address, so one row.
    email_only = await world(db, tenant)
    assert len(await receipt(db, settings, tenant, email_only)) == 1
    # Replaying the `both` message queues neither channel again.
    assert await receipt(db, settings, tenant, w) == []


async def test_dunning_values_from_the_schedule(db: Database, settings: Settings, tenant: TenantKeys) -> None:
    w = await world(db, tenant)
    dun = await support.insert(
        db,
        "test",
        "dunning_schedules",
        id="dun_TEST0000000000000000000001",
        tenant_id=tenant.id,
        invoice_id=w["invoice"],
        subscription_id=w["subscription"],
        customer_id=w["customer"],
        state="scheduled",
        amount=750000,
        currency="NGN",
        attempts_made=1,
        next_attempt_at=datetime(2025, 3, 5, 9, 0, tzinfo=UTC),
        last_failure_code="51",
        last_failure_category="insufficient_funds",
        started_at=AT,
        escalation_at=AT + timedelta(days=14),
        created_at=AT,
        updated_at=AT,
    )
    async with context(db, settings, tenant.id) as ctx:
        schedule = await get(ctx, dunning_schedules, dun)
        ids = await notify_customer(
            ctx, "dunning_2", dedup_key=f"dunning_{dun}_2", customer_id=w["customer"], at=AT, schedule=schedule
        )
    (row,) = await outbox(db, tenant.id)
    assert [row["id"]] == ids
    body = row["body_text"]
    assert "payment of ₦7,500.00 for Gold" in body
    assert f"(invoice {w['invoice']})" in body
    assert "your bank reported insufficient funds" in body
    assert "This was attempt 2. We'll try again on 5 Mar 2025, 09:00 UTC." in body
    assert "https://pay.example/i/1" in body  # update link: the invoice's page, found through the schedule
    assert row["related"] == {
        "customerId": w["customer"],
        "subscriptionId": w["subscription"],
        "invoiceId": w["invoice"],
        "scheduleId": dun,
    }
    assert row["schedule_id"] == dun


async def test_unknown_or_platform_template_is_refused(db: Database, settings: Settings, tenant: TenantKeys) -> None:
    w = await world(db, tenant)
    async with context(db, settings, tenant.id) as ctx:
        with pytest.raises(ValueError, match="not a customer template"):
            await notify_customer(ctx, "otp", dedup_key="x", customer_id=w["customer"], at=AT)
        with pytest.raises(KeyError):
            await notify_customer(ctx, "nope", dedup_key="x", customer_id=w["customer"], at=AT)


async def test_queue_receipts_batch_in_four_statements(db: Database, settings: Settings, tenant: TenantKeys) -> None:
    worlds = [await world(db, tenant, "live") for _ in range(5)]
    silent = await world(db, tenant, "live", email=None, phone=None)
    await support.override(db, tenant.id, "receipt", subject="Receipt {{invoice_id}}", enabled=True)
    statements: list[str] = []
    async with context(db, settings, tenant.id, "live") as ctx:
        rows = [await get(ctx, invoices, w["invoice"]) for w in [*worlds, silent]]
        db.statement_hooks.append(statements.append)
        try:
            queued = await queue_receipts(ctx, rows, AT)
        finally:
            db.statement_hooks.remove(statements.append)
    assert queued == 5
    assert len(statements) == 4
    assert sum(s.lstrip().upper().startswith("INSERT") for s in statements) == 1
    found = await outbox(db, tenant.id, "live")
    assert {r["dedup_key"] for r in found} == {f"receipt_{w['invoice']}" for w in worlds}
    assert {r["subject"] for r in found} == {f"Receipt {w['invoice']}" for w in worlds}
    assert all(r["status"] == "pending" and "Paid through: 28 Feb 2025" in r["body_text"] for r in found)
    assert all("₦5,000.00 for Gold" in r["body_text"] for r in found)
    async with context(db, settings, tenant.id, "live") as ctx:
        rows = [await get(ctx, invoices, w["invoice"]) for w in worlds]
        assert await queue_receipts(ctx, rows, AT) == 0
        assert await queue_receipts(ctx, [], AT) == 0


async def test_notify_platform(db: Database, tenant: TenantKeys) -> None:
    values = {"tenant_name": "Acme Ltd", "invite_link": "https://duro.example/invite/abc"}
    first = await notify_platform(
        db,
        "member_invite",
        recipient="bola@example.com",
        channel="email",
        values=values,
        dedup_key="invite_1",
        tenant_id=tenant.id,
        at=AT,
    )
    again = await notify_platform(
        db,
        "member_invite",
        recipient="bola@example.com",
        channel="email",
        values=values,
        dedup_key="invite_1",
        tenant_id=tenant.id,
        at=AT,
    )
    assert first is not None
    assert again is None
    (row,) = await outbox(db, tenant.id, None)
    assert row["id"] == first
    assert (row["status"], row["next_attempt_at"], row["template_key"]) == ("pending", AT, "member_invite")
    assert row["subject"] == "You've been invited to Acme Ltd on Duro"
    assert "https://duro.example/invite/abc" in row["body_text"]
    # OTP over WhatsApp, on the caller's connection, captured, with the configured template name.
    async with db.core_transaction() as conn:
        otp = await notify_platform(
            conn,
            "otp",
            recipient="+2348012345678",
            channel="whatsapp",
            values={"code": "482913"},
            dedup_key="otp_1",
            at=AT,
            whatsapp_name="duro_otp",
            capture=True,
        )
    (otp_row,) = await outbox(db, None, None)
    assert otp_row["id"] == otp
    assert otp_row["status"] == "captured"
    assert otp_row["whatsapp_template"] == {"name": "duro_otp", "language": "en", "params": ["482913"]}
    with pytest.raises(ValueError, match="customer template"):
        await notify_platform(db, "receipt", recipient="x", channel="email", values={}, dedup_key="y", at=AT)


async def test_rollback_drops_the_message(db: Database, settings: Settings, tenant: TenantKeys) -> None:
    w = await world(db, tenant)

    async def queue_then_fail() -> None:
        async with context(db, settings, tenant.id) as ctx:
            await notify_customer(ctx, "receipt", dedup_key="r", customer_id=w["customer"], at=AT)
            raise LookupError("the change failed")

    with pytest.raises(LookupError):
        await queue_then_fail()
    async with db.core_transaction() as conn:
        n = (
            await conn.execute(
                text("SELECT count(*) FROM sandbox.notifications WHERE tenant_id = :t"), {"t": tenant.id}
            )
        ).scalar()
    assert n == 0


async def test_single_receipt_renders_like_the_batch(db: Database, settings: Settings, tenant: TenantKeys) -> None:
    # `{{reason}}` is no tag of `receipt`: it stays verbatim on both paths.
    await support.override(
        db, tenant.id, "receipt", body="{{amount}} {{plan_name}} {{period_end}} {{reason}}", enabled=True
    )
    one, two, three = [await world(db, tenant, "live") for _ in range(3)]
    statements: list[str] = []
    async with context(db, settings, tenant.id, "live") as ctx:
        db.statement_hooks.append(statements.append)
        try:
            assert await queue_receipts(ctx, [await get(ctx, invoices, one["invoice"])], AT) == 1
        finally:
            db.statement_hooks.remove(statements.append)
        batch = [await get(ctx, invoices, w["invoice"]) for w in (two, three)]
        assert await queue_receipts(ctx, batch, AT) == 2
    assert len([s for s in statements if "notifications" in s or "customers" in s]) == 2
    rows = await outbox(db, tenant.id, "live")
    assert {r["body_text"] for r in rows} == {"₦5,000.00 Gold 28 Feb 2025 {{reason}}"}
    assert len({r["subject"] for r in rows}) == 1
