"""Engine and per-mode connections.

A connection is opened for exactly one mode: the placeholder schema `tenant` of every data table is translated
to `sandbox` or `live` on that connection, so code bound to one mode physically cannot name the other's tables.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from duro.config import Settings
from duro.db.executor import Connection, Record, StatementHook, init_connection, release_connection
from duro.models.base import MODE_SCHEMAS

Mode = Literal["test", "live"]
MODES: tuple[Mode, Mode] = ("test", "live")


def resolve_database_url(settings: Settings, database: str = "duro") -> str:
    if settings.database_url:
        return settings.database_url
    from duro.db.embedded import start_embedded

    return start_embedded(settings.data_dir, database)


class Database:
    """The asyncpg pool the application runs on, plus a small SQLAlchemy engine for Alembic and operations.

    `transaction(mode)` / `reader(mode)` / `core_transaction()` hand out `duro.db.executor.Connection`s.
    """

    def __init__(self, url: str, *, pool_size: int = 20) -> None:
        self.url = url
        self.pool_size = pool_size
        self.engine: AsyncEngine = create_async_engine(
            url,
            pool_size=2,
            max_overflow=4,
            connect_args={"server_settings": {"timezone": "UTC", "application_name": "duro-admin"}},
        )
        self.statement_hooks: list[StatementHook] = []
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()

    async def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        asyncpg_dsn(self.url),
                        min_size=1,
                        max_size=self.pool_size,
                        init=init_connection,
                        reset=release_connection,
                        record_class=Record,
                        server_settings={"timezone": "UTC", "application_name": "duro"},
                    )
        return self._pool

    @asynccontextmanager
    async def transaction(self, mode: Mode) -> AsyncIterator[Connection]:
        """One transaction bound to one mode's schema; committed when the block exits cleanly."""
        pool = await self.pool()
        async with pool.acquire() as raw, raw.transaction():
            yield Connection(raw, MODE_SCHEMAS[mode], self.statement_hooks)

    @asynccontextmanager
    async def reader(self, mode: Mode) -> AsyncIterator[Connection]:
        """Read-only work on one mode's schema, in autocommit. Under READ COMMITTED a transaction would give
        each statement its own snapshot anyway, so this loses nothing but the two extra round trips."""
        pool = await self.pool()
        async with pool.acquire() as raw:
            yield Connection(raw, MODE_SCHEMAS[mode], self.statement_hooks)

    @asynccontextmanager
    async def connection(self, mode: Mode) -> AsyncIterator[Connection]:
        """One mode's connection in autocommit, for a caller that runs a committed-on-its-own statement and then
        a transaction (`conn.transaction()`) on it: one pool checkout instead of two (the idempotency claim).
        The same checkout as `reader`, named for what the caller does with it."""
        async with self.reader(mode) as conn:
            yield conn

    @asynccontextmanager
    async def core_transaction(self) -> AsyncIterator[Connection]:
        """A transaction for `core` tables only (bound to no mode)."""
        pool = await self.pool()
        async with pool.acquire() as raw, raw.transaction():
            yield Connection(raw, None, self.statement_hooks)

    async def dispose(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        await self.engine.dispose()


def asyncpg_dsn(url: str) -> str:
    """`postgresql+asyncpg://…` (SQLAlchemy) → `postgresql://…` (asyncpg)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
