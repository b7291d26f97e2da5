"""The customer portal (06 §7): one identity's subscriptions at every merchant of one mode, and the actions the
merchant's published portal permissions allow, run through the same domain services as /v1.

Every per-subscription request re-verifies, in this order: the identity token (router) → the subscription exists
in the mode → its customer has the identity's phone or is linked to the identity (else 404, and nothing changed)
→ the merchant's published permission (else 403 `portal_action_disabled`) → the domain service, with actor
`customer` and `requested_by="customer"`. The check runs inside the transaction of the action itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from duro.api.unit import Refused, Step
from duro.appearance.service import published_for, published_from_row
from duro.appearance.surfaces import DEFAULT_PORTAL_PERMISSIONS
from duro.billing.lifecycle import Action, transition
from duro.context import RepositoryContext
from duro.customers.service import link_identity
from duro.db.engine import Mode
from duro.db.executor import Connection
from duro.db.repository import DbRow
from duro.identity.auth import Identity
from duro.identity.repository import IdentityMethodRepository
from duro.invoices.pay import prepare_pay
from duro.invoices.repository import InvoiceRepository
from duro.invoices.schemas import PayRequest
from duro.kit.errors import conflict, forbidden, invalid_field, not_found
from duro.kit.jsonenc import format_ts
from duro.kit.pagination import PageRequest
from duro.models.billing import invoices
from duro.portal import repository as repo
from duro.portal.schemas import PortalCancel, PortalPaymentMethod
from duro.subscriptions import actions
from duro.subscriptions.repository import SubscriptionRepository
from duro.subscriptions.schemas import CancelRequest, SubscriptionUpdate

PORTAL_RETRY: Final = "portal_retry"
CHARGING_STATUSES: Final = ("active", "trialing")


# --- JSON ---------------------------------------------------------------------------------------------------------


def _plan_json(plan: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": plan["id"],
        "name": plan["name"],
        "amount": plan["amount"],
        "currency": plan["currency"],
        "interval": plan["interval"],
        "intervalCount": plan["interval_count"],
    }


def subscription_json(row: Mapping[str, Any], plan: Mapping[str, Any]) -> dict[str, Any]:
    """A subscription as the portal shows it. `nextChargeAt` = `currentPeriodEnd` for `active`/`trialing`
    without `cancelAtPeriodEnd`, else null."""
    period_end = format_ts(row["current_period_end"])
    charges = row["status"] in CHARGING_STATUSES and not row["cancel_at_period_end"]
    method = None
    if row["pm_rail"] is not None:
        method = {"rail": row["pm_rail"], "brand": row["pm_brand"], "last4": row["pm_last4"]}
    return {
        "id": row["id"],
        "status": row["status"],
        "cancelAtPeriodEnd": row["cancel_at_period_end"],
        "currentPeriodEnd": period_end,
        "nextChargeAt": period_end if charges else None,
        "amount": plan["amount"],
        "currency": plan["currency"],
        "plan": _plan_json(plan),
        "paymentMethod": method,
    }


def permissions_of(published: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {**DEFAULT_PORTAL_PERMISSIONS, **(published["portal"].get("permissions") or {})}


def merchant_json(tenant_id: str, published: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A merchant's portal branding: `general` cascaded into `portal` (06 §8)."""
    portal = published["portal"]
    return {
        "tenantId": tenant_id,
        "merchantName": published["general"]["displayName"],
        "logoUrl": portal.get("logo"),
        "brandColor": portal["brandColor"],
        "portal": {
            "heading": portal.get("heading"),
            "supportUrl": portal.get("supportUrl"),
            "permissions": permissions_of(published),
        },
    }


def invoice_json(row: DbRow) -> dict[str, Any]:
    return {
        "id": row["id"],
        "status": row["status"],
        "amount": row["amount"],
        "amountRefunded": row["amount_refunded"],
        "currency": row["currency"],
        "periodStart": format_ts(row["period_start"]),
        "periodEnd": format_ts(row["period_end"]),
        "paidAt": format_ts(row["paid_at"]),
    }


# --- the list -----------------------------------------------------------------------------------------------------


async def list_subscriptions(conn: Connection, identity: Identity, mode: Mode) -> dict[str, Any]:
    """`GET /portal/subscriptions` (06 §7): four statements when the identity has customers with subscriptions,
    one when it has no customer (and two when its customers have no subscription: nothing to name or brand).
    Merchants are ordered by name, subscriptions newest first."""
    out: dict[str, Any] = {"object": "portal_subscriptions", "mode": mode, "merchants": []}
    found = await repo.customers_of(conn, identity.phone, identity.id)
    if not found:
        return out
    tenant_ids = {c["tenant_id"] for c in found}
    subs = await repo.subscriptions_of(conn, tenant_ids, {c["id"] for c in found})
    if not subs:
        return out
    tenant_ids = {s["tenant_id"] for s in subs}
    plans = await repo.plans_by_id(conn, tenant_ids, {s["plan_id"] for s in subs})
    grouped: dict[str, list[dict[str, Any]]] = {}
    for s in subs:
        grouped.setdefault(s["tenant_id"], []).append(subscription_json(s, plans[s["plan_id"]]))
    merchants = [merchant_json(r["tenant_id"], published_from_row(r)) for r in await repo.merchants(conn, tenant_ids)]
    merchants.sort(key=lambda m: ((m["merchantName"] or "").casefold(), m["tenantId"]))
    out["merchants"] = [{**m, "subscriptions": grouped[m["tenantId"]]} for m in merchants]
    return out


