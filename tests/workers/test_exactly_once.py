"""Renewal exactly-once (03 §10) with real `duro worker` processes on the real database.

2,000 due subscriptions are seeded with set-based SQL (one tenant, one monthly plan, each customer with a default
simulator card), then renewed by several `duro worker --loops billing` processes at once; one scenario SIGKILLs a
worker in the middle of its work and restarts it, another leaves periods invoiced by a run that crashed after T1.
Whatever happens, every subscription ends with exactly one renewal invoice for its next period, exactly one
succeeded charge (and one simulator ledger entry) for it, and its period advanced by exactly one.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from duro.db.engine import Database
from duro.kit.clock import SystemClock
from duro.runtime import Runtime
from duro.subscriptions.renewal import Charge, begin_renewal
from duro.subscriptions.runner import worker_context
from duro.workers.maintenance import redrive_pending
from tests.cli.process import WorkerFleet, cli_env, duro_argv
from tests.conftest import TenantKeys

pytestmark = pytest.mark.slow

COUNT = 2_000
WAIT_SECONDS = 150.0  # upper bound for any one drain; a healthy run needs a fraction of it
WORKER_ENV = {
    "DURO_WORKER_BATCH": "50",  # small batches: a worker goes through many scans and claims
    "DURO_BILLING_SCAN_SECONDS": "1",
}

# The simulator's always-succeeding visa, stored the way `payment_methods.service.add_test_method` stores it:
# token `sim:<number>`, fingerprint sha256("card:<number>").
CARD = "4242424242424242"

SEED = [
    """INSERT INTO sandbox.plans (id, tenant_id, name, amount, currency, interval, interval_count, trial_days,
           max_cycles, active, metadata, created_at, updated_at)
       VALUES ('plan_00000000000000000000000001', :t, 'Pro Monthly', 500000, 'NGN', 'month', 1, 0,
           NULL, true, '{}', now(), now())""",
    """INSERT INTO sandbox.customers (id, tenant_id, name, default_payment_method_id, created_at, updated_at)
       SELECT 'cus_' || lpad(g::text, 26, '0'), :t, 'Customer ' || g, 'pm_' || lpad(g::text, 26, '0'), now(), now()
       FROM generate_series(1, :n) AS g""",
    """INSERT INTO sandbox.payment_methods (id, tenant_id, customer_id, status, rail, brand, last4, exp_month,
           exp_year, gateway_token, fingerprint, created_at, updated_at)
       SELECT 'pm_' || lpad(g::text, 26, '0'), :t, 'cus_' || lpad(g::text, 26, '0'), 'active', 'card', 'visa',
           '4242', 12, 2099, 'sim:' || :card, encode(sha256(convert_to('card:' || :card, 'UTF8')), 'hex'),
           now(), now()
       FROM generate_series(1, :n) AS g""",
    # The first period started ~40 days ago (one second apart per subscription, so the scan order is defined) and
    # ended a month later, in the past: each subscription is due for exactly one renewal, of the period
    # [anchor + 1 month, anchor + 2 months), whose end is in the future.
    """INSERT INTO sandbox.subscriptions (id, tenant_id, customer_id, plan_id, status, current_period_start,
           current_period_end, billing_anchor, cycles_completed, activated_at, balance, pending_charge, metadata,
           created_at, updated_at)
       SELECT 'sub_' || lpad(g::text, 26, '0'), :t, 'cus_' || lpad(g::text, 26, '0'),
           'plan_00000000000000000000000001', 'active', a, a + interval '1 month', a, 1, a, 0, 0, '{}', a, a
       FROM generate_series(1, :n) AS g,
           LATERAL (SELECT date_trunc('milliseconds', now()) - interval '40 days' - g * interval '1 second') AS x(a)""",
]


async def seed(db: Database, tenant_id: str, n: int) -> None:
    async with db.core_transaction() as conn:
        for sql in SEED:
            await conn.execute(text(sql), {"t": tenant_id, "n": n, "card": CARD})


async def scalar(db: Database, sql: str, tenant_id: str | None) -> int:
    async with db.core_transaction() as conn:
        params = {"t": tenant_id} if tenant_id is not None else None
        return int((await conn.execute(text(sql), params)).scalar_one())


async def renewed(db: Database, tenant_id: str) -> int:
    return await scalar(
        db, "SELECT count(*) FROM sandbox.subscriptions WHERE tenant_id = :t AND cycles_completed >= 2", tenant_id
    )


async def pending(db: Database, tenant_id: str) -> int:
    return await scalar(
        db, "SELECT count(*) FROM sandbox.transactions WHERE tenant_id = :t AND status = 'pending'", tenant_id
    )


async def wait_until(db: Database, tenant_id: str, workers: WorkerFleet, target: int, runtime: Runtime | None) -> None:
    """Poll until `target` subscriptions are renewed (bounded). With a runtime, also re-drive pending charges at
    once (older_than 0), as the maintenance loop does after two minutes: that is what finishes the charges of a
    crashed run, which the billing loop deliberately leaves alone."""
    deadline = time.monotonic() + WAIT_SECONDS
    while (done := await renewed(db, tenant_id)) < target:
        workers.check_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"only {done} of {target} renewed after {WAIT_SECONDS:.0f} s:\n{workers.logs()}")
        if runtime is not None:
            await redrive_pending(runtime, "test", timedelta(0))
        await asyncio.sleep(0.2)


async def assert_renewed_exactly_once(db: Database, tenant_id: str, n: int) -> None:
    checks = {
        # Every subscription advanced by exactly one period: the one after the seeded period, no more, no less.
        "advanced once": """SELECT count(*) FROM sandbox.subscriptions WHERE tenant_id = :t AND status = 'active'
            AND cycles_completed = 2 AND current_period_start = billing_anchor + interval '1 month'
            AND current_period_end = billing_anchor + interval '2 months'""",
        "renewal invoices": "SELECT count(*) FROM sandbox.invoices WHERE tenant_id = :t AND kind = 'renewal'",
        # ...each for the period that followed its subscription's old period end, and paid.
        "invoices of the right period, paid": """SELECT count(*) FROM sandbox.invoices i
            JOIN sandbox.subscriptions s ON s.tenant_id = i.tenant_id AND s.id = i.subscription_id
            WHERE i.tenant_id = :t AND i.kind = 'renewal' AND i.status = 'paid' AND i.amount_paid = 500000
            AND i.period_start = s.billing_anchor + interval '1 month'
            AND i.period_end = s.current_period_end AND s.latest_invoice_id = i.id""",
        "subscriptions with one invoice": """SELECT count(*) FROM (SELECT subscription_id FROM sandbox.invoices
            WHERE tenant_id = :t AND kind = 'renewal' GROUP BY subscription_id HAVING count(*) = 1) AS x""",
        "succeeded renewal charges": """SELECT count(*) FROM sandbox.transactions
            WHERE tenant_id = :t AND source = 'renewal' AND status = 'succeeded'""",
        "invoices with one succeeded charge": """SELECT count(*) FROM sandbox.invoices i WHERE i.tenant_id = :t
            AND i.kind = 'renewal' AND (SELECT count(*) FROM sandbox.transactions x WHERE x.tenant_id = :t
            AND x.invoice_id = i.id AND x.status = 'succeeded') = 1""",
        # One gateway call per charge: the simulator's ledger holds exactly the renewal transactions.
        "gateway charges": """SELECT count(*) FROM sandbox.sim_charges c WHERE c.kind = 'charge'
            AND c.reference IN (SELECT id FROM sandbox.transactions WHERE tenant_id = :t AND source = 'renewal')""",
        **{
            f"{kind} events": f"SELECT count(*) FROM sandbox.events WHERE tenant_id = :t AND type = '{kind}'"
            for kind in ("invoice_created", "invoice_paid", "subscription_payment_success")
        },
    }
    found = {name: await scalar(db, sql, tenant_id) for name, sql in checks.items()}
    assert found == dict.fromkeys(checks, n)
    others = """SELECT count(*) FROM sandbox.transactions WHERE tenant_id = :t AND status <> 'succeeded'"""
    assert await scalar(db, others, tenant_id) == 0  # nothing left pending, nothing failed
    ledger = "SELECT count(*) FROM sandbox.sim_charges"  # no gateway call outside the renewal transactions
    assert await scalar(db, ledger, None) == n


@pytest.fixture
def workers(tmp_path: Path) -> Any:
    w = WorkerFleet(tmp_path, "billing", **WORKER_ENV)
    try:
        yield w
    finally:
        w.stop_all()


async def test_four_worker_processes_renew_each_due_subscription_once(
    db: Database, tenant: TenantKeys, workers: WorkerFleet
) -> None:
    await seed(db, tenant.id, COUNT)
    workers.start(4)
    await wait_until(db, tenant.id, workers, COUNT, None)
    workers.stop_all()
    await assert_renewed_exactly_once(db, tenant.id, COUNT)


async def test_sigkilled_worker_and_crashed_first_steps_leave_no_duplicate_and_no_gap(
    db: Database, tenant: TenantKeys, workers: WorkerFleet, app: Any
) -> None:
    await seed(db, tenant.id, COUNT)
    runtime: Runtime = app.state.runtime
    # A run that crashed after T1: the 20 most overdue periods are invoiced, their charges `pending`, nothing
    # more. They sit at the head of every scan; the billing loop must neither invoice nor charge them again.
    crashed = [f"sub_{g:026d}" for g in range(COUNT, COUNT - 20, -1)]
    for sub_id in crashed:
        async with db.transaction("test") as conn:
            step = await begin_renewal(worker_context(runtime, conn, tenant.id, "test"), sub_id, SystemClock().now())
        assert isinstance(step, Charge)

    # SIGKILL a worker while it is renewing, until a kill lands between T1 and T2 of some renewals (pending
    # charges beyond the 20 above). The victim's gateway answers after 300 ms, as a real processor would, so most
    # of its time is spent with charges in flight and the first kill almost always lands there.
    killed_mid_charge = False
    for attempt in range(5):
        (victim,) = workers.start(1, DURO_SIMULATOR_LATENCY_MS="300")
        baseline = await renewed(db, tenant.id)
        deadline = time.monotonic() + WAIT_SECONDS
        while await renewed(db, tenant.id) < baseline + 150:
            workers.check_alive()
            assert time.monotonic() < deadline, workers.logs()
            await asyncio.sleep(0.05)
        # The count moves when a batch's T2 commits; the next batch's T1 then commits within tens of
        # milliseconds and its charges wait 300 ms at the gateway: kill in that wait, not right after a T2.
        await asyncio.sleep(0.15 + 0.05 * attempt)
        workers.kill(victim)
        if await pending(db, tenant.id) > len(crashed):
            killed_mid_charge = True
            break
    assert killed_mid_charge, "no kill landed between the two steps of a renewal"
    assert await renewed(db, tenant.id) < COUNT

    # Restart: two workers plus crash recovery (pending charges re-driven at once instead of after 2 minutes).
    workers.start(2)
    await wait_until(db, tenant.id, workers, COUNT, runtime)
    workers.stop_all()
    await redrive_pending(runtime, "test", timedelta(0))  # anything a stopped worker left between its steps
    await assert_renewed_exactly_once(db, tenant.id, COUNT)


async def test_period_invoiced_by_a_crashed_run_is_charged_once(
    db: Database, tenant: TenantKeys, tmp_path: Path, app: Any
) -> None:
    await seed(db, tenant.id, 3)
    runtime: Runtime = app.state.runtime
    sub_id = f"sub_{1:026d}"
    async with db.transaction("test") as conn:  # T1 commits; the run dies before calling the gateway
        step = await begin_renewal(worker_context(runtime, conn, tenant.id, "test"), sub_id, SystemClock().now())
    assert isinstance(step, Charge)
    for _ in range(2):  # `duro worker --once` twice: the invoiced period is left alone, the others renew
        done = await asyncio.to_thread(
            subprocess.run,
            [*duro_argv(), "worker", "--loops", "billing", "--once"],
            env=cli_env(tmp_path, **WORKER_ENV),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    assert await renewed(db, tenant.id) == 2
    assert await pending(db, tenant.id) == 1
    assert await redrive_pending(runtime, "test", timedelta(0)) == 1
    assert await redrive_pending(runtime, "test", timedelta(0)) == 0
    await assert_renewed_exactly_once(db, tenant.id, 3)
