"""`find_active_link`: the pay page's lookup of a link by slug within one tenant + mode."""

from __future__ import annotations

from typing import Any

from duro.context import Actor, RepositoryContext
from duro.db.engine import Database, Mode
from duro.kit.clock import SystemClock
from duro.payment_links.service import find_active_link
from tests.http_assertions import ok


async def lookup(db: Database, settings: Any, tenant_id: str, slug: str, mode: Mode = "test") -> str | None:
    async with db.transaction(mode) as conn:
        ctx = RepositoryContext(conn, tenant_id, mode, SystemClock(), settings, Actor("system", None, "test"))
        row = await find_active_link(ctx, slug)
        return None if row is None else str(row["id"])


async def setup(client: Any, tenant: Any, slug: str, mode: str = "test") -> tuple[dict[str, Any], dict[str, Any]]:
    body = {"name": "Pro", "amount": 500000, "interval": "month"}
    plan = ok(await client.post("/v1/plans", json=body, headers=tenant.auth(mode)), 201)
    link = ok(
        await client.post("/v1/payment-links", json={"planId": plan["id"], "slug": slug}, headers=tenant.auth(mode)),
        201,
    )
    return plan, link


async def test_finds_only_active_links_of_active_plans(
    client: Any, tenant: Any, make_tenant: Any, db: Database, settings: Any
) -> None:
    plan, link = await setup(client, tenant, "pro")
    assert await lookup(db, settings, tenant.id, "pro") == link["id"]
    assert await lookup(db, settings, tenant.id, "nope") is None
    assert await lookup(db, settings, tenant.id, "pro\x00") is None
    assert await lookup(db, settings, tenant.id, "pro", "live") is None  # other mode
    other = await make_tenant("Other")
    assert await lookup(db, settings, other.id, "pro") is None  # other tenant

    link_url = f"/v1/payment-links/{link['id']}"
    ok(await client.patch(link_url, json={"active": False}, headers=tenant.auth()))
    assert await lookup(db, settings, tenant.id, "pro") is None
    ok(await client.patch(link_url, json={"active": True}, headers=tenant.auth()))
    ok(await client.patch(f"/v1/plans/{plan['id']}", json={"active": False}, headers=tenant.auth()))
    assert await lookup(db, settings, tenant.id, "pro") is None  # archived plan
    ok(await client.patch(f"/v1/plans/{plan['id']}", json={"active": True}, headers=tenant.auth()))
    assert await lookup(db, settings, tenant.id, "pro") == link["id"]


async def test_same_slug_in_each_mode_resolves_per_mode(client: Any, tenant: Any, db: Database, settings: Any) -> None:
    _, test_link = await setup(client, tenant, "pro")
    _, live_link = await setup(client, tenant, "pro", "live")
    assert await lookup(db, settings, tenant.id, "pro") == test_link["id"]
    assert await lookup(db, settings, tenant.id, "pro", "live") == live_link["id"]
