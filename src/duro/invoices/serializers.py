"""The /v1 JSON of invoices, transactions and refunds."""

from __future__ import annotations

from typing import Any

from duro.db.repository import DbRow
from duro.kit.jsonenc import format_ts


def transaction_json(row: DbRow) -> dict[str, Any]:
    return {
        "object": "transaction",
        "id": row["id"],
        "invoiceId": row["invoice_id"],
        "checkoutSessionId": row["checkout_session_id"],
        "subscriptionId": row["subscription_id"],
        "customerId": row["customer_id"],
        "paymentMethodId": row["payment_method_id"],
        "rail": row["rail"],
        "status": row["status"],
        "amount": row["amount"],
        "currency": row["currency"],
        "source": row["source"],
        "attemptNumber": row["attempt_number"],
        "failureCode": row["failure_code"],
        "failureCategory": row["failure_category"],
        "declineCode": row["decline_code"],
        "failureMessage": row["failure_message"],
        "reference": row["id"],
        "processedAt": format_ts(row["processed_at"]),
        "createdAt": format_ts(row["created_at"]),
    }


def refund_json(row: DbRow) -> dict[str, Any]:
    return {
        "object": "refund",
        "id": row["id"],
        "invoiceId": row["invoice_id"],
        "transactionId": row["transaction_id"],
        "amount": row["amount"],
        "currency": row["currency"],
        "reason": row["reason"],
        "status": row["status"],
        "createdAt": format_ts(row["created_at"]),
    }


def invoice_json(
    row: DbRow, attempts: list[DbRow] | None = None, refund_rows: list[DbRow] | None = None
) -> dict[str, Any]:
    """`attempts` and `refunds` are present only on `GET /v1/invoices/{id}` (03 §1.5)."""
    out: dict[str, Any] = {
        "object": "invoice",
        "id": row["id"],
        "customerId": row["customer_id"],
        "subscriptionId": row["subscription_id"],
        "kind": row["kind"],
        "status": row["status"],
        "currency": row["currency"],
        "subtotal": row["subtotal"],
        "discount": row["discount"],
        "creditApplied": row["credit_applied"],
        "amount": row["amount"],
        "amountPaid": row["amount_paid"],
        "amountRefunded": row["amount_refunded"],
        "lines": row["lines"],
        "periodStart": format_ts(row["period_start"]),
        "periodEnd": format_ts(row["period_end"]),
        "promoCodeId": row["promo_code_id"],
        "dunningScheduleId": row["dunning_schedule_id"],
        "idempotencyKey": row["idempotency_key"],
        "hostedPaymentUrl": row["hosted_payment_url"],
        "paidAt": format_ts(row["paid_at"]),
        "voidedAt": format_ts(row["voided_at"]),
        "uncollectibleAt": format_ts(row["uncollectible_at"]),
        "createdAt": format_ts(row["created_at"]),
        "updatedAt": format_ts(row["updated_at"]),
    }
    if attempts is not None:
        out["attempts"] = [transaction_json(t) for t in attempts]
    if refund_rows is not None:
        out["refunds"] = [refund_json(r) for r in refund_rows]
    return out
