"""Webhook delivery throughput of one real `duro worker` process vs. a raw aiohttp client (see bench/README.md).

Run with `make bench-webhooks` (or `python bench/webhooks.py --count N`). Everything runs on the embedded
PostgreSQL under `.duro/bench`, database `duro_bench_webhooks` (schemas dropped and re-migrated every run), and a
local receiver on 127.0.0.1 (separate processes sharing one port with SO_REUSEPORT; asyncio + httptools, answers
every POST with `200 ok`, keep-alive):

1. One tenant in sandbox with `--endpoints` enabled endpoints (default 4, all events) on the receiver, and
   `--count / --endpoints` undispatched `invoice_paid` events (seeded set-based), so `--count` deliveries in all.
2. Receiver ceiling: an aiohttp client posting a signed body with twice the stack's concurrency, to show the
   receiver is not the limit.
3. Baseline: a raw `aiohttp.ClientSession` (the guarded client's HTTP client, configured like it) posting the same
   bodies (built with `duro.webhooks.signing.event_body` from the stored events) with the same headers, signed per
   request with `delivery_headers`, at the worker's concurrency (`min(IN_FLIGHT, endpoints × PER_ENDPOINT)`), to
   the same URLs. No database, no guard. For reference, the same with a raw `httpx.AsyncClient` (not the ratio's
   denominator).
4. Stack: one `duro worker --loops webhooks` process (`DURO_ENV=development`, `DURO_WEBHOOK_ALLOW_INSECURE_TEST`,
   `DURO_WEBHOOK_POLL_SECONDS=1`), timed from the first fan-out to the last `delivered`; then checked: every
   delivery `delivered` after exactly one automatic attempt recorded with status 200, every event dispatched once.

Rates are deliveries per second; ratio = stack rate / baseline rate, both measured in this run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import text

import renewals  # bench/renewals.py (this directory is on sys.path): process, CPU and py-spy helpers
from renewals import (
    asyncpg_dsn,
    cpu_delta,
    cpu_of,
    finish_py_spy,
    load_average,
    postgres_pids,
    spawn,
    start_py_spy,
    stop,
)

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / ".duro" / "bench"
DB_NAME = "duro_bench_webhooks"
SECRET_KEY = "bench-secret-key-that-is-long-enough-0123456789"
TIMEOUT = float(os.environ.get("BENCH_WEBHOOKS_TIMEOUT", "600"))
PROFILE = os.environ.get("BENCH_PROFILE") == "1"
PROFILE_OUT = DATA_DIR / "profile-webhooks-worker.txt"
WORKER_BATCH = os.environ.get("DURO_WORKER_BATCH", "200")
UVLOOP = os.environ.get("BENCH_WORKER_UVLOOP") == "1"
RECEIVER_PROCS = int(os.environ.get("BENCH_RECEIVER_PROCS", "2"))
TARGET_RATE = 2_000.0
TARGET_RATIO = 0.50

# An invoice_paid document of a realistic size (~700 bytes of body), distinct per event.
SEED_EVENTS = """
INSERT INTO sandbox.events (id, tenant_id, type, data, created_at)
SELECT 'evt_' || lpad(g::text, 26, '0'), $1, 'invoice_paid',
    jsonb_build_object('object', jsonb_build_object(
        'object', 'invoice', 'id', 'inv_' || lpad(g::text, 26, '0'), 'customerId', 'cus_' || lpad(g::text, 26, '0'),
        'subscriptionId', 'sub_' || lpad(g::text, 26, '0'), 'kind', 'renewal', 'status', 'paid', 'currency', 'NGN',
        'subtotal', 500000, 'discount', 0, 'creditApplied', 0, 'amount', 500000, 'amountPaid', 500000,
        'amountRefunded', 0,
        'lines', jsonb_build_array(jsonb_build_object('type', 'plan', 'description', 'Pro Monthly — Ọlá',
            'amount', 500000, 'periodStart', '2025-01-01T00:00:00.000Z', 'periodEnd', '2025-02-01T00:00:00.000Z')),
        'periodStart', '2025-01-01T00:00:00.000Z', 'periodEnd', '2025-02-01T00:00:00.000Z',
        'paidAt', '2025-01-01T00:00:01.000Z', 'createdAt', '2025-01-01T00:00:00.000Z')),
    date_trunc('milliseconds', now()) - interval '1 hour' + g * interval '1 millisecond'
