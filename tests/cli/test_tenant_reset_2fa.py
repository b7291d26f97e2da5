"""`duro tenant reset-2fa` (02 §5, 01 §11): the operator's way back in for a member, the owner included."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, update

from duro.dashboard.sessions import SessionStore
from duro.db.engine import Database
from duro.kit.ids import new_id
from duro.models.core import audit_logs, members
from duro.models.dashboard import recovery_codes, sessions
from tests.cli.process import ainvoke
from tests.conftest import TenantKeys

AT = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


async def test_reset_2fa_of_the_owner_by_email_clears_totp_codes_and_sessions(
    db: Database, tenant: TenantKeys, tmp_path: Path
) -> None:
    async with db.core_transaction() as conn:
        owner = (await conn.execute(select(members).where(members.c.email == tenant.owner_email))).one()
        await conn.execute(
            update(members)
            .where(members.c.id == owner.id)
            .values(totp_secret_enc=b"sealed", totp_enabled_at=AT, totp_last_used_step=1)
        )
        await conn.execute(
            recovery_codes.insert().values(id=new_id("rec"), member_id=owner.id, code_hmac="h", created_at=AT)
        )
        await SessionStore(conn).create(
            member_id=owner.id, tenant_id=tenant.id, state="active", now=AT, ip=None, user_agent=None
        )

    result = await ainvoke(tmp_path, "tenant", "reset-2fa", tenant.owner_email.upper(), "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out == {
        "memberId": owner.id,
        "email": tenant.owner_email,
        "tenantId": tenant.id,
        "role": "owner",
        "sessionsDeleted": 1,
    }
    async with db.core_transaction() as conn:
        row = (await conn.execute(select(members).where(members.c.id == owner.id))).one()
        assert (row.totp_secret_enc, row.totp_enabled_at, row.totp_last_used_step) == (None, None, None)
        assert (await conn.execute(select(recovery_codes).where(recovery_codes.c.member_id == owner.id))).all() == []
        assert (await conn.execute(select(sessions).where(sessions.c.member_id == owner.id))).all() == []
        [entry] = (
            await conn.execute(
                select(audit_logs).where(
                    audit_logs.c.tenant_id == tenant.id, audit_logs.c.action == "member.two_factor_reset"
                )
            )
        ).all()
    assert (entry.actor_type, entry.actor_id, entry.actor_label) == ("system", None, "cli")
    assert (entry.target_type, entry.target_id) == ("member", owner.id)
    assert (entry.before, entry.after) == ({"twoFactorEnabled": True}, {"twoFactorEnabled": False})

    by_id = await ainvoke(tmp_path, "tenant", "reset-2fa", owner.id)
    assert by_id.exit_code == 0, by_id.output
    assert "reset" in by_id.stdout


async def test_reset_2fa_of_an_unknown_member_fails_clearly(tenant: TenantKeys, tmp_path: Path) -> None:
    result = await ainvoke(tmp_path, "tenant", "reset-2fa", "nobody@example.com")
    assert result.exit_code == 1
    assert "no member nobody@example.com" in " ".join(result.stderr.split())
