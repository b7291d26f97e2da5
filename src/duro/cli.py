"""The `duro` command (01 §11). Output is Rich for people and exact JSON with --json for scripts."""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from duro.config import Settings, load_settings
from duro.db.engine import Database, Mode, resolve_database_url

app = typer.Typer(help="Duro: recovery-first subscription billing.", no_args_is_help=True, add_completion=False)
tenant_app = typer.Typer(help="Tenants (merchants).", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
oauth_app = typer.Typer(help="OAuth clients.", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")
app.add_typer(keys_app, name="keys")
app.add_typer(oauth_app, name="oauth")

console = Console(soft_wrap=True)
err_console = Console(stderr=True)
T = TypeVar("T")


def _emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2) + "\n")


def _fail(message: str, code: int = 1) -> None:
    err_console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


async def open_database(settings: Settings, *, auto_migrate: bool = True, pool_size: int = 5) -> Database:
    """Connect; with the embedded server apply pending migrations, with a URL refuse to run behind (01 §10)."""
    from duro.db import migrate

    db = Database(resolve_database_url(settings), pool_size=pool_size)
    if not await migrate.is_current(db.engine):
        if settings.database_url and auto_migrate:
            await db.dispose()
            _fail("migrations are pending — run: duro migrate")
        if auto_migrate:
            await migrate.upgrade(db.engine)
    return db


def run_with_db(
    fn: Callable[[Database, Settings], Awaitable[T]], *, auto_migrate: bool = True, pool_size: int = 5
) -> T:
    from duro.kit.errors import DuroError

    settings = load_settings()

    async def main() -> T:
        db = await open_database(settings, auto_migrate=auto_migrate, pool_size=pool_size)
        try:
            return await fn(db, settings)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except DuroError as err:
        details = "; ".join(f"{d.path}: {d.issue}" for d in err.details)
        _fail(err.message + (f" ({details})" if details else ""))
        raise  # unreachable: _fail exits


def _mode(value: str) -> Mode:
    if value not in ("test", "live"):
        _fail("--mode must be test or live")
    return value  # type: ignore[return-value]


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Bind address (DURO_HOST)"),
    port: int | None = typer.Option(None, help="Port (DURO_PORT)"),
    reload: bool = typer.Option(False, help="Reload on code changes (development)"),
) -> None:
    """Run the HTTP app."""
    import uvicorn

    from duro.kit.logs import configure_logging

    settings = load_settings()
    configure_logging(settings.log_level, settings.effective_log_format)

    async def prepare(db: Database, s: Settings) -> None:
        return None

    run_with_db(prepare)  # migrations applied (embedded) or verified (external) before binding
    bind_host = host or settings.host
    bind_port = port or settings.port
    console.print(f"Duro listening on http://{bind_host}:{bind_port}  (public URL {settings.public_url})")
    console.print(f"  API      {settings.public_url}/v1      OpenAPI {settings.public_url}/openapi.json")
    console.print(f"  Dashboard {settings.public_url}/dashboard")
    console.print(f"  Health   {settings.public_url}/healthz  Ready   {settings.public_url}/readyz")
    uvicorn.run(
        "duro.asgi:app",
        host=bind_host,
        port=bind_port,
        reload=reload,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )


@app.command()
def worker(
    loops: str = typer.Option("", "--loops", help="Comma-separated loops to run (default: all)"),
    once: bool = typer.Option(False, "--once", help="Run one tick of each loop and exit"),
) -> None:
    """Run the background loops (renewals, dunning, notifications, reminders, maintenance) over both modes."""
    from duro.kit.logs import configure_logging
    from duro.runtime import Runtime
    from duro.workers.loop import loops as known_loops
    from duro.workers.loop import run_forever, run_once

    settings = load_settings()
    configure_logging(settings.log_level, settings.effective_log_format)
    names = [n.strip() for n in loops.split(",") if n.strip()]

    async def go(db: Database, s: Settings) -> dict[str, int] | None:
        runtime = Runtime(s, db)
        chosen = names or list(known_loops(runtime))
        unknown = set(chosen) - set(known_loops(runtime))
        if unknown:
            _fail(f"unknown loops: {', '.join(sorted(unknown))} (available: {', '.join(known_loops(runtime))})")
        try:
            if once:
                return await run_once(runtime, chosen)
            await run_forever(runtime, chosen)
            return None
        finally:
            await runtime.close()

    # A renewal in flight holds at most one connection at a time (T1, the gateway's ledger, T2): the billing
    # loop's `worker_concurrency` units need that many, the other loops' scans and steps one or two more.
    result = run_with_db(go, pool_size=settings.worker_concurrency + 2)
    if result is not None:
        console.print(" ".join(f"{name}={count}" for name, count in result.items()))


