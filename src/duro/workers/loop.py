"""Run worker loops on their periods until SIGTERM/SIGINT; in-flight units get 25 s to finish (01 §12)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable

from duro.runtime import Runtime
from duro.workers.billing import billing_tick
from duro.workers.dunning import dunning_tick
from duro.workers.maintenance import maintenance_tick
from duro.workers.notifications import notifications_tick
from duro.workers.reminders import reminders_tick
from duro.workers.webhooks import webhooks_tick

log = logging.getLogger(__name__)

Tick = Callable[[Runtime], Awaitable[int]]
SHUTDOWN_GRACE_SECONDS = 25.0


def loops(runtime: Runtime) -> dict[str, tuple[Tick, float]]:
    s = runtime.settings
    return {
        "billing": (billing_tick, float(s.billing_scan_seconds)),
        "dunning": (dunning_tick, float(s.dunning_scan_seconds)),
        "webhooks": (webhooks_tick, float(s.webhook_poll_seconds)),
        "maintenance": (maintenance_tick, 300.0),
        "notifications": (notifications_tick, float(s.notify_poll_seconds)),
        "reminders": (reminders_tick, float(s.reminder_scan_seconds)),
    }


async def run_once(runtime: Runtime, names: list[str]) -> dict[str, int]:
    table = loops(runtime)
    return {name: await table[name][0](runtime) for name in names}


async def run_forever(runtime: Runtime, names: list[str]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    table = loops(runtime)

    async def run(name: str) -> None:
        tick, period = table[name]
        while not stop.is_set():
            count = 0
            try:
                count = await tick(runtime)
                if count:
                    log.info("%s tick processed %d", name, count)
            except Exception:
                log.exception("%s tick failed", name)
            if count:
                # A backlog (workers were down, a batch was full): scan again at once instead of idling for a
                # whole period. Only an idle or failed tick waits, so an empty queue costs one scan per period.
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=period)

    tasks = [asyncio.create_task(run(n), name=f"loop-{n}") for n in names]
    await stop.wait()
    log.info("stopping: letting in-flight units finish (up to %.0f s)", SHUTDOWN_GRACE_SECONDS)
    _, pending = await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_SECONDS)
    for task in pending:
        task.cancel()
