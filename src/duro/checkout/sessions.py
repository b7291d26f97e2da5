"""Checkout sessions for merchants (06 §2): create, retrieve, list, expire; and the `invoice`-kind sessions Duro
creates for an invoice's `hostedPaymentUrl` (06 §1, 04 §4 "Update link").

A session fixes what is due when it is created (plan, promo discount, trial) and is paid by the customer later
(`checkout.pay`). Its token is the only handle the customer side has; the mode comes from the token's prefix.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, select, update

from duro.billing.proration import discount_for
from duro.checkout.schemas import CheckoutSessionCreate
from duro.checkout.serializers import checkout_url, effective_status, session_json
from duro.checkout.tokens import new_token
from duro.context import RepositoryContext
from duro.customers.repository import CustomerRepository
from duro.db.repository import DbRow, TenantRepository
from duro.invoices.repository import InvoiceRepository
from duro.kit.errors import Detail, conflict, forbidden, not_found, validation
from duro.kit.ids import new_id
from duro.kit.pagination import PageRequest
from duro.models.checkout import checkout_sessions as cs
from duro.models.core import tenants
from duro.plans.repository import PlanRepository
from duro.promo_codes.repository import PromoCodeRepository
from duro.promo_codes.service import unavailable_reason

LIFETIME: Final = timedelta(hours=24)


class CheckoutSessionRepository(TenantRepository):
    table = cs

    async def list_page(self, page: PageRequest, *, status: str | None, now: datetime) -> Any:
        filters: list[ColumnElement[bool]] = []
        # The API's status is the effective one: a pending session past its expiry lists as expired.
        if status == "pending":
            filters += [cs.c.status == "pending", cs.c.expires_at > now]
        elif status == "expired":
            filters.append((cs.c.status == "expired") | ((cs.c.status == "pending") & (cs.c.expires_at <= now)))
        elif status is not None:
            filters.append(cs.c.status == status)
        return await self.page(page, filters)


async def tenant_currency(ctx: RepositoryContext) -> str:
    return str(
        (await ctx.conn.execute(select(tenants.c.default_currency).where(tenants.c.id == ctx.tenant_id))).scalar_one()
    )


def _check_redirect(ctx: RepositoryContext, field: str, url: str | None) -> None:
    if url is not None and urlsplit(url).scheme == "http" and ctx.mode == "live":
        raise validation(
            f"{field}: must be https", [Detail(field, "must be https (http is allowed in test mode only)")]
        )


async def create_session(
    ctx: RepositoryContext,
    body: CheckoutSessionCreate,
    *,
    publishable: bool,
    payment_link_id: str | None = None,
) -> dict[str, Any]:
    """`POST /v1/checkout/sessions` (06 §2). A publishable key may start a subscription checkout only."""
    if publishable and (body.amount is not None or body.customer_id is not None):
        raise forbidden("publishable_key_not_allowed", "Publishable keys cannot set amount or customerId")
    _check_redirect(ctx, "successUrl", body.success_url)
    _check_redirect(ctx, "cancelUrl", body.cancel_url)
    now = ctx.clock.now()
    if body.customer_id is not None:
        customer = await ctx.repo(CustomerRepository).get_row(body.customer_id)
        if customer is None:
            raise not_found("No such customer", path="customerId")
        if customer["blacklisted"]:
            raise forbidden("customer_blacklisted", "This customer is blacklisted")
    values: dict[str, Any] = {
        "description": body.description,
        "customer_id": body.customer_id,
        "customer_email": body.customer_email,
        "customer_phone": body.customer_phone,
        "success_url": body.success_url,
        "cancel_url": body.cancel_url,
        "metadata": body.metadata,
        "payment_link_id": payment_link_id,
    }
    if body.plan_id is not None:
        plan = await ctx.repo(PlanRepository).get_row(body.plan_id)
        if plan is None:
            raise not_found("No such plan", path="planId")
        if not plan["active"]:
            raise conflict("plan_inactive", "This plan is archived and cannot start new subscriptions")
        subtotal, discount, promo_code = plan["amount"], 0, None
        if body.promo_code is not None:
            promo_code = body.promo_code.strip().upper()
            promo = await ctx.repo(PromoCodeRepository).by_code(promo_code)
            problem = unavailable_reason(promo, plan, now)
            if problem is not None:
                raise validation(problem[1], [Detail("promoCode", problem[1])], reason=problem[0])
            assert promo is not None
            discount = discount_for(plan["amount"], promo["discount_type"], promo["discount_value"])
        if plan["trial_days"] > 0:
            subtotal, discount = 0, 0  # nothing is due now: the first charge ends the trial (06 §2)
        values.update(
            kind="subscription",
            plan_id=plan["id"],
            currency=plan["currency"],
            subtotal=subtotal,
            discount=discount,
            amount=subtotal - discount,
            promo_code=promo_code,
        )
    else:
        assert body.amount is not None
        currency = body.currency or await tenant_currency(ctx)
        values.update(kind="payment", currency=currency, subtotal=body.amount, discount=0, amount=body.amount)
    row = await _insert(ctx, values, now, now + LIFETIME)
    return session_json(row, ctx.settings.public_url, now)


async def _insert(
    ctx: RepositoryContext,
    values: dict[str, Any],
    now: datetime,
    expires_at: datetime,
    test_clock_id: str | None = None,
) -> DbRow:
    return await ctx.repo(CheckoutSessionRepository).insert_row(
        {
            "id": new_id("chk"),
            "token": new_token(ctx.mode),
            "status": "pending",
            "test_clock_id": test_clock_id,
            "expires_at": expires_at,
            "created_at": now,
            "updated_at": now,
            **values,
        }
    )


async def create_invoice_session(
    ctx: RepositoryContext, invoice: DbRow, *, expires_at: datetime, at: datetime, test_clock_id: str | None
) -> str:
    """An `invoice`-kind session for an `incomplete` or dunning invoice; sets and returns the invoice's
    `hostedPaymentUrl`. Times are the subscription's clock time for test-clock subscriptions (03 §12)."""
    row = await _insert(
        ctx,
        {
            "kind": "invoice",
            "invoice_id": invoice["id"],
            "customer_id": invoice["customer_id"],
            "currency": invoice["currency"],
            "subtotal": invoice["subtotal"],
            "discount": invoice["discount"],
            "amount": invoice["amount"] - invoice["amount_paid"],
            "metadata": {},
        },
        at,
        expires_at,
        test_clock_id,
    )
    url = checkout_url(ctx.settings.public_url, row["token"])
    await ctx.repo(InvoiceRepository).update_row(invoice["id"], {"hosted_payment_url": url, "updated_at": at})
    return url


