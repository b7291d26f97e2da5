"""SQL for invoices, transactions and refunds."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, select

from duro.db.repository import DbRow, TenantRepository
from duro.kit.pagination import Page, PageRequest
from duro.models.billing import invoices, refunds, transactions


def _eq(filters: list[ColumnElement[bool]], column: Any, value: Any) -> None:
    if value is not None:
        filters.append(column == value)


class InvoiceRepository(TenantRepository):
    table = invoices

    async def list_page(
        self,
        page: PageRequest,
        *,
        status: str | None = None,
        kind: str | None = None,
        subscription_id: str | None = None,
        customer_id: str | None = None,
    ) -> Page[DbRow]:
        filters: list[ColumnElement[bool]] = []
        _eq(filters, invoices.c.status, status)
        _eq(filters, invoices.c.kind, kind)
        _eq(filters, invoices.c.subscription_id, subscription_id)
        _eq(filters, invoices.c.customer_id, customer_id)
        return await self.page(page, filters)

    async def open_for_subscription(self, subscription_id: str) -> list[DbRow]:
        stmt = (
            select(invoices)
            .where(self.scoped(invoices.c.subscription_id == subscription_id, invoices.c.status == "open"))
            .order_by(invoices.c.id)
            .with_for_update()
        )
        return list((await self.conn.execute(stmt)).all())


class TransactionRepository(TenantRepository):
    table = transactions

    async def list_page(
        self,
        page: PageRequest,
        *,
        status: str | None = None,
        invoice_id: str | None = None,
        subscription_id: str | None = None,
        customer_id: str | None = None,
    ) -> Page[DbRow]:
        filters: list[ColumnElement[bool]] = []
        _eq(filters, transactions.c.status, status)
        _eq(filters, transactions.c.invoice_id, invoice_id)
        _eq(filters, transactions.c.subscription_id, subscription_id)
        _eq(filters, transactions.c.customer_id, customer_id)
        return await self.page(page, filters)

    async def for_invoice(self, invoice_id: str) -> list[DbRow]:
        stmt = (
            select(transactions)
            .where(self.scoped(transactions.c.invoice_id == invoice_id))
            .order_by(transactions.c.created_at, transactions.c.id)
        )
        return list((await self.conn.execute(stmt)).all())

    async def has_pending_for_subscription(self, subscription_id: str) -> bool:
        stmt = (
            select(transactions.c.id)
            .where(self.scoped(transactions.c.subscription_id == subscription_id, transactions.c.status == "pending"))
            .limit(1)
        )
        return (await self.conn.execute(stmt)).first() is not None

    async def next_attempt_number(self, invoice_id: str) -> int:
        stmt = (
            select(func.count()).select_from(transactions).where(self.scoped(transactions.c.invoice_id == invoice_id))
        )
        return int((await self.conn.execute(stmt)).scalar_one()) + 1


class RefundRepository(TenantRepository):
    table = refunds

    async def for_invoice(self, invoice_id: str) -> list[DbRow]:
        """The invoice's finished refunds, oldest first. A `pending` refund is a reservation still at the gateway
        (`invoices.refunds`), not yet a refund the API shows (03 §1.7: `succeeded` | `failed`)."""
        stmt = (
            select(refunds)
            .where(self.scoped(refunds.c.invoice_id == invoice_id, refunds.c.status != "pending"))
            .order_by(refunds.c.created_at, refunds.c.id)
        )
        return list((await self.conn.execute(stmt)).all())

    async def pending_total(self, invoice_id: str) -> int:
        """The amount reserved by the invoice's refunds still at the gateway."""
        stmt = (
            select(func.coalesce(func.sum(refunds.c.amount), 0))
            .select_from(refunds)
            .where(self.scoped(refunds.c.invoice_id == invoice_id, refunds.c.status == "pending"))
        )
        return int((await self.conn.execute(stmt)).scalar_one())
