"""`duro webhooks …` (01 §11): endpoint management, the delivery inspector and replays for operators. Every
command takes `--mode`; writes are audited as `system`/`cli`. Endpoints are never managed through `/v1` (05 §7)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import typer
from rich.table import Table
from sqlalchemy import select

from duro.config import Settings
from duro.db.engine import Database, Mode


def _c() -> Any:
    """`duro.cli`, imported when a command runs: `duro.cli` registers this app at import, so importing it back at
    module level would be circular (and `python -m duro.cli` would load a second copy)."""
    import duro.cli

    return duro.cli


webhooks_app = typer.Typer(help="Webhook endpoints, deliveries and replays.", no_args_is_help=True)


async def _tenant_of(db: Database, mode: Mode, table: Any, row_id: str, what: str) -> str:
    """The tenant owning `row_id` (operator commands name an endpoint, delivery or event by id alone)."""
    async with db.reader(mode) as conn:
        row = (
            await conn.execute(
                select(table.c.tenant_id).where(table.c.id == row_id).prefix_with("/* unscoped: operator CLI */")
            )
        ).first()
    if row is None:
        _c()._fail(f"no {what} {row_id} in {mode} mode")
        raise AssertionError("unreachable: _fail exits")
    return str(row[0])


def _cli_actor() -> Any:
    from duro.tenants.service import CLI_ACTOR

    return CLI_ACTOR


@webhooks_app.command("add")
def add(
    tenant: str = typer.Option(..., "--tenant"),
    mode: str = typer.Option(..., "--mode"),
    url: str = typer.Option(..., "--url"),
    events: str = typer.Option("", "--events", help="Comma-separated event types (default: all)"),
    description: str | None = typer.Option(None, "--description"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Create an endpoint (SSRF rules apply); prints its `whsec_` secret once."""
    from duro.webhooks.endpoints import create_endpoint

    m = _c()._mode(mode)
    types = [t.strip() for t in events.split(",") if t.strip()]

    async def go(db: Database, settings: Settings) -> Any:
        await _c()._require_tenant(db, tenant)
        async with db.transaction(m) as conn:
            return await create_endpoint(
                _c()._cli_ctx(conn, tenant, m, settings), url=url, enabled_events=types, description=description
            )

    made = _c().run_with_db(go)
    if json_out:
        _c()._emit_json({"id": made.endpoint["id"], "url": made.endpoint["url"], "secret": made.secret})
        return
    _c().console.print(f"{made.endpoint['id']}  {made.endpoint['url']}\n{made.secret}")
    _c().console.print("[yellow]The secret is shown once. Store it now.[/yellow]")
    if made.warning:
        _c().console.print(f"[yellow]warning:[/yellow] {made.warning}")


