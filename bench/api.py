"""API throughput through the full stack vs. the same SQL issued directly with asyncpg (see bench/README.md).

Run with `make bench`. Everything is loopback-only and bounded in time (about a minute on a 2-core box):

1. Start the embedded PostgreSQL under `.duro/bench` (database `duro_bench`), or use DURO_DATABASE_URL.
2. Migrate it and provision a throwaway tenant.
3. Start ONE real server process (`uvicorn duro.asgi:app`) on a free loopback port against that database.
4. For each scenario run a warm-up, then alternate stack and baseline rounds at the same concurrency and report
   requests/second for both and the ratio stack/baseline. The stack side's HTTP client is aiohttp (about 0.3 ms
   of CPU per request, like the baseline's asyncpg client), so the client does not take the server's core.

The baseline issues, statement for statement and transaction for transaction, what the server sends to
PostgreSQL for the same request (copied from the server's SQLAlchemy echo), so the ratio is the share of the
database's throughput that the HTTP + Python layers let through.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import psutil
from sqlalchemy import text

from duro.config import Settings
from duro.db import migrate
from duro.db.engine import Database, resolve_database_url
from duro.idempotency.store import RETENTION, fingerprint
from duro.kit.clock import SystemClock
from duro.kit.crypto import sha256_hex
from duro.kit.ids import new_id
from duro.kit.jsonenc import format_ts
from duro.tenants.service import provision_tenant

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / ".duro" / "bench"
DB_NAME = "duro_bench"
SECRET_KEY = "bench-secret-key-that-is-long-enough-0123456789"

CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "32"))
ROUND_SECONDS = float(os.environ.get("BENCH_ROUND_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
WARMUP_SECONDS = float(os.environ.get("BENCH_WARMUP_SECONDS", "2"))
# BENCH_PROFILE=1: after the measured rounds, sample the server with py-spy during one more stack-only phase
# per scenario (py-spy is a bench-time install, not a project dependency; see bench/README.md).
PROFILE = os.environ.get("BENCH_PROFILE") == "1"
TARGET_RATIO = 0.50  # the target for POST /v1/customers
LIST_LIMIT = 100
CHECK_EVERY = 50  # the stack side parses and checks every 50th response body (every status is checked)
SEQUENCE = itertools.count()  # unique numbers for bodies across every phase

# --- the SQL the server issues (SQLAlchemy echo of POST /v1/customers and GET /v1/customers) ---

SQL_KEY_LOOKUP = (
    "SELECT /* unscoped: credential lookup */ sandbox.api_keys.id, sandbox.api_keys.tenant_id, "
    "sandbox.api_keys.kind, sandbox.api_keys.prefix, sandbox.api_keys.revoked_at \n"
    "FROM sandbox.api_keys \nWHERE sandbox.api_keys.key_hash = $1::VARCHAR"
)
SQL_CLAIM = (
    "INSERT INTO sandbox.idempotency_keys (tenant_id, key, fingerprint, state, request_id, created_at, "
    "started_at, expires_at) VALUES ($1::VARCHAR, $2::VARCHAR, $3::VARCHAR, $4::VARCHAR, $5::VARCHAR, "
    "$6::TIMESTAMP WITH TIME ZONE, $7::TIMESTAMP WITH TIME ZONE, $8::TIMESTAMP WITH TIME ZONE) "
    "ON CONFLICT (tenant_id, key) DO NOTHING RETURNING sandbox.idempotency_keys.key"
)
CUSTOMER_COLUMNS = (
    "sandbox.customers.id, sandbox.customers.tenant_id, sandbox.customers.email, sandbox.customers.phone, "
    "sandbox.customers.name, sandbox.customers.merchant_ref, sandbox.customers.metadata, "
    "sandbox.customers.blacklisted, sandbox.customers.blacklist_reason, sandbox.customers.blacklisted_at, "
    "sandbox.customers.identity_id, sandbox.customers.default_payment_method_id, sandbox.customers.created_at, "
    "sandbox.customers.updated_at"
)
SQL_INSERT_CUSTOMER = (
    "INSERT INTO sandbox.customers (id, tenant_id, email, phone, name, merchant_ref, metadata, created_at, "
    "updated_at) VALUES ($1::VARCHAR, $2::VARCHAR, $3::VARCHAR, $4::VARCHAR, $5::VARCHAR, $6::VARCHAR, "
    "$7::JSONB, $8::TIMESTAMP WITH TIME ZONE, $9::TIMESTAMP WITH TIME ZONE) "
    f"RETURNING {CUSTOMER_COLUMNS}"
)
SQL_INSERT_EVENT = (
    "INSERT INTO sandbox.events (id, tenant_id, type, data, created_at) VALUES ($1::VARCHAR, $2::VARCHAR, "
    "$3::VARCHAR, $4::JSONB, $5::TIMESTAMP WITH TIME ZONE) RETURNING sandbox.events.id, "
    "sandbox.events.tenant_id, sandbox.events.type, sandbox.events.data, sandbox.events.dispatched_at, "
    "sandbox.events.created_at"
)
SQL_COMPLETE = (
    "UPDATE sandbox.idempotency_keys SET state=$1::VARCHAR, response_status=$2::INTEGER, "
    "response_body=$3::BYTEA WHERE sandbox.idempotency_keys.tenant_id = $4::VARCHAR "
    "AND sandbox.idempotency_keys.key = $5::VARCHAR"
)
SQL_LIST = (
    f"SELECT {CUSTOMER_COLUMNS} \nFROM sandbox.customers \n"
    "WHERE sandbox.customers.tenant_id = $1::VARCHAR "
    "ORDER BY sandbox.customers.created_at DESC, sandbox.customers.id DESC \n LIMIT $2::INTEGER"
)


def customer_body(n: int, run: str) -> dict[str, Any]:
    """The one body shape both sides use: merchantRef is sent, so the duplicate check runs on both."""
    return {"email": f"c{n}@example.com", "name": f"Customer {n}", "merchantRef": f"{run}-{n}"}


def now_ms() -> datetime:
    """Wall time at the millisecond precision the server's clock stores."""
    t = datetime.now(UTC)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


