"""What happens to an invoice when a charge for it succeeds, and the payload of payment events (05 §1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from duro.context import RepositoryContext
from duro.db.repository import DbRow
from duro.invoices.repository import InvoiceRepository
from duro.invoices.serializers import invoice_json, transaction_json


async def mark_paid(ctx: RepositoryContext, invoice: DbRow, at: datetime) -> DbRow:
    row = await ctx.repo(InvoiceRepository).update_row(
        invoice["id"], {"status": "paid", "amount_paid": invoice["amount"], "paid_at": at, "updated_at": at}
    )
    assert row is not None  # the caller holds the invoice
    return row


def payment_event(invoice: DbRow, txn: DbRow | None, **extra: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(`data.object`, extra keys) of `subscription_payment_success` / `_failed` / `_recovered`."""
    return invoice_json(invoice), {
        "transaction": transaction_json(txn) if txn is not None else None,
        "subscriptionId": invoice["subscription_id"],
        "invoiceId": invoice["id"],
        "amount": invoice["amount"],
        "currency": invoice["currency"],
        **extra,
    }
