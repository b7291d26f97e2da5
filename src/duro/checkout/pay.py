"""`POST /api/checkout/{token}/pay` (06 §3): the customer pays a session, in two transactions around the gateway.

T1 locks the session (`NOWAIT`: a second pay in the same instant is 409 `checkout_in_progress`), answers a
completed session with its stored result (no second charge), refuses an expired one, validates the details,
checks the blacklist **before any charge**, records the method and a `pending` transaction (source `checkout`, or
`hosted_invoice` for an invoice's page) and commits. The gateway is called with no transaction open, the
transaction id as reference. T2 re-locks the session, finishes the transaction only if still pending (crash
recovery may have), then completes the session (`completion.complete`) or records the decline (402).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg
from sqlalchemy import func, select, update

from duro.billing.lifecycle import Event
from duro.charges.service import payment_error_details, record_outcome, reserve_live_volume
from duro.checkout.completion import complete, pending_method_of
from duro.checkout.schemas import CheckoutPay
from duro.checkout.serializers import effective_status
from duro.checkout.sessions import session_now
from duro.checkout.tokens import mode_of
from duro.context import Actor, RepositoryContext
from duro.db.engine import Mode
from duro.db.executor import UniqueViolation
from duro.db.repository import DbRow
from duro.events.service import emit
from duro.gateway.protocol import RAILS, ChargeMethod, ChargeOutcome
from duro.gateway.simulator_rules import (
    card_expired,
    lookup,
    normalize_number,
)
from duro.invoices.payments import payment_event
from duro.invoices.repository import InvoiceRepository, TransactionRepository
from duro.kit.errors import Detail, DuroError, conflict, forbidden, invalid_field, not_found, validation
from duro.kit.ids import new_id
from duro.models.checkout import checkout_sessions as cs
from duro.models.customers import customers
from duro.models.identity import store_configs
from duro.models.payment_methods import payment_methods as pm
from duro.models.plans import plans
from duro.payment_methods.instruments import simulator_method_values
from duro.promo_codes.repository import PromoCodeRepository
from duro.promo_codes.service import unavailable_reason
from duro.runtime import Runtime

CUSTOMER: Final = Actor("customer", None, "checkout")
SOURCES: Final = {"invoice": "hosted_invoice"}


@dataclass(frozen=True, slots=True)
class PayIdentity:
    """The verified phone identity presenting a token, when there is one (06 §6)."""

    id: str
    phone: str


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: dict[str, Any]


def customer_context(runtime: Runtime, conn: Any, tenant_id: str, mode: Mode) -> RepositoryContext:
    return RepositoryContext(conn, tenant_id, mode, runtime.clock, runtime.settings, CUSTOMER)


def _by_token(token: str, *, lock: bool) -> Any:
    stmt = select(cs).where(cs.c.token == token).prefix_with("/* unscoped: the checkout token is the credential */")
    return stmt.with_for_update(nowait=True) if lock else stmt


async def enabled_rails(ctx: RepositoryContext) -> list[str]:
    """The published `checkout.rails` in their configured order (07 §4), all five by default."""
    published = (
        await ctx.conn.execute(select(store_configs.c.published).where(store_configs.c.tenant_id == ctx.tenant_id))
    ).scalar()
    rails = ((published or {}).get("checkout") or {}).get("rails") if isinstance(published, dict) else None
    return [r for r in rails if r in RAILS] if rails else list(RAILS)


def _declined(txn: DbRow, rails: list[str]) -> DuroError:
    details = payment_error_details(txn)
    details["suggestedRails"] = [r for r in rails if r != txn["rail"]]
    return DuroError(402, txn["failure_message"] or "The payment was declined", txn["failure_code"], payment=details)


async def _pending_charge(ctx: RepositoryContext, session_id: str) -> bool:
    from duro.models.billing import transactions as t

    stmt = select(t.c.id).where(
        t.c.tenant_id == ctx.tenant_id, t.c.checkout_session_id == session_id, t.c.status == "pending"
    )
    return (await ctx.conn.execute(stmt.limit(1))).first() is not None


async def _check_blacklist(
    ctx: RepositoryContext, session: DbRow, payer: dict[str, Any], who: PayIdentity | None
) -> None:
    """Step 4: no money moves for a blacklisted customer — the session's, one linked to the identity, or one with
    the payer's email or phone."""
    conditions = []
    if session["customer_id"] is not None:
        conditions.append(customers.c.id == session["customer_id"])
    if who is not None:
        conditions.append(customers.c.identity_id == who.id)
    for column, value in ((customers.c.email, payer.get("email")), (customers.c.phone, payer.get("phone"))):
        if value:
            conditions.append(column == value)
    if not conditions:
        return
    from sqlalchemy import or_

    rows = (
        await ctx.conn.execute(
            select(customers.c.id, customers.c.blacklisted, customers.c.identity_id).where(
                customers.c.tenant_id == ctx.tenant_id, or_(*conditions)
            )
        )
    ).all()
    if any(r["blacklisted"] for r in rows):
        raise forbidden("customer_blacklisted", "This customer cannot pay here")
    if who is not None and session["customer_id"] is not None:
        own = next((r for r in rows if r["id"] == session["customer_id"]), None)
        if own is not None and own["identity_id"] is not None and own["identity_id"] != who.id:
            raise conflict("identity_conflict", "This customer is linked to another phone")


