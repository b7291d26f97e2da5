"""Analytics endpoints on a large data set vs. one hand-written SQL aggregate per endpoint (see bench/README.md).

Run with `make bench-analytics` (or `python bench/analytics.py --invoices N`). On the embedded PostgreSQL under
`.duro/bench`, database `duro_bench_analytics` (schemas dropped and re-migrated every run):

1. 100 tenants (one provisioned for real, with API keys; 99 more as bare `core.tenants` rows) and, spread evenly
   over them in test mode, INVOICES invoices (default 1,000,000), one transaction per invoice (10 % failed),
   INVOICES / 10 subscriptions (mixed statuses, churn reasons, promo codes, NGN and USD plans) and a dunning
   schedule for every 20th invoice (scheduled, awaiting_customer, recovered, exhausted, canceled), all loaded
   set-based with generate_series, then ANALYZE.
2. For the provisioned tenant: `GET /v1/analytics/failures` (30-day default window) and
   `GET /v1/analytics/overview` through the real ASGI app (httpx ASGITransport, in process, with the tenant's
   secret key: credential check, routing, the service, rendering), the service functions alone, and a baseline:
   one hand-written SQL statement per endpoint computing the same figures, run directly over asyncpg. Each is
   warmed up, then timed RUNS times; medians are reported, and ratio = stack ÷ baseline.

Target: < 200 ms per endpoint through the app.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import text

from duro.analytics import service
from duro.app import create_app
from duro.config import Settings
from duro.context import Actor, RepositoryContext
from duro.db import migrate
from duro.db.engine import Database, asyncpg_dsn, resolve_database_url
from duro.kit.clock import SystemClock
from duro.tenants.service import provision_tenant

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / ".duro" / "bench"
DB_NAME = "duro_bench_analytics"
SECRET_KEY = "bench-secret-key-that-is-long-enough-0123456789"
TENANTS = 100
TARGET_MS = 200.0

# --- seeding (set-based; $1 = the provisioned tenant, which is tenant index 0) ---

SEED = [
    """CREATE TEMP TABLE bench_tenants AS
    SELECT k, CASE WHEN k = 0 THEN $1::text ELSE 'ten_' || lpad(k::text, 26, '0') END AS id
    FROM generate_series(0, 99) AS k""",
    """INSERT INTO core.tenants (id, name, slug, created_at, updated_at)
    SELECT id, 'Bench ' || k, 'bench-' || k, now(), now() FROM bench_tenants WHERE k > 0""",
    # Four plans per tenant: NGN monthly, yearly, weekly; USD monthly.
    """INSERT INTO sandbox.plans (id, tenant_id, name, amount, currency, interval, interval_count, trial_days,
        created_at, updated_at)
    SELECT 'plan_' || lpad((t.k * 4 + j)::text, 26, '0'), t.id, 'Plan ' || j,
        (ARRAY[500000, 1200000, 10000, 10000])[j + 1], (ARRAY['NGN', 'NGN', 'NGN', 'USD'])[j + 1],
        (ARRAY['month', 'year', 'week', 'month'])[j + 1], 1, 0, now(), now()
    FROM bench_tenants t, generate_series(0, 3) AS j""",
    # Two promo codes per tenant: 10 % forever, 2,500 off repeating (percentage, so it fits both currencies).
    """INSERT INTO sandbox.promo_codes (id, tenant_id, code, discount_type, discount_value, duration,
        duration_cycles, created_at, updated_at)
    SELECT 'promo_' || lpad((t.k * 2 + j)::text, 26, '0'), t.id, 'BENCH' || j, 'percentage', 10 + j * 15,
        (ARRAY['forever', 'repeating'])[j + 1], CASE WHEN j = 1 THEN 6 END, now(), now()
    FROM bench_tenants t, generate_series(0, 1) AS j""",
    # Subscription s belongs to tenant s % 100; its plan, status and dates come from hashes of s (no correlation
    # with the tenant).
    """INSERT INTO sandbox.subscriptions (id, tenant_id, customer_id, plan_id, status, current_period_start,
        current_period_end, billing_anchor, activated_at, ended_at, ended_reason, promo_code_id,
        discount_cycles_remaining, created_at, updated_at)
    SELECT 'sub_' || lpad(s::text, 26, '0'), t.id, 'cus_' || lpad(s::text, 26, '0'),
        'plan_' || lpad((t.k * 4 + h % 4)::text, 26, '0'),
        (ARRAY['active', 'active', 'active', 'active', 'active', 'active', 'active', 'active', 'active', 'active',
               'active', 'active', 'active', 'active', 'past_due', 'trialing', 'paused', 'canceled', 'unpaid',
               'expired'])[m + 1],
        now(), now() + interval '1 month', now(),
        CASE WHEN m <> 15 THEN now() - ((h / 4) % 400) * interval '1 day' - (h % 86400) * interval '1 second' END,
        CASE WHEN m >= 17 THEN now() - ((h / 1600) % 60) * interval '1 day' END,
        CASE m WHEN 17 THEN (ARRAY['canceled_by_customer', 'canceled_by_merchant', 'dunning_canceled'])[h % 3 + 1]
               WHEN 18 THEN 'dunning_unpaid' WHEN 19 THEN 'max_cycles' END,
        CASE WHEN h % 10 < 2 THEN 'promo_' || lpad((t.k * 2 + h % 10)::text, 26, '0') END,
        CASE WHEN h % 10 = 1 THEN h % 3 END,
        now() - interval '400 days', now()
    FROM generate_series(1, $2::int) AS s
    CROSS JOIN LATERAL (SELECT abs(hashtext('s' || s)::bigint) AS h) AS x
    CROSS JOIN LATERAL (SELECT (h / 97) % 20 AS m) AS y
    JOIN bench_tenants t ON t.k = s % 100""",
    # Invoice g belongs to subscription ((g - 1) % S) + 1, so to that subscription's tenant; every 20th (by a hash of
    # g) is open and has a dunning schedule, every 10th has a failed charge.
    """INSERT INTO sandbox.invoices (id, tenant_id, customer_id, subscription_id, kind, status, currency, subtotal,
        amount, amount_paid, lines, created_at, updated_at)
    SELECT 'inv_' || lpad(g::text, 26, '0'), t.id, 'cus_' || lpad(sub::text, 26, '0'),
        'sub_' || lpad(sub::text, 26, '0'), 'renewal', CASE WHEN h % 20 = 0 THEN 'open' ELSE 'paid' END,
        CASE WHEN abs(hashtext('p' || sub)) % 4 = 3 THEN 'USD' ELSE 'NGN' END, 500000, 500000,
        CASE WHEN h % 20 = 0 THEN (h / 20 % 3) * 100000 ELSE 500000 END, '[]',
        now() - ((h / 100) % 365) * interval '1 day' - (h % 86400) * interval '1 second', now()
    FROM generate_series(1, $3::int) AS g
    CROSS JOIN LATERAL (SELECT ((g - 1) % $2::int) + 1 AS sub, abs(hashtext('i' || g)::bigint) AS h) AS x
    JOIN bench_tenants t ON t.k = sub % 100""",
    """INSERT INTO sandbox.transactions (id, tenant_id, invoice_id, subscription_id, status, amount, currency, source,
        attempt_number, failure_code, created_at, updated_at)
    SELECT 'txn_' || lpad(substr(i.id, 5)::text, 26, '0'), i.tenant_id, i.id, i.subscription_id,
        CASE WHEN h % 10 = 0 THEN 'failed' ELSE 'succeeded' END, i.amount, i.currency, 'renewal', 1,
        CASE WHEN h % 10 = 0 THEN (ARRAY['insufficient_funds', 'expired_card', 'do_not_honor', 'processor_error',
            'timeout'])[(h / 10) % 5 + 1] END,
        i.created_at, i.created_at
    FROM sandbox.invoices i CROSS JOIN LATERAL (SELECT abs(hashtext('t' || i.id)::bigint) AS h) AS x
    WHERE i.tenant_id IS NOT NULL""",
    """INSERT INTO sandbox.dunning_schedules (id, tenant_id, invoice_id, subscription_id, customer_id, state, amount,
        currency, started_at, escalation_at, recovered_at, exhausted_at, created_at, updated_at)
    SELECT 'dun_' || substr(i.id, 5), i.tenant_id, i.id, i.subscription_id, i.customer_id,
        (ARRAY['scheduled', 'awaiting_customer', 'recovered', 'exhausted', 'canceled'])[st + 1], i.amount, i.currency,
        i.created_at, i.created_at + interval '14 days',
        CASE WHEN st = 2 THEN i.created_at + interval '2 days' END,
        CASE WHEN st = 3 THEN i.created_at + interval '14 days' END,
        i.created_at, i.created_at
    FROM sandbox.invoices i CROSS JOIN LATERAL (SELECT abs(hashtext('d' || i.id)) % 5 AS st) AS x
    WHERE i.tenant_id IS NOT NULL AND i.status = 'open'""",
    "ANALYZE",
]

# --- the baseline: the same figures, one hand-written statement per endpoint ---

BASELINE_FAILURES = """
WITH open AS (
    SELECT count(*) AS n, coalesce(sum(i.amount - i.amount_paid), 0) AS amount
    FROM sandbox.dunning_schedules d JOIN sandbox.invoices i ON i.tenant_id = d.tenant_id AND i.id = d.invoice_id
    WHERE d.tenant_id = $1 AND d.state IN ('scheduled', 'in_flight', 'awaiting_customer') AND d.currency = $2),
