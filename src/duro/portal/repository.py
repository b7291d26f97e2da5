"""SQL of the customer portal (06 §7).

The list reads one identity's subscriptions at every merchant of one mode, so its first statement spans tenants
by design (the identity, not a tenant, is the scope); every later one is bounded by the tenant ids it found. The
per-subscription statements (actions, invoices) first find the subscription by id in the mode, then everything
else is tenant-scoped through the usual repositories.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Final

from sqlalchemy import Select, and_, func, or_, select

from duro.appearance.repository import published_select
from duro.db.executor import Connection
from duro.db.repository import DbRow, storable
from duro.models.billing import invoices, subscriptions
from duro.models.core import tenants
from duro.models.customers import customers
from duro.models.payment_methods import payment_methods as pm
from duro.models.plans import plans

ACROSS_TENANTS: Final = "/* unscoped: the portal reads one identity's customers at every merchant */"
BY_SUBSCRIPTION_ID: Final = "/* unscoped: the portal finds a subscription by id, then checks its customer */"

# Never shown: a first payment that never happened is not a subscription the customer has (03 §4).
HIDDEN_STATUSES: Final = ("incomplete_expired",)

_PM_COLUMNS = (pm.c.rail.label("pm_rail"), pm.c.brand.label("pm_brand"), pm.c.last4.label("pm_last4"))
_SUB_COLUMNS = (
    subscriptions.c.id,
    subscriptions.c.tenant_id,
    subscriptions.c.customer_id,
    subscriptions.c.plan_id,
    subscriptions.c.status,
    subscriptions.c.cancel_at_period_end,
    subscriptions.c.current_period_end,
    subscriptions.c.created_at,
)


def _charged_method() -> Any:
    """The subscription's own method (customer- or identity-owned), else its customer's default: the method a
    renewal charges (03 §6), so the portal shows what will actually be charged."""
    return pm.c.id == func.coalesce(subscriptions.c.payment_method_id, customers.c.default_payment_method_id)


def _subscriptions_with_method() -> Any:
    owner = and_(customers.c.tenant_id == subscriptions.c.tenant_id, customers.c.id == subscriptions.c.customer_id)
    return subscriptions.join(customers, owner).outerjoin(pm, _charged_method())


def _with_method(stmt: Select[Any]) -> Select[Any]:
    """Left-join the method a renewal would charge (see `_charged_method`)."""
    return stmt.select_from(_subscriptions_with_method())


async def customers_of(conn: Connection, phone: str, identity_id: str) -> list[DbRow]:
    """Query 1: the identity's customers in the connection's mode, all tenants: same phone, or linked."""
    stmt = (
        select(customers.c.id, customers.c.tenant_id)
        .where(or_(customers.c.phone == phone, customers.c.identity_id == identity_id))
        .prefix_with(ACROSS_TENANTS)
    )
    return list((await conn.execute(stmt)).all())


async def subscriptions_of(conn: Connection, tenant_ids: Collection[str], customer_ids: Collection[str]) -> list[DbRow]:
    """Query 2: those customers' subscriptions with their method, newest first. Customer ids are unique across
    tenants; the tenant filter keeps the statement on the `(tenant_id, customer_id, …)` index."""
    stmt = _with_method(select(*_SUB_COLUMNS, *_PM_COLUMNS)).where(
        subscriptions.c.tenant_id.in_(sorted(tenant_ids)),
        subscriptions.c.customer_id.in_(sorted(customer_ids)),
        subscriptions.c.status.not_in(HIDDEN_STATUSES),
    )
    stmt = stmt.order_by(subscriptions.c.created_at.desc(), subscriptions.c.id.desc())
    return list((await conn.execute(stmt)).all())


async def plans_by_id(conn: Connection, tenant_ids: Collection[str], plan_ids: Collection[str]) -> dict[str, DbRow]:
    """Query 3."""
    stmt = select(
        plans.c.id, plans.c.name, plans.c.amount, plans.c.currency, plans.c.interval, plans.c.interval_count
    ).where(plans.c.tenant_id.in_(sorted(tenant_ids)), plans.c.id.in_(sorted(plan_ids)))
    return {row["id"]: row for row in (await conn.execute(stmt)).all()}


async def merchants(conn: Connection, tenant_ids: Collection[str]) -> list[DbRow]:
    """Query 4: the tenants with their published appearance (`core`, shared by both modes)."""
    stmt = published_select().where(tenants.c.id.in_(sorted(tenant_ids)))
    return list((await conn.execute(stmt)).all())


async def owned_subscription(conn: Connection, sub_id: str) -> DbRow | None:
    """The subscription `sub_id` of the connection's mode with its customer's phone and identity link, whatever
    its tenant (the caller checks that the customer is the identity's before anything else happens)."""
    if not storable(sub_id):
        return None
    stmt = (
        select(
            subscriptions.c.id,
            subscriptions.c.tenant_id,
            subscriptions.c.status,
            subscriptions.c.customer_id,
            customers.c.phone.label("customer_phone"),
            customers.c.identity_id.label("customer_identity_id"),
        )
        .select_from(
            subscriptions.join(
                customers,
                and_(customers.c.tenant_id == subscriptions.c.tenant_id, customers.c.id == subscriptions.c.customer_id),
            )
        )
        .where(subscriptions.c.id == sub_id)
        .prefix_with(BY_SUBSCRIPTION_ID)
    )
    return (await conn.execute(stmt)).first()


async def one_subscription(conn: Connection, tenant_id: str, sub_id: str) -> tuple[DbRow, dict[str, Any]] | None:
    """One subscription (with its method) and its plan, for an action's answer: one statement."""
    plan_columns = (
        plans.c.name.label("plan_name"),
        plans.c.amount.label("plan_amount"),
        plans.c.currency.label("plan_currency"),
        plans.c.interval.label("plan_interval"),
        plans.c.interval_count.label("plan_interval_count"),
    )
    stmt = (
        select(*_SUB_COLUMNS, *_PM_COLUMNS, *plan_columns)
        .select_from(
            _subscriptions_with_method().join(
                plans, and_(plans.c.tenant_id == subscriptions.c.tenant_id, plans.c.id == subscriptions.c.plan_id)
            )
        )
        .where(subscriptions.c.tenant_id == tenant_id, subscriptions.c.id == sub_id)
    )
    row = (await conn.execute(stmt)).first()
    if row is None:
        return None
    plan = {
        "id": row["plan_id"],
        "name": row["plan_name"],
        "amount": row["plan_amount"],
        "currency": row["plan_currency"],
        "interval": row["plan_interval"],
        "interval_count": row["plan_interval_count"],
    }
    return row, plan


async def payable_invoice(conn: Connection, tenant_id: str, sub_id: str) -> str | None:
    """The subscription's newest `open` or `uncollectible` invoice: the one a retry charges."""
    stmt = (
        select(invoices.c.id)
        .where(
            invoices.c.tenant_id == tenant_id,
            invoices.c.subscription_id == sub_id,
            invoices.c.status.in_(("open", "uncollectible")),
        )
        .order_by(invoices.c.created_at.desc(), invoices.c.id.desc())
        .limit(1)
    )
    found: str | None = (await conn.execute(stmt)).scalar()
    return found
