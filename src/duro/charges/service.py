"""The two halves of every charge, shared by subscription creation, renewals, plan changes and payments.

`open_charge` runs inside the caller's first transaction and inserts a `pending` transaction (or a `failed` one
when there is nothing to charge). The gateway is then called with no transaction open, using the transaction id as
its idempotency reference. `record_outcome` runs in a second transaction: it locks the transaction and finishes it
only if it is still `pending`, so the request path and crash recovery can race without double effects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, text, update

from duro.billing.failures import classify
from duro.context import RepositoryContext
from duro.db.repository import DbRow
from duro.gateway.protocol import ChargeMethod, ChargeOutcome
from duro.invoices.repository import TransactionRepository
from duro.kit.errors import forbidden
from duro.kit.ids import new_id
from duro.models.billing import transactions

# Unverified tenants may take at most NGN 1,000,000 gross in live mode (02 §10).
UNVERIFIED_LIVE_CAP = 100_000_000

_RESERVE = text(
    "UPDATE core.tenants SET live_gross_volume = live_gross_volume + :amount "
    "WHERE id = :tenant_id AND (tier = 'verified' OR (:currency = 'NGN' AND live_gross_volume + :amount <= :cap)) "
    "RETURNING id"
)
_RELEASE = text("UPDATE core.tenants SET live_gross_volume = live_gross_volume - :amount WHERE id = :tenant_id")

# Finishes a transaction only while it is still pending: the UPDATE takes the row lock, and a concurrent finisher's
# committed change makes the WHERE false, so exactly one of them gets the row back. Built once; the SET columns
# come from the parameters.
_FINISH_PENDING = (
    update(transactions)
    .where(
        and_(
            transactions.c.tenant_id == bindparam("b_tenant_id"),
            transactions.c.id == bindparam("b_id"),
            transactions.c.status == "pending",
        )
    )
    .returning(transactions)
)


@dataclass(frozen=True, slots=True)
class PendingCharge:
    """Everything the gateway call needs, captured in the first transaction."""

    transaction_id: str
    method: ChargeMethod
    amount: int
    currency: str
    at: datetime
    attempt_number: int


async def reserve_live_volume(ctx: RepositoryContext, amount: int, currency: str) -> bool:
    """Atomic KYC cap reservation before a live charge (02 §10). Test mode is never capped."""
    if ctx.mode != "live":
        return True
    row = (
        await ctx.conn.execute(
            _RESERVE, {"amount": amount, "tenant_id": ctx.tenant_id, "currency": currency, "cap": UNVERIFIED_LIVE_CAP}
        )
    ).first()
    return row is not None


async def release_live_volume(ctx: RepositoryContext, amount: int) -> None:
    if ctx.mode == "live":
        await ctx.conn.execute(_RELEASE, {"amount": amount, "tenant_id": ctx.tenant_id})


def _method_for_gateway(method: DbRow) -> ChargeMethod:
    return ChargeMethod(rail=method["rail"], gateway_token=method["gateway_token"], payment_method_id=method["id"])


async def open_charge(
    ctx: RepositoryContext,
    *,
    invoice: DbRow,
    method: DbRow | None,
    source: str,
    at: datetime,
    synchronous: bool,
    new_invoice: bool = False,
) -> tuple[PendingCharge | None, DbRow]:
    """Insert the attempt for `invoice`. Returns (pending charge, transaction row); the pending charge is None when
    the attempt failed without a gateway call (`no_payment_method`, or `kyc_required` in the background).
    `new_invoice=True` says the caller created the invoice in this transaction, so this is its first attempt
    (no count of earlier ones needed).

    A synchronous caller refused by the KYC cap gets 403 `kyc_required` and its transaction rolls back (02 §10).
    """
    repo = ctx.repo(TransactionRepository)
    attempt = 1 if new_invoice else await repo.next_attempt_number(invoice["id"])
    base = {
        "id": new_id("txn"),
        "invoice_id": invoice["id"],
        "subscription_id": invoice["subscription_id"],
        "customer_id": invoice["customer_id"],
        "amount": invoice["amount"],
        "currency": invoice["currency"],
        "source": source,
        "attempt_number": attempt,
        "created_at": at,
        "updated_at": at,
    }
    if method is None:
        row = await repo.insert_row(
            {**base, **_failed_fields("no_payment_method", None, "No usable payment method"), "processed_at": at}
        )
        return None, row
    if not await reserve_live_volume(ctx, invoice["amount"], invoice["currency"]):
        if synchronous:
            raise forbidden("kyc_required", "This live charge would exceed the limit for unverified businesses")
        fields = _failed_fields("kyc_required", None, "Live charges are paused until the business is verified")
        row = await repo.insert_row({**base, "payment_method_id": method["id"], **fields, "processed_at": at})
        return None, row
    row = await repo.insert_row(
        {**base, "payment_method_id": method["id"], "rail": method["rail"], "status": "pending"}
    )
    pending = PendingCharge(row["id"], _method_for_gateway(method), invoice["amount"], invoice["currency"], at, attempt)
    return pending, row


def _failed_fields(code: str, decline: str | None, message: str) -> dict[str, Any]:
    return {
        "status": "failed",
        "failure_code": code,
        "failure_category": classify(code).category,
        "decline_code": decline,
        "failure_message": message,
    }


async def record_outcome(
    ctx: RepositoryContext, transaction_id: str, outcome: ChargeOutcome, at: datetime
) -> DbRow | None:
    """Finish a pending transaction; None when something else finished it first (then do nothing more)."""
    if outcome.succeeded:
        values: dict[str, Any] = {"status": "succeeded"}
    else:
        values = _failed_fields(outcome.failure_code or "unknown", outcome.decline_code, outcome.message or "")
    params = {**values, "processed_at": at, "updated_at": at, "b_tenant_id": ctx.tenant_id, "b_id": transaction_id}
    row: DbRow | None = (await ctx.conn.execute(_FINISH_PENDING, params)).first()
    if row is not None and not outcome.succeeded:
        await release_live_volume(ctx, row["amount"])  # a failed charge gives its reservation back
    return row


def payment_error_details(txn: DbRow) -> dict[str, Any]:
    """`error.payment` of a 402 (01 §5)."""
    return {
        "transactionId": txn["id"],
        "failureCode": txn["failure_code"],
        "declineCode": txn["decline_code"],
        "suggestedRails": [],
    }