# --- measurement ---


@dataclass
class Result:
    requests: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    server_cpu: float = 0.0  # CPU seconds of the uvicorn process
    client_cpu: float = 0.0  # CPU seconds of this (bench) process
    postgres_cpu: float = 0.0  # CPU seconds of every postgres process

    def add(self, other: Result) -> None:
        self.requests += other.requests
        self.seconds += other.seconds
        self.latencies.extend(other.latencies)
        self.server_cpu += other.server_cpu
        self.client_cpu += other.client_cpu
        self.postgres_cpu += other.postgres_cpu

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


class CpuMeter:
    """CPU seconds used by the server process, this process and the postgres processes during a phase."""

    def __init__(self, server_pid: int | None, postgres_pids: Callable[[], list[int]]) -> None:
        self.server_pid = server_pid
        self.postgres_pids = postgres_pids

    @staticmethod
    def _cpu(pid: int | None) -> float:
        if pid is None:
            return 0.0
        try:
            t = psutil.Process(pid).cpu_times()
        except psutil.Error:
            return 0.0
        return float(t.user + t.system)

    def sample(self) -> tuple[float, float, dict[int, float]]:
        return (
            self._cpu(self.server_pid),
            time.process_time(),
            {pid: self._cpu(pid) for pid in self.postgres_pids()},
        )

    @staticmethod
    def delta(before: tuple[float, float, dict[int, float]], after: tuple[float, float, dict[int, float]]) -> Any:
        pg = sum(v - before[2].get(pid, 0.0) for pid, v in after[2].items())
        return after[0] - before[0], after[1] - before[1], pg


async def drive(op: Callable[[int], Awaitable[None]], seconds: float, meter: CpuMeter) -> Result:
    """Run `op` from CONCURRENCY workers until `seconds` have passed; count completed operations."""
    result = Result()
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await op(next(SEQUENCE))
            result.latencies.append(time.perf_counter() - started)
            result.requests += 1

    before = meter.sample()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    result.seconds = time.perf_counter() - started
    result.server_cpu, result.client_cpu, result.postgres_cpu = CpuMeter.delta(before, meter.sample())
    return result


# --- the two sides of each scenario ---


