"""`incomplete` → `incomplete_expired` after 23 h unpaid (03 §5): void the invoice, give the promo back."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from duro.billing.lifecycle import Event
from duro.context import RepositoryContext
from duro.events.service import emit
from duro.invoices.repository import InvoiceRepository, TransactionRepository
from duro.models.billing import subscriptions
from duro.promo_codes.repository import PromoCodeRepository
from duro.subscriptions.repository import SubscriptionRepository
from duro.subscriptions.serializers import subscription_json


async def expire_incomplete(ctx: RepositoryContext, sub_id: str, now: datetime) -> bool:
    stmt = (
        select(subscriptions)
        .where(subscriptions.c.tenant_id == ctx.tenant_id, subscriptions.c.id == sub_id)
        .with_for_update(skip_locked=True)
    )
    sub = (await ctx.conn.execute(stmt)).first()
    if sub is None or sub["status"] != "incomplete" or sub["incomplete_expires_at"] > now:
        return False
    if await ctx.repo(TransactionRepository).has_pending_for_subscription(sub_id):
        return False  # a payment is between its two steps: let it finish, expire on a later pass if unpaid
    for invoice in await ctx.repo(InvoiceRepository).open_for_subscription(sub_id):
        await ctx.repo(InvoiceRepository).update_row(
            invoice["id"], {"status": "void", "voided_at": now, "updated_at": now}
        )
    if sub["promo_code_id"] is not None:
        await ctx.repo(PromoCodeRepository).release(sub["promo_code_id"], now)
    row = await ctx.repo(SubscriptionRepository).update_row(
        sub_id,
        {"status": "incomplete_expired", "ended_at": now, "ended_reason": "incomplete_expired", "updated_at": now},
    )
    assert row is not None
    await emit(ctx, Event.SUBSCRIPTION_UPDATED, subscription_json(row), previousAttributes={"status": "incomplete"})
    return True
