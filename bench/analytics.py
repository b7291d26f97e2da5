"""Analytics endpoints and the dashboard's heaviest pages on a large data set vs. hand-written SQL (see
bench/README.md).

Run with `make bench-analytics` (or `python bench/analytics.py --invoices N`). On the embedded PostgreSQL under
`.duro/bench`, database `duro_bench_analytics` (schemas dropped and re-migrated every run):

1. 100 tenants (one provisioned for real, with API keys; 99 more as bare `core.tenants` rows) and, spread evenly
   over them in test mode, INVOICES invoices (default 1,000,000), one transaction and one event per invoice
   (10 % failed), INVOICES / 10 subscriptions and as many customers (mixed statuses, churn reasons, promo codes,
   NGN and USD plans), a dunning schedule for every 20th invoice (scheduled, awaiting_customer, recovered,
   exhausted, canceled; rail, failure code, next attempt) and 90 daily metrics snapshots per tenant, all loaded
   set-based with generate_series, then ANALYZE.
2. For the provisioned tenant: `GET /v1/analytics/failures` (30-day default window) and
   `GET /v1/analytics/overview` through the real ASGI app (httpx ASGITransport, in process, with the tenant's
   secret key: credential check, routing, the service, rendering), the service functions alone, and a baseline:
   one hand-written SQL statement per endpoint computing the same figures, run directly over asyncpg.
3. The dashboard's overview (`GET /dashboard`) and recovery ledger (`GET /dashboard/recovery`) through the same
   app with the owner's `duro_session` cookie (session lookup, layout hooks, every read, Jinja + SVG rendering),
   the pages' reads alone (the same service calls, no HTTP, no session, no rendering), and a baseline: the page's
   figures by hand-written statements over asyncpg, run one after another (6 for the overview, 3 for the ledger).

Each is warmed up, then timed RUNS times; medians are reported, and ratio = stack ÷ baseline.
Targets: < 200 ms per analytics endpoint and < 300 ms per dashboard page through the app.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import select, text, update

from duro.analytics import service
from duro.analytics.snapshots import read_snapshots
from duro.app import create_app
from duro.config import Settings
from duro.context import Actor, RepositoryContext
from duro.dashboard.screens.overview import LATEST_EVENTS, MRR_DAYS
from duro.dashboard.screens.overview_queries import WEEKS, checklist, recovery_weeks
from duro.dashboard.screens.recovery import PAGE_SIZE as LEDGER_PAGE
from duro.dashboard.sessions import SESSION_COOKIE, SessionStore
from duro.db import migrate
from duro.db.engine import Database, asyncpg_dsn, resolve_database_url
from duro.events import service as events
from duro.kit.clock import SystemClock
from duro.kit.pagination import PageRequest
from duro.models.core import members
from duro.recovery import service as recovery
from duro.tenants.service import provision_tenant

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / ".duro" / "bench"
DB_NAME = "duro_bench_analytics"
SECRET_KEY = "bench-secret-key-that-is-long-enough-0123456789"
TENANTS = 100
TARGET_MS = 200.0  # per /v1/analytics endpoint
PAGE_TARGET_MS = 300.0  # per dashboard page

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
    # The ledger shows each schedule's rail, last failure code and next attempt (scheduled ones only).
    """INSERT INTO sandbox.dunning_schedules (id, tenant_id, invoice_id, subscription_id, customer_id, state, amount,
        currency, attempts_made, max_attempts, next_attempt_at, rail, last_failure_code, last_failure_category,
        started_at, escalation_at, recovered_at, exhausted_at, created_at, updated_at)
    SELECT 'dun_' || substr(i.id, 5), i.tenant_id, i.id, i.subscription_id, i.customer_id,
        (ARRAY['scheduled', 'awaiting_customer', 'recovered', 'exhausted', 'canceled'])[st + 1], i.amount, i.currency,
        1 + h % 3, 4, CASE WHEN st = 0 THEN now() + (h % 72) * interval '1 hour' END,
        (ARRAY['card', 'transfer', 'ussd'])[h % 3 + 1],
        (ARRAY['insufficient_funds', 'expired_card', 'do_not_honor', 'processor_error', 'timeout'])[h / 3 % 5 + 1],
        'soft', i.created_at, i.created_at + interval '14 days',
        CASE WHEN st = 2 THEN i.created_at + interval '2 days' END,
        CASE WHEN st = 3 THEN i.created_at + interval '14 days' END,
        i.created_at, i.created_at
    FROM sandbox.invoices i
    CROSS JOIN LATERAL (SELECT abs(hashtext('d' || i.id)) % 5 AS st, abs(hashtext('r' || i.id)::bigint) AS h) AS x
    WHERE i.tenant_id IS NOT NULL AND i.status = 'open'""",
    # One customer per subscription (the ledger shows names), one event per invoice (the overview's latest events;
    # dispatched, like a tenant's history) and 90 daily metrics snapshots per tenant (the overview's MRR chart).
    """INSERT INTO sandbox.customers (id, tenant_id, email, phone, name, created_at, updated_at)
    SELECT 'cus_' || lpad(s::text, 26, '0'), t.id, 'customer' || s || '@example.com',
        '+23480' || lpad(s::text, 8, '0'), 'Customer ' || s, now() - interval '400 days', now()
    FROM generate_series(1, $2::int) AS s JOIN bench_tenants t ON t.k = s % 100""",
    """INSERT INTO sandbox.events (id, tenant_id, type, data, dispatched_at, created_at)
    SELECT 'evt_' || substr(i.id, 5), i.tenant_id,
        CASE WHEN i.status = 'paid' THEN 'invoice_paid' ELSE 'subscription_payment_failed' END,
        jsonb_build_object('object', jsonb_build_object('id', i.id, 'object', 'invoice', 'status', i.status,
            'amount', i.amount, 'currency', i.currency, 'subscriptionId', i.subscription_id)),
        i.created_at, i.created_at
    FROM sandbox.invoices i WHERE i.tenant_id IS NOT NULL""",
    """INSERT INTO sandbox.metrics_snapshots (tenant_id, day, mrr, active_subscriptions, trialing, past_due, paused,
        unpaid, created_at)
    SELECT t.id, current_date - d, jsonb_build_object('NGN', 250000000 - d * 400000, 'USD', 1500000 - d * 3000),
        700 - d, 50, 70, 50, 50, now() - d * interval '1 day'
    FROM bench_tenants t, generate_series(0, 89) AS d""",
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

# --- the dashboard pages' baselines: the figures each page shows, one hand-written statement per figure group ---

# The overview (GET /dashboard) = BASELINE_OVERVIEW (KPI cards) + BASELINE_FAILURES (money at risk → recovered, the
# recovery rate) + these four.
BASELINE_SNAPSHOTS = """
SELECT day, mrr, active_subscriptions, trialing, past_due, paused, unpaid FROM sandbox.metrics_snapshots
WHERE tenant_id = $1 AND day >= $2 ORDER BY day
"""
BASELINE_WEEKS = """
SELECT currency, kind, week, sum(amount) AS amount FROM (
    SELECT currency, 'entered' AS kind, floor(extract(epoch FROM $2 - started_at) / 604800)::int AS week, amount
    FROM sandbox.dunning_schedules
    WHERE tenant_id = $1 AND started_at > $2 - interval '84 days' AND started_at <= $2
    UNION ALL
    SELECT currency, 'recovered', floor(extract(epoch FROM $2 - recovered_at) / 604800)::int, amount
    FROM sandbox.dunning_schedules
    WHERE tenant_id = $1 AND state = 'recovered' AND recovered_at > $2 - interval '84 days' AND recovered_at <= $2
) AS moves GROUP BY currency, kind, week ORDER BY currency, week
""".replace("$2", "$2::timestamptz")
BASELINE_EVENTS = """
SELECT id, type, data, created_at FROM sandbox.events WHERE tenant_id = $1 AND created_at >= $2
ORDER BY created_at DESC, id DESC LIMIT 11
"""
# The onboarding checklist's facts of both modes and the tenant row in one statement (the page needs three).
BASELINE_SETUP = """
SELECT EXISTS (SELECT FROM sandbox.api_keys WHERE tenant_id = $1 AND kind = 'secret' AND revoked_at IS NULL) AS keys,
    EXISTS (SELECT FROM sandbox.plans WHERE tenant_id = $1) OR EXISTS (SELECT FROM live.plans WHERE tenant_id = $1)
        AS plans,
    EXISTS (SELECT FROM sandbox.webhook_endpoints WHERE tenant_id = $1)
        OR EXISTS (SELECT FROM live.webhook_endpoints WHERE tenant_id = $1) AS endpoints,
    support_email, kyc_status
