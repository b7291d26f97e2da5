"""The customer messages and event fields of recovery (04 §4 "Update link", §8): one place that knows which
template each step sends and under which dedup key, so a replayed step never sends twice."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from duro.context import RepositoryContext
from duro.db.repository import DbRow
from duro.kit.jsonenc import format_ts
from duro.notifications.outbox import notify_customer

# dunning_2…dunning_4 follow a failed retry only when the previous dunning message is at least this old (04 §8).
DUNNING_MESSAGE_SPACING_HOURS = 24
LAST_DUNNING_MESSAGE = 4


def update_link(ctx: RepositoryContext, customer: DbRow, invoice: DbRow) -> str | None:
    """The portal when the customer has a phone to sign in with, else the invoice's hosted payment page (04 §4)."""
    if customer["phone"]:
        mode = "live" if ctx.mode == "live" else "test"
        return f"{ctx.settings.public_url}/portal?mode={mode}"
    url: str | None = invoice["hosted_payment_url"]
    return url


def next_attempt_text(at: datetime | None) -> str:
    """`28 Mar 2025, 09:00 UTC`, empty when no retry is planned (06 §9)."""
    return "" if at is None else f"{at.day} {at:%b %Y, %H:%M} UTC"


async def send(
    ctx: RepositoryContext,
    key: str,
    dedup_key: str,
    *,
    schedule: DbRow,
    sub: DbRow,
    invoice: DbRow,
    at: datetime,
    link: str | None,
    **extra: str,
) -> list[str]:
    values = {"update_link": link or "", **extra}
    return await notify_customer(
        ctx,
        key,
        dedup_key=dedup_key,
        customer_id=schedule["customer_id"],
        at=at,
        subscription=sub,
        invoice=invoice,
        schedule=schedule,
        extra=values,
    )


def action_required_extra(schedule: DbRow, reason: str, link: str | None) -> dict[str, Any]:
    """The fields of `subscription_payment_action_required` besides the invoice (05 §1)."""
    return {
        "subscriptionId": schedule["subscription_id"],
        "invoiceId": schedule["invoice_id"],
        "scheduleId": schedule["id"],
        "reason": reason,
        "updateUrl": link,
    }


def decision_entry(
    *,
    at: datetime,
    attempts_made: int,
    failure_code: str | None,
    action: str,
    next_attempt_at: datetime | None,
    rail: str | None,
    payment_method_id: str | None,
    reason: str,
) -> dict[str, Any]:
    """One entry of a schedule's `decisions` (04 §4), in the API's shape: the ledger is shown as stored."""
    return {
        "at": format_ts(at),
        "attemptsMade": attempts_made,
        "failureCode": failure_code,
        "action": action,
        "nextAttemptAt": format_ts(next_attempt_at),
        "rail": rail,
        "paymentMethodId": payment_method_id,
        "reason": reason,
    }