FROM generate_series(1, $2) AS g
"""
DELIVERED = "SELECT count(*) FROM sandbox.webhook_deliveries WHERE tenant_id = $1 AND status = 'delivered'"
CHECKS = {
    "deliveries delivered after one attempt with 200": """SELECT count(*) FROM sandbox.webhook_deliveries
        WHERE tenant_id = $1 AND status = 'delivered' AND attempt_count = 1 AND last_status_code = 200
        AND delivered_at IS NOT NULL AND lease_until IS NULL""",
    "automatic attempts with 200": """SELECT count(*) FROM sandbox.webhook_attempts WHERE tenant_id = $1
        AND attempt_number = 1 AND trigger = 'automatic' AND response_status = 200 AND error IS NULL""",
    "all attempts": "SELECT count(*) FROM sandbox.webhook_attempts WHERE tenant_id = $1",
    "distinct (event, endpoint) pairs": """SELECT count(DISTINCT (event_id, endpoint_id))
        FROM sandbox.webhook_deliveries WHERE tenant_id = $1""",
}
UNDISPATCHED = "SELECT count(*) FROM sandbox.events WHERE tenant_id = $1 AND dispatched_at IS NULL"
WINDOW = """SELECT extract(epoch FROM (SELECT max(delivered_at) FROM sandbox.webhook_deliveries WHERE tenant_id = $1)
    - (SELECT min(created_at) FROM sandbox.webhook_deliveries WHERE tenant_id = $1))"""


# --- the receiver: a minimal HTTP/1.1 server, one per process, all on one port (SO_REUSEPORT) ---

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


def serve(sock_fd: int) -> None:
    """Answer every request with 200 `ok` on a kept-alive connection (request bodies read and dropped)."""
    import httptools
    import uvloop

    class Protocol(asyncio.Protocol):
        def __init__(self) -> None:
            self.parser = httptools.HttpRequestParser(self)
            self.transport: Any = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport  # uvloop's transports are not asyncio.Transport subclasses

        def data_received(self, data: bytes) -> None:
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError:
                assert self.transport is not None
                self.transport.close()

        def on_message_complete(self) -> None:
            assert self.transport is not None
            self.transport.write(RESPONSE)

    async def main() -> None:
        sock = socket.socket(fileno=sock_fd)
        server = await asyncio.get_running_loop().create_server(Protocol, sock=sock, backlog=1024)
        await server.serve_forever()

    uvloop.run(main())


def start_receivers(procs: int) -> tuple[int, list[subprocess.Popen[bytes]]]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = int(sock.getsockname()[1])
    cmd = [sys.executable, __file__, "--serve-fd", str(sock.fileno())]
    out = [
        subprocess.Popen(cmd, pass_fds=(sock.fileno(),), stdout=subprocess.DEVNULL, stderr=None) for _ in range(procs)
    ]
    sock.close()  # the children hold it
    return port, out


# --- the measurement ---


@dataclass
class Run:
    label: str
    deliveries: int
    seconds: float
    wall_seconds: float
    worker_cpu: float = 0.0  # the worker process, or this process for the client-side runs
    postgres_cpu: float = 0.0
    receiver_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds if self.seconds > 0 else 0.0


def describe(run: Run, base: Run | None) -> str:
    per = run.deliveries or 1
    out = [
        run.label,
        f"  {run.rate:9.1f} deliveries/s  ({run.deliveries} in {run.seconds:.2f} s"
        + (f"; {run.wall_seconds:.1f} s from spawning the worker)" if run.wall_seconds != run.seconds else ")"),
        f"  CPU per delivery: {'worker' if run.postgres_cpu else 'client'} {run.worker_cpu / per * 1e6:5.0f} us, "
        f"postgres {run.postgres_cpu / per * 1e6:5.0f} us, receiver {run.receiver_cpu / per * 1e6:5.0f} us"
        f"  ({run.worker_cpu / run.seconds:.0%} / {run.postgres_cpu / run.seconds:.0%} / "
        f"{run.receiver_cpu / run.seconds:.0%} of a core)",
    ]
    if base is not None and base.rate:
        out.append(f"  ratio to the baseline = {run.rate / base.rate:.1%}")
    return "\n".join(out)


class Bench:
    def __init__(self, url: str, conn: asyncpg.Connection, tenant_id: str, count: int, port: int) -> None:
        self.url = url
        self.conn = conn
        self.tenant_id = tenant_id
        self.count = count
        self.port = port
        self.receivers: list[int] = []

    async def receiver_ceiling(self, requests: list[tuple[str, bytes, dict[str, str]]], concurrency: int) -> Run:
        import aiohttp

        before, pg, me = cpu_of(self.receivers), cpu_of(postgres_pids(self.url)), time.process_time()
        queue = iter(requests)
        connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
        async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as session:

            async def lane() -> None:
                for url, body, headers in queue:
                    async with session.post(url, data=body, headers=headers, auto_decompress=False) as r:
                        await r.read()
                        assert r.status == 200, r.status

            started = time.perf_counter()
            await asyncio.gather(*(lane() for _ in range(concurrency)))
            seconds = time.perf_counter() - started
        run = Run(f"receiver ceiling (aiohttp client, {concurrency} in flight)", len(requests), seconds, seconds)
        run.worker_cpu = time.process_time() - me
        run.postgres_cpu = 0.0
        del pg
        run.receiver_cpu = cpu_delta(before, cpu_of(self.receivers))
        return run

    async def baseline(self, bodies: list[tuple[str, str, bytes, str, list[str]]], concurrency: int) -> Run:
        """Raw aiohttp — the guarded client's own HTTP client, configured as it is (no cookies, no proxies from the
        environment, no decompression, no redirects, keep-alive): the same bodies, signed per request with the same
        headers, same concurrency and URLs. No database, no guard, no pinning."""
        import aiohttp

        async def post(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]) -> None:
            async with session.post(url, data=body, headers=headers, allow_redirects=False) as r:
                await r.read()
                assert r.status == 200, r.status

        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency),
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            auto_decompress=False,
        )
        async with session:
            return await self._post_all(
                "baseline: raw aiohttp.ClientSession", bodies, concurrency, lambda *a: post(session, *a)
            )

    async def httpx_reference(self, bodies: list[tuple[str, str, bytes, str, list[str]]], concurrency: int) -> Run:
        """For reference: raw httpx (the guard's client before 2026-11-29), otherwise as the baseline."""
        import httpx

        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=limits, trust_env=False, follow_redirects=False) as client:

            async def post(url: str, body: bytes, headers: dict[str, str]) -> None:
                r = await client.post(url, content=body, headers=headers)
                assert r.status_code == 200, r.status_code

            return await self._post_all("reference: raw httpx.AsyncClient", bodies, concurrency, post)

    async def _post_all(
        self,
        label: str,
        bodies: list[tuple[str, str, bytes, str, list[str]]],
        concurrency: int,
        post: Callable[[str, bytes, dict[str, str]], Awaitable[None]],
    ) -> Run:
        from duro.webhooks.signing import delivery_headers

        before, me = cpu_of(self.receivers), time.process_time()
        queue = iter(bodies)

        async def lane() -> None:
            for url, event_id, body, delivery_id, secrets_ in queue:
                headers = delivery_headers(
                    body=body,
                    event_id=event_id,
                    event_type="invoice_paid",
                    delivery_id=delivery_id,
                    t=int(time.time()),
                    secrets=secrets_,
                )
                await post(url, body, headers)

        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
        run = Run(f"{label}, {concurrency} in flight", len(bodies), seconds, seconds)
        run.worker_cpu = time.process_time() - me
        run.receiver_cpu = cpu_delta(before, cpu_of(self.receivers))
        return run

    async def stack(self) -> Run:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DURO_")}
        env.update(
            DURO_DATABASE_URL=self.url,
            DURO_SECRET_KEY=SECRET_KEY,
            DURO_DATA_DIR=str(DATA_DIR),
            DURO_ENV="development",
            DURO_LOG_LEVEL="WARNING",
            DURO_WEBHOOK_ALLOW_INSECURE_TEST="true",
            DURO_WEBHOOK_POLL_SECONDS="1",
            DURO_WORKER_BATCH=WORKER_BATCH,
        )
        cmd = [sys.executable, "-m", "duro.cli", "worker", "--loops", "webhooks"]
        if UVLOOP:  # the same CLI on uvloop's event loop (an experiment: `duro worker` runs on asyncio's own)
            boot = "import sys, uvloop; uvloop.install(); from duro.cli import main; sys.argv[0] = 'duro'; main()"
            cmd = [sys.executable, "-c", boot, "worker", "--loops", "webhooks"]
        log = DATA_DIR / "webhooks-worker.log"
        spawned = time.perf_counter()
        proc = spawn(cmd, env, log)
        spy = None
        try:
            worker_before: dict[int, float] | None = None
            pg_before: dict[int, float] = {}
            rcv_before: dict[int, float] = {}
            last_report = time.perf_counter()
            while True:
                done = await self.conn.fetchval(DELIVERED, self.tenant_id)
                if worker_before is None:
                    started = await self.conn.fetchval(
                        "SELECT count(*) > 0 FROM sandbox.events WHERE tenant_id = $1 AND dispatched_at IS NOT NULL",
                        self.tenant_id,
                    )
                    if started:
                        pg_before, rcv_before = cpu_of(postgres_pids(self.url)), cpu_of(self.receivers)
                        worker_before = cpu_of([proc.pid])
                        if PROFILE:
                            renewals.PROFILE_OUT = PROFILE_OUT  # the helpers write to the module's path
                            spy = await start_py_spy(proc.pid)
                if done >= self.count:
                    break
                if proc.poll() is not None:
                    raise RuntimeError(f"the worker exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
                now = time.perf_counter()
                if now - spawned > TIMEOUT:
                    raise RuntimeError(f"only {done} of {self.count} delivered after {TIMEOUT:.0f} s")
                if now - last_report >= 10:
                    print(f"  ... {done} delivered after {now - spawned:.0f} s", flush=True)
                    last_report = now
                await asyncio.sleep(0.05)
            wall = time.perf_counter() - spawned
            worker_cpu = cpu_delta(worker_before or {}, cpu_of([proc.pid]))
            pg_cpu = cpu_delta(pg_before, cpu_of(postgres_pids(self.url)))
            rcv_cpu = cpu_delta(rcv_before, cpu_of(self.receivers))
            if spy is not None:
                await finish_py_spy(spy)
        finally:
            stop([proc])
        seconds = float(await self.conn.fetchval(WINDOW, self.tenant_id))
        run = Run("stack: 1 `duro worker --loops webhooks` process", self.count, seconds, wall)
        run.worker_cpu, run.postgres_cpu, run.receiver_cpu = worker_cpu, pg_cpu, rcv_cpu
        await self.check(run.label)
        return run

    async def check(self, label: str) -> None:
        found = {name: await self.conn.fetchval(sql, self.tenant_id) for name, sql in CHECKS.items()}
        wrong = {k: v for k, v in found.items() if v != self.count}
        undispatched = await self.conn.fetchval(UNDISPATCHED, self.tenant_id)
        if wrong or undispatched:
            raise RuntimeError(f"{label}: expected {self.count} of each, found {wrong}; undispatched {undispatched}")


async def setup(count: int, endpoints: int, port: int) -> tuple[str, str, list[tuple[str, str]]]:
    """The database, the tenant, its endpoints (id, url) and the events; returns (url, tenant id, endpoints)."""
    from duro.config import Settings
    from duro.context import Actor, RepositoryContext
    from duro.db import migrate
    from duro.db.engine import Database, resolve_database_url
    from duro.kit.clock import SystemClock
    from duro.tenants.service import provision_tenant
    from duro.webhooks.endpoints import create_endpoint

    settings = Settings(
        _env_file=None,
        env="development",
        data_dir=DATA_DIR,
        database_url=None,
        secret_key=SECRET_KEY,
        webhook_allow_insecure_test=True,
    )
    url = resolve_database_url(settings, DB_NAME)
    db = Database(url, pool_size=2)
    try:
        async with db.engine.begin() as conn:
            for schema in ("sandbox", "live", "core"):
                await conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        await migrate.upgrade(db.engine)
        clock = SystemClock()
        made = await provision_tenant(
            db,
            settings,
            clock,
            name="Bench Webhooks",
            owner_email=f"bench-{secrets.token_hex(4)}@example.com",
            owner_password="bench correct horse battery",
        )
        tenant_id = made.tenant.id
        out = []
        for i in range(endpoints):
            async with db.transaction("test") as conn:
                ctx = RepositoryContext(conn, tenant_id, "test", clock, settings, Actor("system", None, "cli"))
                created = await create_endpoint(ctx, url=f"http://127.0.0.1:{port}/hooks/{i}")
                out.append((created.endpoint["id"], created.secret))
    finally:
        await db.dispose()
    return url, tenant_id, out


async def run(count: int, endpoints: int) -> None:
    from duro.webhooks.signing import event_body
    from duro.workers.webhooks import IN_FLIGHT, PER_ENDPOINT

    events = count // endpoints
    count = events * endpoints
    concurrency = min(IN_FLIGHT, endpoints * PER_ENDPOINT)
    print(f"bench webhooks: {events} events x {endpoints} endpoints = {count} deliveries, one tenant, sandbox")
    print(f"bench webhooks: load average {load_average()} on {os.cpu_count()} cores")
    print(f"bench webhooks: worker claims DURO_WORKER_BATCH={WORKER_BATCH}; {concurrency} deliveries in flight")
    if UVLOOP:
        print("bench webhooks: BENCH_WORKER_UVLOOP=1: the worker runs on uvloop")
    port, receivers = start_receivers(RECEIVER_PROCS)
    try:
        url, tenant_id, eps = await setup(count, endpoints, port)
        conn = await asyncpg.connect(asyncpg_dsn(url), server_settings={"timezone": "UTC", "application_name": "bench"})
        try:
            await conn.set_type_codec("jsonb", encoder=str, decoder=__import__("json").loads, schema="pg_catalog")
            await conn.execute(SEED_EVENTS, tenant_id, events)
            await conn.execute("VACUUM ANALYZE")
            bench = Bench(url, conn, tenant_id, count, port)
            bench.receivers = [p.pid for p in receivers]
            # The bodies exactly as the worker builds them, from the stored events.
            rows = await conn.fetch(
                "SELECT id, type, created_at, data FROM sandbox.events WHERE tenant_id = $1 ORDER BY id", tenant_id
            )
            from duro.kit.jsonenc import format_ts

            bodies = []
            for r in rows:
                body = event_body(
                    {
                        "id": r["id"],
                        "type": r["type"],
                        "createdAt": format_ts(r["created_at"]),
                        "livemode": False,
                        "tenantId": tenant_id,
                        "data": r["data"],
                    }
                )
                for i, (_ep, secret) in enumerate(eps):
                    bodies.append(
                        (f"http://127.0.0.1:{port}/hooks/{i}", r["id"], body, f"whd_{secrets.token_hex(13)}", [secret])
                    )
            print(f"bench webhooks: body size {len(bodies[0][2])} bytes")
            ceiling = await bench.receiver_ceiling(
                [(u, b, {"Content-Type": "application/json"}) for u, _, b, _, _ in bodies], 2 * concurrency
            )
            print(describe(ceiling, None), flush=True)
            base = await bench.baseline(bodies, concurrency)
            print(describe(base, None), flush=True)
            reference = await bench.httpx_reference(bodies, concurrency)
            print(describe(reference, None), flush=True)
            print("[1 worker process] delivering ...", flush=True)
            stack = await bench.stack()
            print(describe(stack, base), flush=True)
            print()
            print("=" * 100)
            print(
                f"webhook deliveries: {count} ({events} events x {endpoints} endpoints), each checked: delivered after"
            )
            print("exactly one automatic attempt recorded with status 200, every event dispatched")
            print(describe(ceiling, None))
            print(describe(base, None))
            print(describe(reference, None))
            print(describe(stack, base))
            rate_ok = "met" if stack.rate >= TARGET_RATE else "NOT met"
            ratio_ok = "met" if base.rate and stack.rate / base.rate >= TARGET_RATIO else "NOT met"
            print(
                f"target >= {TARGET_RATE:.0f} deliveries/s from one worker: {rate_ok}; "
                f"target >= {TARGET_RATIO:.0%} of the baseline: {ratio_ok}"
            )
            print("=" * 100)
            print(f"load average at the end: {load_average()}")
        finally:
            await conn.close()
    finally:
        for p in receivers:
            p.terminate()
        for p in receivers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=20_000, help="deliveries in all (default 20,000)")
    parser.add_argument("--endpoints", type=int, default=4, help="endpoints of the tenant (default 4)")
    parser.add_argument("--serve-fd", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fd is not None:
        serve(args.serve_fd)
        return 0
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    try:
        asyncio.run(run(args.count, args.endpoints))
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
