"""Draft, publish and discard against the real database (07 §4), their audit rows (02 §9), and the published
readers of hosted pages (06 §7-§8)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import delete, select

from duro.appearance import service
from duro.context import Actor
from duro.db.engine import Database
from duro.kit.clock import SystemClock
from duro.kit.errors import DuroError
from duro.models.core import audit_logs
from duro.models.identity import store_configs
from tests.conftest import TenantKeys

CLOCK = SystemClock()
MEMBER = Actor("member", "mem_01JGFJJZ4V8Q2M6T3X9K0D5R7B", "owner@example.com")
CLI = Actor("system", None, "cli")


async def set_draft(db: Database, tenant_id: str, surface: str, partial: Any) -> dict[str, Any]:
    async with db.core_transaction() as conn:
        return await service.set_draft(conn, tenant_id, surface, partial, clock=CLOCK)


async def publish(db: Database, tenant_id: str, actor: Actor = CLI) -> dict[str, Any]:
    async with db.core_transaction() as conn:
        return await service.publish(conn, tenant_id, actor=actor, clock=CLOCK, request_id="req_1", ip="127.0.0.1")


async def config(db: Database, tenant_id: str) -> dict[str, Any]:
    async with db.core_transaction() as conn:
        return await service.get_config(conn, tenant_id)


async def stored_row(db: Database, tenant_id: str) -> Any:
    async with db.core_transaction() as conn:
        return (await conn.execute(select(store_configs).where(store_configs.c.tenant_id == tenant_id))).first()


async def audit_rows(db: Database, tenant_id: str) -> list[Any]:
    async with db.core_transaction() as conn:
        stmt = select(audit_logs).where(audit_logs.c.tenant_id == tenant_id, audit_logs.c.action.like("appearance.%"))
        return list((await conn.execute(stmt.order_by(audit_logs.c.id))).all())


async def test_signup_writes_an_empty_appearance(db: Database, tenant: TenantKeys) -> None:
    row = await stored_row(db, tenant.id)
    assert (row.draft, row.published, row.version) == ({}, {}, 0)  # 02 §4: empty = every default


async def test_a_tenant_without_a_row_has_defaults_as_draft_and_published(db: Database, tenant: TenantKeys) -> None:
    """Tenants provisioned before signup wrote the row read the defaults, and reading creates nothing."""
    async with db.core_transaction() as conn:
        await conn.execute(delete(store_configs).where(store_configs.c.tenant_id == tenant.id))
    view = await config(db, tenant.id)
    assert view["draft"] == view["published"]
    assert view["draft"]["checkout"]["submitLabel"] == "Pay"
    assert (view["version"], view["publishedAt"], view["publishedBy"]) == (0, None, None)
    assert view["hasUnpublishedChanges"] is False
    assert view["changedSurfaces"] == []
    assert await stored_row(db, tenant.id) is None  # reading creates nothing
    async with db.core_transaction() as conn:
        effective = await service.published_for(conn, tenant.id)
    assert effective["general"]["displayName"] == "Acme Ltd"
    assert effective["portal"]["brandColor"] == "#0F766E"


async def test_draft_publish_discard_cycle(db: Database, tenant: TenantKeys) -> None:
    view = await set_draft(db, tenant.id, "checkout", {"headline": "Join us", "rails": ["transfer", "card"]})
    assert view["hasUnpublishedChanges"] is True
    assert view["changedSurfaces"] == ["checkout"]
    assert view["draft"]["checkout"]["headline"] == "Join us"
    assert view["published"]["checkout"]["headline"] is None
    async with db.core_transaction() as conn:
        assert (await service.published_for(conn, tenant.id))["checkout"]["headline"] is None  # hosted: published only

    published = await publish(db, tenant.id, MEMBER)
    assert published["version"] == 1
    assert published["hasUnpublishedChanges"] is False
    assert published["publishedBy"] == MEMBER.id
    assert published["publishedAt"] is not None
    assert published["published"]["checkout"]["rails"] == ["transfer", "card"]

    await set_draft(db, tenant.id, "general", {"brandColor": "#111111"})
    await set_draft(db, tenant.id, "checkout", {"headline": None})
    view = await config(db, tenant.id)
    assert view["changedSurfaces"] == ["general", "checkout"]
    async with db.core_transaction() as conn:
        discarded = await service.discard(conn, tenant.id, actor=CLI, clock=CLOCK)
    assert discarded["hasUnpublishedChanges"] is False
    assert discarded["version"] == 1  # discard does not make a version
    assert discarded["draft"] == discarded["published"]
    assert discarded["draft"]["checkout"]["headline"] == "Join us"
    assert discarded["draft"]["general"]["brandColor"] == "#0F766E"

    again = await publish(db, tenant.id)
    assert again["version"] == 2
    assert again["publishedBy"] == "cli"  # an actor without an id is recorded by its label


async def test_setting_a_value_back_clears_the_badge(db: Database, tenant: TenantKeys) -> None:
    await set_draft(db, tenant.id, "store", {"enabled": True})
    assert (await config(db, tenant.id))["hasUnpublishedChanges"] is True
    view = await set_draft(db, tenant.id, "store", {"enabled": False})  # explicit default = the default
    assert view["hasUnpublishedChanges"] is False


async def test_an_invalid_partial_saves_nothing(db: Database, tenant: TenantKeys) -> None:
    await set_draft(db, tenant.id, "portal", {"heading": "Before"})
    before = await stored_row(db, tenant.id)
    with pytest.raises(DuroError) as caught:
        await set_draft(db, tenant.id, "portal", {"heading": "After", "supportUrl": "http://help.example.com"})
    assert caught.value.status == 422
    assert [(d.path, d.issue) for d in caught.value.details] == [("supportUrl", "must be an https URL")]
    after = await stored_row(db, tenant.id)
    assert after.draft == before.draft == {"portal": {"heading": "Before"}}
    assert after.updated_at == before.updated_at


async def test_refused_first_write_creates_no_row(db: Database, tenant: TenantKeys) -> None:
    async with db.core_transaction() as conn:
        await conn.execute(delete(store_configs).where(store_configs.c.tenant_id == tenant.id))
    with pytest.raises(DuroError):
        await set_draft(db, tenant.id, "general", {"font": "papyrus"})
    with pytest.raises(DuroError) as caught:
        await set_draft(db, tenant.id, "sidebar", {})
    assert caught.value.status == 404
    assert await stored_row(db, tenant.id) is None


async def test_unknown_tenant_is_404_everywhere(db: Database) -> None:
    missing = "ten_01JGFJJZ4V8Q2M6T3X9K0D5R7B"
    async with db.core_transaction() as conn:
        for call in (
            service.get_config(conn, missing),
            service.set_draft(conn, missing, "general", {"font": "inter"}, clock=CLOCK),
            service.publish(conn, missing, actor=CLI, clock=CLOCK),
            service.discard(conn, missing, actor=CLI, clock=CLOCK),
            service.published_for(conn, missing),
        ):
            with pytest.raises(DuroError) as caught:
                await call
            assert caught.value.status == 404
        assert await service.published_for_many(conn, [missing]) == {}


async def test_publish_and_discard_are_audited_with_the_diff(db: Database, tenant: TenantKeys) -> None:
    await set_draft(db, tenant.id, "checkout", {"headline": "New"})
    await set_draft(db, tenant.id, "portal", {"permissions": {"pauseSubscription": True}})
    assert await audit_rows(db, tenant.id) == []  # draft edits are not audited
    await publish(db, tenant.id, MEMBER)
    await set_draft(db, tenant.id, "general", {"font": "inter"})
    async with db.core_transaction() as conn:
        await service.discard(conn, tenant.id, actor=CLI, clock=CLOCK)
    published, discarded = await audit_rows(db, tenant.id)

    assert published.action == "appearance.published"
    assert (published.actor_type, published.actor_id, published.actor_label) == ("member", MEMBER.id, MEMBER.label)
    assert (published.target_type, published.target_id, published.mode) == ("appearance", tenant.id, None)
    assert (published.request_id, published.ip) == ("req_1", "127.0.0.1")
    assert published.before == {
        "checkout": {"headline": None},
        "portal": {"permissions": {"pauseSubscription": False}},
        "version": 0,
    }
    assert published.after == {
        "checkout": {"headline": "New"},
        "portal": {"permissions": {"pauseSubscription": True}},
        "version": 1,
    }

    assert discarded.action == "appearance.discarded"
    assert (discarded.actor_type, discarded.actor_id, discarded.actor_label) == ("system", None, "cli")
    assert discarded.before == {"general": {"font": "inter"}}
    assert discarded.after == {"general": {"font": "system"}}


async def test_published_for_many_is_one_statement(db: Database, make_tenant: Any) -> None:
    a, b, c = [await make_tenant(name) for name in ("Alpha", "Beta", "Gamma")]
    await set_draft(db, a.id, "general", {"brandColor": "#AA0000"})
    await set_draft(db, a.id, "portal", {"heading": "Alpha plans", "permissions": {"cancelMode": "immediate"}})
    await publish(db, a.id)
    await set_draft(db, b.id, "general", {"displayName": "Beta Shop"})  # draft only: never read by hosted pages

    seen: list[str] = []
    db.statement_hooks.append(seen.append)
    try:
        async with db.core_transaction() as conn:
            found = await service.published_for_many(conn, [a.id, b.id, c.id, a.id, "ten_nope"])
    finally:
        db.statement_hooks.remove(seen.append)
    assert len(seen) == 1
    assert "store_configs" in seen[0]
    assert "tenants" in seen[0]

    assert set(found) == {a.id, b.id, c.id}
    assert found[a.id]["portal"]["heading"] == "Alpha plans"
    assert found[a.id]["portal"]["brandColor"] == "#AA0000"
    assert found[a.id]["portal"]["permissions"]["cancelMode"] == "immediate"
    assert found[b.id]["general"]["displayName"] == "Beta"
    assert found[c.id]["portal"]["permissions"]["cancelMode"] == "period_end"

    seen.clear()
    db.statement_hooks.append(seen.append)
    try:
        async with db.core_transaction() as conn:
            assert await service.published_for_many(conn, []) == {}
    finally:
        db.statement_hooks.remove(seen.append)
    assert seen == []


async def test_concurrent_first_writes_both_land(db: Database, tenant: TenantKeys) -> None:
    await asyncio.gather(
        set_draft(db, tenant.id, "general", {"font": "inter"}),
        set_draft(db, tenant.id, "checkout", {"headline": "Hello"}),
    )
    draft = (await config(db, tenant.id))["draft"]
    assert draft["general"]["font"] == "inter"
    assert draft["checkout"]["headline"] == "Hello"
