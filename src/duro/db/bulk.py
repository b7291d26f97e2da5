"""Multi-row statements of a fixed shape: `INSERT … SELECT … FROM unnest($1::type[], $2::type[], …)`.

Why not `insert(table).values([...rows])`: its SQL has one placeholder per cell, so every batch size is a new
statement shape — SQLAlchemy compiles it afresh (the renewal bench spent ~60 % of the worker's CPU there) and
PostgreSQL parses and plans it afresh. With `unnest` the shape depends only on the columns: one array parameter
per varying column, one scalar per column that is the same on every row (tenant, status, timestamps), so the
statement is compiled once per process and PostgreSQL binds a handful of parameters whatever the row count.

JSON columns travel as `text[]` cast to `jsonb` in SQL: the caller serialises each document once (orjson), and
asyncpg does not call a codec per element.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, bindparam, cast, func, select
from sqlalchemy.dialects.postgresql import ARRAY, JSON, JSONB
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.types import Text, TypeEngine


def _is_json(table: Table, name: str) -> bool:
    return isinstance(table.c[name].type, JSON | JSONB)


def unnest_source(columns: Sequence[tuple[str, TypeEngine[Any]]]) -> TableValuedAlias:
    """`unnest($1::type[], …) AS anon(name, …)`: one row per array element; parameter `a_<name>` is a list."""
    arrays = [bindparam(f"a_{name}", type_=ARRAY(type_)) for name, type_ in columns]
    return func.unnest(*arrays).table_valued(*(name for name, _ in columns)).render_derived()


def unnest_rows(table: Table, varying: Sequence[str], constant: Sequence[str] = ()) -> Select[Any]:
    """`SELECT` of one row per array element, columns in the order `varying + constant`, typed as `table`'s.

    Parameters: `a_<column>` (a list, one element per row; JSON columns as serialised text) for each varying
    column, `k_<column>` (one value) for each constant column."""
    source = unnest_source([(n, Text() if _is_json(table, n) else table.c[n].type) for n in varying])
    columns: list[ColumnElement[Any]] = []
    for name in varying:
        col: ColumnElement[Any] = source.c[name]
        columns.append(cast(col, table.c[name].type) if _is_json(table, name) else col)
    for name in constant:
        columns.append(bindparam(f"k_{name}", type_=table.c[name].type))
    return select(*columns)


def unnest_params(
    rows: Sequence[Sequence[Any]], varying: Sequence[str], constant: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Parameters for `unnest_rows`: `rows` are tuples in `varying` order (JSON already serialised)."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in varying]
    params: dict[str, Any] = {f"a_{name}": list(col) for name, col in zip(varying, columns, strict=True)}
    for name, value in (constant or {}).items():
        params[f"k_{name}"] = value
    return params