async def _check_sale(ctx: RepositoryContext, session: DbRow, now: datetime) -> None:
    """Step 5: what is sold can still be sold."""
    if session["kind"] == "subscription":
        plan = (
            await ctx.conn.execute(
                select(plans).where(plans.c.tenant_id == ctx.tenant_id, plans.c.id == session["plan_id"])
            )
        ).one()
        if not plan["active"]:
            raise conflict("plan_inactive", "This plan is no longer available")
        if session["promo_code"] is not None:
            promo = await ctx.repo(PromoCodeRepository).by_code(session["promo_code"])
            if unavailable_reason(promo, plan, now) is not None:
                raise conflict("promo_code_unavailable", "The promo code can no longer be used")
    elif session["kind"] == "invoice":
        invoice = await ctx.repo(InvoiceRepository).get_row(session["invoice_id"])
        if invoice is None or invoice["status"] not in ("open", "uncollectible"):
            raise conflict("invoice_not_payable", "This invoice can no longer be paid here")


async def _new_method(
    ctx: RepositoryContext, session: DbRow, body: CheckoutPay, who: PayIdentity | None, now: datetime
) -> DbRow:
    """Step 6: the details become a method — identity-owned with `saveToPhone`, else pending on the session."""
    if body.payment_method_id is not None:
        if who is None:
            raise DuroError(401, "Sign in with your phone to use a saved payment method", "missing_credential")
        saved = (
            await ctx.conn.execute(
                select(pm)
                .where(pm.c.id == body.payment_method_id, pm.c.identity_id == who.id, pm.c.status == "active")
                .prefix_with("/* unscoped: identity-owned methods have no tenant */")
            )
        ).first()
        if saved is None or saved["disabled_at"] is not None or saved["rail"] != body.rail:
            raise not_found("No such payment method", path="paymentMethodId")
        return saved
    if body.card is not None:
        number, path = normalize_number(body.card.number), "card.number"
        if card_expired(body.card.exp_month, body.card.exp_year, now):
            raise invalid_field("card.expYear", "the card has expired", "invalid_expiry")
    else:
        assert body.account is not None
        number, path = body.account.number, "account.number"
    if lookup(body.rail, number) is None:
        raise invalid_field(path, "not a simulator test number (03 §2)", "unknown_test_number")
    values = simulator_method_values(
        body.rail,
        number,
        exp_month=body.card.exp_month if body.card is not None else None,
        exp_year=body.card.exp_year if body.card is not None else None,
        now=now,
    )
    fp = values["fingerprint"]
    if body.save_to_phone:
        if who is None or body.phone is None or body.phone != who.phone:
            raise invalid_field("saveToPhone", "needs a verified phone equal to phone", "identity_required")
        existing = (
            await ctx.conn.execute(
                select(pm)
                .where(pm.c.identity_id == who.id, pm.c.fingerprint == fp, pm.c.status == "active")
                .prefix_with("/* unscoped: identity-owned methods have no tenant */")
            )
        ).first()
        if existing is not None:
            return existing
        values.update(tenant_id=None, identity_id=who.id, status="active")
    else:
        values.update(tenant_id=ctx.tenant_id, checkout_session_id=session["id"], status="pending")
    insert = pm.insert().values(**values).returning(pm)
    if body.save_to_phone:
        insert = insert.prefix_with("/* unscoped: an identity-owned method has no tenant */")
    created: DbRow = (await ctx.conn.execute(insert)).one()
    return created