class Stack:
    """Real HTTP to the real server process, through aiohttp (see bench/README.md for why not httpx).

    One keep-alive connection per worker (the connector is capped at CONCURRENCY), no cookie jar, no
    decompression, bodies sent as ready-made bytes. Every response's status is checked; every CHECK_EVERY-th
    response body is also parsed and checked, so the client does not spend a JSON parse on every request.
    """

    def __init__(self, base_url: str, secret_key: str, run: str) -> None:
        self.session = aiohttp.ClientSession(
            base_url=base_url,
            connector=aiohttp.TCPConnector(limit=CONCURRENCY, keepalive_timeout=60.0),
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=30.0),
            auto_decompress=False,
        )
        self.auth = f"Bearer {secret_key}"
        self.run = run
        self.checked = 0  # responses whose body was parsed and checked

    async def create_customer(self, n: int) -> None:
        # The body is serialised once here and sent as bytes: the client's own JSON work is not what we measure.
        body = orjson.dumps(customer_body(n, self.run))
        headers = {
            "Authorization": self.auth,
            "Idempotency-Key": str(uuid.uuid4()),
            "Content-Type": "application/json",
        }
        async with self.session.post("/v1/customers", data=body, headers=headers) as r:
            raw = await r.read()  # read to the end, or aiohttp closes the connection instead of reusing it
        if r.status != 201:
            raise RuntimeError(f"POST /v1/customers answered {r.status}: {raw[:300]!r}")
        if n % CHECK_EVERY == 0:
            out = orjson.loads(raw)
            if out.get("object") != "customer" or out.get("merchantRef") != f"{self.run}-{n}":
                raise RuntimeError(f"POST /v1/customers answered an unexpected body: {raw[:300]!r}")
            self.checked += 1

    async def list_customers(self, n: int) -> None:
        async with self.session.get(f"/v1/customers?limit={LIST_LIMIT}", headers={"Authorization": self.auth}) as r:
            raw = await r.read()
        if r.status != 200:
            raise RuntimeError(f"GET /v1/customers answered {r.status}: {raw[:300]!r}")
        if n % CHECK_EVERY == 0:
            out = orjson.loads(raw)
            if out.get("object") != "list" or len(out.get("items", ())) != LIST_LIMIT or not out.get("hasMore"):
                raise RuntimeError(f"GET /v1/customers answered an unexpected body: {raw[:300]!r}")
            self.checked += 1

    async def close(self) -> None:
        await self.session.close()


class Baseline:
    """The same statements in the same transactions, straight through asyncpg."""

    def __init__(self, pool: asyncpg.Pool, secret_key: str, run: str) -> None:
        self.pool = pool
        self.secret_key = secret_key
        self.run = run

    async def _lookup(self, conn: asyncpg.Connection) -> str:
        # The server resolves credentials on an autocommit reader: one round trip, no BEGIN/COMMIT.
        row = await conn.fetchrow(SQL_KEY_LOOKUP, sha256_hex(self.secret_key))
        assert row is not None
        assert row["revoked_at"] is None
        return str(row["tenant_id"])

    async def create_customer(self, n: int) -> None:
        body = customer_body(n, self.run)
        key = str(uuid.uuid4())
        async with self.pool.acquire() as conn:
            tenant_id = await self._lookup(conn)
        fp = fingerprint("POST", "/v1/customers", "", orjson.dumps(body, option=orjson.OPT_SORT_KEYS))
        now = now_ms()
        # The server checks out one connection for the claim (one autocommit INSERT, committed on its own) and
        # the business transaction after it.
        async with self.pool.acquire() as conn:
            claimed = await conn.fetchrow(
                SQL_CLAIM, tenant_id, key, fp, "in_progress", new_id("req"), now, now, now + RETENTION
            )
            assert claimed is not None
            await self._business(conn, body, tenant_id, key)

    async def _business(self, conn: asyncpg.Connection, body: dict[str, Any], tenant_id: str, key: str) -> None:
        async with conn.transaction():
            # No duplicate pre-check: the server relies on the unique constraint (tenant_id, merchant_ref).
            now = now_ms()
            row = await conn.fetchrow(
                SQL_INSERT_CUSTOMER,
                new_id("cus"),
                tenant_id,
                body["email"],
                None,
                body["name"],
                body["merchantRef"],
                "{}",
                now,
                now,
            )
            assert row is not None
            out = {
                "object": "customer",
                "id": row["id"],
                "email": row["email"],
                "phone": row["phone"],
                "name": row["name"],
                "merchantRef": row["merchant_ref"],
                "metadata": orjson.loads(row["metadata"]),
                "blacklisted": row["blacklisted"],
                "blacklistReason": row["blacklist_reason"],
                "blacklistedAt": format_ts(row["blacklisted_at"]),
                "identityId": row["identity_id"],
                "defaultPaymentMethodId": row["default_payment_method_id"],
                "createdAt": format_ts(row["created_at"]),
                "updatedAt": format_ts(row["updated_at"]),
            }
            await conn.fetchrow(
                SQL_INSERT_EVENT,
                new_id("evt"),
                tenant_id,
                "customer_created",
                orjson.dumps({"object": out}).decode(),
                now_ms(),
            )
            await conn.execute(SQL_COMPLETE, "completed", 201, orjson.dumps(out), tenant_id, key)

    async def list_customers(self, n: int) -> None:
        async with self.pool.acquire() as conn:
            tenant_id = await self._lookup(conn)
        async with self.pool.acquire() as conn:  # reads run in autocommit on the server too
            rows = await conn.fetch(SQL_LIST, tenant_id, LIST_LIMIT + 1)
        assert len(rows) == LIST_LIMIT + 1