ended AS (
    SELECT count(*) FILTER (WHERE state = 'recovered') AS rn,
        coalesce(sum(amount) FILTER (WHERE state = 'recovered'), 0) AS ra,
        count(*) FILTER (WHERE state = 'exhausted') AS en,
        coalesce(sum(amount) FILTER (WHERE state = 'exhausted'), 0) AS ea
    FROM sandbox.dunning_schedules
    WHERE tenant_id = $1 AND currency = $2 AND (
        (state = 'recovered' AND recovered_at >= $3 AND recovered_at < $4)
        OR (state = 'exhausted' AND exhausted_at >= $3 AND exhausted_at < $4))),
codes AS (
    SELECT coalesce(jsonb_object_agg(failure_code, n), '{}') AS by_code FROM (
        SELECT failure_code, count(*) AS n FROM sandbox.transactions
        WHERE tenant_id = $1 AND status = 'failed' AND currency = $2 AND created_at >= $3 AND created_at < $4
        GROUP BY failure_code) AS x)
SELECT open.*, ended.*, CASE WHEN ra + ea = 0 THEN NULL ELSE round(ra::numeric / (ra + ea), 4) END, codes.by_code
FROM open, ended, codes
"""
BASELINE_OVERVIEW = """
WITH subs AS (
    SELECT s.status, s.activated_at, s.ended_at, s.ended_reason, p.currency,
        (p.amount - CASE WHEN pc.duration = 'forever' OR (pc.duration = 'repeating' AND s.discount_cycles_remaining > 0)
            THEN div(p.amount * pc.discount_value * 2 + 100, 200) ELSE 0 END)
        * CASE p.interval WHEN 'week' THEN 52 WHEN 'month' THEN 12 WHEN 'year' THEN 1 WHEN 'day' THEN 365
            WHEN 'hour' THEN 8760 WHEN 'quarter' THEN 4 ELSE 2 END / (12.0 * p.interval_count) AS monthly
    FROM sandbox.subscriptions s JOIN sandbox.plans p ON p.tenant_id = s.tenant_id AND p.id = s.plan_id
    LEFT JOIN sandbox.promo_codes pc ON pc.tenant_id = s.tenant_id AND pc.id = s.promo_code_id
    WHERE s.tenant_id = $1),
