"""Endpoint management (05 §7): secret shown once and stored encrypted, the SSRF rules at save, event types, the
16-per-mode cap, enable/disable, rotation with a 24 h overlap, delete, and an audit entry for each change."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from duro.db.engine import Database
from duro.kit.clock import FrozenClock
from duro.kit.errors import DuroError
from duro.runtime import Runtime
from duro.webhooks.endpoints import (
    active_secrets,
    create_endpoint,
    delete_endpoint,
    list_endpoints,
    rotate_secret,
    set_enabled,
    update_endpoint,
)
from tests.conftest import TenantKeys
from tests.webhooks.harness import ctx_factory

PUBLIC = "https://hooks.example.com/duro"


async def _run(runtime: Runtime, tenant: TenantKeys, fn: Any, mode: str = "test") -> Any:
    make = ctx_factory(runtime, tenant.id, mode)  # type: ignore[arg-type]
    async with runtime.db.transaction(mode) as conn:  # type: ignore[arg-type]
        return await fn(make(conn))


async def _row(db: Database, endpoint_id: str, schema: str = "sandbox") -> Any:
    async with db.core_transaction() as conn:
        return (
            await conn.execute(
                text(f"SELECT * FROM {schema}.webhook_endpoints WHERE tenant_id = tenant_id AND id = :i"),
                {"i": endpoint_id},
            )
        ).one()


async def test_create_shows_the_secret_once_and_stores_it_encrypted(
    runtime: Runtime, tenant: TenantKeys, db: Database
) -> None:
    made = await _run(runtime, tenant, lambda c: create_endpoint(c, url=PUBLIC, enabled_events=["invoice_paid"]))
    assert made.secret.startswith("whsec_")
    out = made.endpoint
    assert out["object"] == "webhook_endpoint"
    assert (out["url"], out["enabledEvents"], out["status"], out["secretLast4"]) == (
        PUBLIC,
        ["invoice_paid"],
        "enabled",
        made.secret[-4:],
    )
    assert "secret" not in out
    row = await _row(db, out["id"])
    assert made.secret not in row.secret_ciphertext
    assert active_secrets(runtime.settings.root_secret, row, runtime.clock.now()) == [made.secret]
    listed = await _run(runtime, tenant, list_endpoints)
    assert [e["id"] for e in listed] == [out["id"]]
    # The other mode has its own endpoints.
    assert await _run(runtime, tenant, list_endpoints, "live") == []


@pytest.mark.parametrize(
    ("url", "issue"),
    [
        ("http://hooks.example.com/x", "https"),
        ("https://127.0.0.1/x", "forbidden"),
        ("https://169.254.169.254/latest", "forbidden"),
        ("https://localhost/x", "localhost"),
        ("https://2130706433/x", "canonical"),
        ("https://user@hooks.example.com/x", "credentials"),
        ("https://hooks.example.com:22/x", "port"),
    ],
)
async def test_urls_are_refused_by_the_guard_at_save(
    db: Database, tenant: TenantKeys, clock: FrozenClock, url: str, issue: str
) -> None:
    from tests.conftest import make_settings

    strict = Runtime(make_settings(), db, clock=clock)  # not development: no local exception at all
    try:
        with pytest.raises(DuroError) as caught:
            await _run(strict, tenant, lambda c: create_endpoint(c, url=url))
    finally:
        await strict.close()
    err = caught.value
    assert (err.status, err.reason) == (422, "forbidden_destination")
    assert err.details[0].path == "url"
    assert issue.lower() in err.details[0].issue.lower() or issue == "forbidden"


async def test_event_types_description_and_the_cap(runtime: Runtime, tenant: TenantKeys) -> None:
    with pytest.raises(DuroError) as caught:
        await _run(runtime, tenant, lambda c: create_endpoint(c, url=PUBLIC, enabled_events=["invoice_paid", "nope"]))
    assert (caught.value.status, caught.value.details[0].path) == (422, "enabledEvents.1")
    with pytest.raises(DuroError):
        await _run(runtime, tenant, lambda c: create_endpoint(c, url=PUBLIC, description="x" * 201))
    made = await asyncio.gather(
        *(_run(runtime, tenant, lambda c: create_endpoint(c, url=PUBLIC)) for _ in range(18)), return_exceptions=True
    )
    refused = [m for m in made if isinstance(m, DuroError)]
    assert len(made) - len(refused) == 16
    assert {(r.status, r.reason) for r in refused} == {(409, "endpoint_limit_reached")}


async def test_disable_enable_update_rotate_delete_are_audited(
    runtime: Runtime, tenant: TenantKeys, db: Database, clock: FrozenClock
) -> None:
    made = await _run(runtime, tenant, lambda c: create_endpoint(c, url=PUBLIC))
    eid = made.endpoint["id"]
    off = await _run(runtime, tenant, lambda c: set_enabled(c, eid, False))
    assert (off["status"], off["disabledReason"]) == ("disabled", "manual")
    on = await _run(runtime, tenant, lambda c: set_enabled(c, eid, True))
    assert (on["status"], on["disabledReason"], on["failingSince"]) == ("enabled", None, None)
    edited = await _run(runtime, tenant, lambda c: update_endpoint(c, eid, enabled_events=["customer_created"]))
    assert edited["enabledEvents"] == ["customer_created"]

    rotated = await _run(runtime, tenant, lambda c: rotate_secret(c, eid))
    assert rotated.secret != made.secret
    assert rotated.endpoint["previousSecretExpiresAt"] == "2025-03-02T12:00:00.000Z"
    row = await _row(db, eid)
    assert active_secrets(runtime.settings.root_secret, row, clock.now()) == [rotated.secret, made.secret]
    clock.advance(timedelta(hours=24))
    assert active_secrets(runtime.settings.root_secret, row, clock.now()) == [rotated.secret]
    again = await _run(runtime, tenant, lambda c: rotate_secret(c, eid, expire_old_now=True))
    row = await _row(db, eid)
    assert active_secrets(runtime.settings.root_secret, row, clock.now()) == [again.secret]

    gone = await _run(runtime, tenant, lambda c: delete_endpoint(c, eid))
    assert gone["deleted"] is True
    assert await _run(runtime, tenant, list_endpoints) == []
    async with db.core_transaction() as conn:
        actions = [
            r[0]
            for r in await conn.execute(
                text("SELECT action FROM core.audit_logs WHERE tenant_id = :t AND target_id = :e ORDER BY at, id"),
                {"t": tenant.id, "e": eid},
            )
        ]
    assert actions == [
        "webhook_endpoint.created",
        "webhook_endpoint.disabled",
        "webhook_endpoint.enabled",
        "webhook_endpoint.updated",
        "webhook_endpoint.secret_rotated",
        "webhook_endpoint.secret_rotated",
        "webhook_endpoint.deleted",
    ]


async def test_endpoints_of_another_tenant_are_not_found(
    runtime: Runtime, tenant: TenantKeys, make_tenant: Any
) -> None:
    other = await make_tenant("Other Ltd")
    made = await _run(runtime, tenant, lambda c: create_endpoint(c, url=PUBLIC))
    with pytest.raises(DuroError) as caught:
        await _run(runtime, other, lambda c: set_enabled(c, made.endpoint["id"], False))
    assert caught.value.status == 404
    with pytest.raises(DuroError):
        await _run(runtime, tenant, lambda c: set_enabled(c, made.endpoint["id"], False), "live")
