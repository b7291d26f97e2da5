"""The issue's "done when" check: real `duro tenant create --json` processes, a real `duro serve`, and
scripts/smoke.sh (curl only) against it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cli.process import ROOT, ServerProcess, run_duro

SMOKE = ROOT / "scripts" / "smoke.sh"

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="scripts/smoke.sh needs curl")


def create_tenant(data_dir: Path, name: str, email: str) -> dict[str, Any]:
    done = run_duro(data_dir, "tenant", "create", "--name", name, "--owner-email", email, "--json")
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def assert_tenant_json_shape(out: dict[str, Any], name: str, email: str) -> None:
    """Exactly the shape of 01 §11, which scripts depend on."""
    assert set(out) == {"tenant", "owner", "keys"}
    assert set(out["tenant"]) == {"id", "name", "slug"}
    assert set(out["owner"]) == {"id", "email", "password"}
    assert set(out["keys"]) == {"test", "live"}
    for mode in ("test", "live"):
        assert set(out["keys"][mode]) == {"secret", "publishable"}
        assert out["keys"][mode]["secret"].startswith(f"sk_{mode}_")
        assert out["keys"][mode]["publishable"].startswith(f"pk_{mode}_")
    assert out["tenant"]["id"].startswith("ten_")
    assert out["tenant"]["name"] == name
    assert out["owner"]["id"].startswith("mem_")
    assert out["owner"]["email"] == email
    assert len(out["owner"]["password"]) >= 12  # generated: no --owner-password and not interactive


def test_smoke_script_passes_against_a_real_server(db: Any, tmp_path: Path) -> None:
    first = create_tenant(tmp_path, "Smoke Store", "owner@smoke-one.example.com")
    second = create_tenant(tmp_path, "Other Store", "owner@smoke-two.example.com")
    assert_tenant_json_shape(first, "Smoke Store", "owner@smoke-one.example.com")
    assert_tenant_json_shape(second, "Other Store", "owner@smoke-two.example.com")
    assert first["tenant"]["id"] != second["tenant"]["id"]
    assert first["tenant"]["slug"] != second["tenant"]["slug"]
    first_path, second_path = tmp_path / "first.json", tmp_path / "second.json"
    first_path.write_text(json.dumps(first))
    second_path.write_text(json.dumps(second))

    with ServerProcess(tmp_path) as server:
        server.wait_ready()
        done = subprocess.run(
            ["bash", str(SMOKE), str(first_path), server.base_url, str(second_path)],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    report = f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}\nserver log:\n{server.log()}"
    assert done.returncode == 0, report
    assert done.stdout.strip().splitlines()[-1] == "smoke: all checks passed", report
    assert "cross-tenant check skipped" not in done.stdout


def test_smoke_script_fails_loudly_on_a_bad_tenant_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"tenant": {}}')
    done = subprocess.run(
        ["bash", str(SMOKE), str(bad), "http://127.0.0.1:9"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode != 0
    assert "smoke: FAIL" in done.stderr
    assert "all checks passed" not in done.stdout
