"""Alembic environment: online runs receive a live connection from duro.db.migrate."""

from __future__ import annotations

from alembic import context

from duro.db.migrate import expanded_metadata
from duro.models.base import CORE_SCHEMA

target_metadata = expanded_metadata()


def run_migrations_offline() -> None:
    context.configure(
        url="postgresql://",
        target_metadata=target_metadata,
        literal_binds=True,
        version_table_schema=CORE_SCHEMA,
        include_schemas=True,
    )
    with context.begin_transaction():
        context.execute(f"CREATE SCHEMA IF NOT EXISTS {CORE_SCHEMA}")
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes["connection"]
    # The version table lives in core, which the first revision creates: make sure it exists first.
    connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {CORE_SCHEMA}")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table_schema=CORE_SCHEMA,
        include_schemas=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
