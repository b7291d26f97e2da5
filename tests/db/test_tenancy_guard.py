"""The tenancy guard itself: it must catch a statement on a tenant table without a tenant filter."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from duro.db.engine import Database
from duro.db.executor import prepare
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
    stmt = select(customers.c.id).where(customers.c.tenant_id == "ten_none")
    sql_test, _, _ = prepare(stmt, "sandbox", None)
    sql_live, _, _ = prepare(stmt, "live", None)
    assert "sandbox.customers" in sql_test
    assert "live" not in sql_test
    assert "live.customers" in sql_live
    assert "sandbox" not in sql_live
    async with db.transaction("test") as conn:
        assert (await conn.execute(stmt)).all() == []
    # A connection bound to no mode cannot run a data-table statement at all.
    async with db.core_transaction() as conn:
        with pytest.raises(RuntimeError, match="no mode"):
            await conn.execute(stmt)
