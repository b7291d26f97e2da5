"""Engine and per-mode connections.

A connection is opened for exactly one mode: the placeholder schema `tenant` of every data table is translated
to `sandbox` or `live` on that connection, so code bound to one mode physically cannot name the other's tables.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from duro.config import Settings
from duro.models.base import DATA_SCHEMA, MODE_SCHEMAS

Mode = Literal["test", "live"]
MODES: tuple[Mode, Mode] = ("test", "live")


def resolve_database_url(settings: Settings, database: str = "duro") -> str:
    if settings.database_url:
        return settings.database_url
    from duro.db.embedded import start_embedded

    return start_embedded(settings.data_dir, database)


class Database:
    def __init__(self, url: str, *, pool_size: int = 20) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=False,
            connect_args={"server_settings": {"timezone": "UTC", "application_name": "duro"}},
        )

    @asynccontextmanager
    async def transaction(self, mode: Mode) -> AsyncIterator[AsyncConnection]:
        """One transaction bound to one mode's schema; committed when the block exits cleanly."""
        async with self.engine.begin() as conn:
            await conn.execution_options(schema_translate_map={DATA_SCHEMA: MODE_SCHEMAS[mode]})
            yield conn

    @asynccontextmanager
    async def core_transaction(self) -> AsyncIterator[AsyncConnection]:
        """A transaction for `core` tables only (no mode schema mapped)."""
        async with self.engine.begin() as conn:
            yield conn

    async def dispose(self) -> None:
        await self.engine.dispose()