@app.command()
def migrate(
    check: bool = typer.Option(False, "--check", help="Exit 1 if migrations are pending"),
    sql: bool = typer.Option(False, "--sql", help="Print the DDL instead of running it"),
) -> None:
    """Upgrade the database to the latest revision."""
    from duro.db import migrate as m

    if sql:
        sys.stdout.write(m.offline_sql())
        return

    async def go(db: Database, settings: Settings) -> int:
        current = await m.current_revision(db.engine)
        head = m.head_revision()
        if check:
            if current != head:
                err_console.print(f"pending migrations: database at {current}, code at {head}")
                return 1
            console.print(f"migrations current ({head})")
            return 0
        await m.upgrade(db.engine)
        console.print(f"database migrated to {head}")
        return 0

    code = run_with_db(go, auto_migrate=False)
    raise typer.Exit(code)


@app.command()
def demo(
    reset: bool = typer.Option(False, "--reset", help="Drop the demo tenant's data first"),
    json_out: bool = typer.Option(False, "--json", help="Print the demo credentials as JSON"),
    if_empty: bool = typer.Option(False, "--if-empty", help="Only seed when the database has no tenants yet"),
) -> None:
    """Create the "Demo Store" tenant with data to explore (idempotent)."""
    from duro.demo import ensure_demo

    result = run_with_db(lambda db, s: ensure_demo(db, s, reset=reset, only_if_empty=if_empty))
    if result is None:
        console.print("Database already has tenants and no demo tenant: not seeding demo data.")
        return
    if json_out:
        _emit_json(result)
        return
    settings = load_settings()
    console.print("[bold]Demo Store[/bold] is ready.")
    console.print(f"  Dashboard     {settings.public_url}/dashboard  (owners enrol an authenticator app first)")
    console.print(f"  Owner login   {result['owner']['email']} / {result['owner']['password']}")
    console.print(f"  Test secret   {result['keys']['test']['secret']}")
    console.print(f"  Test pk       {result['keys']['test']['publishable']}")
    console.print(
        f"  Try:  curl -H 'Authorization: Bearer {result['keys']['test']['secret']}' {settings.public_url}/v1/plans"
    )


@app.command("config")
def show_config() -> None:
    """Print the effective settings, secrets masked."""
    settings = load_settings()
    table = Table("Variable", "Value")
    for name, value in settings.masked().items():
        table.add_row(name, "" if value is None else str(value))
    console.print(table)


