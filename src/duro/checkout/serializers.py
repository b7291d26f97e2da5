"""The `/v1` shape of a checkout session (06 §2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from duro.db.repository import DbRow
from duro.kit.jsonenc import format_ts


def effective_status(row: DbRow, now: datetime) -> str:
    """A pending session past `expiresAt` is expired for every read and pay, before maintenance marks it."""
    status: str = row["status"]
    return "expired" if status == "pending" and row["expires_at"] <= now else status


def checkout_url(public_url: str, token: str) -> str:
    return f"{public_url}/checkout/{token}"


def session_json(row: DbRow, public_url: str, now: datetime) -> dict[str, Any]:
    return {
        "object": "checkout_session",
        "id": row["id"],
        "token": row["token"],
        "url": checkout_url(public_url, row["token"]),
        "status": effective_status(row, now),
        "kind": row["kind"],
        "planId": row["plan_id"],
        "invoiceId": row["invoice_id"],
        "description": row["description"],
        "subtotal": row["subtotal"],
        "discount": row["discount"],
        "amount": row["amount"],
        "currency": row["currency"],
        "customerId": row["customer_id"],
        "customerEmail": row["customer_email"],
        "customerPhone": row["customer_phone"],
        "promoCode": row["promo_code"],
        "paymentLinkId": row["payment_link_id"],
        "successUrl": row["success_url"],
        "cancelUrl": row["cancel_url"],
        "metadata": row["metadata"],
        "subscriptionId": row["subscription_id"],
        "transactionId": row["transaction_id"],
        "lastPaymentError": row["last_payment_error"],
        "expiresAt": format_ts(row["expires_at"]),
        "completedAt": format_ts(row["completed_at"]),
        "createdAt": format_ts(row["created_at"]),
    }
