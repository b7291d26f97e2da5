"""`duro webhooks …` (01 §11): the JSON shapes scripts rely on, and each command reaching the service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.cli.process import ainvoke
from tests.conftest import TenantKeys

URL = "https://hooks.example.com/duro"


def parse(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


async def test_add_list_rotate_disable_enable_delete(tenant: TenantKeys, tmp_path: Path) -> None:
    made = parse(
        await ainvoke(
            tmp_path, "webhooks", "add", "--tenant", tenant.id, "--mode", "test", "--url", URL,
            "--events", "invoice_paid,customer_created", "--json",
        )
    )  # fmt: skip
    assert set(made) == {"id", "url", "secret"}
    assert made["id"].startswith("we_")
    assert made["secret"].startswith("whsec_")
    listed = parse(await ainvoke(tmp_path, "webhooks", "list", "--tenant", tenant.id, "--mode", "test", "--json"))
    assert [(e["id"], e["enabledEvents"], e["secretLast4"]) for e in listed] == [
        (made["id"], ["invoice_paid", "customer_created"], made["secret"][-4:])
    ]
    assert parse(await ainvoke(tmp_path, "webhooks", "list", "--tenant", tenant.id, "--mode", "live", "--json")) == []
    rotated = parse(await ainvoke(tmp_path, "webhooks", "rotate-secret", made["id"], "--mode", "test", "--json"))
    assert set(rotated) == {"id", "secret"}
    assert rotated["secret"] != made["secret"]
    off = await ainvoke(tmp_path, "webhooks", "disable", made["id"], "--mode", "test")
    assert off.exit_code == 0
    assert "disabled" in off.stdout
    on = await ainvoke(tmp_path, "webhooks", "enable", made["id"], "--mode", "test")
    assert on.exit_code == 0
    assert "enabled" in on.stdout
    assert parse(await ainvoke(tmp_path, "webhooks", "deliveries", made["id"], "--mode", "test", "--json")) == []
    gone = await ainvoke(tmp_path, "webhooks", "delete", made["id"], "--mode", "test", "--yes")
    assert gone.exit_code == 0
    assert parse(await ainvoke(tmp_path, "webhooks", "list", "--tenant", tenant.id, "--mode", "test", "--json")) == []


async def test_refusals_are_clear(tenant: TenantKeys, tmp_path: Path) -> None:
    bad = await ainvoke(
        tmp_path, "webhooks", "add", "--tenant", tenant.id, "--mode", "test", "--url", "https://10.0.0.1/x"
    )
    assert bad.exit_code == 1
    assert "url" in bad.stderr
    missing = await ainvoke(tmp_path, "webhooks", "enable", "we_01AAAAAAAAAAAAAAAAAAAAAAAA", "--mode", "test")
    assert missing.exit_code == 1
    assert "no webhook endpoint" in " ".join(missing.stderr.split())
