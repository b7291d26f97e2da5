"""Alembic, driven programmatically (`duro migrate`). One revision covers `core` and both data schemas."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from duro.models.base import CORE_SCHEMA, DATA_SCHEMA, MODE_SCHEMAS, metadata

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    return cfg


def expanded_metadata() -> MetaData:
    """Metadata as the database holds it: core tables once, data tables once per mode schema."""
    out = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        if table.schema == DATA_SCHEMA:
            for schema in MODE_SCHEMAS.values():
                table.to_metadata(out, schema=schema, referred_schema_fn=_keep_core_refs)
        else:
            table.to_metadata(out)
    return out


def _keep_core_refs(table: Any, to_schema: str | None, constraint: Any, referred_schema: str | None) -> str | None:
    return referred_schema if referred_schema == CORE_SCHEMA else to_schema


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _current_revision(conn: Connection) -> str | None:
    ctx = MigrationContext.configure(conn, opts={"version_table_schema": CORE_SCHEMA})
    return ctx.get_current_revision()


def _run(conn: Connection, fn: str, *args: Any, **kwargs: Any) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    getattr(command, fn)(cfg, *args, **kwargs)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as conn:
        # Serialise concurrent `duro serve` / `duro worker` starts on the same database.
        await conn.execute(text("SELECT pg_advisory_xact_lock(727272)"))
        await conn.run_sync(_run, "upgrade", revision)


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_run, "downgrade", revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        has_schema = (
            await conn.execute(text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": CORE_SCHEMA})
        ).scalar()
        if not has_schema:
            return None
        return await conn.run_sync(_current_revision)


async def is_current(engine: AsyncEngine) -> bool:
    return await current_revision(engine) == head_revision()


async def pending_diff(engine: AsyncEngine) -> list[Any]:
    """Differences between the models and the migrated database (empty when migrations match the code)."""

    def compare(conn: Connection) -> list[Any]:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "include_schemas": True,
                "include_name": _include_name,
                "version_table_schema": CORE_SCHEMA,
                "compare_type": True,
            },
        )
        return list(compare_metadata(ctx, expanded_metadata()))

    async with engine.connect() as conn:
        return await conn.run_sync(compare)


def _include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    if type_ == "schema":
        return name in {CORE_SCHEMA, *MODE_SCHEMAS.values()}
    if type_ == "table":
        return name != VERSION_TABLE
    return True


def offline_sql(revision: str = "head") -> str:
    buf = io.StringIO()
    cfg = alembic_config()
    cfg.output_buffer = buf
    command.upgrade(cfg, revision, sql=True)
    return buf.getvalue()
