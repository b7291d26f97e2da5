"""Renewal throughput of real `duro worker` processes vs. a set-based SQL baseline (see bench/README.md).

Run with `make bench-renewals` (or `python bench/renewals.py --count N`). Everything runs on the embedded
PostgreSQL under `.duro/bench`, database `duro_bench_renewals` (schemas dropped and re-migrated every run):

1. One tenant, one monthly plan, COUNT customers each with a default simulator card, and COUNT active
   subscriptions whose period ended in the past, all seeded with set-based SQL (generate_series).
2. Baseline: the same renewals as set-based SQL in one transaction, writing the rows a renewal writes (renewal
   invoices, succeeded transactions, the simulator's ledger rows, three events each, the subscriptions' new
   periods). It is the floor of what the database needs for the work, with no per-row round trips at all.
3. Stack: 1, then (after a reset) 2 real `duro worker --loops billing` processes, timed until every subscription
   is renewed; the result is checked (exactly one paid invoice, one succeeded charge, one ledger row and three
   events per subscription, each period advanced once).

Rates are renewals per second; ratio = stack rate / baseline rate, both measured in this run on this database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import psutil
from sqlalchemy import text

from api import summarize_profile  # bench/api.py: py-spy's collapsed stacks -> self time by package/function
from duro.config import Settings
from duro.db import migrate
from duro.db.engine import Database, resolve_database_url
from duro.kit.clock import SystemClock
from duro.tenants.service import provision_tenant

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / ".duro" / "bench"
DB_NAME = "duro_bench_renewals"
SECRET_KEY = "bench-secret-key-that-is-long-enough-0123456789"
TIMEOUT = float(os.environ.get("BENCH_RENEWALS_TIMEOUT", "600"))  # upper bound for one stack run
# BENCH_PROFILE=1: sample the single worker with py-spy during the 1-worker run (a bench-time install).
PROFILE = os.environ.get("BENCH_PROFILE") == "1"
PROFILE_SECONDS = 10
PROFILE_OUT = DATA_DIR / "profile-renewals-worker.txt"
# A backlog of tens of thousands is what larger claims are for: each batch pays fixed costs (its scan, three
# commits, ~15 round trips), so the bench claims 200 rows per scan unless told otherwise. The product's default
# stays 50 (01 §10); `DURO_WORKER_BATCH` is the operator's knob for a backlog like this one (bench/README.md).
WORKER_BATCH = os.environ.get("DURO_WORKER_BATCH", "200")
TARGET_RATE = 2_000.0  # renewals/s with 2 workers on a 2-core machine (the target)
TARGET_RATIO = 0.50
PLAN_ID = "plan_BENCH0000000000000000000001"
CARD = "4242424242424242"

# --- seeding (set-based) ---

SEED_CUSTOMERS = """
INSERT INTO sandbox.customers (id, tenant_id, name, default_payment_method_id, created_at, updated_at)
SELECT 'cus_' || lpad(g::text, 26, '0'), $1, 'Customer ' || g, 'pm_' || lpad(g::text, 26, '0'), now(), now()
FROM generate_series(1, $2) AS g
"""
# Stored as `payment_methods.service.add_test_method` stores a simulator card: token `sim:<number>`,
# fingerprint sha256("card:<number>").
SEED_METHODS = """
INSERT INTO sandbox.payment_methods (id, tenant_id, customer_id, status, rail, brand, last4, exp_month, exp_year,
    gateway_token, fingerprint, created_at, updated_at)
SELECT 'pm_' || lpad(g::text, 26, '0'), $1, 'cus_' || lpad(g::text, 26, '0'), 'active', 'card', 'visa', '4242', 12,
    2099, 'sim:' || $3::text, encode(sha256(convert_to('card:' || $3::text, 'UTF8')), 'hex'), now(), now()