@webhooks_app.command("list")
def list_(
    tenant: str = typer.Option(..., "--tenant"),
    mode: str = typer.Option(..., "--mode"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """The tenant's endpoints of that mode."""
    from duro.webhooks.endpoints import list_endpoints

    m = _c()._mode(mode)

    async def go(db: Database, settings: Settings) -> list[dict[str, Any]]:
        async with db.reader(m) as conn:
            return await list_endpoints(_c()._cli_ctx(conn, tenant, m, settings))

    rows = _c().run_with_db(go)
    if json_out:
        _c()._emit_json(rows)
        return
    table = Table("id", "url", "status", "events", "failing since")
    for r in rows:
        events = ",".join(r["enabledEvents"]) or "all"
        table.add_row(r["id"], r["url"], r["status"], events, r["failingSince"] or "")
    _c().console.print(table)


def _endpoint_change(endpoint_id: str, mode: str, change: Any) -> dict[str, Any]:
    from duro.models.webhooks import webhook_endpoints

    m = _c()._mode(mode)

    async def go(db: Database, settings: Settings) -> dict[str, Any]:
        tenant = await _tenant_of(db, m, webhook_endpoints, endpoint_id, "webhook endpoint")
        async with db.transaction(m) as conn:
            result: dict[str, Any] = await change(_c()._cli_ctx(conn, tenant, m, settings))
        return result

    result: dict[str, Any] = _c().run_with_db(go)
    return result


@webhooks_app.command("enable")
def enable(endpoint_id: str, mode: str = typer.Option(..., "--mode")) -> None:
    """Enable an endpoint (clears failingSince and disabledReason)."""
    from duro.webhooks.endpoints import set_enabled

    out = _endpoint_change(endpoint_id, mode, lambda ctx: set_enabled(ctx, endpoint_id, True))
    _c().console.print(f"{out['id']} {out['status']}")


@webhooks_app.command("disable")
def disable(endpoint_id: str, mode: str = typer.Option(..., "--mode")) -> None:
    """Disable an endpoint (reason `manual`)."""
    from duro.webhooks.endpoints import set_enabled

    out = _endpoint_change(endpoint_id, mode, lambda ctx: set_enabled(ctx, endpoint_id, False))
    _c().console.print(f"{out['id']} {out['status']}")


@webhooks_app.command("delete")
def delete(
    endpoint_id: str,
    mode: str = typer.Option(..., "--mode"),
    yes: bool = typer.Option(False, "--yes", help="Skip the confirmation prompt"),
) -> None:
    """Delete an endpoint (its delivery history stays until retention purges it)."""
    from duro.webhooks.endpoints import delete_endpoint

    if not yes and not typer.confirm(f"Delete webhook endpoint {endpoint_id}?"):
        raise typer.Exit(1)
    out = _endpoint_change(endpoint_id, mode, lambda ctx: delete_endpoint(ctx, endpoint_id))
    _c().console.print(f"{out['id']} deleted")


@webhooks_app.command("rotate-secret")
def rotate(
    endpoint_id: str,
    mode: str = typer.Option(..., "--mode"),
    expire_old_now: bool = typer.Option(False, "--expire-old-now"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """A new signing secret, printed once; the old one keeps signing for 24 h unless --expire-old-now."""
    from duro.webhooks.endpoints import rotate_secret

    async def change(ctx: Any) -> dict[str, Any]:
        made = await rotate_secret(ctx, endpoint_id, expire_old_now=expire_old_now)
        return {"id": made.endpoint["id"], "secret": made.secret}

    out = _endpoint_change(endpoint_id, mode, change)
    if json_out:
        _c()._emit_json(out)
    else:
        _c().console.print(f"{out['id']}\n{out['secret']}\n[yellow]Shown once. Store it now.[/yellow]")


@webhooks_app.command("deliveries")
def deliveries(
    endpoint_id: str,
    mode: str = typer.Option(..., "--mode"),
    status: str | None = typer.Option(None, "--status", help="pending, delivered or failed"),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="How many deliveries to show"),
    cursor: str | None = typer.Option(
        None, "--cursor", help="Continue after this delivery id (the last one of the previous run, same filters)"
    ),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """The endpoint's deliveries, newest first, with their attempts."""
    from duro.models.webhooks import webhook_endpoints
    from duro.webhooks.inspector import list_deliveries

    m = _c()._mode(mode)
    if status is not None and status not in ("pending", "delivered", "failed"):
        _c()._fail("--status must be pending, delivered or failed")

    async def go(db: Database, settings: Settings) -> list[dict[str, Any]]:
        tenant = await _tenant_of(db, m, webhook_endpoints, endpoint_id, "webhook endpoint")
        async with db.reader(m) as conn:
            return await list_deliveries(
                _c()._cli_ctx(conn, tenant, m, settings),
                endpoint_id=endpoint_id,
                status=status,
                limit=limit,
                cursor=cursor,
            )

    rows = _c().run_with_db(go)
    if json_out:
        _c()._emit_json(rows)
        return
    table = Table("id", "event", "type", "status", "attempts", "last status", "next attempt")
    for r in rows:
        table.add_row(
            r["id"],
            r["eventId"],
            r["eventType"],
            r["status"],
            str(r["attemptCount"]),
            str(r["lastStatusCode"] or r["lastError"] or ""),
            r["nextAttemptAt"] or "",
        )
    _c().console.print(table)


def _replay_run(mode: str, tenant_lookup: tuple[Any, str, str], action: Any) -> dict[str, Any]:
    from duro.runtime import Runtime

    m = _c()._mode(mode)

    async def go(db: Database, settings: Settings) -> dict[str, Any]:
        table, row_id, what = tenant_lookup
        tenant = await _tenant_of(db, m, table, row_id, what)
        runtime = Runtime(settings, db)
        try:
            result: dict[str, Any] = await action(runtime, tenant, m)
            return result
        finally:
            await runtime.close()

    result: dict[str, Any] = _c().run_with_db(go)
    return result


@webhooks_app.command("replay")
def replay(
    delivery_id: str, mode: str = typer.Option(..., "--mode"), json_out: bool = typer.Option(False, "--json")
) -> None:
    """Replay a delivery now; prints the new attempt."""
    from duro.models.webhooks import webhook_deliveries
    from duro.webhooks.inspector import replay as replay_now

    out = _replay_run(
        mode,
        (webhook_deliveries, delivery_id, "webhook delivery"),
        lambda runtime, tenant, m: replay_now(runtime, tenant, m, delivery_id, _cli_actor()),
    )
    if json_out:
        _c()._emit_json(out)
    else:
        _c().console.print(f"{out['id']} attempt {out['attemptNumber']}: {out['responseStatus'] or out['error']}")


@webhooks_app.command("resend")
def resend(
    event_id: str,
    endpoint: str = typer.Option(..., "--endpoint"),
    mode: str = typer.Option(..., "--mode"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Resend an event to an endpoint (creating its delivery if it has none), now."""
    from duro.models.events import events
    from duro.webhooks.inspector import resend as resend_now

    out = _replay_run(
        mode,
        (events, event_id, "event"),
        lambda runtime, tenant, m: resend_now(runtime, tenant, m, event_id, endpoint, _cli_actor()),
    )
    if json_out:
        _c()._emit_json(out)
    else:
        _c().console.print(f"{out['id']} attempt {out['attemptNumber']}: {out['responseStatus'] or out['error']}")


@webhooks_app.command("replay-failed")
def replay_failed(
    endpoint_id: str,
    since: datetime = typer.Option(..., "--since", help="ISO time; failed deliveries created since then"),
    mode: str = typer.Option(..., "--mode"),
) -> None:
    """Queue one replay of each failed delivery since a time (at most 1,000), run by the webhooks loop."""
    from duro.webhooks.inspector import replay_failed_since

    async def change(ctx: Any) -> dict[str, Any]:
        at = since if since.tzinfo is not None else since.replace(tzinfo=ctx.clock.now().tzinfo)
        return {"queued": await replay_failed_since(ctx, endpoint_id, at)}

    out = _endpoint_change(endpoint_id, mode, change)
    _c().console.print(f"{out['queued']} deliveries queued for replay")