# --- optional profiling of the server process ---


def py_spy() -> str | None:
    return os.environ.get("BENCH_PYSPY") or shutil.which("py-spy")


def _package_of(frame: str) -> str:
    """`fn (path/to/file.py:12)` -> the top-level package the sample's leaf frame belongs to."""
    if "(" not in frame:
        return "(native code: event loop, C extensions)"
    path = frame.rsplit("(", 1)[1].split(":", 1)[0]
    path = path.split("site-packages/", 1)[-1].split("/src/", 1)[-1]
    head = path.split("/", 1)[0]
    duro_dirs = {p.name for p in (ROOT / "src" / "duro").iterdir()}
    if head == "duro" or head in duro_dirs:
        return "duro"
    return head.removesuffix(".py")


def summarize_profile(path: Path, top: int = 12) -> str:
    by_package: dict[str, int] = {}
    by_leaf: dict[str, int] = {}
    total = 0
    for raw in path.read_text().splitlines():
        stack, _, count = raw.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        leaf = re.sub(r":\d+\)$", ")", stack.split(";")[-1])  # one entry per function, not per line
        by_package[_package_of(leaf)] = by_package.get(_package_of(leaf), 0) + n
        leaf = leaf or "(no Python frame: event loop, C extensions)"
        by_leaf[leaf] = by_leaf.get(leaf, 0) + n
    if not total:
        return "  (no samples)"
    out = ["  self time by package:"]
    out += [f"    {n / total:6.1%}  {k}" for k, n in sorted(by_package.items(), key=lambda kv: -kv[1])[:top]]
    out.append("  self time by function:")
    out += [f"    {n / total:6.1%}  {k}" for k, n in sorted(by_leaf.items(), key=lambda kv: -kv[1])[:top]]
    return "\n".join(out)