counts AS (
    SELECT count(*) FILTER (WHERE status = 'active') AS active, count(*) FILTER (WHERE status = 'trialing') AS tr,
        count(*) FILTER (WHERE status = 'past_due') AS pd, count(*) FILTER (WHERE status = 'paused') AS pa,
        count(*) FILTER (WHERE status = 'unpaid') AS un,
        count(*) FILTER (WHERE activated_at <= $2 - interval '30 days'
            AND (ended_at IS NULL OR ended_at > $2 - interval '30 days')) AS base,
        count(*) FILTER (WHERE activated_at <= $2 - interval '30 days' AND ended_at > $2 - interval '30 days'
            AND ended_at <= $2 AND ended_reason IN ('canceled_by_merchant', 'canceled_by_customer')) AS vol,
        count(*) FILTER (WHERE activated_at <= $2 - interval '30 days' AND ended_at > $2 - interval '30 days'
            AND ended_at <= $2 AND ended_reason IN ('dunning_canceled', 'dunning_unpaid')) AS invol
    FROM subs),
mrr AS (
    SELECT currency, round(sum(monthly) FILTER (WHERE status IN ('active', 'past_due'))) AS mrr,
        round(sum(monthly) FILTER (WHERE activated_at > $2 - interval '30 days' AND activated_at <= $2)) AS new_mrr
    FROM subs GROUP BY currency),
