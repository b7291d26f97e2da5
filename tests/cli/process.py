"""Running the real `duro` command against the test database: as a child process, or in-process with
Typer's CliRunner (in a worker thread, because every command calls `asyncio.run`)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner, Result

from duro.cli import app as cli_app
from tests.conftest import database_url_for_tests

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "cli-test-secret-key-that-is-long-enough-0123456789"


def duro_argv() -> list[str]:
    """The installed `duro` entry point of this interpreter's environment."""
    exe = Path(sys.executable).with_name("duro")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "duro.cli"]


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """Settings for a `duro` run on the test database. Other DURO_* variables of the caller are dropped so a
    developer's environment cannot point a test at another database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DURO_")}
    env.update(
        DURO_DATABASE_URL=database_url_for_tests(),
        DURO_SECRET_KEY=SECRET_KEY,
        DURO_DATA_DIR=str(data_dir),
        DURO_ENV="test",
        DURO_LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


def run_duro(data_dir: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    """`duro ARGS...` as a real child process (cwd = data_dir, so no `.env.local` is picked up)."""
    return subprocess.run(
        [*duro_argv(), *args],
        env=cli_env(data_dir, **extra_env),
        cwd=data_dir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def invoke(data_dir: Path, *args: str, **extra_env: str) -> Result:
    """`duro ARGS...` in-process. Call from a thread with no running event loop (see `ainvoke`)."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("DURO_")}
    env.update(cli_env(data_dir, **extra_env))
    return CliRunner().invoke(cli_app, list(args), env=env, catch_exceptions=False)


async def ainvoke(data_dir: Path, *args: str, **extra_env: str) -> Result:
    """`invoke` from an async test: the command's own `asyncio.run` gets a thread of its own."""
    return await asyncio.to_thread(invoke, data_dir, *args, **extra_env)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """`duro serve` on a free loopback port; `stop()` always ends it."""

    def __init__(self, data_dir: Path, **extra_env: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / "server.log"
        self.env = cli_env(
            data_dir,
            DURO_HOST="127.0.0.1",
            DURO_PORT=str(self.port),
            DURO_PUBLIC_URL=self.base_url,
            DURO_RATE_LIMIT_TEST="100000",
            DURO_RATE_LIMIT_LIVE="100000",
            **extra_env,
        )
        self.data_dir = data_dir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [*duro_argv(), "serve"], env=self.env, cwd=self.data_dir, stdout=log, stderr=subprocess.STDOUT
            )

    def wait_ready(self, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise AssertionError(f"duro serve exited with {self.proc.returncode}:\n{self.log()}")
                try:
                    if client.get("/readyz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise AssertionError(f"duro serve not ready within {within:.0f} s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class WorkerFleet:
    """Real `duro worker --loops LOOPS` processes on the test database, for crash tests: start some, SIGKILL one,
    read their logs; `stop_all()` always ends them (SIGTERM, then SIGKILL after 30 s)."""

    def __init__(self, tmp_path: Path, loops: str, **env: str) -> None:
        self.tmp_path = tmp_path
        self.loops = loops
        self.env = cli_env(tmp_path, **env)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.started = 0

    def start(self, n: int = 1, **extra_env: str) -> list[subprocess.Popen[bytes]]:
        out = []
        for _ in range(n):
            self.started += 1
            with (self.tmp_path / f"worker-{self.started}.log").open("wb") as log:
                proc = subprocess.Popen(
                    [*duro_argv(), "worker", "--loops", self.loops],
                    env={**self.env, **extra_env},
                    cwd=self.tmp_path,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            out.append(proc)
        self.procs.extend(out)
        return out

    def check_alive(self) -> None:
        for proc in self.procs:
            if proc.returncode is None and proc.poll() is not None:
                raise AssertionError(f"a worker exited with {proc.returncode}:\n{self.logs()}")

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        self.procs.remove(proc)

    def stop_all(self) -> None:
        procs, self.procs = self.procs, []
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def logs(self) -> str:
        tails = []
        for path in sorted(self.tmp_path.glob("worker-*.log")):
            tails.append(f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(tails)
