"""`POST /v1/invoices/{id}/refund` (03 §11): refund all or part of a paid invoice, so that the refunds of an invoice
never add up to more than was paid — under concurrent requests and across crashes.

Two transactions around the gateway call (`ApiCall.run_charging` with `NeedsGateway`):

1. `prepare_refund` locks the invoice `FOR UPDATE` (concurrent refunds of one invoice queue here and each sees the
   previous one's reservation), computes the remainder `amountPaid − amountRefunded − pending refunds`, checks the
   amount against it, and inserts the refund as `pending`: the reservation. Its id is the gateway reference and the
   idempotency recovery point.
2. The gateway refund runs with no transaction open.
3. `finish_refund` locks the invoice, then the refund, and finishes it only while it is still `pending`. Success:
   `succeeded`, `amountRefunded += amount` (the invoice stays `paid`), event `subscription_payment_refunded`, audit
   `invoice.refunded`. Failure (never in the simulator): `failed`, which releases the reservation.

Why not call the gateway inside the locked transaction: the processor would have refunded while our commit could
still fail, and a retry would refund again under a new reference. With the reservation committed first, a crash
leaves a `pending` refund that is finished with its own reference — by the request's retry (`resume_refund`) or
the maintenance loop (`redrive_pending_refunds`) — and the gateway answers its recorded outcome.

`pending` is internal: the API shows refunds as `succeeded` or `failed` only (03 §1.7).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select

from duro.api.unit import Done, NeedsGateway, Step
from duro.audit.service import record as audit
from duro.context import RepositoryContext
from duro.db.engine import Mode
from duro.db.repository import DbRow
from duro.events.service import emit
from duro.gateway.protocol import ChargeGateway, RefundOutcome
from duro.invoices.repository import InvoiceRepository, RefundRepository, TransactionRepository
from duro.invoices.schemas import RefundRequest
from duro.invoices.serializers import invoice_json, refund_json
from duro.kit.errors import conflict, invalid_field, not_found
from duro.kit.ids import new_id
from duro.models.billing import refunds
from duro.runtime import Runtime
from duro.subscriptions.creation import business_now
from duro.subscriptions.repository import SubscriptionRepository
from duro.subscriptions.runner import worker_context

log = logging.getLogger(__name__)

# A payment event (05 §1), not a lifecycle transition: it has no row in `billing.lifecycle`.
PAYMENT_REFUNDED: Final = "subscription_payment_refunded"
PENDING_AFTER = timedelta(minutes=2)
UNSCOPED = "/* unscoped: maintenance */"


def refund_response(invoice: DbRow, refund: DbRow) -> dict[str, Any]:
    """03 §13.4: `refunded` is the invoice's running `amountRefunded`, `status` the invoice's status."""
    return {
        "invoiceId": invoice["id"],
        "refunded": invoice["amount_refunded"],
        "status": invoice["status"],
        "refund": refund_json(refund),
    }


async def _now_for(ctx: RepositoryContext, invoice: DbRow) -> datetime:
    """Clock time for an invoice of a test-clock subscription (03 §12: refunds too), else the request clock."""
    if invoice["subscription_id"] is None:
        return ctx.clock.now()
    sub = await ctx.repo(SubscriptionRepository).get_row(invoice["subscription_id"])
    return await business_now(ctx, sub["test_clock_id"] if sub is not None else None)


async def prepare_refund(ctx: RepositoryContext, invoice_id: str, body: RefundRequest) -> Step:
    """First transaction: validate under the invoice lock and reserve the amount (see the module docstring)."""
    invoice = await ctx.repo(InvoiceRepository).get_row(invoice_id, for_update=True)
    if invoice is None:
        raise not_found("No such invoice")
    if invoice["status"] != "paid":
        raise conflict("invoice_not_refundable", f"Only paid invoices can be refunded; this one is {invoice['status']}")
    attempts = await ctx.repo(TransactionRepository).for_invoice(invoice_id)
    charge = next((t for t in attempts if t["status"] == "succeeded"), None)
    if charge is None:  # a zero-amount invoice is paid without a transaction: nothing was taken
        raise conflict("invoice_not_refundable", "This invoice was paid without a charge; there is nothing to refund")
    repo = ctx.repo(RefundRepository)
    remaining = invoice["amount_paid"] - invoice["amount_refunded"] - await repo.pending_total(invoice_id)
    amount = body.amount if body.amount is not None else remaining
    if remaining < 1:
        raise invalid_field("amount", "nothing is left to refund on this invoice", "refund_exceeds_remaining")
    if amount > remaining:
        raise invalid_field(
            "amount", f"must be at most {remaining}, the refundable remainder", "refund_exceeds_remaining"
        )
    refund = await repo.insert_row(
        {
            "id": new_id("rfd"),
            "invoice_id": invoice_id,
            "transaction_id": charge["id"],
            "amount": amount,
            "currency": invoice["currency"],
            "reason": body.reason,
            "status": "pending",
            "created_at": await _now_for(ctx, invoice),
        }
    )
    return NeedsGateway(_caller(refund), refund["id"], _finisher(refund["id"]))


def _caller(refund: DbRow) -> Any:
    transaction_id, amount, reference = refund["transaction_id"], refund["amount"], refund["id"]

    async def call(gateway: ChargeGateway) -> RefundOutcome:
        return await gateway.refund(transaction_id, amount, reference)

    return call


def _finisher(refund_id: str) -> Any:
    async def finish(ctx: RepositoryContext, outcome: RefundOutcome) -> Done:
        return Done(await finish_refund(ctx, refund_id, outcome))

    return finish


async def finish_refund(ctx: RepositoryContext, refund_id: str, outcome: RefundOutcome) -> dict[str, Any]:
    """Second transaction: lock invoice → refund; a refund no longer `pending` was finished elsewhere (a
    concurrent re-drive), so only the current state is answered."""
    refunds_repo, invoices = ctx.repo(RefundRepository), ctx.repo(InvoiceRepository)
    peek = await refunds_repo.get_row(refund_id)
    if peek is None:
        raise not_found("No such refund")
    invoice = await invoices.get_row(peek["invoice_id"], for_update=True)
    refund = await refunds_repo.get_row(refund_id, for_update=True)
    assert invoice is not None
    assert refund is not None
    if refund["status"] != "pending":
        return refund_response(invoice, refund)
    if not outcome.succeeded:
        log.warning("gateway refused refund %s: %s", refund_id, outcome.failure_code)
        failed = await refunds_repo.update_row(refund_id, {"status": "failed"})
        assert failed is not None
        return refund_response(invoice, failed)
    done = await refunds_repo.update_row(refund_id, {"status": "succeeded"})
    assert done is not None
    before = invoice["amount_refunded"]
    after = await invoices.update_row(
        invoice["id"], {"amount_refunded": before + refund["amount"], "updated_at": await _now_for(ctx, invoice)}
    )
    assert after is not None
    await emit(
        ctx,
        PAYMENT_REFUNDED,
        invoice_json(after),
        refund=refund_json(done),
        subscriptionId=after["subscription_id"],
        invoiceId=after["id"],
        amount=done["amount"],
        currency=done["currency"],
    )
    await audit(
        ctx,
        "invoice.refunded",
        target_type="invoice",
        target_id=after["id"],
        before={"amountRefunded": before},
        after={
            "amountRefunded": after["amount_refunded"],
            "refund": {
                "id": done["id"],
                "amount": done["amount"],
                "currency": done["currency"],
                "reason": done["reason"],
            },
        },
    )
    return refund_response(after, done)


async def resume_refund(ctx: RepositoryContext, refund_id: str) -> Step:
    """Take over a crashed refund request (01 §8 rule 6): finish its pending refund with the same reference, else
    answer it as it is."""
    refund = await ctx.repo(RefundRepository).get_row(refund_id)
    if refund is None:
        raise not_found("No such refund")
    if refund["status"] == "pending":
        return NeedsGateway(_caller(refund), refund_id, _finisher(refund_id))
    invoice = await ctx.repo(InvoiceRepository).get_row(refund["invoice_id"])
    assert invoice is not None
    return Done(refund_response(invoice, refund))


async def redrive_pending_refunds(runtime: Runtime, mode: Mode, older_than: timedelta = PENDING_AFTER) -> int:
    """Maintenance: finish refunds left `pending` by a crash, with their own reference (the gateway answers the
    recorded outcome if it was reached). Returns how many were finished."""
    now = runtime.clock.now()
    async with runtime.db.reader(mode) as conn:
        rows = (
            await conn.execute(
                select(refunds)
                .where(refunds.c.status == "pending", refunds.c.created_at <= now - older_than)
                .order_by(refunds.c.created_at)
                .limit(runtime.settings.worker_batch)
                .prefix_with(UNSCOPED)
            )
        ).all()
    for row in rows:
        outcome = await runtime.gateway(mode).refund(row["transaction_id"], row["amount"], row["id"])
        async with runtime.db.transaction(mode) as conn:
            await finish_refund(worker_context(runtime, conn, row["tenant_id"], mode), row["id"], outcome)
    return len(rows)