def _payer(session: DbRow, body: CheckoutPay) -> dict[str, Any]:
    payer = {
        "email": body.email or session["customer_email"],
        "phone": body.phone or session["customer_phone"],
        "name": body.name,
    }
    if session["customer_id"] is None and session["kind"] != "invoice" and not (payer["email"] or payer["phone"]):
        raise validation("email: an email or a phone is required", [Detail("email", "give an email or a phone")])
    return payer


@dataclass(frozen=True, slots=True)
class _Charge:
    tenant_id: str
    session_id: str
    txn_id: str
    method: ChargeMethod
    amount: int
    currency: str
    at: datetime
    attempt: int


async def _begin(
    runtime: Runtime, mode: Mode, token: str, body: CheckoutPay, who: PayIdentity | None
) -> Answer | _Charge:
    async with runtime.db.transaction(mode) as conn:
        try:
            session = (await conn.execute(_by_token(token, lock=True))).first()
        except asyncpg.LockNotAvailableError as exc:
            raise conflict("checkout_in_progress", "A payment for this checkout is in progress") from exc
        if session is None:
            raise not_found("No such checkout")
        ctx = customer_context(runtime, conn, session["tenant_id"], mode)
        now = await session_now(ctx, session)
        status = effective_status(session, now)
        if status == "completed":
            return Answer(200, session["result"])
        if status == "expired":
            raise conflict("checkout_expired", "This checkout has expired")
        if await _pending_charge(ctx, session["id"]):
            raise conflict("checkout_in_progress", "A payment for this checkout is in progress")
        rails = await enabled_rails(ctx)
        if body.rail not in rails:
            raise invalid_field("rail", f"must be one of {', '.join(rails)}")
        if body.payment_method_id is not None and who is None:
            raise DuroError(401, "Sign in with your phone to use a saved payment method", "missing_credential")
        payer = _payer(session, body)
        await _check_blacklist(ctx, session, payer, who)
        await _check_sale(ctx, session, now)
        method = await _new_method(ctx, session, body, who, now)
        # The payer's details ride on the session until completion (crash recovery completes without the body).
        session = (
            await conn.execute(
                update(cs)
                .where(cs.c.tenant_id == ctx.tenant_id, cs.c.id == session["id"])
                .values(
                    result={"payer": {**payer, "identityId": who.id if who else None}, "methodId": method["id"]},
                    updated_at=now,
                )
                .returning(cs)
            )
        ).one()
        if session["amount"] == 0:  # a trial, a free plan or a full discount: nothing to charge (step 7)
            return Answer(200, await complete(ctx, session, method, None, now))
        if not await reserve_live_volume(ctx, session["amount"], session["currency"]):
            raise forbidden("kyc_required", "This live charge would exceed the limit for unverified businesses")
        invoice_id = session["invoice_id"] if session["kind"] == "invoice" else None
        sub_id = None
        if invoice_id is not None:
            invoice = await ctx.repo(InvoiceRepository).get_row(invoice_id)
            assert invoice is not None
            sub_id = invoice["subscription_id"]
        txns = ctx.repo(TransactionRepository)
        attempt = (
            await txns.next_attempt_number(invoice_id)
            if invoice_id is not None
            else await _session_attempts(ctx, session["id"]) + 1
        )
        try:
            txn = await txns.insert_row(
                {
                    "id": new_id("txn"),
                    "invoice_id": invoice_id,
                    "checkout_session_id": session["id"],
                    "subscription_id": sub_id,
                    "customer_id": session["customer_id"],
                    "payment_method_id": method["id"],
                    "rail": method["rail"],
                    "status": "pending",
                    "amount": session["amount"],
                    "currency": session["currency"],
                    "source": SOURCES.get(session["kind"], "checkout"),
                    "attempt_number": attempt,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        except UniqueViolation as exc:  # another path is charging this invoice right now
            raise conflict("invoice_not_payable", "A payment for this invoice is in progress") from exc
        charge = ChargeMethod(
            rail=method["rail"], gateway_token=method["gateway_token"], payment_method_id=method["id"]
        )
        return _Charge(
            session["tenant_id"], session["id"], txn["id"], charge, txn["amount"], txn["currency"], now, attempt
        )


async def _session_attempts(ctx: RepositoryContext, session_id: str) -> int:
    from duro.models.billing import transactions as t

    stmt = select(func.count()).where(t.c.tenant_id == ctx.tenant_id, t.c.checkout_session_id == session_id)
    return int((await ctx.conn.execute(stmt)).scalar_one())


async def finish(ctx: RepositoryContext, session_id: str, txn_id: str, outcome: ChargeOutcome) -> Answer:
    """T2 (also run by crash recovery): record the outcome and complete, or record the decline."""
    session = (
        await ctx.conn.execute(
            select(cs).where(cs.c.tenant_id == ctx.tenant_id, cs.c.id == session_id).with_for_update()
        )
    ).one()
    now = await session_now(ctx, session)
    txn = await record_outcome(ctx, txn_id, outcome, now)
    if txn is None:  # finished elsewhere: answer what the session is now
        if session["status"] == "completed":
            return Answer(200, session["result"])
        raise conflict("checkout_in_progress", "This payment was finished by another request")
    rails = await enabled_rails(ctx)
    if txn["status"] == "failed":
        if txn["failure_code"] == "stolen_card" and txn["payment_method_id"]:
            from duro.payment_methods.chargeable import disable_method

            await disable_method(ctx, txn["payment_method_id"], now)
        error = {"code": txn["failure_code"], "message": txn["failure_message"]}
        await ctx.conn.execute(
            update(cs)
            .where(cs.c.tenant_id == ctx.tenant_id, cs.c.id == session_id)
            .values(last_payment_error=error, updated_at=now)
        )
        if session["kind"] == "invoice":
            invoice = await ctx.repo(InvoiceRepository).get_row(session["invoice_id"])
            assert invoice is not None
            obj, extra = payment_event(invoice, txn, failureCode=txn["failure_code"], nextAttemptAt=None)
            await emit(ctx, Event.SUBSCRIPTION_PAYMENT_FAILED, obj, **extra)
        raise _declined(txn, rails)
    if session["status"] == "completed":  # cannot happen while this charge was pending: nothing more to do
        return Answer(200, session["result"])
    method = await pending_method_of(ctx, txn["payment_method_id"])
    return Answer(200, await complete(ctx, session, method, txn, now))


async def pay(runtime: Runtime, token: str, body: CheckoutPay, who: PayIdentity | None = None) -> Answer:
    mode = mode_of(token)
    if mode is None:
        raise not_found("No such checkout")
    step = await _begin(runtime, mode, token, body, who)
    if isinstance(step, Answer):
        return step
    outcome = await runtime.gateway(mode).charge(
        step.method, step.amount, step.currency, step.txn_id, step.at, step.attempt
    )
    async with runtime.db.transaction(mode) as conn:
        ctx = customer_context(runtime, conn, step.tenant_id, mode)
        try:
            return await finish(ctx, step.session_id, step.txn_id, outcome)
        except DuroError as err:
            if err.status != 402:
                raise
            failure = err
    raise failure  # the decline's effects (failed transaction, lastPaymentError) committed above


async def identity_of(request: object) -> PayIdentity | None:
    """The identity presenting a bearer identity token, if any (06 §3: optional on pay)."""
    try:
        from duro.identity.auth import optional_identity
    except ImportError:  # the identity package is built separately; without it nobody is signed in
        return None
    found = await optional_identity(request)  # type: ignore[arg-type]
    return None if found is None else PayIdentity(found.id, found.phone)


async def redrive(ctx: RepositoryContext, txn: DbRow, outcome: ChargeOutcome) -> None:
    """Crash recovery of a `pending` checkout transaction (maintenance): T2 without a caller to answer."""
    try:
        await finish(ctx, txn["checkout_session_id"], txn["id"], outcome)
    except DuroError as err:
        if err.status != 402:
            raise
