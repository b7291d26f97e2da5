"""The webhooks loop (05 §5, 01 §12): fan-out of undispatched events, then due deliveries, over both modes.

Many deliveries are in flight per worker (one connection pool per destination in the egress client), bounded per
endpoint so one slow merchant cannot take every slot: a slow endpoint holds at most `PER_ENDPOINT` of them.

A round claims a batch (60 s leases, committed), reads it with one query (`prepare_many`: each event's body built
once, each endpoint's secrets decrypted once per tick), then signs and POSTs each delivery with no transaction open.
Finished attempts go to a recorder that commits whatever has finished since its last commit in one transaction
(`record_many`), so the database sees a few statements per group of attempts instead of six per attempt. The next
batch is claimed as soon as every delivery of the current one has started, so the tail of one batch overlaps the
head of the next.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Final

from duro.db.engine import MODES, Mode
from duro.kit.egress import EgressPolicy
from duro.runtime import Runtime
from duro.subscriptions.runner import worker_context
from duro.webhooks.delivery import (
    Prepared,
    SecretCache,
    Sent,
    claim_due,
    fail_unsendable,
    prepare_many,
    send_with_policy,
)
from duro.webhooks.fanout import fan_out
from duro.webhooks.runner import record_many

log = logging.getLogger(__name__)

PER_ENDPOINT: Final = 4
IN_FLIGHT: Final = 32
ROUNDS: Final = 20  # batches per mode and tick while the scans come back full


async def webhooks_tick(runtime: Runtime, modes: tuple[Mode, ...] = MODES) -> int:
    done = 0
    for mode in modes:
        done += await _fan_out(runtime, mode)
        done += await _deliver(runtime, mode)
    return done


async def _fan_out(runtime: Runtime, mode: Mode) -> int:
    batch = runtime.settings.worker_batch
    total = 0
    for _ in range(ROUNDS):
        async with runtime.db.transaction(mode) as conn:
            events, _created = await fan_out(conn, runtime.clock.now(), batch)
        total += events
        if events < batch:
            break
    return total


class _Recorder:
    """Group commit: attempts finished while a commit runs are recorded together by the next one."""

    def __init__(self, runtime: Runtime, mode: Mode) -> None:
        self._runtime = runtime
        self._mode = mode
        self._queue: list[Sent] = []
        self._wake = asyncio.Event()
        self._closing = False
        self.recorded = 0
        self._task = asyncio.create_task(self._run())

    def add(self, sent: Sent) -> None:
        self._queue.append(sent)
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch, self._queue = self._queue, []
                self.recorded += await record_many(self._runtime, self._mode, batch)
            if self._closing:
                return

    async def close(self) -> int:
        self._closing = True
        self._wake.set()
        await self._task
        return self.recorded


async def _deliver(runtime: Runtime, mode: Mode) -> int:
    batch = runtime.settings.worker_batch
    policy = EgressPolicy.for_mode(runtime.settings, mode)
    root = runtime.settings.root_secret
    gate = asyncio.Semaphore(IN_FLIGHT)
    per_endpoint: defaultdict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(PER_ENDPOINT))
    secrets: SecretCache = {}
    recorder = _Recorder(runtime, mode)
    tasks: set[asyncio.Task[None]] = set()
    unsendable = 0

    async def one(tenant_id: str, p: Prepared, replay: bool, admitted: asyncio.Event, left: list[int]) -> None:
        async with per_endpoint[p.endpoint_id], gate:
            left[0] -= 1
            if not left[0]:
                admitted.set()
            try:
                started = runtime.clock.now()
                headers, result = await send_with_policy(p, started, policy)
            except Exception:
                # The lease expires and a later tick tries again; the attempt was not recorded.
                log.exception("webhook delivery %s failed", p.delivery_id)
                return
        recorder.add(Sent(tenant_id, p, headers, result, "replay" if replay else "automatic", started))

    try:
        for _ in range(ROUNDS):
            now = runtime.clock.now()
            async with runtime.db.transaction(mode) as conn:
                claimed = list((await conn.execute(claim_due(now, batch))).all())
            if not claimed:
                break
            async with runtime.db.reader(mode) as conn:
                prepared = await prepare_many(conn, mode, root, claimed, now, secrets)
            sendable = [(r, prepared[r["id"]]) for r in claimed if isinstance(prepared[r["id"]], Prepared)]
            failed = [(r, prepared[r["id"]]) for r in claimed if isinstance(prepared[r["id"]], str)]
            for r, reason in failed:
                async with runtime.db.transaction(mode) as conn:
                    ctx = worker_context(runtime, conn, r["tenant_id"], mode)
                    await fail_unsendable(ctx, r["id"], str(reason), now)
                unsendable += 1
            admitted = asyncio.Event()
            left = [len(sendable)]
            if not sendable:
                admitted.set()
            for r, p in sendable:
                assert isinstance(p, Prepared)
                task = asyncio.create_task(one(r["tenant_id"], p, r["replay_queued"], admitted, left))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if len(claimed) < batch:
                break
            # Claim the next batch once every delivery of this one has started (its tail overlaps the next head).
            await admitted.wait()
        if tasks:
            await asyncio.gather(*tasks)
    finally:
        recorded = await recorder.close()
    return recorded + unsendable
