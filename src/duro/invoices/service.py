"""Reading invoices and transactions."""

from __future__ import annotations

from typing import Any

from duro.context import RepositoryContext
from duro.invoices.repository import InvoiceRepository, RefundRepository, TransactionRepository
from duro.invoices.serializers import invoice_json, transaction_json
from duro.kit.errors import not_found
from duro.kit.pagination import PageRequest


async def get_invoice(ctx: RepositoryContext, invoice_id: str) -> dict[str, Any]:
    row = await ctx.repo(InvoiceRepository).get_row(invoice_id)
    if row is None:
        raise not_found("No such invoice")
    attempts = await ctx.repo(TransactionRepository).for_invoice(invoice_id)
    refund_rows = await ctx.repo(RefundRepository).for_invoice(invoice_id)
    return invoice_json(row, attempts, refund_rows)


async def list_invoices(ctx: RepositoryContext, page: PageRequest, **filters: str | None) -> dict[str, Any]:
    result = await ctx.repo(InvoiceRepository).list_page(page, **filters)
    return result.map(invoice_json).as_json()


async def get_transaction(ctx: RepositoryContext, txn_id: str) -> dict[str, Any]:
    row = await ctx.repo(TransactionRepository).get_row(txn_id)
    if row is None:
        raise not_found("No such transaction")
    return transaction_json(row)


async def list_transactions(ctx: RepositoryContext, page: PageRequest, **filters: str | None) -> dict[str, Any]:
    result = await ctx.repo(TransactionRepository).list_page(page, **filters)
    return result.map(transaction_json).as_json()
