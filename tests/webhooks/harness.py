"""A local webhook receiver (a real HTTP server on 127.0.0.1) and a runtime on a frozen clock whose settings allow
local receivers the way development does (`DURO_WEBHOOK_ALLOW_INSECURE_TEST`, sandbox only, 05 §8)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from duro.context import Actor, RepositoryContext
from duro.db.engine import Database, Mode
from duro.kit.clock import FrozenClock
from duro.runtime import Runtime
from tests.conftest import make_settings

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
OPERATOR = Actor("system", None, "cli")


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers every POST with `status` (and `headers`), recording what it got."""

    url: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    got: list[Received] = field(default_factory=list)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()

    async def handle(request: web.Request) -> web.Response:
        state.got.append(Received({k: v for k, v in request.headers.items()}, await request.read()))
        return web.Response(status=state.status, headers=state.headers, body=state.body)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}/hooks"
    yield state
    await runner.cleanup()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
async def runtime(db: Database, clock: FrozenClock) -> AsyncIterator[Runtime]:
    settings = make_settings(env="development", webhook_allow_insecure_test=True)
    rt = Runtime(settings, db, clock=clock)
    yield rt
    await rt.close()


def ctx_factory(runtime: Runtime, tenant_id: str, mode: Mode = "test") -> Callable[[Any], RepositoryContext]:
    def make(conn: Any) -> RepositoryContext:
        return RepositoryContext(conn, tenant_id, mode, runtime.clock, runtime.settings, OPERATOR)

    return make
