"""The /v1 JSON of a notification (06 §10)."""

from __future__ import annotations

from typing import Any

from duro.db.repository import DbRow
from duro.kit.jsonenc import format_ts


def notification_json(row: DbRow) -> dict[str, Any]:
    related = row["related"] or {}
    return {
        "object": "notification",
        "id": row["id"],
        "channel": row["channel"],
        "templateKey": row["template_key"],
        "recipient": row["recipient"],
        "subject": row["subject"],
        "bodyText": row["body_text"],
        "bodyHtml": row["body_html"],
        "whatsappTemplate": row["whatsapp_template"],
        "status": row["status"],
        "attempts": row["attempts"],
        "error": row["error"],
        "related": {
            "customerId": related.get("customerId"),
            "subscriptionId": related.get("subscriptionId"),
            "invoiceId": related.get("invoiceId"),
            "scheduleId": related.get("scheduleId"),
        },
        "createdAt": format_ts(row["created_at"]),
        "sentAt": format_ts(row["sent_at"]),
    }
