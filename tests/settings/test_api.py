"""/v1/settings/recovery (04 §6): defaults, partial update on the merged result, every refusal class, audit,
idempotency, credentials, tenant and mode isolation, and the loader the dunning engine uses."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import text

from duro.billing.dunning import RecoverySettings
from duro.context import Actor, RepositoryContext
from duro.db.engine import Database
from duro.kit.clock import SystemClock
from duro.kit.jsonenc import format_ts
from duro.settings.service import default_settings_columns, load_recovery_settings
from tests.http_assertions import err, invalid, ok, unknown_key

URL = "/v1/settings/recovery"
DEFAULTS = {
    "object": "recovery_settings",
    "dunningEnabled": True,
    "maxAttempts": 5,
    "retryOffsetsHours": [0, 24, 72, 120, 168],
    "paydayAware": True,
    "dunningEscalationDays": 14,
    "dunningEscalation": "mark_unpaid",
    "renewalReminders": True,
    "renewalReminderDays": 3,
}
FIELDS = {*DEFAULTS, "updatedAt"}


async def get(client: Any, tenant: Any, mode: str = "test") -> dict[str, Any]:
    return ok(await client.get(URL, headers=tenant.auth(mode)))  # type: ignore[no-any-return]


async def patch(client: Any, tenant: Any, body: Any, mode: str = "test", **headers: str) -> Any:
    return await client.patch(URL, json=body, headers={**tenant.auth(mode), **headers})


def without_ts(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "updatedAt"}


async def audit_rows(db: Database, tenant_id: str) -> list[dict[str, Any]]:
    async with db.core_transaction() as conn:
        rows = await conn.execute(
            text(
                "SELECT action, actor_type, actor_id, actor_label, target_type, mode, before, after, request_id"
                " FROM core.audit_logs WHERE tenant_id = :t AND action = 'settings.recovery_updated' ORDER BY at, id"
            ),
            {"t": tenant_id},
        )
        return [dict(r._mapping) for r in rows]


async def stored_rows(db: Database, tenant_id: str, *, customised: bool = True) -> dict[str, int]:
    """Rows per mode; by default only rows whose values differ from the defaults signup writes (02 §4), so "0"
    means "nothing was saved over the defaults"."""
    defaults = default_settings_columns()
    async with db.core_transaction() as conn:
        counts = {}
        for schema in ("sandbox", "live"):
            found = await conn.execute(
                text(f"SELECT * FROM {schema}.store_settings WHERE tenant_id = :t"), {"t": tenant_id}
            )
            rows = [dict(r._mapping) for r in found]
            if customised:
                rows = [r for r in rows if any(r[k] != v for k, v in defaults.items())]
            counts[schema] = len(rows)
        return counts


async def tenant_created_at(db: Database, tenant_id: str) -> datetime:
    async with db.core_transaction() as conn:
        found = await conn.execute(text("SELECT created_at FROM core.tenants WHERE id = :t"), {"t": tenant_id})
        value: datetime = found.scalar_one()
        return value


# --- GET ---


async def test_signup_stores_the_spec_defaults_in_both_modes(client: Any, tenant: Any, db: Database) -> None:
    body = await get(client, tenant)
    assert set(body) == FIELDS
    assert without_ts(body) == DEFAULTS
    assert body["updatedAt"] == format_ts(await tenant_created_at(db, tenant.id))  # written with the tenant
    assert await get(client, tenant, "live") == body
    assert await stored_rows(db, tenant.id, customised=False) == {"sandbox": 1, "live": 1}
    assert await stored_rows(db, tenant.id) == {"sandbox": 0, "live": 0}


async def test_a_tenant_without_a_row_gets_the_spec_defaults(client: Any, tenant: Any, db: Database) -> None:
    """Tenants provisioned before signup wrote the rows read the defaults."""
    async with db.core_transaction() as conn:
        for schema in ("sandbox", "live"):
            await conn.execute(text(f"DELETE FROM {schema}.store_settings WHERE tenant_id = :t"), {"t": tenant.id})
    body = await get(client, tenant)
    assert set(body) == FIELDS
    assert without_ts(body) == DEFAULTS
    # Never saved: the defaults date from the tenant's creation (documented in settings/service.py).
    assert body["updatedAt"] == format_ts(await tenant_created_at(db, tenant.id))
    assert await get(client, tenant) == body  # stable across reads
    assert await get(client, tenant, "live") == body
    assert await stored_rows(db, tenant.id, customised=False) == {"sandbox": 0, "live": 0}


# --- PATCH: happy paths ---


async def test_partial_update_merges_into_the_stored_settings(client: Any, tenant: Any, db: Database) -> None:
    before = await get(client, tenant)
    first = ok(await patch(client, tenant, {"maxAttempts": 3, "paydayAware": False}))
    assert set(first) == FIELDS
    assert without_ts(first) == {**DEFAULTS, "maxAttempts": 3, "paydayAware": False}
    assert first["updatedAt"] > before["updatedAt"]
    assert await get(client, tenant) == first

    second = ok(await patch(client, tenant, {"retryOffsetsHours": [1, 2, 3], "dunningEscalation": "keep"}))
    assert without_ts(second) == {
        **DEFAULTS,
        "maxAttempts": 3,
        "paydayAware": False,
        "retryOffsetsHours": [1, 2, 3],
        "dunningEscalation": "keep",
    }
    assert second["updatedAt"] >= first["updatedAt"]
    assert await get(client, tenant) == second
    assert await stored_rows(db, tenant.id) == {"sandbox": 1, "live": 0}


async def test_every_field_can_be_set_at_once(client: Any, tenant: Any) -> None:
    body = {
        "dunningEnabled": False,
        "maxAttempts": 10,
        "retryOffsetsHours": [0, 1, 2, 3, 4, 5, 6, 7, 8, 720],
        "paydayAware": False,
        "dunningEscalationDays": 90,
        "dunningEscalation": "cancel",
        "renewalReminders": False,
        "renewalReminderDays": 30,
    }
    saved = ok(await patch(client, tenant, body))
    assert without_ts(saved) == {"object": "recovery_settings", **body}
    low = {"maxAttempts": 1, "retryOffsetsHours": [0], "dunningEscalationDays": 1, "renewalReminderDays": 1}
    assert without_ts(ok(await patch(client, tenant, low))) == {"object": "recovery_settings", **body, **low}


async def test_a_patch_that_changes_nothing_writes_nothing(client: Any, tenant: Any, db: Database) -> None:
    untouched = await get(client, tenant)
    assert ok(await patch(client, tenant, {})) == untouched
    assert ok(await patch(client, tenant, {"maxAttempts": 5, "dunningEscalation": "mark_unpaid"})) == untouched
    assert await stored_rows(db, tenant.id) == {"sandbox": 0, "live": 0}
    assert await audit_rows(db, tenant.id) == []

    saved = ok(await patch(client, tenant, {"renewalReminderDays": 7}))
    assert ok(await patch(client, tenant, {"renewalReminderDays": 7})) == saved  # same updatedAt
    assert len(await audit_rows(db, tenant.id)) == 1


async def test_updates_are_audited_with_changed_fields_only(client: Any, tenant: Any, db: Database) -> None:
    r = await patch(client, tenant, {"maxAttempts": 4, "paydayAware": True, "retryOffsetsHours": [0, 6, 12, 24]})
    ok(r)
    r2 = await patch(client, tenant, {"dunningEscalation": "cancel"}, "live")
    ok(r2)
    rows = await audit_rows(db, tenant.id)
    assert len(rows) == 2
    test_row, live_row = rows
    assert test_row["action"] == "settings.recovery_updated"
    assert test_row["actor_type"] == "api_key"
    assert test_row["actor_id"].startswith("key_")
    assert test_row["target_type"] == "recovery_settings"
    assert test_row["mode"] == "test"
    assert test_row["request_id"] == r.headers["x-request-id"]
    # paydayAware was sent but did not change: not in before/after (02 §9).
    assert test_row["before"] == {"maxAttempts": 5, "retryOffsetsHours": [0, 24, 72, 120, 168]}
    assert test_row["after"] == {"maxAttempts": 4, "retryOffsetsHours": [0, 6, 12, 24]}
    assert live_row["mode"] == "live"
    assert (live_row["before"], live_row["after"]) == (
        {"dunningEscalation": "mark_unpaid"},
        {"dunningEscalation": "cancel"},
    )


# --- PATCH: refusals ---


@pytest.mark.parametrize(
    ("body", "path", "issue"),
    [
        # ranges
        ({"maxAttempts": 0}, "maxAttempts", "between 1 and 10"),
        ({"maxAttempts": 11}, "maxAttempts", "between 1 and 10"),
        ({"dunningEscalationDays": 0}, "dunningEscalationDays", "between 1 and 90"),
        ({"dunningEscalationDays": 91}, "dunningEscalationDays", "between 1 and 90"),
        ({"renewalReminderDays": 31}, "renewalReminderDays", "between 1 and 30"),
        ({"retryOffsetsHours": [0, 24, 721]}, "retryOffsetsHours.2", "between 0 and 720"),
        ({"retryOffsetsHours": [-1, 24]}, "retryOffsetsHours.0", "between 0 and 720"),
        ({"retryOffsetsHours": []}, "retryOffsetsHours", "empty"),
        ({"dunningEscalation": "shrug"}, "dunningEscalation", "must be one of"),
        # types: no numeric strings, no floats for integers, no bools as integers and the other way round
        ({"maxAttempts": "5"}, "maxAttempts", "integer"),
        ({"maxAttempts": 5.0}, "maxAttempts", "integer"),
        ({"maxAttempts": True}, "maxAttempts", "integer"),
        ({"renewalReminderDays": False}, "renewalReminderDays", "integer"),
        ({"retryOffsetsHours": [0, True]}, "retryOffsetsHours.1", "integer"),
        ({"retryOffsetsHours": [0, "24"]}, "retryOffsetsHours.1", "integer"),
        ({"retryOffsetsHours": "0,24"}, "retryOffsetsHours", "list"),
        ({"retryOffsetsHours": {"0": 1}}, "retryOffsetsHours", "list"),
        ({"dunningEnabled": 1}, "dunningEnabled", "boolean"),
        ({"paydayAware": "true"}, "paydayAware", "boolean"),
        ({"renewalReminders": 0}, "renewalReminders", "boolean"),
        ({"dunningEscalation": 1}, "dunningEscalation", "must be one of"),
        # null is never accepted (no field is nullable)
        *(({field: None}, field, "null") for field in DEFAULTS if field != "object"),
        # unknown and read-only fields
        ({"object": "recovery_settings"}, "object", "unknown"),
        ({"updatedAt": "2025-01-01T00:00:00Z"}, "updatedAt", "unknown"),
        ({"maxRetries": 3}, "maxRetries", "unknown"),
    ],
)
async def test_field_validation(
    client: Any, tenant: Any, db: Database, body: dict[str, Any], path: str, issue: str
) -> None:
    e = invalid(await patch(client, tenant, body), path, issue)
    assert e["reason"] is None
    assert await stored_rows(db, tenant.id) == {"sandbox": 0, "live": 0}
    assert await audit_rows(db, tenant.id) == []


async def test_every_field_problem_is_reported(client: Any, tenant: Any) -> None:
    e = err(
        await patch(client, tenant, {"maxAttempts": 0, "retryOffsetsHours": [0, 800, 900], "dunningEnabled": 1}),
        422,
        "validation_error",
    )
    assert {d["path"] for d in e["details"]} == {"maxAttempts", "retryOffsetsHours.1", "retryOffsetsHours.2",
                                                 "dunningEnabled"}  # fmt: skip


async def test_a_field_error_wins_over_an_inconsistency(client: Any, tenant: Any) -> None:
    # Offsets not increasing, and maxAttempts out of range: the per-field error is the answer.
    e = err(await patch(client, tenant, {"maxAttempts": 11, "retryOffsetsHours": [5, 1]}), 422, "validation_error")
    assert [d["path"] for d in e["details"]] == ["maxAttempts"]


@pytest.mark.parametrize(
    ("body", "paths"),
    [
        ({"retryOffsetsHours": [0, 24, 24, 48, 72]}, ["retryOffsetsHours.2"]),
        ({"retryOffsetsHours": [0, 72, 24, 120, 168]}, ["retryOffsetsHours.2"]),
        ({"retryOffsetsHours": [0, 24, 72, 120]}, ["retryOffsetsHours"]),  # 4 offsets < default maxAttempts 5
        ({"maxAttempts": 6}, ["retryOffsetsHours"]),  # 5 default offsets < 6
    ],
)
async def test_cross_field_rules_answer_settings_inconsistent(
    client: Any, tenant: Any, db: Database, body: dict[str, Any], paths: list[str]
) -> None:
    e = err(await patch(client, tenant, body), 422, "validation_error", "settings_inconsistent")
    assert [d["path"] for d in e["details"]] == paths
    assert await stored_rows(db, tenant.id) == {"sandbox": 0, "live": 0}


async def test_cross_field_rules_are_judged_on_the_merged_settings(client: Any, tenant: Any, db: Database) -> None:
    ok(await patch(client, tenant, {"maxAttempts": 3, "retryOffsetsHours": [0, 12, 24]}))
    # Valid on its own, but with the stored three offsets a fourth attempt has no offset.
    e = err(await patch(client, tenant, {"maxAttempts": 4}), 422, "validation_error", "settings_inconsistent")
    assert e["details"][0]["path"] == "retryOffsetsHours"
    assert "maxAttempts (4)" in e["details"][0]["issue"]
    # Fewer offsets than the stored maxAttempts, likewise.
    err(await patch(client, tenant, {"retryOffsetsHours": [0, 12]}), 422, "validation_error", "settings_inconsistent")
    # Both in one PATCH is fine.
    saved = ok(await patch(client, tenant, {"maxAttempts": 4, "retryOffsetsHours": [0, 12, 24, 48]}))
    assert (saved["maxAttempts"], saved["retryOffsetsHours"]) == (4, [0, 12, 24, 48])
    assert len(await audit_rows(db, tenant.id)) == 2


async def test_malformed_bodies(client: Any, tenant: Any) -> None:
    r = await client.patch(URL, content=b"{", headers={**tenant.auth(), "Content-Type": "application/json"})
    err(r, 400, "bad_request", "malformed_json")
    err(await patch(client, tenant, [1, 2]), 400, "bad_request", "malformed_json")
    r = await client.patch(URL, content=b"maxAttempts=3", headers={**tenant.auth(), "Content-Type": "text/plain"})
    err(r, 400, "bad_request", "unsupported_media_type")


# --- idempotency ---


async def test_idempotent_replay(client: Any, tenant: Any, db: Database) -> None:
    key = {"Idempotency-Key": "settings-1"}
    first = await patch(client, tenant, {"maxAttempts": 2}, **key)
    body = ok(first)
    again = await patch(client, tenant, {"maxAttempts": 2}, **key)
    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["original-request-id"] == first.headers["x-request-id"]
    assert len(await audit_rows(db, tenant.id)) == 1
    e = err(await patch(client, tenant, {"maxAttempts": 3}, **key), 422, "validation_error", "idempotency_key_reused")
    assert e["details"] == []
    assert await get(client, tenant) == body
    # The key space is per mode: the same key in live is a different request.
    live = ok(await patch(client, tenant, {"maxAttempts": 3}, "live", **key))
    assert live["maxAttempts"] == 3


async def test_a_refused_body_does_not_claim_the_key(client: Any, tenant: Any) -> None:
    key = {"Idempotency-Key": "settings-2"}
    invalid(await patch(client, tenant, {"maxAttempts": 0}, **key), "maxAttempts", "between")
    # Had the 422 been stored, a different body with this key would be `idempotency_key_reused`.
    assert ok(await patch(client, tenant, {"maxAttempts": 4}, **key))["maxAttempts"] == 4


async def test_an_inconsistency_is_stored_against_the_key(client: Any, tenant: Any) -> None:
    # Judged on the stored settings, inside the unit of work: the 422 is the key's answer (01 §8 rule 6).
    key = {"Idempotency-Key": "settings-3"}
    first = await patch(client, tenant, {"maxAttempts": 6}, **key)
    err(first, 422, "validation_error", "settings_inconsistent")
    again = await patch(client, tenant, {"maxAttempts": 6}, **key)
    assert (again.status_code, again.content) == (422, first.content)
    assert again.headers["idempotent-replayed"] == "true"


# --- concurrency ---


async def test_concurrent_first_patches_both_apply(client: Any, make_tenant: Any, db: Database) -> None:
    for _ in range(3):
        t = await make_tenant()
        results = await asyncio.gather(
            patch(client, t, {"maxAttempts": 3}),
            patch(client, t, {"paydayAware": False}),
            patch(client, t, {"renewalReminderDays": 9}),
        )
        for r in results:
            ok(r)
        final = await get(client, t)
        assert (final["maxAttempts"], final["paydayAware"], final["renewalReminderDays"]) == (3, False, 9)
        assert await stored_rows(db, t.id) == {"sandbox": 1, "live": 0}
        assert len(await audit_rows(db, t.id)) == 3


# --- credentials, tenants, modes ---


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing_credential"),
        ({"Authorization": f"Bearer {unknown_key()}"}, "invalid_credential"),
        ({"Authorization": f"Bearer {unknown_key('sk_live_')}"}, "invalid_credential"),
        ({"Authorization": "Basic Zm9vOmJhcg=="}, "invalid_credential"),
    ],
)
async def test_wrong_credential_is_401(
    client: Any, tenant: Any, db: Database, headers: dict[str, str], reason: str
) -> None:
    err(await client.get(URL, headers=headers), 401, "unauthorized", reason)
    err(await client.patch(URL, json={"maxAttempts": 3}, headers=headers), 401, "unauthorized", reason)
    assert await stored_rows(db, tenant.id) == {"sandbox": 0, "live": 0}


@pytest.mark.parametrize("mode", ["test", "live"])
async def test_publishable_key_is_403(client: Any, tenant: Any, db: Database, mode: str) -> None:
    pk = tenant.auth(mode, "publishable")
    err(await client.get(URL, headers=pk), 403, "forbidden", "publishable_key_not_allowed")
    r = await client.patch(URL, json={"maxAttempts": 3}, headers=pk)
    err(r, 403, "forbidden", "publishable_key_not_allowed")
    assert await stored_rows(db, tenant.id) == {"sandbox": 0, "live": 0}
    assert await audit_rows(db, tenant.id) == []


async def test_tenants_are_isolated(client: Any, make_tenant: Any) -> None:
    a, b = await make_tenant(), await make_tenant()
    ok(await patch(client, a, {"maxAttempts": 2, "dunningEscalation": "cancel"}))
    assert without_ts(await get(client, b)) == DEFAULTS
    ok(await patch(client, b, {"dunningEnabled": False}))
    assert (await get(client, a))["dunningEnabled"] is True
    assert (await get(client, a))["maxAttempts"] == 2


async def test_modes_are_isolated(client: Any, tenant: Any, db: Database) -> None:
    test_saved = ok(await patch(client, tenant, {"maxAttempts": 2, "renewalReminders": False}))
    assert without_ts(await get(client, tenant, "live")) == DEFAULTS
    live_saved = ok(await patch(client, tenant, {"dunningEscalationDays": 30}, "live"))
    assert without_ts(live_saved) == {**DEFAULTS, "dunningEscalationDays": 30}
    assert await get(client, tenant) == test_saved
    assert await stored_rows(db, tenant.id) == {"sandbox": 1, "live": 1}


# --- the loader the dunning engine calls ---


async def test_load_recovery_settings(client: Any, tenant: Any, db: Database, settings: Any) -> None:
    actor = Actor("system", None, "test")

    async def load(mode: Any) -> RecoverySettings:
        async with db.reader(mode) as conn:
            return await load_recovery_settings(
                RepositoryContext(conn, tenant.id, mode, SystemClock(), settings, actor)
            )

    assert await load("test") == RecoverySettings()
    ok(await patch(client, tenant, {"maxAttempts": 3, "retryOffsetsHours": [0, 6, 12], "dunningEscalation": "keep"}))
    loaded = await load("test")
    assert loaded == RecoverySettings(max_attempts=3, retry_offsets_hours=(0, 6, 12), dunning_escalation="keep")
    assert loaded.validate() == []
    assert await load("live") == RecoverySettings()


async def test_openapi_documents_the_settings_routes(client: Any) -> None:
    spec = ok(await client.get("/openapi.json"))
    ops = spec["paths"][URL]
    assert set(ops) == {"get", "patch"}
    for method in ("get", "patch"):
        assert {"200", "401", "403", "404", "422", "429"} <= set(ops[method]["responses"])
        assert ops[method]["security"] == [{"bearer": []}]
    assert "409" in ops["patch"]["responses"]
    assert any(p["name"] == "Idempotency-Key" for p in ops["patch"]["parameters"])
    props = spec["components"]["schemas"]["RecoverySettingsUpdate"]["properties"]
    assert {"type": "integer", "minimum": 1, "maximum": 10}.items() <= props["maxAttempts"].items()
    assert props["retryOffsetsHours"]["items"] == {"type": "integer", "minimum": 0, "maximum": 720}
