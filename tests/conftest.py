"""Test harness: real PostgreSQL (embedded unless DURO_TEST_DATABASE_URL), migrated once per session with
Alembic; every test starts from empty tables; HTTP goes through the real ASGI app."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text

from duro.app import create_app
from duro.config import Settings
from duro.db import migrate
from duro.db.engine import Database
from duro.kit.clock import SystemClock
from duro.models.base import DATA_SCHEMA, metadata
from duro.tenants.service import provision_tenant

ROOT = Path(__file__).resolve().parents[1]
TEST_DATA_DIR = ROOT / ".duro" / "test"

TENANT_TABLES = sorted(t.name for t in metadata.tables.values() if t.schema == DATA_SCHEMA and "tenant_id" in t.c)


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "test",
        "data_dir": TEST_DATA_DIR,
        "database_url": os.environ.get("DURO_TEST_DATABASE_URL") or None,
        "secret_key": "test-secret-key-that-is-long-enough-0123456789",
        "public_url": "http://localhost:8000",
        "rate_limit_test": 100_000,
        "rate_limit_live": 100_000,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def database_url_for_tests(name: str | None = None) -> str:
    """The external test server, or a database on the embedded one. DURO_TEST_DB_NAME lets several suites
    run side by side on one machine without dropping each other's schemas."""
    name = name or os.environ.get("DURO_TEST_DB_NAME", "duro_test")
    external = os.environ.get("DURO_TEST_DATABASE_URL")
    if external:
        return external
    from duro.db.embedded import start_embedded

    return start_embedded(TEST_DATA_DIR, name)


async def reset_schemas(db: Database) -> None:
    async with db.engine.begin() as conn:
        for schema in ("sandbox", "live", "core"):
            await conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))


# --- tenancy guard ---

_TABLE_RE = re.compile(r"\b(?:sandbox|live)\.(\w+)")


@dataclass
class TenancyGuard:
    """Fails a test when a statement touches a tenant-owned table without filtering on tenant_id."""

    enabled: bool = True
    violations: list[str] | None = None

    def check(self, statement: str) -> None:
        if not self.enabled:
            return
        sql = " ".join(statement.split()).lower()
        tables = {m for m in _TABLE_RE.findall(sql) if m in TENANT_TABLES}
        if not tables or "/* unscoped:" in sql:
            return
        verb = sql.split(" ", 1)[0]
        if verb == "insert":
            ok = "tenant_id" in sql.split(")", 1)[0]
        elif verb in ("select", "update", "delete", "with"):
            ok = bool(re.search(r"tenant_id\s*(=|in\b)", sql))
        else:  # DDL, TRUNCATE: harness and migrations
            ok = True
        if not ok and self.violations is not None:
            self.violations.append(statement)


GUARD = TenancyGuard()


@pytest.fixture(scope="session")
async def db() -> AsyncIterator[Database]:
    database = Database(database_url_for_tests(), pool_size=10)
    await reset_schemas(database)
    await migrate.upgrade(database.engine)

    def before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        GUARD.check(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", before)
    database.statement_hooks.append(GUARD.check)  # the application's own (asyncpg) statements
    yield database
    await database.dispose()


@pytest.fixture(autouse=True)
async def clean_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    if "db" not in request.fixturenames:
        yield
        return
    database: Database = request.getfixturevalue("db")
    async with database.engine.begin() as conn:
        # Every tenant-owned table references core.tenants; the simulator ledger is keyed by reference only;
        # staff sessions, customer identities and their one-time codes belong to no tenant.
        await conn.execute(
            text(
                "TRUNCATE core.tenants, core.staff_sessions, core.customer_identities, core.otp_challenges, "
                "sandbox.sim_charges, live.sim_charges CASCADE"
            )
        )
    GUARD.violations = []
    yield
    found, GUARD.violations = GUARD.violations, None
    assert not found, "queries on tenant tables without a tenant_id filter:\n" + "\n".join(found)


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
async def app(db: Database, settings: Settings) -> Any:
    return create_app(settings, db=db)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
    await app.state.runtime.close()


@dataclass
class TenantKeys:
    id: str
    slug: str
    owner_email: str
    test_secret: str
    test_publishable: str
    live_secret: str
    live_publishable: str

    def auth(self, mode: str = "test", kind: str = "secret") -> dict[str, str]:
        key = getattr(self, f"{mode}_{kind}")
        return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def make_tenant(db: Database, settings: Settings) -> Any:
    counter = {"n": 0}

    async def factory(name: str | None = None) -> TenantKeys:
        counter["n"] += 1
        n = counter["n"]
        made = await provision_tenant(
            db,
            settings,
            SystemClock(),
            name=name or f"Tenant {n}",
            owner_email=f"owner{n}@example.com",
            owner_password="correct horse battery staple",
        )
        k = made.keys
        return TenantKeys(
            made.tenant.id,
            made.tenant.slug,
            made.owner.email,
            k["test"]["secret"],
            k["test"]["publishable"],
            k["live"]["secret"],
            k["live"]["publishable"],
        )

    return factory


@pytest.fixture
async def tenant(make_tenant: Any) -> TenantKeys:
    return await make_tenant("Acme Ltd")  # type: ignore[no-any-return]


@pytest.fixture
def revoke_key(db: Database, settings: Settings) -> Any:
    """Revoke one of a tenant's provisioned keys the way `duro keys revoke` does; returns the key id."""
    from duro.context import RepositoryContext
    from duro.credentials.repository import ApiKeyRepository
    from duro.credentials.service import revoke_api_key
    from duro.kit.crypto import sha256_hex
    from duro.tenants.service import CLI_ACTOR

    async def revoke(keys: TenantKeys, mode: str = "test", kind: str = "secret") -> str:
        plaintext = getattr(keys, f"{mode}_{kind}")
        async with db.transaction(mode) as conn:  # type: ignore[arg-type]
            ctx = RepositoryContext(conn, keys.id, mode, SystemClock(), settings, CLI_ACTOR)  # type: ignore[arg-type]
            found = [r for r in await ctx.repo(ApiKeyRepository).list_all() if r.key_hash == sha256_hex(plaintext)]
            assert len(found) == 1
            row = await revoke_api_key(ctx, found[0].id)
        assert row.revoked_at is not None
        return str(row.id)

    return revoke
