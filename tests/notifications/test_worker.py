"""The notifications loop (06 §9, 01 §12) against a real SMTP server (aiosmtpd) and a local stand-in of the WhatsApp
Cloud API: delivery, capture, retries with back-off, permanent failures, lease reclaim, two workers at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from duro.db.engine import Database
from duro.kit.clock import FrozenClock
from duro.models.billing import invoices
from duro.notifications.outbox import notify_customer, notify_platform, queue_receipts
from duro.runtime import Runtime
from duro.workers.notifications import notifications_tick
from tests.conftest import TenantKeys, make_settings
from tests.notifications import support
from tests.notifications.conftest import PHONE_NUMBER_ID, WHATSAPP_TOKEN, CloudApi, SmtpInbox
from tests.notifications.support import context, get, outbox

NOW = datetime(2025, 2, 10, 9, 30, tzinfo=UTC)
END = datetime(2025, 2, 28, tzinfo=UTC)


def runtime_for(
    db: Database, clock: FrozenClock, smtp: SmtpInbox | None = None, api: CloudApi | None = None
) -> Runtime:
    over: dict[str, Any] = {"email_from": "Duro Billing <billing@duro.test>"}
    if smtp is not None:
        over.update(email_provider="smtp", smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_security="none")
    if api is not None:
        over.update(
            whatsapp_provider="cloud",
            whatsapp_token=WHATSAPP_TOKEN,
            whatsapp_phone_number_id=PHONE_NUMBER_ID,
            whatsapp_api_base_url=api.base_url,
        )
    return Runtime(make_settings(**over), db, clock)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
async def live_world(db: Database, tenant: TenantKeys) -> dict[str, str]:
    async with db.core_transaction() as conn:
        await conn.execute(
            text("UPDATE core.tenants SET support_email = 'help@acme.test' WHERE id = :t"), {"t": tenant.id}
        )
    cus = await support.customer(db, tenant.id, "live", phone="+2348012345678")
    plan = await support.plan(db, tenant.id, "live", name="Gold")
    sub = await support.subscription(db, tenant.id, cus, plan, NOW - timedelta(days=10), END, "live")
    inv = await support.invoice(db, tenant.id, cus, sub, "live", period_end=END)
    return {"customer": cus, "subscription": sub, "invoice": inv}


async def queue(db: Database, tenant: TenantKeys, w: dict[str, str], mode: Any = "live", key: str = "receipt") -> None:
    settings = make_settings()
    async with context(db, settings, tenant.id, mode) as ctx:
        inv = await get(ctx, invoices, w["invoice"])
        await notify_customer(
            ctx, key, dedup_key=f"{key}_{w['invoice']}", customer_id=w["customer"], at=NOW, invoice=inv
        )


async def test_live_email_delivered_once_with_text_and_html(
    db: Database, tenant: TenantKeys, live_world: dict[str, str], smtp: SmtpInbox, clock: FrozenClock
) -> None:
    await queue(db, tenant, live_world)
    rt = runtime_for(db, clock, smtp)
    assert await notifications_tick(rt) == 1
    assert await notifications_tick(rt) == 0
    assert len(smtp.messages) == 1
    mail_from, rcpts, msg = smtp.messages[0]
    assert (mail_from, rcpts) == ("billing@duro.test", ["ada@example.com"])
    (sender,) = msg["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Acme Ltd", "billing@duro.test")
    assert msg["Reply-To"] == "help@acme.test"
    assert msg["To"] == "ada@example.com"
    assert msg["Subject"] == "Your Acme Ltd receipt for Gold"
    assert msg.get_content_type() == "multipart/alternative"
    plain = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert plain is not None
    assert html is not None
    (row,) = await outbox(db, tenant.id, "live")
    assert plain.get_content().replace("\r\n", "\n").rstrip("\n") == row["body_text"]
    assert html.get_content().replace("\r\n", "\n").rstrip("\n") == row["body_html"].rstrip("\n")
    assert (row["status"], row["attempts"], row["provider"], row["sent_at"]) == ("sent", 1, "smtp", NOW)
    assert row["provider_message_id"] == msg["Message-ID"]
    assert row["lease_until"] is None
    assert row["error"] is None


async def test_sandbox_messages_are_never_sent(
    db: Database, tenant: TenantKeys, smtp: SmtpInbox, clock: FrozenClock
) -> None:
    cus = await support.customer(db, tenant.id, "test")
    inv = await support.invoice(db, tenant.id, cus, None, "test")
    await queue(db, tenant, {"customer": cus, "invoice": inv}, "test")
    rt = runtime_for(db, clock, smtp)
    assert await notifications_tick(rt) == 0
    assert smtp.messages == []
    (row,) = await outbox(db, tenant.id, "test")
    assert (row["status"], row["sent_at"], row["attempts"]) == ("captured", None, 0)


async def test_console_provider_captures_live_messages(
    db: Database, tenant: TenantKeys, live_world: dict[str, str], clock: FrozenClock, caplog: Any
) -> None:
    await queue(db, tenant, live_world)
    rt = runtime_for(db, clock)  # console for both channels
    caplog.set_level("INFO", logger="duro.notifications.providers")
    assert await notifications_tick(rt) == 1
    (row,) = await outbox(db, tenant.id, "live")
    assert (row["status"], row["provider"], row["sent_at"]) == ("captured", "console", None)
    lines = [r.getMessage() for r in caplog.records if r.name == "duro.notifications.providers"]
    assert len(lines) == 1
    assert row["id"] in lines[0]
    assert "Thank you for your payment" not in lines[0]  # message text only in development
    assert "ada@example.com" not in lines[0]


async def test_whatsapp_request_exactly_as_the_cloud_api_expects(
    db: Database,
    tenant: TenantKeys,
    live_world: dict[str, str],
    smtp: SmtpInbox,
    cloud_api: CloudApi,
    clock: FrozenClock,
) -> None:
    await support.override(db, tenant.id, "receipt", channel="both", enabled=True)
    await queue(db, tenant, live_world)
    rt = runtime_for(db, clock, smtp, cloud_api)
    assert await notifications_tick(rt) == 2
    assert len(smtp.messages) == 1
    (req,) = cloud_api.requests
    assert req["path"] == f"/v21.0/{PHONE_NUMBER_ID}/messages"
    assert req["authorization"] == f"Bearer {WHATSAPP_TOKEN}"
    assert req["content_type"].startswith("application/json")
    params = [
        "Acme Ltd",
        "Ada Obi",
        "₦5,000.00",
        "Gold",
        live_world["invoice"],
        "28 Feb 2025",
        "http://localhost:8000/portal?mode=live",
    ]
    assert req["json"] == {
        "messaging_product": "whatsapp",
        "to": "2348012345678",
        "type": "template",
        "template": {
            "name": "duro_receipt",
            "language": {"code": "en"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": p} for p in params]}],
        },
    }
    rows = {r["channel"]: r for r in await outbox(db, tenant.id, "live")}
    assert (rows["whatsapp"]["status"], rows["whatsapp"]["provider"]) == ("sent", "cloud")
    assert rows["whatsapp"]["provider_message_id"] == "wamid.TEST1"
    assert rows["email"]["status"] == "sent"


async def test_platform_otp_sent_with_copy_code_button(db: Database, cloud_api: CloudApi, clock: FrozenClock) -> None:
    await notify_platform(
        db,
        "otp",
        recipient="+2348098765432",
        channel="whatsapp",
        values={"code": "482913"},
        dedup_key="otp_abc",
        at=NOW,
        whatsapp_name="duro_otp",
    )
    assert await notifications_tick(runtime_for(db, clock, api=cloud_api)) == 1
    (req,) = cloud_api.requests
    assert req["json"]["to"] == "2348098765432"
    assert req["json"]["template"] == {
        "name": "duro_otp",
        "language": {"code": "en"},
        "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "482913"}]},
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "482913"}]},
        ],
    }
    (row,) = await outbox(db, None, None)
    assert (row["status"], row["provider_message_id"]) == ("sent", "wamid.TEST1")


async def test_transient_failure_retried_with_backoff_then_failed(
    db: Database, tenant: TenantKeys, live_world: dict[str, str], smtp: SmtpInbox, clock: FrozenClock
) -> None:
    await queue(db, tenant, live_world)
    smtp.data_reply = "451 4.3.0 Try again later"
    rt = runtime_for(db, clock, smtp)
    for attempt, delay in ((1, 1), (2, 5), (3, 30)):
        assert await notifications_tick(rt) == 1
        (row,) = await outbox(db, tenant.id, "live")
        assert (row["status"], row["attempts"]) == ("pending", attempt)
        assert row["next_attempt_at"] == clock.now() + timedelta(minutes=delay)
        assert "451" in row["error"]
        assert await notifications_tick(rt) == 0  # not due yet
        clock.advance(timedelta(minutes=delay))
    assert await notifications_tick(rt) == 1
    (row,) = await outbox(db, tenant.id, "live")
    assert (row["status"], row["attempts"], row["next_attempt_at"], row["sent_at"]) == ("failed", 4, None, None)
    assert "451" in row["error"]
    clock.advance(timedelta(hours=2))
    assert await notifications_tick(rt) == 0
    assert smtp.messages == []


async def test_transient_failure_then_success(
    db: Database, tenant: TenantKeys, live_world: dict[str, str], smtp: SmtpInbox, clock: FrozenClock
) -> None:
    await queue(db, tenant, live_world)
    smtp.data_reply = "421 4.7.0 Busy"
    rt = runtime_for(db, clock, smtp)
    assert await notifications_tick(rt) == 1
    smtp.data_reply = None
    clock.advance(timedelta(minutes=1))
    assert await notifications_tick(rt) == 1
    (row,) = await outbox(db, tenant.id, "live")
    assert (row["status"], row["attempts"], row["error"]) == ("sent", 2, None)
    assert len(smtp.messages) == 1


async def test_permanent_smtp_failure_fails_at_once(
    db: Database, tenant: TenantKeys, live_world: dict[str, str], smtp: SmtpInbox, clock: FrozenClock
) -> None:
    await queue(db, tenant, live_world)
    smtp.rcpt_reply = "550 5.1.1 No such user"
    assert await notifications_tick(runtime_for(db, clock, smtp)) == 1
    (row,) = await outbox(db, tenant.id, "live")
    assert (row["status"], row["attempts"], row["next_attempt_at"]) == ("failed", 1, None)
    assert "550" in row["error"]


@pytest.mark.parametrize(("status", "outcome"), [(400, "failed"), (429, "pending"), (503, "pending")])
async def test_whatsapp_errors_classified(
    db: Database,
    tenant: TenantKeys,
    live_world: dict[str, str],
    cloud_api: CloudApi,
    clock: FrozenClock,
    status: int,
    outcome: str,
) -> None:
    await support.override(db, tenant.id, "receipt", channel="whatsapp", enabled=True)
    await queue(db, tenant, live_world)
    cloud_api.status = status
    cloud_api.body = {"error": {"message": "Template name does not exist", "code": 132001}}
    assert await notifications_tick(runtime_for(db, clock, api=cloud_api)) == 1
    (row,) = await outbox(db, tenant.id, "live")
    assert (row["channel"], row["status"], row["attempts"]) == ("whatsapp", outcome, 1)
    assert row["error"] == f"WhatsApp API {status}: Template name does not exist"


async def test_unreachable_smtp_is_transient(
    db: Database, tenant: TenantKeys, live_world: dict[str, str], clock: FrozenClock
) -> None:
    from tests.notifications.conftest import free_port

    await queue(db, tenant, live_world)
    closed = SmtpInbox(port=free_port())  # nothing listens there
    assert await notifications_tick(runtime_for(db, clock, closed)) == 1
    (row,) = await outbox(db, tenant.id, "live")
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["next_attempt_at"] == NOW + timedelta(minutes=1)


async def test_expired_lease_is_reclaimed(
    db: Database, tenant: TenantKeys, live_world: dict[str, str], smtp: SmtpInbox, clock: FrozenClock
) -> None:
    await queue(db, tenant, live_world)
    # A worker claimed it and died before recording anything.
    async with db.core_transaction() as conn:
        await conn.execute(
            text(
                "UPDATE live.notifications SET status = 'sending', attempts = 1, lease_until = :until "
                "WHERE tenant_id = :t"
            ),
            {"t": tenant.id, "until": NOW + timedelta(seconds=30)},
        )
    rt = runtime_for(db, clock, smtp)
    assert await notifications_tick(rt) == 0  # lease still held
    clock.advance(timedelta(seconds=30))
    assert await notifications_tick(rt) == 1
    (row,) = await outbox(db, tenant.id, "live")
    assert (row["status"], row["attempts"]) == ("sent", 2)
    assert len(smtp.messages) == 1


async def test_two_workers_send_each_message_once(
    db: Database, tenant: TenantKeys, smtp: SmtpInbox, clock: FrozenClock
) -> None:
    settings = make_settings()
    ids = []
    for n in range(40):
        cus = await support.customer(db, tenant.id, "live", email=f"c{n}@example.com")
        ids.append(await support.invoice(db, tenant.id, cus, None, "live"))
    async with context(db, settings, tenant.id, "live") as ctx:
        rows = [await get(ctx, invoices, i) for i in ids]
        assert await queue_receipts(ctx, rows, NOW) == 40
    a = runtime_for(db, clock, smtp)
    b = runtime_for(db, clock, smtp)
    counts = await asyncio.gather(notifications_tick(a), notifications_tick(b), notifications_tick(a))
    assert sum(counts) == 40
    assert sorted(r[1][0] for r in smtp.messages) == sorted(f"c{n}@example.com" for n in range(40))
    found = await outbox(db, tenant.id, "live")
    assert {(r["status"], r["attempts"]) for r in found} == {("sent", 1)}
