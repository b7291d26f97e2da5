"""`duro` commands (01 §11) against the test database, checked through their output and the real API."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from duro.models.core import audit_logs
from tests.cli.process import SECRET_KEY, ainvoke, invoke, run_duro
from tests.conftest import TenantKeys, database_url_for_tests


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def said(result: Any) -> str:
    """stderr with Rich's line wrapping undone."""
    return " ".join(result.stderr.split())


def parse(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# --- keys ---


async def test_keys_create_prints_the_json_shape_and_the_key_works(
    client: httpx.AsyncClient, tenant: TenantKeys, tmp_path: Path
) -> None:
    out = parse(
        await ainvoke(tmp_path, "keys", "create", "--tenant", tenant.id, "--mode", "test", "--kind", "secret", "--json")
    )
    assert set(out) == {"id", "kind", "mode", "key"}
    assert out["id"].startswith("key_")
    assert (out["kind"], out["mode"]) == ("secret", "test")
    assert out["key"].startswith("sk_test_")

    r = await client.post("/v1/customers", json={"name": "Via CLI key"}, headers=bearer(out["key"]))
    assert r.status_code == 201, r.text
    listed = await client.get("/v1/customers", headers=tenant.auth())
    assert [c["id"] for c in listed.json()["items"]] == [r.json()["id"]]  # same tenant, same mode


async def test_keys_create_live_publishable(client: httpx.AsyncClient, tenant: TenantKeys, tmp_path: Path) -> None:
    out = parse(
        await ainvoke(
            tmp_path, "keys", "create", "--tenant", tenant.id, "--mode", "live", "--kind", "publishable", "--json"
        )
    )
    assert (out["kind"], out["mode"]) == ("publishable", "live")
    assert out["key"].startswith("pk_live_")
    r = await client.get("/v1/plans", headers=bearer(out["key"]))
    assert r.status_code == 403  # a real credential of this tenant, but publishable keys may not list plans
    assert r.json()["error"]["reason"] == "publishable_key_not_allowed"


async def test_keys_list_shows_prefixes_never_plaintext(tenant: TenantKeys, tmp_path: Path) -> None:
    made = parse(
        await ainvoke(
            tmp_path,
            "keys",
            "create",
            "--tenant",
            tenant.id,
            "--mode",
            "test",
            "--kind",
            "secret",
            "--name",
            "CI",
            "--json",
        )
    )
    result = await ainvoke(tmp_path, "keys", "list", "--tenant", tenant.id, "--mode", "test", "--json")
    rows = parse(result)
    # The two default keys from provisioning plus the one just made.
    assert len(rows) == 3
    mine = next(r for r in rows if r["id"] == made["id"])
    assert mine["name"] == "CI"
    assert mine["kind"] == "secret"
    assert mine["prefix"] == made["key"][:12]
    assert mine["last4"] == made["key"][-4:]
    assert mine["revokedAt"] is None
    assert made["key"] not in result.stdout
    assert tenant.test_secret not in result.stdout
    live_rows = parse(await ainvoke(tmp_path, "keys", "list", "--tenant", tenant.id, "--mode", "live", "--json"))
    assert made["id"] not in {r["id"] for r in live_rows}


async def test_keys_revoke_makes_the_key_fail_with_401(
    client: httpx.AsyncClient, tenant: TenantKeys, tmp_path: Path
) -> None:
    made = parse(
        await ainvoke(tmp_path, "keys", "create", "--tenant", tenant.id, "--mode", "test", "--kind", "secret", "--json")
    )
    assert (await client.get("/v1/customers", headers=bearer(made["key"]))).status_code == 200

    result = await ainvoke(tmp_path, "keys", "revoke", made["id"], "--mode", "test")
    assert result.exit_code == 0, result.output
    assert made["id"] in result.stdout

    r = await client.get("/v1/customers", headers=bearer(made["key"]))
    assert r.status_code == 401
    assert r.json()["error"]["reason"] == "invalid_credential"
    assert (await client.get("/v1/customers", headers=tenant.auth())).status_code == 200  # other keys unaffected
    rows = parse(await ainvoke(tmp_path, "keys", "list", "--tenant", tenant.id, "--mode", "test", "--json"))
    assert next(r for r in rows if r["id"] == made["id"])["revokedAt"] is not None


async def test_keys_revoke_in_the_wrong_mode_fails(tenant: TenantKeys, tmp_path: Path) -> None:
    made = parse(
        await ainvoke(tmp_path, "keys", "create", "--tenant", tenant.id, "--mode", "test", "--kind", "secret", "--json")
    )
    result = await ainvoke(tmp_path, "keys", "revoke", made["id"], "--mode", "live")
    assert result.exit_code == 1
    assert f"no api key {made['id']} in live mode" in said(result)


async def test_keys_create_rejects_an_invalid_mode_or_kind(tenant: TenantKeys, tmp_path: Path) -> None:
    bad_mode = await ainvoke(tmp_path, "keys", "create", "--tenant", tenant.id, "--mode", "prod", "--kind", "secret")
    assert bad_mode.exit_code == 1
    assert "--mode must be test or live" in said(bad_mode)
    bad_kind = await ainvoke(tmp_path, "keys", "create", "--tenant", tenant.id, "--mode", "test", "--kind", "root")
    assert bad_kind.exit_code == 1
    assert "--kind must be secret or publishable" in said(bad_kind)
    listed = await ainvoke(tmp_path, "keys", "list", "--tenant", tenant.id, "--mode", "sandbox")
    assert listed.exit_code == 1
    assert "--mode must be test or live" in said(listed)


async def test_keys_create_for_an_unknown_tenant_fails(db: Any, tmp_path: Path) -> None:
    result = await ainvoke(
        tmp_path, "keys", "create", "--tenant", "ten_01J00000000000000000000000", "--mode", "test", "--kind", "secret"
    )
    assert result.exit_code == 1
    assert "no tenant ten_01J00000000000000000000000" in said(result)


# --- OAuth clients ---


async def _token(client: httpx.AsyncClient, client_id: str, secret: str) -> httpx.Response:
    return await client.post(
        "/v1/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )


async def test_oauth_create_client_shape_and_the_client_gets_a_token(
    client: httpx.AsyncClient, tenant: TenantKeys, tmp_path: Path
) -> None:
    out = parse(await ainvoke(tmp_path, "oauth", "create-client", "--tenant", tenant.id, "--mode", "live", "--json"))
    assert set(out) == {"id", "mode", "clientId", "clientSecret"}
    assert out["id"].startswith("oac_")
    assert out["mode"] == "live"
    assert out["clientId"].startswith("cid_live_")
    assert out["clientSecret"].startswith("csec_live_")

    r = await _token(client, out["clientId"], out["clientSecret"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    created = await client.post(
        "/v1/plans",
        json={"name": "OAuth plan", "amount": 1000, "interval": "month"},
        headers=bearer(body["access_token"]),
    )
    assert created.status_code == 201, created.text
    # Live mode of the same tenant: the live secret key sees it, the test key does not.
    assert (await client.get(f"/v1/plans/{created.json()['id']}", headers=tenant.auth("live"))).status_code == 200
    assert (await client.get(f"/v1/plans/{created.json()['id']}", headers=tenant.auth("test"))).status_code == 404


async def test_oauth_revoke_stops_token_issuance(client: httpx.AsyncClient, tenant: TenantKeys, tmp_path: Path) -> None:
    out = parse(await ainvoke(tmp_path, "oauth", "create-client", "--tenant", tenant.id, "--mode", "test", "--json"))
    assert (await _token(client, out["clientId"], out["clientSecret"])).status_code == 200

    result = await ainvoke(tmp_path, "oauth", "revoke", out["id"], "--mode", "test")
    assert result.exit_code == 0, result.output
    assert out["id"] in result.stdout

    r = await _token(client, out["clientId"], out["clientSecret"])
    assert r.status_code == 401
    assert r.json()["error"]["reason"] == "invalid_client"


async def test_oauth_revoke_of_an_unknown_client_fails(db: Any, tmp_path: Path) -> None:
    result = await ainvoke(tmp_path, "oauth", "revoke", "oac_01J00000000000000000000000", "--mode", "test")
    assert result.exit_code == 1
    assert "no oauth client oac_01J00000000000000000000000 in test mode" in said(result)


# --- tenants ---


async def test_tenant_create_and_list(db: Any, tmp_path: Path) -> None:
    made = parse(
        await ainvoke(
            tmp_path,
            "tenant",
            "create",
            "--name",
            "Listed Store",
            "--owner-email",
            "owner@listed.example.com",
            "--slug",
            "listed-store",
            "--currency",
            "usd",
            "--json",
        )
    )
    assert made["tenant"]["slug"] == "listed-store"
    rows = parse(await ainvoke(tmp_path, "tenant", "list", "--json"))
    assert [r["id"] for r in rows] == [made["tenant"]["id"]]
    row = rows[0]
    assert row["object"] == "tenant"
    assert row["name"] == "Listed Store"
    assert row["slug"] == "listed-store"
    assert row["defaultCurrency"] == "USD"
    assert row["createdAt"].endswith("Z")
    assert "password" not in json.dumps(rows)
    async with db.core_transaction() as conn:
        entries = (await conn.execute(select(audit_logs).where(audit_logs.c.tenant_id == made["tenant"]["id"]))).all()
    assert [(e.action, e.actor_type, e.actor_label) for e in entries] == [("tenant.created", "system", "cli")]
    assert entries[0].after == {"name": "Listed Store", "slug": "listed-store"}


async def test_tenant_create_with_a_duplicate_owner_email_fails_clearly(tenant: TenantKeys, tmp_path: Path) -> None:
    result = await ainvoke(
        tmp_path, "tenant", "create", "--name", "Again", "--owner-email", tenant.owner_email, "--json"
    )
    assert result.exit_code == 1
    assert "a member with this email already exists" in said(result)
    assert result.stdout == ""  # no half-written JSON for scripts to trip over
    rows = parse(await ainvoke(tmp_path, "tenant", "list", "--json"))
    assert [r["id"] for r in rows] == [tenant.id]


async def test_tenant_create_with_invalid_input_lists_the_problems(db: Any, tmp_path: Path) -> None:
    result = await ainvoke(
        tmp_path, "tenant", "create", "--name", "X", "--owner-email", "not-an-email", "--currency", "XXX", "--json"
    )
    assert result.exit_code == 1
    for path in ("name", "ownerEmail", "currency"):
        assert f"{path}:" in said(result)


# --- config, migrate, demo ---


def test_config_masks_secrets(tmp_path: Path) -> None:
    db_password = "hunter2-database-password"
    result = invoke(
        tmp_path,
        "config",
        DURO_DATABASE_URL=f"postgresql+asyncpg://duro:{db_password}@db.internal/duro",
        DURO_STAFF_KEY="staff-key-that-is-at-least-32-characters-long",
        DURO_PORT="8123",
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "DURO_SECRET_KEY" in out
    assert "DURO_PORT" in out
    assert "8123" in out  # non-secret values are shown
    assert "********" in out
    # No 8-character slice of a secret appears, so a value wrapped across table lines is caught too.
    for secret in (SECRET_KEY, db_password, "staff-key-that-is-at-least-32-characters-long"):
        assert not any(secret[i : i + 8] in out for i in range(len(secret) - 7)), secret


async def test_migrate_check_exits_zero_when_current(db: Any, tmp_path: Path) -> None:
    result = await ainvoke(tmp_path, "migrate", "--check")
    assert result.exit_code == 0, result.output
    assert "migrations current" in result.stdout


@pytest.mark.skipif(bool(os.environ.get("DURO_TEST_DATABASE_URL")), reason="needs a second, empty database")
async def test_migrate_check_exits_one_when_pending(db: Any, tmp_path: Path) -> None:
    name = os.environ.get("DURO_TEST_DB_NAME", "duro_test") + "_unmigrated"
    empty = await asyncio.to_thread(database_url_for_tests, name)  # created empty, never migrated
    result = await ainvoke(tmp_path, "migrate", "--check", DURO_DATABASE_URL=empty)
    assert result.exit_code == 1
    assert "pending migrations" in said(result)


def test_migrate_sql_prints_ddl(tmp_path: Path) -> None:
    result = invoke(tmp_path, "migrate", "--sql")
    assert result.exit_code == 0, result.output
    assert "CREATE TABLE core.tenants" in result.stdout
    assert "CREATE TABLE sandbox.customers" in result.stdout
    assert "CREATE TABLE live.customers" in result.stdout
    assert "alembic_version" in result.stdout


async def test_demo_is_idempotent(db: Any, tmp_path: Path) -> None:
    first = parse(await ainvoke(tmp_path, "demo", "--json"))
    assert first["tenant"]["slug"] == "demo-store"
    assert (tmp_path / "demo.json").exists()
    second = parse(await ainvoke(tmp_path, "demo", "--json"))
    assert second == first
    human = await ainvoke(tmp_path, "demo")
    assert human.exit_code == 0, human.output
    assert first["keys"]["test"]["secret"] in human.stdout
    assert first["owner"]["password"] in human.stdout
    rows = parse(await ainvoke(tmp_path, "tenant", "list", "--json"))
    assert [r["slug"] for r in rows] == ["demo-store"]  # one demo tenant, not three


async def test_demo_seeds_data_reachable_with_its_key(client: httpx.AsyncClient, tmp_path: Path) -> None:
    out = parse(await ainvoke(tmp_path, "demo", "--json"))
    plans = await client.get("/v1/plans?limit=100", headers=bearer(out["keys"]["test"]["secret"]))
    customers = await client.get("/v1/customers?limit=100", headers=bearer(out["keys"]["test"]["secret"]))
    assert plans.status_code == 200
    assert len(plans.json()["items"]) >= 3
    assert len(customers.json()["items"]) >= 3


def test_the_installed_entry_point_runs(tmp_path: Path) -> None:
    """One real child process: the `duro` script of the package, not only the in-process Typer app."""
    done = run_duro(tmp_path, "migrate", "--sql")
    assert done.returncode == 0, done.stderr
    assert "CREATE TABLE core.tenants" in done.stdout
    bad = run_duro(tmp_path, "keys", "list", "--tenant", "ten_x", "--mode", "staging")
    assert bad.returncode == 1
    assert "--mode must be test or live" in said(bad)
