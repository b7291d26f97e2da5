"""The /v1 JSON of a subscription (03 §1.4)."""

from __future__ import annotations

from typing import Any

from duro.db.repository import DbRow
from duro.kit.jsonenc import format_ts


def subscription_json(row: DbRow) -> dict[str, Any]:
    return {
        "object": "subscription",
        "id": row["id"],
        "customerId": row["customer_id"],
        "planId": row["plan_id"],
        "status": row["status"],
        "currentPeriodStart": format_ts(row["current_period_start"]),
        "currentPeriodEnd": format_ts(row["current_period_end"]),
        "billingAnchor": format_ts(row["billing_anchor"]),
        "trialStart": format_ts(row["trial_start"]),
        "trialEnd": format_ts(row["trial_end"]),
        "cyclesCompleted": row["cycles_completed"],
        "cancelAtPeriodEnd": row["cancel_at_period_end"],
        "cancelRequestedBy": row["cancel_requested_by"],
        "canceledAt": format_ts(row["canceled_at"]),
        "endedAt": format_ts(row["ended_at"]),
        "endedReason": row["ended_reason"],
        "activatedAt": format_ts(row["activated_at"]),
        "pausedAt": format_ts(row["paused_at"]),
        "scheduledPlanId": row["scheduled_plan_id"],
        "balance": row["balance"],
        "pendingCharge": row["pending_charge"],
        "paymentMethodId": row["payment_method_id"],
        "promoCodeId": row["promo_code_id"],
        "discountCyclesRemaining": row["discount_cycles_remaining"],
        "latestInvoiceId": row["latest_invoice_id"],
        "testClockId": row["test_clock_id"],
        "incompleteExpiresAt": format_ts(row["incomplete_expires_at"]),
        "metadata": row["metadata"],
        "createdAt": format_ts(row["created_at"]),
        "updatedAt": format_ts(row["updated_at"]),
    }