sched AS (
    SELECT d.currency,
        sum(d.amount) FILTER (WHERE d.state = 'recovered' AND d.recovered_at > $2 - interval '30 days'
            AND d.recovered_at <= $2) AS recovered,
        sum(i.amount - i.amount_paid) FILTER (WHERE d.state IN ('scheduled', 'in_flight', 'awaiting_customer')) AS risk
    FROM sandbox.dunning_schedules d JOIN sandbox.invoices i ON i.tenant_id = d.tenant_id AND i.id = d.invoice_id
    WHERE d.tenant_id = $1 AND (d.state IN ('scheduled', 'in_flight', 'awaiting_customer')
        OR (d.state = 'recovered' AND d.recovered_at > $2 - interval '30 days'))
    GROUP BY d.currency)
SELECT counts.*,
    CASE WHEN base = 0 THEN NULL ELSE round(vol::numeric / base, 4) END,
    CASE WHEN base = 0 THEN NULL ELSE round(invol::numeric / base, 4) END,
    CASE WHEN base = 0 THEN NULL ELSE round((vol + invol)::numeric / base, 4) END,
    (SELECT jsonb_object_agg(currency, mrr) FROM mrr), (SELECT jsonb_object_agg(currency, new_mrr) FROM mrr),
    (SELECT jsonb_object_agg(currency, recovered) FROM sched), (SELECT jsonb_object_agg(currency, risk) FROM sched)
