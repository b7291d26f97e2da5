"""`duro keys …` and `duro oauth …` are audited by the credential services as `system`/`cli` (02 §9), with no
secret in the entry; provisioning's default keys are covered by the tenant's creation, not audited one by one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from duro.db.engine import Database
from duro.models.core import audit_logs
from tests.cli.process import ainvoke
from tests.conftest import TenantKeys


def parse(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


async def entries(db: Database, tenant_id: str) -> list[Any]:
    async with db.core_transaction() as conn:
        stmt = select(audit_logs).where(audit_logs.c.tenant_id == tenant_id).order_by(audit_logs.c.id)
        return list((await conn.execute(stmt)).all())


async def test_provisioning_audits_no_default_keys(tenant: TenantKeys, db: Database) -> None:
    assert not [e for e in await entries(db, tenant.id) if e.action.startswith("api_key.")]


async def test_cli_key_create_and_revoke_are_audited_without_the_key(
    tenant: TenantKeys, db: Database, tmp_path: Path
) -> None:
    made = parse(
        await ainvoke(
            tmp_path, "keys", "create", "--tenant", tenant.id, "--mode", "live", "--kind", "secret",
            "--name", "Deploy", "--json",
        )
    )  # fmt: skip
    revoked = await ainvoke(tmp_path, "keys", "revoke", made["id"], "--mode", "live")
    assert revoked.exit_code == 0, revoked.output
    again = await ainvoke(tmp_path, "keys", "revoke", made["id"], "--mode", "live")
    assert again.exit_code == 0, again.output  # idempotent, and records nothing new
    created, gone = await entries(db, tenant.id)
    assert (created.action, gone.action) == ("api_key.created", "api_key.revoked")
    for entry in (created, gone):
        assert (entry.actor_type, entry.actor_id, entry.actor_label) == ("system", None, "cli")
        assert (entry.target_type, entry.target_id, entry.mode) == ("api_key", made["id"], "live")
        assert (entry.ip, entry.request_id) == (None, None)
        assert made["key"] not in str(dict(entry._mapping))
    assert created.after == {"kind": "secret", "name": "Deploy", "prefix": made["key"][:12], "last4": made["key"][-4:]}
    assert gone.before == {"revokedAt": None}
    assert gone.after["revokedAt"] is not None


async def test_cli_oauth_client_create_and_revoke_are_audited_without_the_secret(
    tenant: TenantKeys, db: Database, tmp_path: Path
) -> None:
    made = parse(await ainvoke(tmp_path, "oauth", "create-client", "--tenant", tenant.id, "--mode", "test", "--json"))
    revoked = await ainvoke(tmp_path, "oauth", "revoke", made["id"], "--mode", "test")
    assert revoked.exit_code == 0, revoked.output
    created, gone = await entries(db, tenant.id)
    assert (created.action, gone.action) == ("oauth_client.created", "oauth_client.revoked")
    assert created.after == {
        "clientId": made["clientId"],
        "name": "OAuth client",
        "secretLast4": made["clientSecret"][-4:],
    }
    for entry in (created, gone):
        assert (entry.actor_type, entry.actor_label, entry.mode) == ("system", "cli", "test")
        assert (entry.target_type, entry.target_id) == ("oauth_client", made["id"])
        assert made["clientSecret"] not in str(dict(entry._mapping))
