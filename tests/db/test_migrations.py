"""Migrations: upgrade from empty, downgrade to base, upgrade again; the models match the migrated schema."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text

from duro.db import migrate
from duro.db.engine import Database
from tests.conftest import database_url_for_tests, reset_schemas


@pytest.fixture
async def scratch_db() -> Database:
    name = os.environ.get("DURO_TEST_DB_NAME", "duro_test") + "_migrations"
    database = Database(database_url_for_tests(name), pool_size=2)
    await reset_schemas(database)
    yield database  # type: ignore[misc]
    await reset_schemas(database)
    await database.dispose()


async def _tables(database: Database) -> set[str]:
    async with database.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                "WHERE table_schema IN ('core', 'sandbox', 'live')"
            )
        )
        return {r[0] for r in rows}


async def test_upgrade_downgrade_upgrade(scratch_db: Database) -> None:
    assert await migrate.current_revision(scratch_db.engine) is None
    await migrate.upgrade(scratch_db.engine)
    assert await migrate.is_current(scratch_db.engine)
    first = await _tables(scratch_db)
    for schema in ("sandbox", "live"):
        for table in ("plans", "customers", "events", "idempotency_keys", "api_keys", "oauth_clients"):
            assert f"{schema}.{table}" in first
    assert {"core.tenants", "core.members", "core.audit_logs"} <= first
    # No mode column anywhere: the schema is the mode.
    async with scratch_db.engine.connect() as conn:
        mode_cols = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM information_schema.columns "
                    "WHERE table_schema IN ('sandbox', 'live') AND column_name = 'mode'"
                )
            )
        ).scalar()
    assert mode_cols == 0

    await migrate.downgrade(scratch_db.engine, "base")
    assert await migrate.current_revision(scratch_db.engine) is None
    assert await _tables(scratch_db) == {"core.alembic_version"}

    await migrate.upgrade(scratch_db.engine)
    assert await _tables(scratch_db) == first
    assert await migrate.pending_diff(scratch_db.engine) == []


async def test_models_match_migrations(db: Database) -> None:
    """The autogenerate diff between the SQLAlchemy tables and the migrated database is empty."""
    assert await migrate.pending_diff(db.engine) == []


def test_offline_sql_covers_both_modes() -> None:
    ddl = migrate.offline_sql()
    assert "CREATE TABLE sandbox.customers" in ddl
    assert "CREATE TABLE live.customers" in ddl
    assert "CREATE TABLE core.tenants" in ddl
