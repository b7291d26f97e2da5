"""Maintenance of checkout sessions (06 §2, 04 §4): pending sessions past `expiresAt` are marked `expired` (every
read already treats them so), and an expired invoice page whose invoice is still payable — a `keep` dunning
schedule goes on after its first link's 30 days — is replaced by a new one, so the update link keeps working.
Sessions of test-clock invoices expire in clock time and are left to their clock (03 §12)."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from sqlalchemy import select, update

from duro.checkout.sessions import create_invoice_session
from duro.db.engine import Mode
from duro.invoices.repository import InvoiceRepository
from duro.models.checkout import checkout_sessions as cs
from duro.runtime import Runtime
from duro.subscriptions.repository import SubscriptionRepository
from duro.subscriptions.runner import worker_context

REPLACEMENT_LIFETIME: Final = timedelta(days=30)
UNSCOPED: Final = "/* unscoped: checkout expiry */"


async def expire_sessions(runtime: Runtime, mode: Mode) -> int:
    now = runtime.clock.now()
    due = (
        select(cs.c.id)
        .where(cs.c.status == "pending", cs.c.expires_at <= now, cs.c.test_clock_id.is_(None))
        .limit(runtime.settings.worker_batch)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    async with runtime.db.transaction(mode) as conn:
        rows = (
            await conn.execute(
                update(cs)
                .where(cs.c.id.in_(due))
                .values(status="expired", updated_at=now)
                .returning(cs.c.id, cs.c.tenant_id, cs.c.kind, cs.c.invoice_id)
                .prefix_with(UNSCOPED)
            )
        ).all()
    for row in rows:
        if row["kind"] != "invoice" or row["invoice_id"] is None:
            continue
        async with runtime.db.transaction(mode) as conn:
            ctx = worker_context(runtime, conn, row["tenant_id"], mode)
            invoice = await ctx.repo(InvoiceRepository).get_row(row["invoice_id"], for_update=True)
            if invoice is None or invoice["status"] not in ("open", "uncollectible"):
                continue
            sub = None
            if invoice["subscription_id"] is not None:
                sub = await ctx.repo(SubscriptionRepository).get_row(invoice["subscription_id"])
            if sub is None or sub["status"] != "past_due" or sub["test_clock_id"] is not None:
                continue  # an incomplete invoice's page ends with its deadline; nothing else stays payable
            await create_invoice_session(
                ctx, invoice, expires_at=now + REPLACEMENT_LIFETIME, at=now, test_clock_id=None
            )
    return len(rows)
