"""SQL for KYC: a tenant's documents and KYC fields (`KycStore`, scoped to one tenant at construction) and the
staff views across tenants (`StaffKycQueries`, used only behind the staff key)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update

from duro.db.executor import Connection
from duro.db.repository import DbRow, storable
from duro.models.core import members, tenants
from duro.models.kyc import kyc_documents as kd

CURRENT_STATUSES = ("pending", "approved", "rejected")


class KycStore:
    def __init__(self, conn: Connection, tenant_id: str) -> None:
        if not tenant_id:
            raise ValueError("a KYC store needs a tenant id")
        self.conn = conn
        self.tenant_id = tenant_id

    async def tenant(self, *, for_update: bool = False) -> DbRow | None:
        """The tenant row; locked when a KYC change follows, so uploads, submission and review of one tenant
        happen one at a time."""
        stmt = select(tenants).where(tenants.c.id == self.tenant_id)
        if for_update:
            stmt = stmt.with_for_update()
        row: DbRow | None = (await self.conn.execute(stmt)).first()
        return row

    async def update_tenant(self, values: Mapping[str, Any]) -> None:
        await self.conn.execute(update(tenants).where(tenants.c.id == self.tenant_id).values(**values))

    async def current_documents(self) -> dict[str, DbRow]:
        """The newest non-superseded document of each type."""
        stmt = (
            select(kd)
            .where(kd.c.tenant_id == self.tenant_id, kd.c.status.in_(CURRENT_STATUSES))
            .order_by(kd.c.type, kd.c.created_at.desc(), kd.c.id.desc())
        )
        found: dict[str, DbRow] = {}
        for row in (await self.conn.execute(stmt)).all():
            found.setdefault(row.type, row)
        return found

    async def document(self, kyc_id: str) -> DbRow | None:
        if not storable(kyc_id):
            return None
        stmt = select(kd).where(kd.c.tenant_id == self.tenant_id, kd.c.id == kyc_id)
        row: DbRow | None = (await self.conn.execute(stmt)).first()
        return row

    async def supersede_pending(self, doc_type: str) -> list[str]:
        stmt = (
            update(kd)
            .where(kd.c.tenant_id == self.tenant_id, kd.c.type == doc_type, kd.c.status == "pending")
            .values(status="superseded")
            .returning(kd.c.id)
        )
        return [r.id for r in (await self.conn.execute(stmt)).all()]

    async def insert(self, values: Mapping[str, Any]) -> DbRow:
        stmt = insert(kd).values(**values, tenant_id=self.tenant_id).returning(kd)
        row: DbRow = (await self.conn.execute(stmt)).one()
        return row

    async def review(self, ids: list[str], status: str, note: str | None, at: datetime) -> None:
        await self.conn.execute(
            update(kd)
            .where(kd.c.tenant_id == self.tenant_id, kd.c.id.in_(ids))
            .values(status=status, review_note=note, reviewed_at=at)
        )

    async def owner_emails(self) -> list[str]:
        stmt = (
            select(members.c.email)
            .where(members.c.tenant_id == self.tenant_id, members.c.role == "owner")
            .order_by(members.c.created_at)
        )
        return [r.email for r in (await self.conn.execute(stmt)).all()]


def _owner_email() -> Any:
    return (
        select(members.c.email)
        .where(members.c.tenant_id == tenants.c.id, members.c.role == "owner")
        .order_by(members.c.created_at)
        .limit(1)
        .scalar_subquery()
        .label("owner_email")
    )


class StaffKycQueries:
    """Cross-tenant reads of the staff console (07 §14). Nothing here is reachable without the staff key."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def pending(self, limit: int = 200) -> list[DbRow]:
        """Tenants waiting for review, oldest submission first."""
        stmt = (
            select(tenants, _owner_email())
            .where(tenants.c.kyc_status == "pending")
            .order_by(tenants.c.kyc_submitted_at.asc().nulls_last(), tenants.c.id)
            .limit(limit)
        )
        return list((await self.conn.execute(stmt)).all())

    async def tenant(self, tenant_id: str) -> DbRow | None:
        if not storable(tenant_id):
            return None
        stmt = select(tenants, _owner_email()).where(tenants.c.id == tenant_id)
        row: DbRow | None = (await self.conn.execute(stmt)).first()
        return row

    async def document(self, kyc_id: str) -> DbRow | None:
        """A document by id alone: staff may open any tenant's file."""
        if not storable(kyc_id):
            return None
        row: DbRow | None = (await self.conn.execute(select(kd).where(kd.c.id == kyc_id))).first()
        return row

    async def search(self, query: str, limit: int = 50) -> list[DbRow]:
        """Tenants whose name, slug or owner email contains `query` (case-insensitive), newest first."""
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        owner_match = (
            select(members.c.id)
            .where(members.c.tenant_id == tenants.c.id, members.c.email.ilike(pattern, escape="\\"))
            .exists()
        )
        stmt = (
            select(tenants, _owner_email())
            .where(
                or_(
                    tenants.c.name.ilike(pattern, escape="\\"),
                    tenants.c.slug.ilike(pattern, escape="\\"),
                    and_(owner_match),
                )
            )
            .order_by(tenants.c.created_at.desc(), tenants.c.id.desc())
            .limit(limit)
        )
        return list((await self.conn.execute(stmt)).all())

    async def count_pending(self) -> int:
        stmt = select(func.count()).select_from(tenants).where(tenants.c.kyc_status == "pending")
        return int((await self.conn.execute(stmt)).scalar_one())