async def profile_phase(name: str, op: Callable[[int], Awaitable[None]], server_pid: int, meter: CpuMeter) -> None:
    exe = py_spy()
    if exe is None:
        print("BENCH_PROFILE=1 but py-spy was not found: pip install --target /tmp/pyspy py-spy, then set")
        print("BENCH_PYSPY=/tmp/pyspy/bin/py-spy")
        return
    out = DATA_DIR / f"profile-{name}.txt"
    seconds = max(ROUND_SECONDS, 3.0)
    cmd = [exe, "record", "-p", str(server_pid), "-d", str(int(seconds)), "-r", "250", "-f", "raw", "-o", str(out)]
    spy = await asyncio.create_subprocess_exec(
        *cmd, "--nonblocking", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        await drive(op, seconds, meter)
        _, err = await asyncio.wait_for(spy.communicate(), 30)
    finally:
        if spy.returncode is None:
            spy.kill()
            await spy.wait()
    if spy.returncode != 0 or not out.exists():
        print(f"py-spy failed ({spy.returncode}): {err.decode(errors='replace')[-500:]}")
        return
    print(f"\nprofile of the server during {name} (collapsed stacks in {out}):")
    print(summarize_profile(out))


# --- orchestration ---


async def keep_session(conn: asyncpg.Connection) -> None:
    """No `RESET ALL` round trip on release: SQLAlchemy's pool sends nothing on check-in after a commit either."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


def postgres_pids_under(postmaster_pid: int | None) -> Callable[[], list[int]]:
    def pids() -> list[int]:
        if postmaster_pid is None:
            return []
        try:
            root = psutil.Process(postmaster_pid)
            return [root.pid, *(c.pid for c in root.children(recursive=True))]
        except psutil.Error:
            return []

    return pids


def find_postmaster(url: str) -> int | None:
    """The embedded server's postmaster pid (its socket dir is its data dir); None for an external server."""
    if "host=" not in url:
        return None
    pid_file = Path(url.split("host=", 1)[1].split("&", 1)[0]) / "postmaster.pid"
    try:
        return int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


class Server:
    """One `uvicorn duro.asgi:app` process; always stopped by `stop()`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = DATA_DIR / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = {
            **os.environ,
            "DURO_DATA_DIR": str(DATA_DIR),
            "DURO_SECRET_KEY": SECRET_KEY,
            "DURO_ENV": "development",
            "DURO_RATE_LIMIT_TEST": "100000000",
            "DURO_RATE_LIMIT_LIVE": "100000000",
            "DURO_LOG_LEVEL": "WARNING",
            "DURO_PUBLIC_URL": self.base_url,
        }

    def start(self, database_url: str) -> None:
        self.env["DURO_DATABASE_URL"] = database_url
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "duro.asgi:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--no-server-header",
            "--no-proxy-headers",
        ]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(  # own session: a Ctrl-C reaches us, and we stop it in `stop()`
                cmd, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    async def wait_ready(self, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        timeout = aiohttp.ClientTimeout(total=2.0)
        async with aiohttp.ClientSession(base_url=self.base_url, timeout=timeout) as client:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with client.get("/readyz") as r:
                        if r.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"server not ready after {within:.0f} s:\n{self.log_tail()}")

    def log_tail(self) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-40:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


async def setup_database(settings: Settings) -> tuple[str, Database]:
    url = resolve_database_url(settings, DB_NAME)
    db = Database(url, pool_size=2)
    if not settings.database_url:
        # The embedded bench database is ours alone: start from empty tables so runs are comparable.
        async with db.engine.begin() as conn:
            for schema in ("sandbox", "live", "core"):
                await conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    await migrate.upgrade(db.engine)
    return url, db


async def drop_tenant(db: Database, tenant_id: str) -> None:
    async with db.core_transaction() as conn:
        await conn.execute(text("DELETE FROM core.tenants WHERE id = :id"), {"id": tenant_id})


def line(label: str, stack: Result, base: Result, target: float | None) -> str:
    ratio = stack.rate / base.rate if base.rate else 0.0
    verdict = "" if target is None else ("  (target >= 50%: met)" if ratio >= target else "  (target >= 50%: NOT met)")
    return (
        f"{label}\n"
        f"  stack     {stack.rate:9.1f} req/s  p50 {stack.pct(0.5):6.1f} ms  p99 {stack.pct(0.99):6.1f} ms"
        f"  ({stack.requests} requests in {stack.seconds:.1f} s)\n"
        f"  baseline  {base.rate:9.1f} req/s  p50 {base.pct(0.5):6.1f} ms  p99 {base.pct(0.99):6.1f} ms"
        f"  ({base.requests} requests in {base.seconds:.1f} s)\n"
        f"  ratio stack/baseline = {ratio:.1%}{verdict}\n"
        f"  CPU per request, stack:    server {cpu_us(stack.server_cpu, stack)}  postgres "
        f"{cpu_us(stack.postgres_cpu, stack)}  bench client {cpu_us(stack.client_cpu, stack)}\n"
        f"  CPU per request, baseline: postgres {cpu_us(base.postgres_cpu, base)}  bench client "
        f"{cpu_us(base.client_cpu, base)}\n"
        f"  CPU use during stack rounds: server {stack.server_cpu / stack.seconds:.0%} of a core, postgres "
        f"{stack.postgres_cpu / stack.seconds:.0%}, bench client {stack.client_cpu / stack.seconds:.0%}"
        f" (machine has {os.cpu_count()} cores)\n"
        f"  single-process ceiling if the server had a core to itself: {ceiling(stack)}"
    )


def ceiling(r: Result) -> str:
    return f"{r.requests / r.server_cpu:.0f} req/s" if r.server_cpu > 0 else "n/a"


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def cpu_us(cpu_seconds: float, r: Result) -> str:
    return f"{cpu_seconds / r.requests * 1e6:6.0f} us" if r.requests else "   n/a"


async def scenario(
    name: str, stack_op: Callable[[int], Awaitable[None]], base_op: Callable[[int], Awaitable[None]], meter: CpuMeter
) -> tuple[Result, Result]:
    print(f"[{name}] warm-up {WARMUP_SECONDS:.0f} s each side ...", flush=True)
    await drive(stack_op, WARMUP_SECONDS, meter)
    await drive(base_op, WARMUP_SECONDS, meter)
    stack, base = Result(), Result()
    for i in range(ROUNDS):
        # Alternate sides so that table growth and cache state do not favour either one.
        first, second = ((stack_op, stack), (base_op, base)) if i % 2 == 0 else ((base_op, base), (stack_op, stack))
        for op, total in (first, second):
            total.add(await drive(op, ROUND_SECONDS, meter))
        print(f"[{name}] round {i + 1}/{ROUNDS}: stack {stack.rate:.0f} req/s, baseline {base.rate:.0f} req/s")
    return stack, base


async def run(server: Server, settings: Settings) -> None:
    print(f"bench: data dir {DATA_DIR}, concurrency {CONCURRENCY}, {ROUNDS} x {ROUND_SECONDS:.0f} s rounds per side")
    print(f"bench: load average {load_average()} on {os.cpu_count()} cores (other work on the box skews both sides)")
    url, db = await setup_database(settings)
    tenant_id: str | None = None
    pool: asyncpg.Pool | None = None
    stack: Stack | None = None
    try:
        made = await provision_tenant(
            db,
            settings,
            SystemClock(),
            name="Bench Store",
            owner_email=f"bench-{secrets.token_hex(4)}@example.com",
            owner_password="bench correct horse battery",
        )
        tenant_id = made.tenant.id
        secret_key = made.keys["test"]["secret"]
        server.start(url)
        await server.wait_ready()
        assert server.proc is not None
        meter = CpuMeter(server.proc.pid, postgres_pids_under(find_postmaster(url)))
        run_id = secrets.token_hex(4)
        stack = Stack(server.base_url, secret_key, f"s{run_id}")
        pool = await asyncpg.create_pool(
            asyncpg_dsn(url),
            min_size=CONCURRENCY,
            max_size=CONCURRENCY,
            server_settings={"timezone": "UTC", "application_name": "duro-bench"},
            reset=keep_session,
        )
        base = Baseline(pool, secret_key, f"b{run_id}")
        post_stack, post_base = await scenario("POST /v1/customers", stack.create_customer, base.create_customer, meter)
        list_stack, list_base = await scenario("GET /v1/customers", stack.list_customers, base.list_customers, meter)
        print()
        print("=" * 100)
        print(line("(a) POST /v1/customers with a unique Idempotency-Key", post_stack, post_base, TARGET_RATIO))
        print()
        print(line(f"(c) GET /v1/customers?limit={LIST_LIMIT}", list_stack, list_base, None))
        print("=" * 100)
        print(f"load average at the end: {load_average()}")
        print(
            "baseline = the same statements in the same transactions over asyncpg from this process "
            "(see bench/README.md)"
        )
        print(
            f"stack client = aiohttp from this process, {CONCURRENCY} keep-alive connections; every status checked, "
            f"{stack.checked} response bodies parsed and checked (every {CHECK_EVERY}th)"
        )
        if PROFILE:
            await profile_phase("post-customers", stack.create_customer, server.proc.pid, meter)
            await profile_phase("list-customers", stack.list_customers, server.proc.pid, meter)
    finally:
        if stack is not None:
            await stack.close()
        server.stop()
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), 10)
            except TimeoutError:
                pool.terminate()
        if tenant_id is not None:
            await drop_tenant(db, tenant_id)
        await db.dispose()


async def run_until_signalled(server: Server, settings: Settings) -> None:
    """`run`, cancelled cleanly on SIGTERM or SIGINT: the cancellation reaches `run`'s await point, so its
    clean-up runs while the loop still runs."""
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGTERM, signal.SIGINT):  # SIGINT too: background jobs inherit it ignored
        asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
    await run(server, settings)


def main() -> int:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        _env_file=None,
        env="development",
        data_dir=DATA_DIR,
        database_url=os.environ.get("DURO_DATABASE_URL") or None,
        secret_key=SECRET_KEY,
    )
    server = Server()
    try:
        with contextlib.suppress(ImportError):
            import uvloop  # the server runs on uvloop too (uvicorn's default when installed)

            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        asyncio.run(run_until_signalled(server, settings))
    except (asyncio.CancelledError, KeyboardInterrupt):
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        server.stop()  # also on errors and interrupts: never leave the server behind
    return 0


if __name__ == "__main__":
    sys.exit(main())
