"""Uniqueness under concurrency: the database constraint decides, every loser gets a clean 409."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text

from duro.db.engine import Database


async def test_concurrent_creates_with_one_merchant_ref(client: Any, tenant: Any, db: Database) -> None:
    async def create(n: int) -> Any:
        return await client.post(
            "/v1/customers", json={"merchantRef": "same-ref", "name": f"n{n}"}, headers=tenant.auth()
        )

    answers = await asyncio.gather(*(create(n) for n in range(20)))
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [201] + [409] * 19
    for r in answers:
        if r.status_code == 409:
            assert r.json()["error"]["reason"] == "duplicate_merchant_ref"
    async with db.core_transaction() as conn:
        count = (
            await conn.execute(text("SELECT count(*) FROM sandbox.customers WHERE tenant_id = :t"), {"t": tenant.id})
        ).scalar_one()
        events = (
            await conn.execute(text("SELECT count(*) FROM sandbox.events WHERE tenant_id = :t"), {"t": tenant.id})
        ).scalar_one()
    assert count == 1
    assert events == 1  # the losers' events rolled back with their inserts


async def test_concurrent_patches_to_one_merchant_ref(client: Any, tenant: Any) -> None:
    ids = []
    for n in range(10):
        r = await client.post("/v1/customers", json={"name": f"c{n}"}, headers=tenant.auth())
        ids.append(r.json()["id"])
    answers = await asyncio.gather(
        *(client.patch(f"/v1/customers/{cid}", json={"merchantRef": "contested"}, headers=tenant.auth()) for cid in ids)
    )
    assert sorted(r.status_code for r in answers) == [200] + [409] * 9
