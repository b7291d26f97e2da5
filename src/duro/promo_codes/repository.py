"""SQL for promo codes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, or_, select, update

from duro.db.repository import DbRow, TenantRepository
from duro.kit.pagination import Page, PageRequest
from duro.models.promo_codes import promo_codes as t

_BY_CODE = select(t).where(t.c.tenant_id == bindparam("b_tenant_id"), t.c.code == bindparam("b_code"))


class PromoCodeRepository(TenantRepository):
    table = t

    async def list_page(self, page: PageRequest, *, active: bool | None, code: str | None) -> Page[DbRow]:
        filters: list[ColumnElement[bool]] = []
        if active is not None:
            filters.append(t.c.active.is_(active))
        if code is not None:
            filters.append(t.c.code == code)
        return await self.page(page, filters)

    async def by_code(self, code: str) -> DbRow | None:
        row: DbRow | None = (await self.conn.execute(_BY_CODE, {"b_tenant_id": self.tenant_id, "b_code": code})).first()
        return row

    async def redeem(self, promo_id: str, now: datetime) -> DbRow | None:
        """Atomically take one redemption (03 §9); None when the code is inactive, expired or exhausted."""
        stmt = (
            update(t)
            .where(
                self.scoped(
                    t.c.id == promo_id,
                    t.c.active.is_(True),
                    or_(t.c.max_redemptions.is_(None), t.c.redeemed_count < t.c.max_redemptions),
                    or_(t.c.expires_at.is_(None), t.c.expires_at > now),
                )
            )
            .values(redeemed_count=t.c.redeemed_count + 1, updated_at=now)
            .returning(t)
        )
        row: DbRow | None = (await self.conn.execute(stmt)).first()
        return row

    async def release(self, promo_id: str, now: datetime) -> None:
        """Give a redemption back (an `incomplete` subscription expired, 03 §5)."""
        await self.conn.execute(
            update(t)
            .where(self.scoped(t.c.id == promo_id, t.c.redeemed_count > 0))
            .values(redeemed_count=t.c.redeemed_count - 1, updated_at=now)
        )

    async def set_fields(self, promo_id: str, values: dict[str, Any]) -> DbRow | None:
        return await self.update_row(promo_id, values)
