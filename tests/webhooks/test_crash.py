"""Webhook delivery survives SIGKILLed workers (05 §5, ARCHITECTURE §4 "crash tests for everything that sends
webhooks"), with real `duro worker --loops webhooks` processes on the real database and a real HTTP receiver.

5,000 `customer_created` events of one tenant (sandbox) fan out to its 3 endpoints: 15,000 deliveries. A worker is
SIGKILLed several times while deliveries are in flight and restarted each time. A kill between the claim and the
record leaves deliveries leased (60 s, `delivery.LEASE`); when the lease runs out another worker sends them again.
Whatever happens: exactly one delivery per (event, endpoint), every one `delivered`, and the receiver saw every
(event, endpoint) at least once — duplicates are allowed (at-least-once, 05 §4), gaps are not.

The receiver is an aiohttp server in this test's event loop: it keeps answering while workers die because the test
only ever awaits (database polls, `asyncio.sleep`) while it waits.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import text

from duro.db.engine import Database
from duro.kit.ids import new_id
from duro.runtime import Runtime
from duro.webhooks.endpoints import create_endpoint
from tests.cli.process import SECRET_KEY, WorkerFleet
from tests.conftest import TenantKeys, make_settings
from tests.webhooks.harness import ctx_factory

pytestmark = pytest.mark.slow

EVENTS = 5_000
PATHS = ("/hooks/a", "/hooks/b", "/hooks/c")
DELIVERIES = EVENTS * len(PATHS)
KILLS = 4
KILL_EVERY = 400  # deliveries recorded by a (re)started worker before it is killed
# A stranded lease runs out after 60 s (`delivery.LEASE`), so the last kill plus a minute bounds a healthy run.
WAIT_SECONDS = 150.0
WORKER_ENV = {
    # The documented development switch (05 §8): sandbox endpoints may target http://127.0.0.1 on any port.
    "DURO_ENV": "development",
    "DURO_WEBHOOK_ALLOW_INSECURE_TEST": "true",
    "DURO_WEBHOOK_POLL_SECONDS": "1",
    "DURO_WORKER_BATCH": "200",
}


@dataclass
class CountingReceiver:
    """Answers 200 to every POST and counts (event id, path); `mismatched` holds requests whose `Duro-Event-Id`
    header is not the body's event id, or whose body is not an event of the expected tenant and mode."""

    tenant_id: str = ""
    base_url: str = ""
    seen: Counter[tuple[str, str]] = field(default_factory=Counter)
    mismatched: list[str] = field(default_factory=list)


@pytest.fixture
async def counting_receiver(tenant: TenantKeys) -> AsyncIterator[CountingReceiver]:
    state = CountingReceiver(tenant_id=tenant.id)

    async def handle(request: web.Request) -> web.Response:
        event = json.loads(await request.read())
        if (
            request.headers.get("Duro-Event-Id") != event["id"]
            or event["tenantId"] != state.tenant_id
            or event["livemode"] is not False
            or event["type"] != "customer_created"
        ):
            state.mismatched.append(f"{request.path} {dict(request.headers)} {event}")
        state.seen[(event["id"], request.path)] += 1
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.base_url = f"http://127.0.0.1:{port}"
    yield state
    await runner.cleanup()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[WorkerFleet]:
    w = WorkerFleet(tmp_path, "webhooks", **WORKER_ENV)
    try:
        yield w
    finally:
        w.stop_all()


@pytest.fixture
async def dev_runtime(db: Database) -> AsyncIterator[Runtime]:
    """The workers' settings in-process (their secret key seals the endpoint secrets they sign with; endpoints on
    127.0.0.1 pass the save-time guard in sandbox)."""
    settings = make_settings(env="development", webhook_allow_insecure_test=True, secret_key=SECRET_KEY)
    rt = Runtime(settings, db)
    yield rt
    await rt.close()


async def insert_events(db: Database, tenant_id: str, n: int) -> list[str]:
    """`n` undispatched `customer_created` events in one statement, shaped as the customers service writes them."""
    rows = []
    for i in range(n):
        customer = {"object": "customer", "id": new_id("cus"), "name": f"Customer {i}", "metadata": {}}
        rows.append({"id": new_id("evt"), "data": {"object": customer}})
    async with db.transaction("test") as conn:
        await conn.execute(
            text(
                """INSERT INTO sandbox.events (id, tenant_id, type, data, created_at)
                   SELECT x.id, :t, 'customer_created', x.data, now()
                   FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS x(id text, data jsonb)"""
            ),
            {"t": tenant_id, "rows": rows},
        )
    return [r["id"] for r in rows]


async def scalar(db: Database, sql: str, tenant_id: str) -> int:
    async with db.core_transaction() as conn:
        return int((await conn.execute(text(sql), {"t": tenant_id})).scalar_one())


