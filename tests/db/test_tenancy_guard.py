"""The tenancy guard itself: it must catch a statement on a tenant table without a tenant filter."""

from __future__ import annotations

from sqlalchemy import select

from duro.db.engine import Database
from duro.models.customers import customers
from tests.conftest import GUARD


async def test_guard_flags_unscoped_select(db: Database) -> None:
    assert GUARD.violations == []
    async with db.transaction("test") as conn:
        await conn.execute(select(customers.c.id))
    caught = list(GUARD.violations or [])
    GUARD.violations = []  # consumed: this test wanted exactly this violation
    assert len(caught) == 1
    assert "sandbox.customers" in caught[0]


async def test_guard_accepts_scoped_and_marked_statements(db: Database) -> None:
    async with db.transaction("live") as conn:
        await conn.execute(select(customers.c.id).where(customers.c.tenant_id == "ten_x"))
        await conn.execute(select(customers.c.id).prefix_with("/* unscoped: scanner */"))
    assert GUARD.violations == []


async def test_mode_connection_cannot_see_other_schema(db: Database) -> None:
    async with db.transaction("test") as conn:
        compiled = str(select(customers.c.id).compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        result = await conn.execute(select(customers.c.id).where(customers.c.tenant_id == "ten_none"))
        assert result.all() == []
    # The placeholder schema is what the model says; the connection decides which real schema it means.
    assert "tenant.customers" in compiled
