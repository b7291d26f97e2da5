"""The recovery issue's "done when" check: a real `duro tenant create --json` process, a real `duro serve`, and
scripts/recovery_smoke.sh (curl and test keys only) against it: four dunning paths on one test clock (payday retry,
switch_rail, customer action then merchant payment, back-off to exhaustion), their events and messages, and the
clock-scoped analytics."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cli.process import ROOT, ServerProcess
from tests.test_smoke_script import create_tenant

RECOVERY_SMOKE = ROOT / "scripts" / "recovery_smoke.sh"

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="scripts/recovery_smoke.sh needs curl")


def run_script(tenant_path: Path, base_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(RECOVERY_SMOKE), str(tenant_path), base_url],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_recovery_smoke_script_passes_against_a_real_server(db: Any, tmp_path: Path) -> None:
    tenant = create_tenant(tmp_path, "Recovery Smoke Store", "owner@recovery-smoke.example.com")
    tenant_path = tmp_path / "tenant.json"
    tenant_path.write_text(json.dumps(tenant))
    # Same shape, but a test key the server never issued: the script must stop at its first authenticated call.
    forged = json.loads(json.dumps(tenant))
    forged["keys"]["test"]["secret"] = "sk_test_" + "0" * 32
    forged_path = tmp_path / "forged.json"
    forged_path.write_text(json.dumps(forged))

    with ServerProcess(tmp_path) as server:
        server.wait_ready()
        refused = run_script(forged_path, server.base_url)
        done = run_script(tenant_path, server.base_url)
    report = f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}\nserver log:\n{server.log()}"
    assert done.returncode == 0, report
    assert done.stdout.strip().splitlines()[-1] == "recovery-smoke: all checks passed", report

    assert refused.returncode != 0, refused.stdout
    assert "recovery-smoke: FAIL: GET /v1/settings/recovery: expected HTTP 200, got 401" in refused.stderr
    assert "all checks passed" not in refused.stdout


def test_recovery_smoke_script_fails_loudly_on_a_bad_tenant_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"tenant": {}}')
    done = run_script(bad, "http://127.0.0.1:9")
    assert done.returncode != 0
    assert "recovery-smoke: FAIL" in done.stderr
    assert "all checks passed" not in done.stdout