async def _get(ctx: RepositoryContext, session_id: str, *, lock: bool = False) -> DbRow:
    row = await ctx.repo(CheckoutSessionRepository).get_row(session_id, for_update=lock)
    if row is None:
        raise not_found("No such checkout session")
    return row


async def session_now(ctx: RepositoryContext, row: DbRow) -> datetime:
    """ "Now" for a session: its test clock's frozen time for sessions of test-clock invoices (06 §2), else wall."""
    if row["test_clock_id"] is None:
        return ctx.clock.now()
    from duro.subscriptions.creation import business_now

    return await business_now(ctx, row["test_clock_id"])


async def get_session(ctx: RepositoryContext, session_id: str) -> dict[str, Any]:
    row = await _get(ctx, session_id)
    return session_json(row, ctx.settings.public_url, await session_now(ctx, row))


async def list_sessions(ctx: RepositoryContext, page: PageRequest, status: str | None) -> dict[str, Any]:
    now = ctx.clock.now()
    result = await ctx.repo(CheckoutSessionRepository).list_page(page, status=status, now=now)
    return result.map(lambda r: session_json(r, ctx.settings.public_url, now)).as_json()  # type: ignore[no-any-return]


async def expire_session(ctx: RepositoryContext, session_id: str) -> dict[str, Any]:
    """pending → expired; completed → 409 `checkout_completed`; already expired → answered as it is."""
    row = await _get(ctx, session_id, lock=True)
    now = await session_now(ctx, row)
    status = effective_status(row, now)
    if status == "completed":
        raise conflict("checkout_completed", "This checkout session is completed")
    if row["status"] == "pending":
        row = (
            await ctx.conn.execute(
                update(cs)
                .where(cs.c.tenant_id == ctx.tenant_id, cs.c.id == session_id)
                .values(status="expired", updated_at=now)
                .returning(cs)
            )
        ).one()
    return session_json(row, ctx.settings.public_url, now)
