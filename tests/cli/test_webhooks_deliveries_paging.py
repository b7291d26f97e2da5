"""`duro webhooks deliveries` keeps its newest-50 default and continues with `--cursor` (the last id shown)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from duro.db.engine import Database
from duro.kit.ids import new_id
from duro.models.webhooks import webhook_deliveries
from tests.cli.process import ainvoke
from tests.conftest import TenantKeys


def parse(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


async def test_deliveries_limit_and_cursor(tenant: TenantKeys, db: Database, tmp_path: Path) -> None:
    endpoint = parse(
        await ainvoke(
            tmp_path, "webhooks", "add", "--tenant", tenant.id, "--mode", "test",
            "--url", "https://hooks.example.com/duro", "--json",
        )
    )["id"]  # fmt: skip
    start = datetime(2025, 3, 1, tzinfo=UTC)
    ids = [new_id("whd") for _ in range(55)]
    async with db.transaction("test") as conn:
        for i, delivery_id in enumerate(ids):
            at = start + timedelta(minutes=i)
            await conn.execute(
                insert(webhook_deliveries).values(
                    id=delivery_id, tenant_id=tenant.id, event_id=new_id("evt"), endpoint_id=endpoint,
                    event_type="customer_created", status="failed" if i % 2 else "delivered",
                    created_at=at, updated_at=at,
                )
            )  # fmt: skip
    newest_first = list(reversed(ids))
    default = parse(await ainvoke(tmp_path, "webhooks", "deliveries", endpoint, "--mode", "test", "--json"))
    assert [d["id"] for d in default] == newest_first[:50]  # unchanged without the new options
    first = parse(
        await ainvoke(tmp_path, "webhooks", "deliveries", endpoint, "--mode", "test", "--limit", "20", "--json")
    )
    assert [d["id"] for d in first] == newest_first[:20]
    rest = parse(
        await ainvoke(
            tmp_path, "webhooks", "deliveries", endpoint, "--mode", "test", "--cursor", first[-1]["id"], "--json"
        )
    )
    assert [d["id"] for d in rest] == newest_first[20:]
    failed = parse(
        await ainvoke(
            tmp_path, "webhooks", "deliveries", endpoint, "--mode", "test", "--status", "failed",
            "--limit", "3", "--cursor", ids[-2], "--json",
        )
    )  # fmt: skip
    assert [d["id"] for d in failed] == [ids[-4], ids[-6], ids[-8]]
    refused = await ainvoke(
        tmp_path, "webhooks", "deliveries", endpoint, "--mode", "test", "--status", "failed", "--cursor", ids[-1]
    )
    assert refused.exit_code == 1
    assert "cursor" in refused.stderr
