"""`duro appearance …` (01 §11): set the draft, publish it, show either — the rules of the dashboard's appearance
builder (07 §4). The configuration is shared by both modes, so no command takes `--mode`. Writes are audited as
`system`/`cli` (publish and discard; draft edits are not audited, as in the dashboard)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from duro.config import Settings
from duro.db.engine import Database


def _c() -> Any:
    """`duro.cli`, imported when a command runs (it registers this app at import; see `cli_webhooks._c`)."""
    import duro.cli

    return duro.cli


appearance_app = typer.Typer(help="Appearance of hosted pages: draft, publish, show.", no_args_is_help=True)


def _fail_listing(err: Any) -> None:
    """Every field problem on its own line, then exit 1."""
    lines = [f"  {d.path}: {d.issue}" for d in err.details]
    _c().err_console.print(f"[red]error:[/red] {err.message}", highlight=False)
    for line in lines:
        _c().err_console.print(line, highlight=False, markup=False)
    raise typer.Exit(1)


def _read_partial(file: str) -> Any:
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        _c()._fail(f"cannot read {file}: {exc.strerror or exc}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        _c()._fail(f"{file} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")


def _write(fn: Any) -> dict[str, Any]:
    """Run `fn(conn, actor, clock)` in one core transaction; a DuroError rolls it back and is listed."""
    from duro.kit.clock import SystemClock
    from duro.kit.errors import DuroError
    from duro.tenants.service import CLI_ACTOR

    async def go(db: Database, settings: Settings) -> dict[str, Any] | DuroError:
        try:
            async with db.core_transaction() as conn:
                result: dict[str, Any] = await fn(conn, CLI_ACTOR, SystemClock())
                return result
        except DuroError as err:
            return err

    out = _c().run_with_db(go)
    if isinstance(out, DuroError):
        _fail_listing(out)
    return out  # type: ignore[no-any-return]


@appearance_app.command("set")
def set_(
    tenant: str = typer.Option(..., "--tenant"),
    surface: str = typer.Option(..., "--surface", help="general, store, checkout, overlay, portal or email"),
    file: str = typer.Option(..., "--file", help="JSON file with a partial surface object ('-' for stdin)"),
    json_out: bool = typer.Option(False, "--json", help="Print the configuration after the change"),
) -> None:
    """Deep-merge a partial surface object into the draft (objects merged, arrays replaced, null = default)."""
    from duro.appearance.service import set_draft

    partial = _read_partial(file)
    view = _write(lambda conn, actor, clock: set_draft(conn, tenant, surface, partial, clock=clock))
    if json_out:
        _c()._emit_json(view)
        return
    changed = ", ".join(view["changedSurfaces"]) or "none"
    _c().console.print(f"draft of {surface} updated; unpublished changes: {changed}", highlight=False)


@appearance_app.command("publish")
def publish(
    tenant: str = typer.Option(..., "--tenant"),
    json_out: bool = typer.Option(False, "--json", help="Print the configuration after publishing"),
) -> None:
    """Publish the draft: hosted pages show it from now on."""
    from duro.appearance.service import publish as publish_draft

    view = _write(lambda conn, actor, clock: publish_draft(conn, tenant, actor=actor, clock=clock))
    if json_out:
        _c()._emit_json(view)
        return
    _c().console.print(f"published version {view['version']} at {view['publishedAt']}", highlight=False)


@appearance_app.command("discard")
def discard(
    tenant: str = typer.Option(..., "--tenant"),
    json_out: bool = typer.Option(False, "--json", help="Print the configuration after discarding"),
) -> None:
    """Throw the draft away: the draft becomes the published configuration again."""
    from duro.appearance.service import discard as discard_draft

    view = _write(lambda conn, actor, clock: discard_draft(conn, tenant, actor=actor, clock=clock))
    if json_out:
        _c()._emit_json(view)
        return
    _c().console.print(f"draft discarded; back to version {view['version']}", highlight=False)


@appearance_app.command("show")
def show(
    tenant: str = typer.Option(..., "--tenant"),
    draft: bool = typer.Option(False, "--draft", help="Show the draft instead of the published configuration"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Print the published configuration (all six surfaces), or the draft with --draft. Every field is shown with
    its default filled in; `brandColor: null` inherits `general`, `displayName: null` is the tenant's name. Each
    surface printed is a valid `--file` for `set`."""
    from duro.appearance.service import get_config

    async def read(conn: Any, actor: Any, clock: Any) -> dict[str, Any]:
        return await get_config(conn, tenant)

    view = _write(read)
    config = view["draft" if draft else "published"]
    if json_out:
        _c()._emit_json(config)
        return
    which = "draft" if draft else f"published version {view['version']}"
    _c().console.print(f"[bold]{which}[/bold]" + ("  (unpublished changes)" if view["hasUnpublishedChanges"] else ""))
    _c().console.print_json(json.dumps(config))
