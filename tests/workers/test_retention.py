"""Retention purge (01 §10): what is older than `DURO_EVENT_RETENTION_DAYS` goes, what is younger or still
pending stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from duro.db.engine import Database
from duro.kit.clock import FrozenClock
from duro.kit.ids import new_id
from duro.runtime import Runtime
from duro.workers.retention import purge_retention
from tests.conftest import TenantKeys, make_settings

NOW = datetime(2025, 6, 1, tzinfo=UTC)


async def _count(db: Database, table: str, tenant_id: str) -> int:
    async with db.core_transaction() as conn:
        return int(
            (
                await conn.execute(text(f"SELECT count(*) FROM sandbox.{table} WHERE tenant_id = :t"), {"t": tenant_id})
            ).scalar_one()
        )


async def test_old_finished_rows_are_purged_and_the_rest_kept(db: Database, tenant: TenantKeys) -> None:
    old, young = NOW - timedelta(days=91), NOW - timedelta(days=89)
    async with db.core_transaction() as conn:
        for at, dispatched in ((old, old), (young, young), (old, None)):
            await conn.execute(
                text(
                    "INSERT INTO sandbox.events (id, tenant_id, type, data, dispatched_at, created_at) "
                    "VALUES (:i, :t, 'customer_created', '{}'::jsonb, :d, :c)"
                ),
                {"i": new_id("evt"), "t": tenant.id, "d": dispatched, "c": at},
            )
        for at, status in ((old, "captured"), (young, "captured"), (old, "pending")):
            await conn.execute(
                text(
                    "INSERT INTO sandbox.notifications (id, tenant_id, channel, template_key, recipient, body_text, "
                    "status, dedup_key, created_at, updated_at) VALUES (:i, :t, 'email', 'receipt', 'a@b.c', 'x', "
                    ":s, :k, :c, :c)"
                ),
                {"i": new_id("ntf"), "t": tenant.id, "s": status, "k": new_id("k"), "c": at},
            )
    runtime = Runtime(make_settings(), db, clock=FrozenClock(NOW))
    try:
        assert await purge_retention(runtime, "test") == 2
    finally:
        await runtime.close()
    assert await _count(db, "events", tenant.id) == 2  # the young one, and the old undispatched one
    assert await _count(db, "notifications", tenant.id) == 2  # the young one, and the old pending one