FROM counts
""".replace("$2", "$2::timestamptz")

Timed = Callable[[], Awaitable[Any]]


async def median_ms(fn: Timed, runs: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        await fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


async def seed(url: str, tenant_id: str, invoices: int) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        started = time.perf_counter()
        subs = max(invoices // 10, TENANTS)
        values = {"$1": tenant_id, "$2": subs, "$3": invoices}
        for sql in SEED:
            # Each statement takes the parameters it names ($2 alone is renumbered to $1).
            used = [name for name in values if name in sql]
            for position, name in enumerate(used, 1):
                sql = sql.replace(name, f"$_{position}")
            await conn.execute(sql.replace("$_", "$"), *(values[name] for name in used))
        counts = {}
        for table in ("subscriptions", "invoices", "transactions", "dunning_schedules"):
            counts[table] = await conn.fetchval(f"SELECT /* unscoped: bench */ count(*) FROM sandbox.{table}")
        mine = await conn.fetchval("SELECT count(*) FROM sandbox.invoices WHERE tenant_id = $1", tenant_id)
        print(
            f"seeded in {time.perf_counter() - started:.1f} s across {TENANTS} tenants: "
            + ", ".join(f"{n:,} {t}" for t, n in counts.items())
            + f"; the measured tenant has {mine:,} invoices",
            flush=True,
        )
    finally:
        await conn.close()


async def run(invoices: int, runs: int) -> None:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        env="development",
        data_dir=DATA_DIR,
        database_url=None,
        secret_key=SECRET_KEY,
        rate_limit_test=1_000_000,
        rate_limit_live=1_000_000,
    )
    url = resolve_database_url(settings, DB_NAME)
    db = Database(url, pool_size=4)
    async with db.engine.begin() as conn:  # the bench database is ours alone: start from empty schemas
        for schema in ("sandbox", "live", "core"):
            await conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    await migrate.upgrade(db.engine)
    made = await provision_tenant(
        db,
        settings,
        SystemClock(),
        name="Bench Analytics",
        owner_email=f"bench-{secrets.token_hex(4)}@example.com",
        owner_password="bench correct horse battery",
    )
    tenant_id, key = made.tenant.id, made.keys["test"]["secret"]
    await seed(url, tenant_id, invoices)

    app = create_app(settings, db=db)
    raw = await asyncpg.connect(asyncpg_dsn(url))
    results: list[tuple[str, float, float, float]] = []
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench", headers={"Authorization": f"Bearer {key}"}
        ) as client:

            async def http(path: str) -> Any:
                response = await client.get(path)
                if response.status_code != 200:
                    raise RuntimeError(f"{path}: {response.status_code} {response.text}")
                return response.json()

            async def in_service(fn: Callable[[RepositoryContext], Awaitable[Any]]) -> Any:
                async with db.reader("test") as conn:
                    ctx = RepositoryContext(
                        conn, tenant_id, "test", SystemClock(), settings, Actor("system", None, "bench")
                    )
                    return await fn(ctx)

            failures = await http("/v1/analytics/failures")
            overview = await http("/v1/analytics/overview")
            print("failures:", failures)
            print("overview:", overview)
            # The baseline uses the endpoint's own default window, [now − 30 days, now).
            window_to = datetime.fromisoformat(failures["to"].replace("Z", "+00:00")).astimezone(UTC)
            window_from = datetime.fromisoformat(failures["from"].replace("Z", "+00:00")).astimezone(UTC)
            base_row = await raw.fetchrow(BASELINE_FAILURES, tenant_id, "NGN", window_from, window_to)
            # Both sides must compute the same figures, or the comparison means nothing.
            if base_row is None or (base_row["n"], base_row["amount"], base_row["ra"], base_row["ea"]) != (
                failures["openSchedules"],
                failures["inFlight"],
                failures["recovered"],
                failures["exhausted"],
            ):
                raise RuntimeError(f"baseline disagrees with the endpoint: {base_row} vs {failures}")

            scenarios: list[tuple[str, Timed, Timed, Timed]] = [
                (
                    "GET /v1/analytics/failures",
                    lambda: http("/v1/analytics/failures"),
                    lambda: in_service(
                        lambda ctx: service.failure_summary(
                            ctx, start=None, end=None, currency=None, test_clock_id=None
                        )
                    ),
                    lambda: raw.fetchrow(BASELINE_FAILURES, tenant_id, "NGN", window_from, window_to),
                ),
                (
                    "GET /v1/analytics/overview",
                    lambda: http("/v1/analytics/overview"),
                    lambda: in_service(lambda ctx: service.overview(ctx, test_clock_id=None)),
                    lambda: raw.fetchrow(BASELINE_OVERVIEW, tenant_id, SystemClock().now()),
                ),
            ]
            for label, stack, svc, base in scenarios:
                results.append(
                    (label, await median_ms(stack, runs), await median_ms(svc, runs), await median_ms(base, runs))
                )
    finally:
        await raw.close()
        await app.state.runtime.close()
        await db.dispose()

    print()
    print("=" * 100)
    print(f"{invoices:,} invoices over {TENANTS} tenants; medians of {runs} runs after 3 warm-ups (ms)")
    print(f"{'endpoint':<30} {'HTTP (ASGI)':>12} {'service':>10} {'baseline':>10} {'HTTP/base':>10} {'svc/base':>9}")
    for label, stack_ms, svc_ms, base_ms in results:
        print(
            f"{label:<30} {stack_ms:>12.2f} {svc_ms:>10.2f} {base_ms:>10.2f} "
            f"{stack_ms / base_ms:>9.2f}x {svc_ms / base_ms:>8.2f}x"
        )
    worst = max(r[1] for r in results)
    print(f"target < {TARGET_MS:.0f} ms per endpoint through the app: {'met' if worst < TARGET_MS else 'NOT met'}")
    print("=" * 100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--invoices", type=int, default=1_000_000, help="invoices in total (default 1,000,000)")
    parser.add_argument("--runs", type=int, default=21, help="timed runs per side (median reported)")
    args = parser.parse_args()
    try:
        asyncio.run(run(args.invoices, args.runs))
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