# --- per-subscription checks --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """A subscription the identity may act on, with its merchant's published portal permissions."""

    tenant_id: str
    sub_id: str
    status: str
    customer_id: str
    permissions: Mapping[str, Any]


async def authorize(conn: Connection, identity: Identity, sub_id: str, permission: str) -> Target:
    """404 unless the subscription exists in the connection's mode and its customer is the identity's (same phone
    or linked); then 403 `portal_action_disabled` unless the merchant's published `permission` is on."""
    row = await repo.owned_subscription(conn, sub_id)
    if row is None or (row["customer_phone"] != identity.phone and row["customer_identity_id"] != identity.id):
        raise not_found("No such subscription")
    permissions = permissions_of(await published_for(conn, row["tenant_id"]))
    if not permissions.get(permission):
        raise forbidden("portal_action_disabled", "The merchant does not allow this from the customer portal")
    return Target(row["tenant_id"], row["id"], row["status"], row["customer_id"], permissions)


async def current(ctx: RepositoryContext, sub_id: str) -> dict[str, Any]:
    """The subscription in the portal shape (the answer of every action)."""
    found = await repo.one_subscription(ctx.conn, ctx.tenant_id, sub_id)
    if found is None:
        raise not_found("No such subscription")
    return subscription_json(*found)


# --- actions ------------------------------------------------------------------------------------------------------


# Each action returns None when it is done, or the two-transaction step of a charge (`portal.runner` answers the
# subscription as it then is, whatever the domain service returned).
Outcome = Step | Refused | None


async def cancel(ctx: RepositoryContext, target: Target, body: PortalCancel) -> Outcome:
    """`cancelMode: period_end` forces `atPeriodEnd: true`; `immediate` honours the request."""
    at_end = True if target.permissions["cancelMode"] == "period_end" else body.at_period_end
    request = CancelRequest.model_validate({"atPeriodEnd": at_end})
    await actions.cancel_subscription(ctx, target.sub_id, request, requested_by="customer")
    return None


async def pause(ctx: RepositoryContext, target: Target) -> Outcome:
    await actions.pause_subscription(ctx, target.sub_id)
    return None


async def resume(ctx: RepositoryContext, target: Target) -> Outcome:
    """May renew at once (03 §7): then the charge runs between two transactions, like every charge."""
    return await actions.prepare_resume(ctx, target.sub_id)


async def set_payment_method(
    ctx: RepositoryContext, target: Target, identity: Identity, body: PortalPaymentMethod
) -> Outcome:
    """An identity-owned method of this mode becomes the subscription's. The customer is linked to the identity
    first (`customer_updated`), which is what lets the subscription's customer be charged with it; a customer
    linked to another identity is 409 `identity_conflict`. Lock order: subscription → customer → method."""
    await ctx.repo(SubscriptionRepository).get_row(target.sub_id, for_update=True)
    method = await IdentityMethodRepository(ctx.conn, identity.id).get_for_update(body.payment_method_id)
    if method is None:
        raise not_found("No such payment method", path="paymentMethodId")
    if method["disabled_at"] is not None:
        raise invalid_field("paymentMethodId", "the payment method is disabled", "payment_method_unusable")
    await link_identity(ctx, target.customer_id, identity.id)
    update = SubscriptionUpdate.model_validate({"paymentMethodId": method["id"]})
    await actions.update_subscription(ctx, target.sub_id, update)
    return None


async def retry_payment(ctx: RepositoryContext, target: Target) -> Outcome:
    """Charge the open/uncollectible invoice of a `past_due` or `incomplete` subscription now (04 §4): source
    `portal_retry`, never a dunning attempt; success recovers (or activates), a decline leaves the schedule as it
    was and answers 402."""
    sub = await ctx.repo(SubscriptionRepository).get_row(target.sub_id)
    if sub is None:
        raise not_found("No such subscription")
    if sub["status"] != "incomplete":
        transition(sub["status"], Action.RECOVER)  # 409 `illegal_transition` unless past_due
    invoice_id = await repo.payable_invoice(ctx.conn, ctx.tenant_id, target.sub_id)
    if invoice_id is None:
        raise conflict("invoice_not_payable", "This subscription has no invoice to pay")
    return await prepare_pay(ctx, invoice_id, PayRequest(), source=PORTAL_RETRY)


async def list_invoices(ctx: RepositoryContext, target: Target, page: PageRequest) -> dict[str, Any]:
    result = await ctx.repo(InvoiceRepository).page(page, [invoices.c.subscription_id == target.sub_id])
    return result.map(invoice_json).as_json()