FROM generate_series(1, $2) AS g
"""
# First period started ~40 days ago (one second apart per subscription), ended a month later: each subscription
# is due for exactly one renewal, of [anchor + 1 month, anchor + 2 months).
SEED_SUBSCRIPTIONS = """
INSERT INTO sandbox.subscriptions (id, tenant_id, customer_id, plan_id, status, current_period_start,
    current_period_end, billing_anchor, cycles_completed, activated_at, balance, pending_charge, metadata,
    created_at, updated_at)
SELECT 'sub_' || lpad(g::text, 26, '0'), $1, 'cus_' || lpad(g::text, 26, '0'), $3, 'active', a,
    a + interval '1 month', a, 1, a, 0, 0, '{}', a, a
FROM generate_series(1, $2) AS g,
    LATERAL (SELECT date_trunc('milliseconds', now()) - interval '40 days' - g * interval '1 second') AS x(a)
"""
WRITTEN_TABLES = ("invoices", "transactions", "events", "sim_charges", "subscriptions", "dunning_schedules")

# --- the baseline: the same renewals, set-based, one transaction ---

BASELINE = [
    "SELECT set_config('bench.tenant', $1, true)",  # CREATE TABLE AS takes no parameters
    # The billing scan's selection, with what T1 reads (plan, customer's default method) and fresh ids.
    """
    CREATE TEMP TABLE due ON COMMIT DROP AS
    SELECT s.id AS sub_id, s.customer_id, s.current_period_end AS period_start,
        s.billing_anchor + (s.cycles_completed + 1) * interval '1 month' AS period_end,
        p.amount, p.currency, p.name AS plan_name, m.id AS pm_id, m.rail,
        'inv_' || substr(md5(random()::text || s.id), 1, 26) AS inv_id,
        'txn_' || substr(md5(random()::text || s.id), 1, 26) AS txn_id,
        date_trunc('milliseconds', clock_timestamp()) AS at
    FROM sandbox.subscriptions s
    JOIN sandbox.plans p ON p.tenant_id = s.tenant_id AND p.id = s.plan_id
    JOIN sandbox.customers c ON c.tenant_id = s.tenant_id AND c.id = s.customer_id
    JOIN sandbox.payment_methods m ON m.tenant_id = s.tenant_id AND m.id = c.default_payment_method_id
    WHERE s.tenant_id = current_setting('bench.tenant') AND s.status IN ('active', 'trialing')
        AND s.current_period_end <= now()
        AND s.test_clock_id IS NULL
    """,
    """
    INSERT INTO sandbox.invoices (id, tenant_id, customer_id, subscription_id, kind, status, currency, subtotal,
        discount, credit_applied, amount, amount_paid, amount_refunded, lines, period_start, period_end,
        idempotency_key, paid_at, created_at, updated_at)
    SELECT inv_id, $1, customer_id, sub_id, 'renewal', 'paid', currency, amount, 0, 0, amount, amount, 0,
        jsonb_build_array(jsonb_build_object('type', 'plan', 'description', plan_name, 'amount', amount,
            'periodStart', period_start, 'periodEnd', period_end)),
        period_start, period_end,
        'renewal_' || sub_id || '_' || to_char(period_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        at, at, at
    FROM due
    """,
    """
    INSERT INTO sandbox.transactions (id, tenant_id, invoice_id, subscription_id, customer_id, payment_method_id,
        rail, status, amount, currency, source, attempt_number, processed_at, created_at, updated_at)
    SELECT txn_id, $1, inv_id, sub_id, customer_id, pm_id, rail, 'succeeded', amount, currency, 'renewal', 1, at,
        at, at
    FROM due
    """,
    """
    INSERT INTO sandbox.sim_charges (reference, kind, outcome, created_at)
    SELECT txn_id, 'charge', jsonb_build_object('succeeded', true, 'failureCode', null, 'declineCode', null,
        'message', null, 'paymentMethodId', pm_id, 'rail', rail, 'amount', amount, 'currency', currency,
        'at', at, 'attemptNumber', 1), at
    FROM due
    """,
    # Three events per renewal, each carrying the invoice (the payment event also the transaction), as the
    # worker's do.
    """
    INSERT INTO sandbox.events (id, tenant_id, type, data, created_at)
    SELECT 'evt_' || substr(md5(random()::text || i.id || e.type), 1, 26), $1, e.type,
        CASE WHEN e.type = 'subscription_payment_success'
            THEN jsonb_build_object('object', to_jsonb(i), 'transaction', to_jsonb(t), 'subscriptionId',
                i.subscription_id, 'invoiceId', i.id, 'amount', i.amount, 'currency', i.currency)
            ELSE jsonb_build_object('object', to_jsonb(i)) END,
        i.created_at
    FROM due d
    JOIN sandbox.invoices i ON i.tenant_id = $1 AND i.id = d.inv_id
    JOIN sandbox.transactions t ON t.tenant_id = $1 AND t.id = d.txn_id
    CROSS JOIN (VALUES ('invoice_created'), ('invoice_paid'), ('subscription_payment_success')) AS e(type)
    """,
    """
    UPDATE sandbox.subscriptions s SET current_period_start = d.period_start, current_period_end = d.period_end,
        cycles_completed = s.cycles_completed + 1, latest_invoice_id = d.inv_id, updated_at = d.at
    FROM due d WHERE s.tenant_id = $1 AND s.id = d.sub_id
    """,
]

# --- checking a run ---

CHECKS = {
    "subscriptions advanced once": """SELECT count(*) FROM sandbox.subscriptions WHERE tenant_id = $1
        AND cycles_completed = 2 AND current_period_start = billing_anchor + interval '1 month'
        AND current_period_end = billing_anchor + interval '2 months'""",
    "paid renewal invoices of that period": """SELECT count(*) FROM sandbox.invoices i
        JOIN sandbox.subscriptions s ON s.tenant_id = i.tenant_id AND s.id = i.subscription_id
        WHERE i.tenant_id = $1 AND i.kind = 'renewal' AND i.status = 'paid'
        AND i.period_start = s.current_period_start AND s.latest_invoice_id = i.id""",
    "succeeded renewal transactions": """SELECT count(*) FROM sandbox.transactions WHERE tenant_id = $1
        AND source = 'renewal' AND status = 'succeeded'""",
    "all transactions": "SELECT count(*) FROM sandbox.transactions WHERE tenant_id = $1",
    "simulator ledger rows": "SELECT count(*) FROM sandbox.sim_charges WHERE $1::text IS NOT NULL",
}
EVENTS = "SELECT count(*) FROM sandbox.events WHERE tenant_id = $1 AND type = ANY($2::text[])"
EVENT_TYPES = ["invoice_created", "invoice_paid", "subscription_payment_success"]
RENEWED = "SELECT count(*) FROM sandbox.subscriptions WHERE tenant_id = $1 AND cycles_completed >= 2"
# Wall time of the work itself, from the rows' own timestamps: first tick's clock reading -> last renewal.
WINDOW = """SELECT extract(epoch FROM (SELECT max(updated_at) FROM sandbox.subscriptions WHERE tenant_id = $1)
    - (SELECT min(created_at) FROM sandbox.invoices WHERE tenant_id = $1))"""


@dataclass
class Run:
    label: str
    renewals: int
    seconds: float  # the work itself (stack: first tick -> last renewal, from the rows' timestamps)
    wall_seconds: float  # stack: from spawning the processes (imports, connecting) to the last renewal
    worker_cpu: float = 0.0  # CPU seconds of the worker processes during the work
    postgres_cpu: float = 0.0
    client_cpu: float = 0.0  # this process (baseline: the asyncpg client; stack: polling)

    @property
    def rate(self) -> float:
        return self.renewals / self.seconds if self.seconds > 0 else 0.0


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


def postgres_pids(url: str) -> list[int]:
    """The embedded postmaster and its children (its socket dir is its data dir)."""
    pid_file = Path(url.split("host=", 1)[1].split("&", 1)[0]) / "postmaster.pid"
    try:
        root = psutil.Process(int(pid_file.read_text().splitlines()[0]))
        return [root.pid, *(c.pid for c in root.children(recursive=True))]
    except (OSError, ValueError, IndexError, psutil.Error):
        return []


def cpu_of(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(pid).cpu_times()
            out[pid] = float(t.user + t.system)
    return out


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(v - before.get(pid, 0.0) for pid, v in after.items())


class Bench:
    def __init__(self, url: str, count: int, tenant_id: str, conn: asyncpg.Connection) -> None:
        self.url = url
        self.count = count
        self.tenant_id = tenant_id
        self.conn = conn

    async def reset(self) -> None:
        """Every run starts from the same rows: the written tables emptied, the subscriptions re-seeded due."""
        tables = ", ".join(f"sandbox.{t}" for t in WRITTEN_TABLES)
        await self.conn.execute(f"TRUNCATE {tables}")
        await self.conn.execute(SEED_SUBSCRIPTIONS, self.tenant_id, self.count, PLAN_ID)
        await self.conn.execute("VACUUM ANALYZE")

    async def check(self, label: str) -> None:
        found = {name: await self.conn.fetchval(sql, self.tenant_id) for name, sql in CHECKS.items()}
        found["events (3 per renewal)"] = await self.conn.fetchval(EVENTS, self.tenant_id, EVENT_TYPES) // 3
        wrong = {k: v for k, v in found.items() if v != self.count}
        if wrong:
            raise RuntimeError(f"{label}: expected {self.count} of each, found {wrong}")

    async def baseline(self) -> Run:
        await self.reset()
        pg = postgres_pids(self.url)
        before, client_before = cpu_of(pg), time.process_time()
        started = time.perf_counter()
        async with self.conn.transaction():
            for sql in BASELINE:
                if "$1" in sql:
                    await self.conn.execute(sql, self.tenant_id)
                else:
                    await self.conn.execute(sql)
        seconds = time.perf_counter() - started
        run = Run("baseline (set-based SQL, one transaction)", self.count, seconds, seconds)
        run.postgres_cpu = cpu_delta(before, cpu_of(pg))
        run.client_cpu = time.process_time() - client_before
        await self.check(run.label)
        return run

    async def stack(self, workers: int) -> Run:
        await self.reset()
        env = {k: v for k, v in os.environ.items() if not k.startswith("DURO_")}
        env.update(
            DURO_DATABASE_URL=self.url,
            DURO_SECRET_KEY=SECRET_KEY,
            DURO_DATA_DIR=str(DATA_DIR),
            DURO_ENV="development",
            DURO_LOG_LEVEL="WARNING",
            DURO_BILLING_SCAN_SECONDS="1",
        )
        env["DURO_WORKER_BATCH"] = WORKER_BATCH
        if "DURO_WORKER_CONCURRENCY" in os.environ:  # pass the tuning knob through
            env["DURO_WORKER_CONCURRENCY"] = os.environ["DURO_WORKER_CONCURRENCY"]
        cmd = [sys.executable, "-m", "duro.cli", "worker", "--loops", "billing"]
        procs: list[subprocess.Popen[bytes]] = []
        logs = [DATA_DIR / f"renewals-worker-{i + 1}.log" for i in range(workers)]
        spawned = time.perf_counter()
        try:
            procs.extend(spawn(cmd, env, path) for path in logs)
            pids = [p.pid for p in procs]
            worker_before: dict[int, float] | None = None
            pg_before: dict[int, float] = {}
            client_before = 0.0
            last_report = time.perf_counter()
            spy: asyncio.subprocess.Process | None = None
            while True:
                done = await self.conn.fetchval(RENEWED, self.tenant_id)
                if worker_before is None and done > 0:
                    # The workers are up and renewing: start the CPU accounting here (imports excluded).
                    pg_before = cpu_of(postgres_pids(self.url))
                    worker_before, client_before = cpu_of(pids), time.process_time()
                    if PROFILE and workers == 1:
                        spy = await start_py_spy(pids[0])
                if done >= self.count:
                    break
                for p, path in zip(procs, logs, strict=True):
                    if p.poll() is not None:
                        tail = path.read_text(errors="replace")[-3000:]
                        raise RuntimeError(f"a worker exited with {p.returncode}:\n{tail}")
                now = time.perf_counter()
                if now - spawned > TIMEOUT:
                    raise RuntimeError(f"only {done} of {self.count} renewed after {TIMEOUT:.0f} s")
                if now - last_report >= 10:
                    print(f"  ... {done} renewed after {now - spawned:.0f} s", flush=True)
                    last_report = now
                await asyncio.sleep(0.05)
            wall = time.perf_counter() - spawned
            worker_cpu = cpu_delta(worker_before or {}, cpu_of(pids))
            pg_cpu = cpu_delta(pg_before, cpu_of(postgres_pids(self.url)))  # the workers' backends included
            client_cpu = time.process_time() - client_before
            if spy is not None:
                await finish_py_spy(spy)
        finally:
            stop(procs)
        seconds = float(await self.conn.fetchval(WINDOW, self.tenant_id))
        label = f"stack: {workers} `duro worker` process{'es' if workers > 1 else ''}"
        run = Run(label, self.count, seconds, wall, worker_cpu, pg_cpu, client_cpu)
        await self.check(run.label)
        return run


async def start_py_spy(pid: int) -> asyncio.subprocess.Process | None:
    exe = os.environ.get("BENCH_PYSPY") or shutil.which("py-spy")
    if exe is None:
        print("BENCH_PROFILE=1 but py-spy was not found: pip install --target /tmp/pyspy py-spy, then set")
        print("BENCH_PYSPY=/tmp/pyspy/bin/py-spy")
        return None
    cmd = [exe, "record", "-p", str(pid), "-d", str(PROFILE_SECONDS), "-r", "250", "-f", "raw", "-o", str(PROFILE_OUT)]
    return await asyncio.create_subprocess_exec(
        *cmd, "--nonblocking", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )


async def finish_py_spy(spy: asyncio.subprocess.Process) -> None:
    try:
        _, err = await asyncio.wait_for(spy.communicate(), PROFILE_SECONDS + 30)
    finally:
        if spy.returncode is None:
            spy.kill()
            await spy.wait()
    if spy.returncode != 0 or not PROFILE_OUT.exists():
        print(f"py-spy failed ({spy.returncode}): {err.decode(errors='replace')[-500:]}")
        return
    print(f"profile of the worker process (collapsed stacks in {PROFILE_OUT}):")
    print(summarize_profile(PROFILE_OUT))


def spawn(cmd: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


async def setup(count: int) -> tuple[str, Database, str]:
    settings = Settings(_env_file=None, env="development", data_dir=DATA_DIR, database_url=None, secret_key=SECRET_KEY)
    url = resolve_database_url(settings, DB_NAME)
    db = Database(url, pool_size=2)
    async with db.engine.begin() as conn:  # the bench database is ours alone: start from empty schemas
        for schema in ("sandbox", "live", "core"):
            await conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    await migrate.upgrade(db.engine)
    made = await provision_tenant(
        db,
        settings,
        SystemClock(),
        name="Bench Renewals",
        owner_email=f"bench-{secrets.token_hex(4)}@example.com",
        owner_password="bench correct horse battery",
    )
    return url, db, made.tenant.id


def describe(run: Run, base: Run | None) -> str:
    per = run.renewals or 1
    out = [
        f"{run.label}",
        f"  {run.rate:9.1f} renewals/s  ({run.renewals} in {run.seconds:.2f} s"
        + (f"; {run.wall_seconds:.1f} s from spawning the processes)" if run.wall_seconds != run.seconds else ")"),
    ]
    cpu = f"  CPU per renewal: postgres {run.postgres_cpu / per * 1e6:6.0f} us"
    if run.worker_cpu:
        cpu += f", workers {run.worker_cpu / per * 1e6:6.0f} us"
        workers, postgres = run.worker_cpu / run.seconds, run.postgres_cpu / run.seconds
        cpu += f"  (workers at {workers:.0%} of a core, postgres {postgres:.0%})"
    out.append(cpu)
    total = (run.worker_cpu + run.postgres_cpu + (0.0 if run.worker_cpu else run.client_cpu)) / per
    if total > 0:
        cores = os.cpu_count() or 1
        out.append(f"  CPU-bound ceiling with all {cores} cores to itself: {cores / total:.0f} renewals/s")
    if base is not None and base.rate:
        out.append(f"  ratio to the baseline = {run.rate / base.rate:.1%}")
    return "\n".join(out)


async def run(count: int, worker_counts: list[int]) -> None:
    print(f"bench renewals: {count} due subscriptions, embedded PostgreSQL under {DATA_DIR} ({DB_NAME})")
    print(f"bench renewals: load average {load_average()} on {os.cpu_count()} cores (other work skews the stack more)")
    print(f"bench renewals: workers claim DURO_WORKER_BATCH={WORKER_BATCH} subscriptions per scan")
    url, db, tenant_id = await setup(count)
    conn = await asyncpg.connect(asyncpg_dsn(url), server_settings={"timezone": "UTC", "application_name": "bench"})
    try:
        await conn.execute(
            "INSERT INTO sandbox.plans (id, tenant_id, name, amount, currency, interval, interval_count, trial_days,"
            " active, metadata, created_at, updated_at)"
            " VALUES ($1, $2, 'Pro Monthly', 500000, 'NGN', 'month', 1, 0, true, '{}', now(), now())",
            PLAN_ID,
            tenant_id,
        )
        seeded = time.perf_counter()
        await conn.execute(SEED_CUSTOMERS, tenant_id, count)
        await conn.execute(SEED_METHODS, tenant_id, count, CARD)
        print(f"bench renewals: seeded {count} customers and cards in {time.perf_counter() - seeded:.1f} s")
        bench = Bench(url, count, tenant_id, conn)
        base = await bench.baseline()
        print(describe(base, None), flush=True)
        stacks = []
        for n in worker_counts:
            print(f"[{n} worker process{'es' if n > 1 else ''}] renewing ...", flush=True)
            stacks.append(await bench.stack(n))
            print(describe(stacks[-1], base), flush=True)
        print()
        print("=" * 100)
        print(f"renewals of {count} due subscriptions (each checked: one paid invoice, one succeeded charge, one")
        print("ledger row, three events, period advanced exactly once)")
        print(describe(base, None))
        for s in stacks:
            print(describe(s, base))
        two = next((s for s in stacks if s.label.startswith("stack: 2 ")), None)
        if two is not None:
            rate_ok = "met" if two.rate >= TARGET_RATE else "NOT met"
            ratio_ok = "met" if base.rate and two.rate / base.rate >= TARGET_RATIO else "NOT met"
            print(
                f"target >= {TARGET_RATE:.0f} renewals/s with 2 workers: {rate_ok}; "
                f"target >= {TARGET_RATIO:.0%} of the baseline: {ratio_ok}"
            )
        print("=" * 100)
        print(f"load average at the end: {load_average()}")
    finally:
        await conn.close()
        await db.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=50_000, help="due subscriptions (default 50,000)")
    parser.add_argument("--workers", default="1,2", help="worker process counts to measure, comma-separated")
    args = parser.parse_args()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    counts = [int(n) for n in args.workers.split(",") if n.strip()]
    try:
        asyncio.run(run(args.count, counts))
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
