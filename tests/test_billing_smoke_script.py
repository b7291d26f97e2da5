"""The billing issue's "done when" check: a real `duro tenant create --json` process, a real `duro serve`, and
scripts/billing_smoke.sh (curl and test keys only) against it: simulator card, trial and promo code, test clock
renewals, every proration behaviour, partial and full refunds."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cli.process import ROOT, ServerProcess
from tests.test_smoke_script import create_tenant

BILLING_SMOKE = ROOT / "scripts" / "billing_smoke.sh"

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="scripts/billing_smoke.sh needs curl")


def test_billing_smoke_script_passes_against_a_real_server(db: Any, tmp_path: Path) -> None:
    tenant = create_tenant(tmp_path, "Billing Smoke Store", "owner@billing-smoke.example.com")
    tenant_path = tmp_path / "tenant.json"
    tenant_path.write_text(json.dumps(tenant))

    with ServerProcess(tmp_path) as server:
        server.wait_ready()
        done = subprocess.run(
            ["bash", str(BILLING_SMOKE), str(tenant_path), server.base_url],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    report = f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}\nserver log:\n{server.log()}"
    assert done.returncode == 0, report
    assert done.stdout.strip().splitlines()[-1] == "billing-smoke: all checks passed", report


def test_billing_smoke_script_fails_loudly_on_a_bad_tenant_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"tenant": {}}')
    done = subprocess.run(
        ["bash", str(BILLING_SMOKE), str(bad), "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "billing-smoke: FAIL" in done.stderr
    assert "all checks passed" not in done.stdout
