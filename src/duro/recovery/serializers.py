"""The /v1 JSON of a dunning schedule (04 §4)."""

from __future__ import annotations

from typing import Any

from duro.db.repository import DbRow
from duro.kit.jsonenc import format_ts


def schedule_json(row: DbRow) -> dict[str, Any]:
    """`decisions` is returned as stored: its entries are written in their API shape when each decision is made."""
    return {
        "object": "dunning_schedule",
        "id": row["id"],
        "invoiceId": row["invoice_id"],
        "subscriptionId": row["subscription_id"],
        "customerId": row["customer_id"],
        "state": row["state"],
        "amount": row["amount"],
        "currency": row["currency"],
        "attemptsMade": row["attempts_made"],
        "maxAttempts": row["max_attempts"],
        "nextAttemptAt": format_ts(row["next_attempt_at"]),
        "paymentMethodId": row["payment_method_id"],
        "rail": row["rail"],
        "lastFailureCode": row["last_failure_code"],
        "lastFailureCategory": row["last_failure_category"],
        "lastAction": row["last_action"],
        "lastReason": row["last_reason"],
        "startedAt": format_ts(row["started_at"]),
        "escalationAt": format_ts(row["escalation_at"]),
        "recoveredAt": format_ts(row["recovered_at"]),
        "exhaustedAt": format_ts(row["exhausted_at"]),
        "exhaustReason": row["exhaust_reason"],
        "canceledAt": format_ts(row["canceled_at"]),
        "decisions": row["decisions"],
        "createdAt": format_ts(row["created_at"]),
        "updatedAt": format_ts(row["updated_at"]),
    }
