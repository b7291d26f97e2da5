"""Rate limits shared through a real Redis server (DURO_REDIS_URL), as two API processes would share them."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from duro.kit.ratelimit import RateLimiter, per_second

REDIS = shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    if REDIS is None:
        pytest.skip("redis-server is not installed (.ci/run installs it)")
    port = _free_port()
    proc = subprocess.Popen(
        [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(5)


async def test_limits_are_shared_between_limiters(redis_url: str) -> None:
    first, second = RateLimiter(redis_url), RateLimiter(redis_url)  # two processes' worth of limiters
    item = per_second(3)
    verdicts = [await (first if i % 2 else second).hit(item, "v1", "key_A") for i in range(4)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert int(verdicts[-1].headers()["Retry-After"]) >= 1
    other = await first.hit(item, "v1", "key_B")
    assert other.allowed
    assert other.remaining == 2