async def delivered(db: Database, tenant_id: str) -> int:
    sql = "SELECT count(*) FROM sandbox.webhook_deliveries WHERE tenant_id = :t AND status = 'delivered'"
    return await scalar(db, sql, tenant_id)


async def stranded(db: Database, tenant_id: str) -> int:
    """Deliveries still pending under a lease: after a SIGKILL, the ones the dead worker had claimed."""
    sql = """SELECT count(*) FROM sandbox.webhook_deliveries
             WHERE tenant_id = :t AND status = 'pending' AND lease_until > now()"""
    return await scalar(db, sql, tenant_id)


async def test_sigkilled_webhook_workers_deliver_every_event_to_every_endpoint_once_recorded(
    db: Database,
    tenant: TenantKeys,
    dev_runtime: Runtime,
    counting_receiver: CountingReceiver,
    workers: WorkerFleet,
) -> None:
    make = ctx_factory(dev_runtime, tenant.id)
    endpoint_path: dict[str, str] = {}
    for path in PATHS:
        async with db.transaction("test") as conn:
            made = await create_endpoint(make(conn), url=counting_receiver.base_url + path)
        endpoint_path[made.endpoint["id"]] = path
    event_ids = await insert_events(db, tenant.id, EVENTS)

    started = time.monotonic()
    deadline = started + WAIT_SECONDS

    async def wait_for(target: int) -> int:
        while (done := await delivered(db, tenant.id)) < target:
            workers.check_alive()
            if time.monotonic() > deadline:
                raise AssertionError(f"only {done} of {target} delivered after {WAIT_SECONDS:.0f} s:\n{workers.logs()}")
            await asyncio.sleep(0.05)
        return done

    # SIGKILL the worker each time it has recorded another KILL_EVERY deliveries: it is then in the middle of a
    # claimed batch, with requests in flight and the rest of the batch leased. Restart it at once.
    (victim,) = workers.start()
    stranded_by_kill = []
    for _ in range(KILLS):
        baseline = await delivered(db, tenant.id)
        await wait_for(baseline + KILL_EVERY)
        workers.kill(victim)
        stranded_by_kill.append(await stranded(db, tenant.id))
        (victim,) = workers.start()
    last_kill = time.monotonic() - started
    assert await delivered(db, tenant.id) < DELIVERIES, "every delivery was done before the last kill"
    assert any(stranded_by_kill), f"no kill left a delivery leased: {stranded_by_kill}"

    # The survivor finishes, including what the dead ones had leased once their leases run out.
    await wait_for(DELIVERIES)
    elapsed = time.monotonic() - started
    workers.stop_all()

    async with db.core_transaction() as conn:
        rows = (
            await conn.execute(
                text(
                    """SELECT d.event_id, d.endpoint_id, d.status, d.attempt_count,
                              (SELECT count(*) FROM sandbox.webhook_attempts a
                               WHERE a.tenant_id = d.tenant_id AND a.delivery_id = d.id) AS attempts,
                              (SELECT a.response_status FROM sandbox.webhook_attempts a
                               WHERE a.tenant_id = d.tenant_id AND a.delivery_id = d.id
                               ORDER BY a.attempt_number DESC LIMIT 1) AS last_status
                       FROM sandbox.webhook_deliveries d WHERE d.tenant_id = :t"""
                ),
                {"t": tenant.id},
            )
        ).all()
        undispatched = (
            await conn.execute(
                text("SELECT count(*) FROM sandbox.events WHERE tenant_id = :t AND dispatched_at IS NULL"),
                {"t": tenant.id},
            )
        ).scalar_one()

    # Exactly one delivery per (event, endpoint): 15,000 rows, no pair twice, none missing.
    pairs = [(r[0], r[1]) for r in rows]
    expected = {(event_id, endpoint_id) for event_id in event_ids for endpoint_id in endpoint_path}
    assert len(pairs) == DELIVERIES
    assert set(pairs) == expected
    assert undispatched == 0
    # All delivered, each with its attempts recorded and the last one answered 200.
    assert Counter(r[2] for r in rows) == {"delivered": DELIVERIES}
    assert all(r[3] == r[4] >= 1 and r[5] == 200 for r in rows)

    # The receiver saw every (event, endpoint) at least once and nothing else; repeats are the re-sends of leases
    # that died with a worker. Every recorded attempt was a request it answered.
    assert counting_receiver.mismatched == []
    seen = counting_receiver.seen
    assert set(seen) == {(event_id, path) for event_id in event_ids for path in PATHS}
    assert sum(seen.values()) >= sum(r[4] for r in rows)
    repeats = sum(seen.values()) - len(seen)
    print(
        f"\n{DELIVERIES} deliveries in {elapsed:.1f} s; {KILLS} kills, the last at {last_kill:.1f} s; "
        f"leased by dead workers after each kill: {stranded_by_kill}; {repeats} requests repeated"
    )
