"""Customer rules: unique merchantRef, blacklist, events and audit for every change."""

from __future__ import annotations

from typing import Any

from duro.audit.service import record as audit
from duro.context import RepositoryContext
from duro.customers.repository import CustomerRepository
from duro.customers.schemas import BlacklistRequest, CustomerCreate, CustomerUpdate
from duro.db.executor import UniqueViolation
from duro.db.repository import DbRow
from duro.events.service import emit
from duro.kit.errors import DuroError, conflict, not_found
from duro.kit.ids import new_id
from duro.kit.jsonenc import format_ts, to_camel
from duro.kit.pagination import PageRequest
from duro.payment_methods.chargeable import get_chargeable


def customer_json(row: DbRow) -> dict[str, Any]:
    return {
        "object": "customer",
        "id": row["id"],
        "email": row["email"],
        "phone": row["phone"],
        "name": row["name"],
        "merchantRef": row["merchant_ref"],
        "metadata": row["metadata"],
        "blacklisted": row["blacklisted"],
        "blacklistReason": row["blacklist_reason"],
        "blacklistedAt": format_ts(row["blacklisted_at"]),
        "identityId": row["identity_id"],
        "defaultPaymentMethodId": row["default_payment_method_id"],
        "createdAt": format_ts(row["created_at"]),
        "updatedAt": format_ts(row["updated_at"]),
    }


def _duplicate_ref() -> DuroError:
    return conflict("duplicate_merchant_ref", "Another customer already has this merchantRef")


def _previous(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """`previousAttributes`: the old value of every field that changed (camelCase, JSON form)."""
    return {k: v for k, v in before.items() if after.get(k) != v and k != "updatedAt"}


async def _load_for_update(ctx: RepositoryContext, customer_id: str) -> DbRow:
    row = await ctx.repo(CustomerRepository).get_row(customer_id, for_update=True)
    if row is None:
        raise not_found("No such customer")
    return row


async def create_customer(ctx: RepositoryContext, body: CustomerCreate) -> dict[str, Any]:
    repo = ctx.repo(CustomerRepository)
    now = ctx.clock.now()
    try:
        row = await repo.insert_row(
            {
                "id": new_id("cus"),
                "email": body.email,
                "phone": body.phone,
                "name": body.name,
                "merchant_ref": body.merchant_ref,
                "metadata": body.metadata,
                "created_at": now,
                "updated_at": now,
            }
        )
    except UniqueViolation as exc:  # the constraint is the check: no read-then-write race to lose
        raise _duplicate_ref() from exc
    out = customer_json(row)
    await emit(ctx, "customer_created", out)
    return out


async def get_customer(ctx: RepositoryContext, customer_id: str) -> dict[str, Any]:
    row = await ctx.repo(CustomerRepository).get_row(customer_id)
    if row is None:
        raise not_found("No such customer")
    return customer_json(row)


async def get_customer_by_ref(ctx: RepositoryContext, merchant_ref: str) -> dict[str, Any]:
    row = await ctx.repo(CustomerRepository).by_merchant_ref(merchant_ref)
    if row is None:
        raise not_found("No customer has this merchantRef")
    return customer_json(row)


async def list_customers(
    ctx: RepositoryContext,
    page: PageRequest,
    *,
    email: str | None,
    phone: str | None,
    merchant_ref: str | None,
    blacklisted: bool | None,
) -> dict[str, Any]:
    result = await ctx.repo(CustomerRepository).list_page(
        page, email=email, phone=phone, merchant_ref=merchant_ref, blacklisted=blacklisted
    )
    return result.map(customer_json).as_json()


async def _apply(ctx: RepositoryContext, row: DbRow, changes: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Write `changes` if any differ; emit `customer_updated` with `previousAttributes`."""
    before = customer_json(row)
    real = {k: v for k, v in changes.items() if getattr(row, k) != v}
    if not real:
        return before, False
    try:
        updated = await ctx.repo(CustomerRepository).update_row(row.id, {**real, "updated_at": ctx.clock.now()})
    except UniqueViolation as exc:
        raise _duplicate_ref() from exc
    assert updated is not None  # locked above
    after = customer_json(updated)
    await emit(ctx, "customer_updated", after, previousAttributes=_previous(before, after))
    return after, True


async def update_customer(ctx: RepositoryContext, customer_id: str, body: CustomerUpdate) -> dict[str, Any]:
    changes = body.provided()
    row = await _load_for_update(ctx, customer_id)
    if changes.get("merchant_ref") is not None and changes["merchant_ref"] != row.merchant_ref:
        other = await ctx.repo(CustomerRepository).by_merchant_ref(changes["merchant_ref"])
        if other is not None:
            raise _duplicate_ref()
    pm_id = changes.get("default_payment_method_id")
    if pm_id is not None and pm_id != row.default_payment_method_id:
        # 404 naming the field when no such method exists here, 422 `payment_method_unusable` when it does but
        # this customer cannot be charged with it (03 §1.2). Re-sending the current default changes nothing.
        await get_chargeable(ctx, row, pm_id, field=to_camel("default_payment_method_id"))
    out, _ = await _apply(ctx, row, changes)
    return out


async def set_default_payment_method(ctx: RepositoryContext, row: DbRow, pm_id: str | None) -> dict[str, Any]:
    """Point the (locked) customer `row` at `pm_id` (or clear it) and emit `customer_updated` when it changed.
    The caller has checked that the method is chargeable by the customer."""
    out, _ = await _apply(ctx, row, {"default_payment_method_id": pm_id})
    return out


async def link_identity(ctx: RepositoryContext, customer_id: str, identity_id: str) -> dict[str, Any]:
    """Link the customer to a phone identity (06 §7, portal `payment-method`), emitting `customer_updated` when
    it was not linked yet; 409 `identity_conflict` when it is linked to another identity."""
    row = await _load_for_update(ctx, customer_id)
    if row.identity_id is not None and row.identity_id != identity_id:
        raise conflict("identity_conflict", "This customer is linked to another phone")
    out, _ = await _apply(ctx, row, {"identity_id": identity_id})
    return out


async def blacklist_customer(ctx: RepositoryContext, customer_id: str, body: BlacklistRequest) -> dict[str, Any]:
    row = await _load_for_update(ctx, customer_id)
    changes: dict[str, Any] = {"blacklisted": True, "blacklist_reason": body.reason}
    if not row.blacklisted:
        changes["blacklisted_at"] = ctx.clock.now()
    out, changed = await _apply(ctx, row, changes)
    if changed:
        before = {"blacklisted": row.blacklisted, "blacklistReason": row.blacklist_reason}
        after = {"blacklisted": True, "blacklistReason": body.reason}
        # Audit `before`/`after` hold changed fields only (02 §9): a re-blacklist changes just the reason.
        keys = [k for k in before if before[k] != after[k]]
        await audit(
            ctx,
            "customer.blacklisted",
            target_type="customer",
            target_id=row.id,
            before={k: before[k] for k in keys},
            after={k: after[k] for k in keys},
        )
    return out


async def unblacklist_customer(ctx: RepositoryContext, customer_id: str) -> dict[str, Any]:
    row = await _load_for_update(ctx, customer_id)
    out, changed = await _apply(ctx, row, {"blacklisted": False, "blacklist_reason": None, "blacklisted_at": None})
    if changed:
        await audit(
            ctx,
            "customer.unblacklisted",
            target_type="customer",
            target_id=row.id,
            before={"blacklisted": True, "blacklistReason": row.blacklist_reason},
            after={"blacklisted": False, "blacklistReason": None},
        )
    return out
