"""SQL for payment methods (03 §1.3).

Customer-owned methods carry the tenant id and are scoped like every tenant table. Identity-owned methods have
`tenant_id` NULL (one identity's methods serve every tenant of the mode whose customer is linked to it), so the
statements that can reach them filter on the identity id instead and carry the `/* unscoped: … */` marker the
tenancy guard accepts. Only an identity id read from this tenant's own customer row is ever passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, and_, delete, exists, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert

from duro.db.repository import DbRow, TenantRepository, storable
from duro.models.billing import subscriptions
from duro.models.payment_methods import payment_methods as pm

IDENTITY_OWNED: Final = "/* unscoped: identity-owned methods */"

# Subscription statuses that no longer use a method (03 §4); any other status keeps its method in use.
TERMINAL_SUBSCRIPTION_STATUSES: Final = ("canceled", "expired", "incomplete_expired")

# The partial unique index behind "one method per number per owner" (models/payment_methods.py).
_CUSTOMER_FINGERPRINT_WHERE = text("customer_id IS NOT NULL AND status = 'active'")


class PaymentMethodRepository(TenantRepository):
    table = pm

    def _reachable(self, customer_id: str, identity_id: str | None) -> ColumnElement[bool]:
        """Methods attached to the customer: its own, plus its identity's (03 §1.3 "chargeable by")."""
        own = and_(pm.c.tenant_id == self.tenant_id, pm.c.customer_id == customer_id)
        if identity_id is None:
            return own
        return or_(own, and_(pm.c.tenant_id.is_(None), pm.c.identity_id == identity_id))

    async def attached(self, customer_id: str, identity_id: str | None) -> list[DbRow]:
        """Every attached (not pending) method of the customer and its identity, disabled ones included,
        newest first."""
        stmt = (
            select(pm)
            .where(self._reachable(customer_id, identity_id), pm.c.status == "active")
            .order_by(pm.c.created_at.desc(), pm.c.id.desc())
        )
        if identity_id is not None:
            stmt = stmt.prefix_with(IDENTITY_OWNED)
        return list((await self.conn.execute(stmt)).all())

    async def find_visible(self, pm_id: str, identity_id: str | None) -> DbRow | None:
        """A method of this tenant (any customer, any status) or of the given identity; None otherwise.

        This is the "exists in this tenant + mode" of 01 §5: another identity's methods are not visible here."""
        if not storable(pm_id):
            return None
        if identity_id is None:
            return await self.get_row(pm_id)
        where = and_(
            pm.c.id == pm_id,
            or_(pm.c.tenant_id == self.tenant_id, and_(pm.c.tenant_id.is_(None), pm.c.identity_id == identity_id)),
        )
        row: DbRow | None = (await self.conn.execute(select(pm).where(where).prefix_with(IDENTITY_OWNED))).first()
        return row

    async def find_any(self, pm_id: str) -> DbRow | None:
        """A method of this tenant or any identity-owned method, by id, whatever its state. For callers that
        already hold the id from this tenant's own rows (a transaction's `paymentMethodId`)."""
        if not storable(pm_id):
            return None
        stmt = (
            select(pm)
            .where(pm.c.id == pm_id, or_(pm.c.tenant_id == self.tenant_id, pm.c.tenant_id.is_(None)))
            .prefix_with(IDENTITY_OWNED)
        )
        row: DbRow | None = (await self.conn.execute(stmt)).first()
        return row

    async def lock_for_use(self, pm_id: str) -> None:
        """`FOR KEY SHARE` on the method: it cannot be deleted until this transaction ends (a concurrent delete
        waits, then sees the subscription that now uses it), while disabling it stays possible."""
        stmt = (
            select(pm.c.id)
            .where(pm.c.id == pm_id, or_(pm.c.tenant_id == self.tenant_id, pm.c.tenant_id.is_(None)))
            .with_for_update(read=True, key_share=True)
            .prefix_with(IDENTITY_OWNED)
        )
        await self.conn.execute(stmt)

    async def by_fingerprint(self, customer_id: str, fingerprint: str) -> DbRow | None:
        stmt = select(pm).where(
            self.scoped(pm.c.customer_id == customer_id, pm.c.fingerprint == fingerprint, pm.c.status == "active")
        )
        row: DbRow | None = (await self.conn.execute(stmt)).first()
        return row

    async def count_owned(self, customer_id: str) -> int:
        """Methods the customer holds for the 50-per-owner limit; disabled ones still count (they are held and
        listed until deleted)."""
        return await self.count(pm.c.customer_id == customer_id, pm.c.status == "active")

    async def insert_if_new(self, values: Mapping[str, Any]) -> DbRow | None:
        """Insert a customer-owned method; None when the owner already has this fingerprint (the unique index
        decides, so two concurrent saves of one number cannot both create a method)."""
        stmt = (
            insert(pm)
            .values({**values, "tenant_id": self.tenant_id})
            .on_conflict_do_nothing(
                index_elements=[pm.c.tenant_id, pm.c.customer_id, pm.c.fingerprint],
                index_where=_CUSTOMER_FINGERPRINT_WHERE,
            )
            .returning(pm)
        )
        row: DbRow | None = (await self.conn.execute(stmt)).first()
        return row

    async def delete_owned(self, pm_id: str) -> DbRow | None:
        stmt = delete(pm).where(self.scoped(pm.c.id == pm_id)).returning(pm)
        row: DbRow | None = (await self.conn.execute(stmt)).first()
        return row

    async def disable(self, pm_id: str, at: datetime) -> DbRow | None:
        """Set `disabled_at` once (a later disable keeps the first instant); the row, or None if not visible."""
        if not storable(pm_id):
            return None
        stmt = (
            update(pm)
            .where(pm.c.id == pm_id, or_(pm.c.tenant_id == self.tenant_id, pm.c.tenant_id.is_(None)))
            .values(disabled_at=func.coalesce(pm.c.disabled_at, at), updated_at=at)
            .returning(pm)
            .prefix_with(IDENTITY_OWNED)
        )
        row: DbRow | None = (await self.conn.execute(stmt)).first()
        return row

    async def used_by_live_subscription(self, pm_id: str) -> bool:
        """True when a non-terminal subscription of this tenant names the method as its `paymentMethodId`."""
        s = subscriptions
        stmt = select(
            exists().where(
                s.c.tenant_id == self.tenant_id,
                s.c.payment_method_id == pm_id,
                s.c.status.not_in(TERMINAL_SUBSCRIPTION_STATUSES),
            )
        )
        return bool((await self.conn.execute(stmt)).scalar())