@tenant_app.command("create")
def tenant_create(
    name: str = typer.Option(..., "--name"),
    owner_email: str = typer.Option(..., "--owner-email"),
    owner_password: str | None = typer.Option(None, "--owner-password"),
    slug: str | None = typer.Option(None, "--slug"),
    currency: str = typer.Option("NGN", "--currency"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Create a tenant, its owner and one secret + one publishable key per mode."""
    from duro.kit.clock import SystemClock
    from duro.tenants.service import provision_tenant

    if owner_password is None and sys.stdin.isatty() and not json_out:
        owner_password = getpass.getpass("Owner password (blank to generate): ") or None
    made = run_with_db(
        lambda db, s: provision_tenant(
            db,
            s,
            SystemClock(),
            name=name,
            owner_email=owner_email,
            owner_password=owner_password,
            slug=slug,
            currency=currency,
            audit_as_creator=True,
        )
    )
    out = made.as_json()
    if json_out:
        _emit_json(out)
        return
    console.print(f"Tenant [bold]{out['tenant']['name']}[/bold] {out['tenant']['id']} (slug {out['tenant']['slug']})")
    console.print(f"Owner {out['owner']['email']} password {out['owner']['password']}")
    for mode in ("test", "live"):
        console.print(f"  {mode}: {out['keys'][mode]['secret']}  {out['keys'][mode]['publishable']}")
    console.print("[yellow]Keys are shown once. Store them now.[/yellow]")


@tenant_app.command("list")
def tenant_list(json_out: bool = typer.Option(False, "--json")) -> None:
    """List tenants."""
    from duro.tenants.repository import TenantStore
    from duro.tenants.service import tenant_json

    async def go(db: Database, settings: Settings) -> list[dict[str, Any]]:
        async with db.core_transaction() as conn:
            return [tenant_json(r) for r in await TenantStore(conn).list_all()]

    rows = run_with_db(go)
    if json_out:
        _emit_json(rows)
        return
    table = Table("id", "name", "slug", "tier", "created")
    for r in rows:
        table.add_row(r["id"], r["name"], r["slug"], r["tier"], r["createdAt"])
    console.print(table)


@tenant_app.command("reset-2fa")
def tenant_reset_2fa(
    member: str = typer.Argument(..., help="The member's mem_ id or email"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Reset a member's 2FA, the owner's included: clears the TOTP secret and recovery codes and signs them out
    everywhere (02 §5). Audited as system/cli. Owners and admins set 2FA up again at their next sign-in."""
    from duro.dashboard.security import operator_reset_two_factor
    from duro.kit.clock import SystemClock

    async def go(db: Database, settings: Settings) -> Any:
        return await operator_reset_two_factor(db, SystemClock(), member)

    done = run_with_db(go)
    if done is None:
        _fail(f"no member {member}")
    if json_out:
        _emit_json(
            {
                "memberId": done.member_id,
                "email": done.email,
                "tenantId": done.tenant_id,
                "role": done.role,
                "sessionsDeleted": done.sessions_deleted,
            }
        )
        return
    console.print(
        f"Two-factor authentication of {done.email} ({done.role}, {done.member_id}) reset; "
        f"{done.sessions_deleted} session(s) signed out."
    )


def _cli_ctx(conn: Any, tenant_id: str, mode: Mode, settings: Settings) -> Any:
    from duro.context import RepositoryContext
    from duro.kit.clock import SystemClock
    from duro.tenants.service import CLI_ACTOR

    return RepositoryContext(conn, tenant_id, mode, SystemClock(), settings, CLI_ACTOR)


async def _require_tenant(db: Database, tenant_id: str) -> None:
    from duro.tenants.repository import TenantStore

    async with db.core_transaction() as conn:
        if await TenantStore(conn).get(tenant_id) is None:
            _fail(f"no tenant {tenant_id}")


@keys_app.command("create")
def keys_create(
    tenant: str = typer.Option(..., "--tenant"),
    mode: str = typer.Option(..., "--mode"),
    kind: str = typer.Option(..., "--kind", help="secret or publishable"),
    name: str | None = typer.Option(None, "--name"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Mint a key; the plaintext is printed once."""
    from duro.credentials.service import create_api_key

    m = _mode(mode)
    if kind not in ("secret", "publishable"):
        _fail("--kind must be secret or publishable")

    async def go(db: Database, settings: Settings) -> dict[str, Any]:
        await _require_tenant(db, tenant)
        async with db.transaction(m) as conn:
            made = await create_api_key(_cli_ctx(conn, tenant, m, settings), kind, name)  # type: ignore[arg-type]
        return {"id": made.row.id, "kind": kind, "mode": m, "key": made.plaintext}

    out = run_with_db(go)
    if json_out:
        _emit_json(out)
    else:
        console.print(f"{out['id']}  {out['key']}\n[yellow]Shown once. Store it now.[/yellow]")


@keys_app.command("list")
def keys_list(
    tenant: str = typer.Option(..., "--tenant"),
    mode: str = typer.Option(..., "--mode"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """List keys: prefix, last 4, last used."""
    from duro.credentials.repository import ApiKeyRepository
    from duro.credentials.service import api_key_json

    m = _mode(mode)

    async def go(db: Database, settings: Settings) -> list[dict[str, Any]]:
        async with db.transaction(m) as conn:
            return [api_key_json(r) for r in await ApiKeyRepository(conn, tenant).list_all()]

    rows = run_with_db(go)
    if json_out:
        _emit_json(rows)
        return
    table = Table("id", "kind", "name", "prefix", "last4", "last used", "revoked")
    for r in rows:
        table.add_row(
            r["id"],
            r["kind"],
            r["name"],
            r["prefix"],
            r["last4"],
            r["lastUsedAt"] or "-",
            r["revokedAt"] or "-",
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: str = typer.Argument(...),
    mode: str = typer.Option(..., "--mode"),
    tenant: str | None = typer.Option(None, "--tenant", help="Defaults to the key's tenant"),
) -> None:
    """Revoke a key immediately and for good."""
    from duro.credentials.service import revoke_api_key

    m = _mode(mode)

    async def go(db: Database, settings: Settings) -> str:
        owner = tenant or await _owner_of(db, m, "api_keys", key_id)
        async with db.transaction(m) as conn:
            row = await revoke_api_key(_cli_ctx(conn, owner, m, settings), key_id)
        return str(row.id)

    console.print(f"revoked {run_with_db(go)}")


async def _owner_of(db: Database, mode: Mode, table_name: str, row_id: str) -> str:
    """The tenant of a credential named on the command line (operator tool, not a request path)."""
    from sqlalchemy import select

    from duro.models.credentials import api_keys, oauth_clients

    table = api_keys if table_name == "api_keys" else oauth_clients
    async with db.transaction(mode) as conn:
        found = (
            await conn.execute(select(table.c.tenant_id).where(table.c.id == row_id).prefix_with("/* unscoped: cli */"))
        ).scalar()
    if found is None:
        _fail(f"no {table_name[:-1].replace('_', ' ')} {row_id} in {mode} mode")
    return str(found)


@oauth_app.command("create-client")
def oauth_create(
    tenant: str = typer.Option(..., "--tenant"),
    mode: str = typer.Option(..., "--mode"),
    name: str | None = typer.Option(None, "--name"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Create OAuth client credentials; the secret is printed once."""
    from duro.credentials.service import create_oauth_client

    m = _mode(mode)

    async def go(db: Database, settings: Settings) -> dict[str, Any]:
        await _require_tenant(db, tenant)
        async with db.transaction(m) as conn:
            made = await create_oauth_client(_cli_ctx(conn, tenant, m, settings), name)
        return {
            "id": made.row.id,
            "mode": m,
            "clientId": made.row.client_id,
            "clientSecret": made.client_secret,
        }

    out = run_with_db(go)
    if json_out:
        _emit_json(out)
    else:
        console.print(f"{out['id']}\n  client_id     {out['clientId']}\n  client_secret {out['clientSecret']}")
        console.print("[yellow]The secret is shown once. Store it now.[/yellow]")


@oauth_app.command("revoke")
def oauth_revoke(
    client_pk: str = typer.Argument(..., metavar="OAC_ID"),
    mode: str = typer.Option(..., "--mode"),
    tenant: str | None = typer.Option(None, "--tenant"),
) -> None:
    """Revoke an OAuth client (its tokens stop working within 30 s)."""
    from duro.credentials.service import revoke_oauth_client

    m = _mode(mode)

    async def go(db: Database, settings: Settings) -> str:
        owner = tenant or await _owner_of(db, m, "oauth_clients", client_pk)
        async with db.transaction(m) as conn:
            row = await revoke_oauth_client(_cli_ctx(conn, owner, m, settings), client_pk)
        return str(row.id)

    console.print(f"revoked {run_with_db(go)}")


def _register_subcommands() -> None:
    from duro.cli_appearance import appearance_app
    from duro.cli_webhooks import webhooks_app

    app.add_typer(webhooks_app, name="webhooks")
    app.add_typer(appearance_app, name="appearance")


_register_subcommands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
