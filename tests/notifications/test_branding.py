"""Customer emails branded with the tenant's PUBLISHED `email` appearance (07 §4, 06 §8-9): the HTML part of the
captured/sent message (header text, footer text, brand colour, logo), never the draft; the SMTP From display name
(`senderName`) and Reply-To (`replyTo`); one statement for the senders of a whole batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from duro.appearance import service
from duro.config import Settings
from duro.db.engine import Database
from duro.kit.clock import FrozenClock, SystemClock
from duro.models.billing import invoices
from duro.notifications.outbox import notify_customer, notify_platform, notify_test, queue_receipts
from duro.notifications.rendering import email_layout
from duro.workers.notifications import notifications_tick
from tests.conftest import TenantKeys
from tests.notifications import support
from tests.notifications.conftest import SmtpInbox
from tests.notifications.support import context, get, outbox
from tests.notifications.test_worker import runtime_for
from tests.web.harness import ACTOR

NOW = datetime(2025, 2, 10, 9, 30, tzinfo=UTC)
END = datetime(2025, 2, 28, tzinfo=UTC)
LOGO_NAME = "b" * 64 + ".png"

PUBLISHED = {
    "senderName": "Acme Billing Team",
    "replyTo": "billing-help@acme.example.com",
    "headerText": "Thanks for being with Acme.",
    "footerText": "Acme Ltd, 1 Marina, Lagos",
    "brandColor": "#AA3300",
}
DRAFT = {
    "senderName": "DRAFT sender",
    "replyTo": "draft@acme.example.com",
    "headerText": "DRAFT header",
    "footerText": "DRAFT footer",
    "brandColor": "#00FF00",
}


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


async def brand(
    db: Database, tenant_id: str, *, published: dict[str, Any], draft: dict[str, Any] | None = None
) -> None:
    """Publish `published` as the email surface (and a logo), then leave `draft` unpublished."""
    async with db.core_transaction() as conn:
        logo = f"/assets/logos/{tenant_id}/{LOGO_NAME}"
        await service.set_draft(conn, tenant_id, "general", {"logo": logo}, clock=SystemClock())
        await service.set_draft(conn, tenant_id, "email", published, clock=SystemClock())
        await service.publish(conn, tenant_id, actor=ACTOR, clock=SystemClock())
        if draft is not None:
            await service.set_draft(conn, tenant_id, "email", draft, clock=SystemClock())


async def world(db: Database, tenant_id: str, mode: str) -> dict[str, str]:
    cus = await support.customer(db, tenant_id, mode)
    plan = await support.plan(db, tenant_id, mode, name="Gold")
    sub = await support.subscription(db, tenant_id, cus, plan, NOW - timedelta(days=10), END, mode)
    inv = await support.invoice(db, tenant_id, cus, sub, mode, period_end=END)
    return {"customer": cus, "invoice": inv}


async def receipt(db: Database, settings: Settings, tenant_id: str, w: dict[str, str], mode: Any) -> None:
    async with context(db, settings, tenant_id, mode, NOW) as ctx:
        inv = await get(ctx, invoices, w["invoice"])
        await notify_customer(
            ctx, "receipt", dedup_key=f"receipt_{w['invoice']}", customer_id=w["customer"], at=NOW, invoice=inv
        )


def assert_published_look(html: str, settings: Settings, tenant_id: str) -> None:
    for expected in (
        "Acme Billing Team",
        "Thanks for being with Acme.",
        "Acme Ltd, 1 Marina, Lagos",
        "background:#AA3300",
        f'<img src="{settings.public_url}/assets/logos/{tenant_id}/{LOGO_NAME}"',
    ):
        assert expected in html, expected
    for draft in ("DRAFT", "#00FF00"):
        assert draft not in html, draft


async def test_captured_email_uses_the_published_surface_not_the_draft(
    db: Database, settings: Settings, tenant: TenantKeys
) -> None:
    await brand(db, tenant.id, published=PUBLISHED, draft=DRAFT)
    w = await world(db, tenant.id, "test")
    await receipt(db, settings, tenant.id, w, "test")
    (row,) = await outbox(db, tenant.id, "test")
    assert row["status"] == "captured"
    assert_published_look(row["body_html"], settings, tenant.id)
    assert "Thanks for being with Acme." not in row["body_text"]  # the text part is the template's own
    # The dashboard preview and the real message come from the one layout function.
    async with db.core_transaction() as conn:
        published = (await service.get_config(conn, tenant.id))["published"]
    assert row["body_html"] == email_layout(published, "Acme Ltd", row["body_text"], public_url=settings.public_url)


async def test_batch_receipts_and_send_test_are_branded_too(
    db: Database, settings: Settings, tenant: TenantKeys
) -> None:
    await brand(db, tenant.id, published=PUBLISHED, draft=DRAFT)
    first = await world(db, tenant.id, "test")
    second = await world(db, tenant.id, "test")
    async with context(db, settings, tenant.id, "test", NOW) as ctx:
        paid = [await get(ctx, invoices, first["invoice"]), await get(ctx, invoices, second["invoice"])]
        assert await queue_receipts(ctx, paid, NOW) == 2
        await notify_test(
            ctx, "receipt", email="me@acme.test", values={"store_name": "Acme Ltd"}, dedup_key="t1", at=NOW
        )
    rows = await outbox(db, tenant.id, "test")
    assert len(rows) == 3
    for row in rows:
        assert_published_look(row["body_html"], settings, tenant.id)


async def test_show_logo_off_and_defaults(db: Database, settings: Settings, make_tenant: Any) -> None:
    hidden = await make_tenant("Hidden Logo Ltd")
    await brand(db, hidden.id, published={**PUBLISHED, "showLogo": False})
    w = await world(db, hidden.id, "test")
    await receipt(db, settings, hidden.id, w, "test")
    (row,) = await outbox(db, hidden.id, "test")
    assert "<img" not in row["body_html"]
    assert "Acme Ltd, 1 Marina, Lagos" in row["body_html"]
    plain = await make_tenant("Plain Shop")  # nothing published: the defaults
    w = await world(db, plain.id, "test")
    await receipt(db, settings, plain.id, w, "test")
    (row,) = await outbox(db, plain.id, "test")
    html = row["body_html"]
    assert "Plain Shop" in html
    assert "background:#0F766E" in html  # general's default brand colour cascades into email
    assert "You are receiving this email because you have a subscription with Plain Shop." in html
    assert "<img" not in html


async def test_smtp_from_display_name_and_reply_to_from_the_published_surface(
    db: Database, settings: Settings, tenant: TenantKeys, make_tenant: Any, smtp: SmtpInbox, clock: FrozenClock
) -> None:
    await brand(db, tenant.id, published=PUBLISHED, draft=DRAFT)
    plain = await make_tenant("Plain Shop")
    async with db.core_transaction() as conn:
        await conn.execute(
            text("UPDATE core.tenants SET support_email = 'help@plain.test' WHERE id = :t"), {"t": plain.id}
        )
    for t in (tenant.id, plain.id):
        await receipt(db, settings, t, await world(db, t, "live"), "live")
    rt = runtime_for(db, clock, smtp)
    statements: list[str] = []
    db.statement_hooks.append(statements.append)
    try:
        assert await notifications_tick(rt) == 2
    finally:
        db.statement_hooks.remove(statements.append)
    # The senders of the whole batch, both tenants, in one statement.
    assert len([s for s in statements if "store_configs" in s]) == 1
    by_sender = {}
    for _, _, msg in smtp.messages:
        (sender,) = msg["From"].addresses
        by_sender[sender.display_name] = msg
    assert set(by_sender) == {"Acme Billing Team", "Plain Shop"}
    branded = by_sender["Acme Billing Team"]
    assert branded["From"].addresses[0].addr_spec == "billing@duro.test"
    assert branded["Reply-To"] == "billing-help@acme.example.com"
    html = branded.get_body(("html",))
    assert html is not None
    assert_published_look(html.get_content(), settings, tenant.id)
    # Without senderName/replyTo: the tenant's name and its support email.
    assert by_sender["Plain Shop"]["Reply-To"] == "help@plain.test"


async def test_platform_mail_about_a_tenant_is_not_merchant_branded(
    db: Database, tenant: TenantKeys, smtp: SmtpInbox, clock: FrozenClock
) -> None:
    await brand(db, tenant.id, published=PUBLISHED)
    await notify_platform(
        db,
        "kyc_approved",
        recipient="owner@acme.test",
        channel="email",
        values={"tenant_name": "Acme Ltd", "note": "Welcome."},
        dedup_key="kyc-1",
        tenant_id=tenant.id,
        at=NOW,
    )
    assert await notifications_tick(runtime_for(db, clock, smtp)) == 1
    (_, _, msg) = smtp.messages[0]
    assert msg["From"].addresses[0].display_name == "Acme Ltd"
    assert msg["Reply-To"] != "billing-help@acme.example.com"
    assert "Thanks for being with Acme." not in msg.get_body(("html",)).get_content()
