"""SQLAlchemy Core writes the SQL; asyncpg runs it.

Statements are built with SQLAlchemy Core (tables, expressions, the schema placeholder of every data table) and
compiled once per (statement shape, mode schema) for the asyncpg dialect. Execution goes straight to an asyncpg
pool. Why not SQLAlchemy's own async execution: on this workload it cost ~150 µs of CPU per statement against
~40 µs for asyncpg itself (greenlet hops, execution contexts, result wrapping), and a create request runs seven
statements — see bench/README.md. What we give up is SQLAlchemy's bind/result processors; the only ones our types
need (JSON/JSONB) are asyncpg codecs installed on every connection.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import asyncpg
import orjson
from sqlalchemy import CompoundSelect, Select, TextClause
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from duro.models.base import DATA_SCHEMA

_DIALECT = PGDialect_asyncpg()  # type: ignore[no-untyped-call]
_SCHEMA_TOKEN = re.compile(r"__\[SCHEMA_([^\]]+)\]")
_CACHE_LIMIT = 4000


class Record(asyncpg.Record):  # type: ignore[misc]
    """A row: `row.name` and `row["name"]` both work."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def _mapping(self) -> dict[str, Any]:
        return dict(self.items())


class Result:
    """The slice of SQLAlchemy's Result API our repositories use."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Record], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def first(self) -> Record | None:
        return self._rows[0] if self._rows else None

    def one(self) -> Record:
        if len(self._rows) != 1:
            raise LookupError(f"expected exactly one row, got {len(self._rows)}")
        return self._rows[0]

    def all(self) -> list[Record]:
        return self._rows

    def __iter__(self) -> Any:
        return iter(self._rows)

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]


class _Prepared:
    __slots__ = ("compiled", "names", "returns_rows", "sql")

    def __init__(self, compiled: SQLCompiler, sql: str, returns_rows: bool) -> None:
        self.compiled = compiled
        self.sql = sql
        self.names: Sequence[str] = compiled.positiontup or ()
        self.returns_rows = returns_rows


_cache: dict[tuple[Any, ...], _Prepared | None] = {}


def _render(compiled: SQLCompiler, schema: str | None) -> str:
    text = compiled.string

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == DATA_SCHEMA:
            if schema is None:
                raise RuntimeError("a data table was used on a connection bound to no mode")
            return schema
        return "" if name == "_none" else name

    return _SCHEMA_TOKEN.sub(sub, text)


def _returns_rows(stmt: ClauseElement, compiled: SQLCompiler) -> bool:
    if isinstance(stmt, Select | CompoundSelect | TextClause):
        return True  # raw text may return rows; fetching a DML statement just yields none
    return bool(getattr(compiled, "effective_returning", None) or getattr(compiled, "returning", None))


def prepare(stmt: ClauseElement, schema: str | None, params: Mapping[str, Any] | None) -> tuple[str, list[Any], bool]:
    """SQL text, positional arguments and whether rows come back, compiling at most once per shape."""
    keys = tuple(sorted(params)) if params else ()
    cache_key = stmt._generate_cache_key()
    slot = (cache_key.key, schema, keys) if cache_key is not None else None
    prepared = _cache.get(slot) if slot is not None else None
    if prepared is None:
        compiled: SQLCompiler = stmt.compile(  # type: ignore[assignment]
            dialect=_DIALECT,
            cache_key=cache_key,
            schema_translate_map={DATA_SCHEMA: DATA_SCHEMA},  # render placeholders; `_render` fills them
            column_keys=list(keys) or None,
        )
        if getattr(compiled, "post_compile_params", None):
            # Expanding IN parameters: the SQL depends on the values, so render this one fresh.
            compiled = stmt.compile(  # type: ignore[assignment]
                dialect=_DIALECT,
                schema_translate_map={DATA_SCHEMA: DATA_SCHEMA},
                column_keys=list(keys) or None,
                compile_kwargs={"render_postcompile": True},
            )
            values = compiled.construct_params(dict(params or {})) or {}
            names = compiled.positiontup or ()
            return _render(compiled, schema), [values[n] for n in names], _returns_rows(stmt, compiled)
        prepared = _Prepared(compiled, _render(compiled, schema), _returns_rows(stmt, compiled))
        if slot is not None:
            if len(_cache) >= _CACHE_LIMIT:
                _cache.clear()
            _cache[slot] = prepared
    extracted = cache_key.bindparams if cache_key is not None else None
    values = prepared.compiled.construct_params(dict(params) if params else None, extracted_parameters=extracted) or {}
    return prepared.sql, [values[n] for n in prepared.names], prepared.returns_rows


StatementHook = Callable[[str], None]


class UniqueViolation(Exception):
    """A unique constraint refused a write. The transaction is aborted; callers turn this into a 409."""

    def __init__(self, constraint: str | None) -> None:
        super().__init__(constraint or "unique violation")
        self.constraint = constraint or ""


class Connection:
    """One asyncpg connection bound to one mode's schema (or to none, for `core` only)."""

    __slots__ = ("_hooks", "raw", "schema")

    def __init__(self, raw: asyncpg.Connection, schema: str | None, hooks: list[StatementHook]) -> None:
        self.raw = raw
        self.schema = schema
        self._hooks = hooks

    def transaction(self) -> Any:
        """A transaction on this connection (`async with conn.transaction():`), committed when the block exits
        cleanly. For a caller that holds one connection for an autocommit statement and then a transaction."""
        return self.raw.transaction()

    def for_schema(self, schema: str | None) -> Connection:
        """The same connection (and transaction) bound to another schema. Only tenant provisioning needs this."""
        return Connection(self.raw, schema, self._hooks)

    async def execute(self, stmt: ClauseElement, params: Mapping[str, Any] | None = None) -> Result:
        sql, args, returns_rows = prepare(stmt, self.schema, params)
        for hook in self._hooks:
            hook(sql)
        try:
            if returns_rows:
                rows: list[Record] = await self.raw.fetch(sql, *args, record_class=Record)
                return Result(rows, len(rows))
            status: str = await self.raw.execute(sql, *args)
        except asyncpg.UniqueViolationError as exc:
            raise UniqueViolation(getattr(exc, "constraint_name", None)) from exc
        tail = status.rsplit(" ", 1)[-1]
        return Result([], int(tail) if tail.isdigit() else 0)


def _json_encode(value: Any) -> str:
    return orjson.dumps(value).decode()


async def init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=_json_encode, decoder=orjson.loads, schema="pg_catalog")


async def release_connection(conn: asyncpg.Connection) -> None:
    """On return to the pool: roll back anything left open, and skip asyncpg's default `RESET ALL` round trip.
    We never change session state (no SET, LISTEN or session advisory locks on pooled connections)."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")