FROM core.tenants WHERE id = $1
"""
# The recovery ledger (GET /dashboard/recovery) = BASELINE_FAILURES over the 30-day window + these two.
BASELINE_LEDGER = """
SELECT * FROM sandbox.dunning_schedules WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC LIMIT 21
"""
BASELINE_LABELS = """
SELECT s.id AS subscription_id, s.status, s.test_clock_id, c.name, c.email, c.phone, p.name AS plan_name,
    tc.frozen_time
FROM sandbox.subscriptions s
JOIN sandbox.customers c ON c.tenant_id = s.tenant_id AND c.id = s.customer_id
JOIN sandbox.plans p ON p.tenant_id = s.tenant_id AND p.id = s.plan_id
LEFT JOIN sandbox.test_clocks tc ON tc.tenant_id = s.tenant_id AND tc.id = s.test_clock_id
WHERE s.tenant_id = $1 AND s.id = ANY($2::text[])
"""

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


def load_text() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


async def dashboard_session(db: Database, tenant_id: str) -> str:
    """A signed-in owner, as tests/dashboard/conftest.py `dash_as` makes one: TOTP enabled (or the session would
    be moved to `enrolment_required`) and an `active` session row; returns the `duro_session` cookie value."""
    async with db.core_transaction() as conn:
        owner = (
            await conn.execute(select(members.c.id).where(members.c.tenant_id == tenant_id, members.c.role == "owner"))
        ).scalar_one()
        now = SystemClock().now()
        await conn.execute(
            update(members).where(members.c.id == owner).values(totp_secret_enc=b"x", totp_enabled_at=now)
        )
        return await SessionStore(conn).create(
            member_id=owner, tenant_id=tenant_id, state="active", now=now, ip=None, user_agent=None
        )


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
    load_start = load_text()
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

    cookie = await dashboard_session(db, tenant_id)

    app = create_app(settings, db=db)
    raw = await asyncpg.connect(asyncpg_dsn(url))
    results: list[tuple[str, float, float, float]] = []
    statements: dict[str, tuple[int, int]] = {}
    try:
        async with (
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://bench",
                headers={"Authorization": f"Bearer {key}"},
            ) as client,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://bench", cookies={SESSION_COOKIE: cookie}
            ) as browser,
        ):

            async def http(path: str) -> Any:
                response = await client.get(path)
                if response.status_code != 200:
                    raise RuntimeError(f"{path}: {response.status_code} {response.text}")
                return response.json()

            async def page(path: str) -> str:
                response = await browser.get(path)
                if response.status_code != 200:
                    raise RuntimeError(f"{path}: {response.status_code} {response.headers} {response.text[:500]}")
                return response.text

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

            # --- the dashboard pages: the page's reads alone (service) and the hand-written statements (baseline) ---

            async def overview_reads() -> Any:
                # The overview's reads in its order, each on its own pooled reader connection as `call.read` does.
                await in_service(lambda ctx: service.overview(ctx, test_clock_id=None))
                await in_service(
                    lambda ctx: service.failure_summary(ctx, start=None, end=None, currency=None, test_clock_id=None)
                )
                await in_service(lambda ctx: read_snapshots(ctx, MRR_DAYS))
                await in_service(recovery_weeks)
                await in_service(lambda ctx: events.list_events(ctx, PageRequest(LATEST_EVENTS), None, None, None))
                return await checklist(app.state.runtime, tenant_id)

            async def overview_baseline() -> list[Any]:
                now = SystemClock().now()
                return [
                    await raw.fetchrow(BASELINE_OVERVIEW, tenant_id, now),
                    await raw.fetchrow(BASELINE_FAILURES, tenant_id, "NGN", now - timedelta(days=30), now),
                    await raw.fetch(BASELINE_SNAPSHOTS, tenant_id, now.date() - timedelta(days=MRR_DAYS - 1)),
                    await raw.fetch(BASELINE_WEEKS, tenant_id, now),
                    await raw.fetch(BASELINE_EVENTS, tenant_id, now - timedelta(days=settings.event_retention_days)),
                    await raw.fetchrow(BASELINE_SETUP, tenant_id),
                ]

            async def ledger_reads(ctx: RepositoryContext) -> Any:
                # What the ledger's `load` reads, on one reader connection (default filters: none, 30-day window).
                now = ctx.clock.now()
                await service.failure_summary(
                    ctx, start=now - timedelta(days=30), end=now, currency=None, test_clock_id=None
                )
                schedules = await recovery.list_schedules(ctx, PageRequest(limit=LEDGER_PAGE))
                await recovery.ledger_labels(ctx, [i["subscriptionId"] for i in schedules["items"]])
                return schedules

            async def ledger_baseline() -> list[Any]:
                now = SystemClock().now()
                rows = await raw.fetch(BASELINE_LEDGER, tenant_id)
                return [
                    await raw.fetchrow(BASELINE_FAILURES, tenant_id, "NGN", now - timedelta(days=30), now),
                    rows,
                    await raw.fetch(BASELINE_LABELS, tenant_id, sorted({r["subscription_id"] for r in rows[:20]})),
                ]

            # The pages show what the baselines compute: the latest week's sums, the ledger's first schedule and
            # its customer's name are on the page.
            home, ledger_html = await page("/dashboard"), await page("/dashboard/recovery")
            figures = await overview_baseline()
            ledger_rows = await ledger_baseline()
            first = ledger_rows[1][0]
            label = next(r for r in ledger_rows[2] if r["subscription_id"] == first["subscription_id"])
            for needle, html, where in (
                ("MRR (NGN)", home, "/dashboard"),
                (first["id"], ledger_html, "/dashboard/recovery"),
                (label["name"], ledger_html, "/dashboard/recovery"),
            ):
                if needle not in html:
                    raise RuntimeError(f"{where} does not show {needle!r}")
            if len(figures[2]) != MRR_DAYS or len(figures[4]) != LATEST_EVENTS + 1:
                raise RuntimeError(f"seed too small: {len(figures[2])} snapshots, {len(figures[4])} events")
            weeks = await in_service(recovery_weeks)
            expected = {
                (r["currency"], r["kind"], r["week"]): int(r["amount"]) for r in figures[3] if r["week"] < WEEKS
            }
            got = {
                (cur, kind, WEEKS - 1 - i): amount
                for cur, rows in weeks.items()
                for i, (_label, entered, recovered) in enumerate(rows)
                for kind, amount in (("entered", entered), ("recovered", recovered))
                if amount
            }
            if got != expected:
                raise RuntimeError(f"weekly baseline disagrees with the overview: {expected} vs {got}")

            seen: list[str] = []
            db.statement_hooks.append(seen.append)
            for path, base_count in (("/dashboard", len(figures)), ("/dashboard/recovery", len(ledger_rows))):
                seen.clear()
                await page(path)
                statements[f"GET {path}"] = (len(seen), base_count)
            db.statement_hooks.remove(seen.append)

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
                ("GET /dashboard", lambda: page("/dashboard"), overview_reads, overview_baseline),
                (
                    "GET /dashboard/recovery",
                    lambda: page("/dashboard/recovery"),
                    lambda: in_service(ledger_reads),
                    ledger_baseline,
                ),
            ]
            for label_, stack, svc, base in scenarios:
                results.append(
                    (label_, await median_ms(stack, runs), await median_ms(svc, runs), await median_ms(base, runs))
                )
    finally:
        await raw.close()
        await app.state.runtime.close()
        await db.dispose()

    print()
    print("=" * 100)
    print(f"{invoices:,} invoices over {TENANTS} tenants; medians of {runs} runs after 3 warm-ups (ms)")
    print(f"load average at the start {load_start}, at the end {load_text()}")
    print(f"{'endpoint':<30} {'HTTP (ASGI)':>12} {'service':>10} {'baseline':>10} {'HTTP/base':>10} {'svc/base':>9}")
    for label_, stack_ms, svc_ms, base_ms in results:
        print(
            f"{label_:<30} {stack_ms:>12.2f} {svc_ms:>10.2f} {base_ms:>10.2f} "
            f"{stack_ms / base_ms:>9.2f}x {svc_ms / base_ms:>8.2f}x"
        )
    for label_, (app_count, base_count) in statements.items():
        print(f"{label_}: {app_count} statements per request through the app, {base_count} in the baseline")
    api = [r[1] for r in results if r[0].startswith("GET /v1/")]
    pages = [r[1] for r in results if not r[0].startswith("GET /v1/")]
    print(f"target < {TARGET_MS:.0f} ms per endpoint through the app: {'met' if max(api) < TARGET_MS else 'NOT met'}")
    print(
        f"target < {PAGE_TARGET_MS:.0f} ms per dashboard page through the app: "
        f"{'met' if max(pages) < PAGE_TARGET_MS else 'NOT met'}"
    )
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
