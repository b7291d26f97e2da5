"""Payment-method rules (03 §1.3, §13.2): simulator methods attached by API in test mode, one method per number
per owner, at most 50 per owner, never deleting a method a live subscription uses.

Every write locks the customer row first (then the method), so saves, deletes and default changes of one
customer are serialised: the duplicate check, the 50-method count and the default pointer cannot race.
The chargeability API the billing code uses lives in `chargeable.py` and is re-exported here.
"""

from __future__ import annotations

from typing import Any, Final

from duro.context import RepositoryContext
from duro.customers.repository import CustomerRepository
from duro.customers.service import set_default_payment_method
from duro.db.repository import DbRow
from duro.gateway.simulator_rules import (
    card_expired,
    fingerprint,
    lookup,
    normalize_number,
)
from duro.kit.errors import conflict, forbidden, invalid_field, not_found
from duro.kit.jsonenc import format_ts
from duro.payment_methods.chargeable import (
    charge_method,
    chargeable_methods,
    disable_method,
    gateway_token_of,
    get_chargeable,
    is_chargeable_by,
    is_owned_by,
    is_usable,
    order_default_first,
    resolve_method,
    unusable,
)
from duro.payment_methods.instruments import simulator_method_values
from duro.payment_methods.repository import PaymentMethodRepository
from duro.payment_methods.schemas import PaymentMethodCreate

__all__ = [
    "MAX_METHODS_PER_OWNER",
    "add_test_method",
    "charge_method",
    "chargeable_methods",
    "delete_method",
    "disable_method",
    "gateway_token_of",
    "get_chargeable",
    "list_methods",
    "payment_method_json",
    "resolve_method",
]

MAX_METHODS_PER_OWNER: Final = 50


def payment_method_json(row: DbRow, default_id: str | None) -> dict[str, Any]:
    """The /v1 form (03 §1.3). `isDefault` is relative to the customer asked about; the gateway token, the
    fingerprint, `identityId`, `checkoutSessionId` and `disabledAt` never leave the server."""
    customer_owned = row["tenant_id"] is not None
    return {
        "object": "payment_method",
        "id": row["id"],
        "rail": row["rail"],
        "brand": row["brand"],
        "last4": row["last4"],
        "expMonth": row["exp_month"],
        "expYear": row["exp_year"],
        "bankName": row["bank_name"],
        "owner": "customer" if customer_owned else "identity",
        "customerId": row["customer_id"] if customer_owned else None,
        "usable": is_usable(row),
        "isDefault": row["id"] == default_id,
        "createdAt": format_ts(row["created_at"]),
    }


async def _customer(ctx: RepositoryContext, customer_id: str, *, for_update: bool = False) -> DbRow:
    row = await ctx.repo(CustomerRepository).get_row(customer_id, for_update=for_update)
    if row is None:
        raise not_found("No such customer")
    return row


async def _has_chargeable_default(ctx: RepositoryContext, customer: DbRow) -> bool:
    return await resolve_method(ctx, customer, None) is not None


async def list_methods(ctx: RepositoryContext, customer_id: str) -> dict[str, Any]:
    """Every method attached to the customer or its identity in one page: the default first, then newest first.

    Disabled methods are listed (with `usable: false`) so the merchant can see and delete them: they still count
    towards the 50-method limit. Pending checkout methods are not the customer's yet and are left out."""
    customer = await _customer(ctx, customer_id)
    default_id = customer["default_payment_method_id"]
    rows = await ctx.repo(PaymentMethodRepository).attached(customer["id"], customer["identity_id"])
    items = [payment_method_json(r, default_id) for r in order_default_first(rows, default_id)]
    return {"object": "list", "items": items, "nextCursor": None, "hasMore": False}


async def add_test_method(
    ctx: RepositoryContext, customer_id: str, body: PaymentMethodCreate
) -> tuple[dict[str, Any], bool]:
    """Attach a simulator method (03 §13.2); answers the method and whether it was created (201) rather than the
    one the customer already has for this number on this rail (200). Test mode only: live methods come from
    checkout or the portal."""
    if ctx.livemode:
        raise forbidden("test_mode_only", "Payment methods can be attached by API in test mode only")
    customer = await _customer(ctx, customer_id, for_update=True)
    rail, number = body.resolved_rail, normalize_number(body.number)
    if lookup(rail, number) is None:
        raise invalid_field(body.number_path, "not a simulator test number (03 §2)", "unknown_test_number")
    card = body.test_card
    if card is not None and card_expired(card.exp_month, card.exp_year, ctx.clock.now()):
        path = "testCard.expYear" if card.exp_year < ctx.clock.now().year else "testCard.expMonth"
        raise invalid_field(path, "the card expired before the current month", "invalid_expiry")

    repo = ctx.repo(PaymentMethodRepository)
    fp = fingerprint(rail, number)
    method = await repo.by_fingerprint(customer["id"], fp)
    created = False
    if method is None:
        if await repo.count_owned(customer["id"]) >= MAX_METHODS_PER_OWNER:
            raise conflict(
                "payment_method_limit_reached",
                f"A customer holds at most {MAX_METHODS_PER_OWNER} payment methods; delete one first",
            )
        now = ctx.clock.now()
        values = simulator_method_values(
            rail,
            number,
            exp_month=card.exp_month if card is not None else None,
            exp_year=card.exp_year if card is not None else None,
            now=now,
        )
        method = await repo.insert_if_new({**values, "customer_id": customer["id"], "status": "active"})
        # The customer lock makes a concurrent duplicate impossible here; should another path attach the same
        # number without that lock, the unique index still decides and the existing method is answered.
        created = method is not None
        method = method or await repo.by_fingerprint(customer["id"], fp)
        assert method is not None

    default_id = customer["default_payment_method_id"]
    make_default = body.set_default
    if make_default is None:
        make_default = not await _has_chargeable_default(ctx, customer)
        # An existing method that can no longer be charged is not made the default implicitly.
        make_default = make_default and is_usable(method)
    elif make_default and not is_chargeable_by(method, customer):
        raise unusable("setDefault")
    if make_default and default_id != method["id"]:
        await set_default_payment_method(ctx, customer, method["id"])
        default_id = method["id"]
    return payment_method_json(method, default_id), created


async def delete_method(ctx: RepositoryContext, customer_id: str, pm_id: str) -> dict[str, Any]:
    """Delete a customer-owned method (03 §13.2) and clear the customer's default if it was that method.

    The row is really deleted, as the spec says: its token and fingerprint go with it, and saving the number again
    creates a new method. Transactions keep their own `paymentMethodId` and `rail`. Identity-owned methods belong
    to the phone identity, not to this merchant (403). Answers the method as it was when deleted."""
    customer = await _customer(ctx, customer_id, for_update=True)
    repo = ctx.repo(PaymentMethodRepository)
    found = await repo.find_visible(pm_id, customer["identity_id"])
    if found is None or found["status"] != "active" or not is_owned_by(found, customer):
        raise not_found("No such payment method")
    if found["tenant_id"] is None:
        raise forbidden(
            "insufficient_permission", "This payment method belongs to the customer's identity; it cannot be removed"
        )
    method = await repo.get_row(found["id"], for_update=True)
    if method is None:  # deleted by a path that does not lock the customer
        raise not_found("No such payment method")
    if await repo.used_by_live_subscription(method["id"]):
        raise conflict("payment_method_in_use", "A subscription that has not ended uses this payment method")
    await repo.delete_owned(method["id"])
    default_id = customer["default_payment_method_id"]
    if default_id == method["id"]:
        await set_default_payment_method(ctx, customer, None)
    return payment_method_json(method, default_id)
