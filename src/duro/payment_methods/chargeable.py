"""Which methods a customer may be charged with (03 §1.3): the API the billing code (subscriptions, renewals,
dunning, checkout, portal) and the customer's `defaultPaymentMethodId` rely on.

Kept apart from `service.py` so that `customers.service` can use it without an import cycle (the payment-method
endpoints in turn use the customers service to change the default and emit `customer_updated`).
"""

from __future__ import annotations

from datetime import datetime

from duro.context import RepositoryContext
from duro.db.repository import DbRow
from duro.gateway.protocol import ChargeMethod
from duro.kit.errors import DuroError, invalid_field, not_found
from duro.payment_methods.repository import PaymentMethodRepository


def is_usable(method: DbRow) -> bool:
    """Attached (not pending) and never disabled (a `stolen_card` decline disables, 03 §1.3)."""
    return bool(method["status"] == "active" and method["disabled_at"] is None)


def is_owned_by(method: DbRow, customer: DbRow) -> bool:
    """Owned by the customer, or by the identity the customer is linked to (never by phone alone, 03 §1.2)."""
    if method["tenant_id"] is not None:
        return bool(method["tenant_id"] == customer["tenant_id"] and method["customer_id"] == customer["id"])
    identity_id = customer["identity_id"]
    return identity_id is not None and bool(method["identity_id"] == identity_id)


def is_chargeable_by(method: DbRow, customer: DbRow) -> bool:
    return is_usable(method) and is_owned_by(method, customer)


def unusable(field: str) -> DuroError:
    return invalid_field(
        field,
        "the payment method is not chargeable by this customer (another owner, disabled or pending)",
        "payment_method_unusable",
    )


async def chargeable_methods(ctx: RepositoryContext, customer: DbRow) -> list[DbRow]:
    """Every method the customer can be charged with: default first, then newest first."""
    rows = await ctx.repo(PaymentMethodRepository).attached(customer["id"], customer["identity_id"])
    return order_default_first([r for r in rows if is_usable(r)], customer["default_payment_method_id"])


def order_default_first(rows: list[DbRow], default_id: str | None) -> list[DbRow]:
    # A stable sort keeps the newest-first order among the others.
    return sorted(rows, key=lambda r: r["id"] != default_id)


async def get_chargeable(
    ctx: RepositoryContext,
    customer: DbRow,
    pm_id: str,
    *,
    field: str = "paymentMethodId",
    lock: bool = False,
) -> DbRow:
    """The method `pm_id` if the customer can be charged with it.

    404 `resource_missing` naming `field` when no such method exists in this tenant + mode (another identity's
    method does not exist here either); 422 `payment_method_unusable` when it exists but belongs to another
    customer, is disabled or is still pending. `lock=True` takes `FOR KEY SHARE` on it, so a concurrent delete
    waits for this transaction (and then finds the subscription that uses the method)."""
    repo = ctx.repo(PaymentMethodRepository)
    method = await repo.find_visible(pm_id, customer["identity_id"])
    if method is None:
        raise not_found("No such payment method", path=field)
    if not is_chargeable_by(method, customer):
        raise unusable(field)
    if lock:
        await repo.lock_for_use(method["id"])
    return method


async def resolve_method(
    ctx: RepositoryContext,
    customer: DbRow,
    explicit_pm_id: str | None,
    *,
    field: str = "paymentMethodId",
    lock: bool = False,
) -> DbRow | None:
    """The method to charge: the explicit one (validated as in `get_chargeable`), else the customer's default
    while it is still chargeable, else None (the caller records `no_payment_method`)."""
    if explicit_pm_id is not None:
        return await get_chargeable(ctx, customer, explicit_pm_id, field=field, lock=lock)
    default_id = customer["default_payment_method_id"]
    if default_id is None:
        return None
    repo = ctx.repo(PaymentMethodRepository)
    method = await repo.find_visible(default_id, customer["identity_id"])
    if method is None or not is_chargeable_by(method, customer):
        return None
    if lock:
        await repo.lock_for_use(method["id"])
    return method


async def disable_method(ctx: RepositoryContext, pm_id: str, at: datetime) -> DbRow | None:
    """Disable a method after a `stolen_card` decline (03 §1.3), wherever it is owned. Idempotent: the first
    `disabled_at` stays. The customer's `defaultPaymentMethodId` is left pointing at it (it simply stops
    resolving); None when no such method is visible to this tenant."""
    return await ctx.repo(PaymentMethodRepository).disable(pm_id, at)


async def gateway_token_of(ctx: RepositoryContext, pm_id: str) -> str | None:
    """The stored gateway token of a method this tenant charged (any state, disabled included), so crash recovery
    can repeat a recorded gateway call with the same reference; None when the method no longer exists."""
    method = await ctx.repo(PaymentMethodRepository).find_any(pm_id)
    return None if method is None else str(method["gateway_token"])


def charge_method(method: DbRow) -> ChargeMethod:
    """What the gateway needs to charge `method`."""
    return ChargeMethod(rail=method["rail"], gateway_token=method["gateway_token"], payment_method_id=method["id"])
