"""API keys and OAuth clients screens (07 §3, §12): minted by the CLI's services, plaintext shown once, audited by
those services, revocation effective on /v1, `apikey:manage` enforced, current mode only, pages of 20."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from duro.config import Settings
from duro.context import RepositoryContext
from duro.credentials.service import create_api_key, create_oauth_client, revoke_api_key
from duro.db.engine import Database
from duro.kit.clock import SystemClock
from duro.models.core import audit_logs
from duro.tenants.service import CLI_ACTOR
from tests.conftest import TenantKeys
from tests.dashboard.conftest import audit_actions

KEYS = "/dashboard/developers/api-keys"
CLIENTS = "/dashboard/developers/oauth-clients"
_SECRET = re.compile(r'data-testid="secret-once">([^<]+)<')


def secret_in(html: str) -> str:
    found = _SECRET.search(html)
    assert found, "no secret shown"
    return found.group(1).strip()


async def test_keys_page_lists_the_provisioned_keys_of_the_current_mode(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "developer")
    page = await dash.get(KEYS)
    assert page.status_code == 200
    assert tenant.test_secret[:12] in page.text
    assert tenant.live_secret[:12] not in page.text
    assert tenant.test_secret not in page.text  # only prefix and last4, never the key
    await dash.switch("live")
    live = await dash.get(KEYS)
    assert tenant.live_secret[:12] in live.text
    assert tenant.test_secret[:12] not in live.text


async def test_created_key_is_shown_once_and_works_on_v1(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    dash = await dash_as(tenant, "developer")
    made = await dash.post(KEYS, {"name": "Billing server", "kind": "secret"})
    assert made.status_code == 201
    assert made.headers["cache-control"] == "no-store"
    assert "set-cookie" not in made.headers or "duro_flash" not in made.headers["set-cookie"]
    plaintext = secret_in(made.text)
    assert plaintext.startswith("sk_test_")
    answer = await dash.client.get("/v1/plans", headers={"Authorization": f"Bearer {plaintext}"})
    assert answer.status_code == 200
    again = await dash.get(KEYS)
    assert plaintext not in again.text
    assert "Billing server" in again.text
    assert plaintext[:12] in again.text
    assert "api_key.created" in await audit_actions(db, tenant.id)
    async with db.core_transaction() as conn:
        after = (
            await conn.execute(select(audit_logs.c.after).where(audit_logs.c.action == "api_key.created"))
        ).scalar_one()
    assert plaintext not in str(after)


async def test_publishable_key_in_live_mode(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner", mode="live")
    made = await dash.post(KEYS, {"name": "Web", "kind": "publishable"})
    assert made.status_code == 201
    assert secret_in(made.text).startswith("pk_live_")


async def test_revoked_key_gets_401_on_v1(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    dash = await dash_as(tenant, "admin")
    plaintext = secret_in((await dash.post(KEYS, {"name": "Temp", "kind": "secret"})).text)
    page = await dash.get(KEYS)
    key_id = re.search(r'data-key-id="(key_[^"]+)">\s*<td>Temp<', page.text)
    assert key_id
    assert 'data-confirm="Really revoke' in page.text
    done = await dash.post(f"{KEYS}/{key_id.group(1)}/revoke")
    assert done.status_code == 303
    assert "revoked" in (await dash.get(KEYS)).text
    answer = await dash.client.get("/v1/plans", headers={"Authorization": f"Bearer {plaintext}"})
    assert answer.status_code == 401
    assert "api_key.revoked" in await audit_actions(db, tenant.id)


async def test_invalid_kind_and_long_name_are_shown_inline_and_create_nothing(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "developer")
    before = (await dash.get(KEYS)).text.count("data-key-id=")
    bad = await dash.post(KEYS, {"name": "x", "kind": "admin"})
    assert bad.status_code == 422
    assert 'data-field="kind"' in bad.text
    assert "must be secret or publishable" in bad.text
    long = await dash.post(KEYS, {"name": "n" * 81, "kind": "secret"})
    assert long.status_code == 422
    assert 'data-field="name"' in long.text
    assert (await dash.get(KEYS)).text.count("data-key-id=") == before


async def test_key_limit_is_refused(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "developer")
    # Provisioning made two unrevoked test keys; 18 more reach the limit of 20.
    for i in range(18):
        assert (await dash.post(KEYS, {"name": f"k{i}", "kind": "secret"})).status_code == 201
    refused = await dash.post(KEYS, {"name": "one too many", "kind": "secret"})
    assert refused.status_code == 409
    assert "at most 20 unrevoked keys" in refused.text
    assert "one too many</td>" not in refused.text


async def test_finance_cannot_create_or_revoke_and_sees_no_buttons(tenant: TenantKeys, dash_as: Any) -> None:
    finance = await dash_as(tenant, "finance")
    page = await finance.get(KEYS)
    assert page.status_code == 200
    assert 'data-testid="create-key"' not in page.text
    assert "/revoke" not in page.text
    refused = await finance.post(KEYS, {"name": "Mine", "kind": "secret"})
    assert refused.status_code == 403
    assert "sk_test_" not in refused.text
    key_id = re.search(r'data-key-id="(key_[^"]+)"', page.text)
    assert key_id
    assert (await finance.post(f"{KEYS}/{key_id.group(1)}/revoke")).status_code == 403
    assert (await finance.client.get("/v1/plans", headers=tenant.auth())).status_code == 200
    assert "Mine</td>" not in (await finance.get(KEYS)).text


async def test_create_without_csrf_is_refused(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "developer")
    refused = await dash.client.post(KEYS, data={"name": "Sneaky", "kind": "secret"})
    assert refused.status_code == 403
    assert "Sneaky" not in (await dash.get(KEYS)).text


async def test_revoking_an_other_mode_key_is_not_found(tenant: TenantKeys, dash_as: Any) -> None:
    live = await dash_as(tenant, "owner", mode="live")
    test = await dash_as(tenant, "developer")
    test_key = re.search(r'data-key-id="(key_[^"]+)"', (await test.get(KEYS)).text)
    assert test_key
    answer = await live.post(f"{KEYS}/{test_key.group(1)}/revoke")
    assert answer.status_code == 303
    assert "No such API key" in (await live.get(KEYS)).text
    assert (await test.client.get("/v1/plans", headers=tenant.auth())).status_code == 200


async def test_oauth_client_secret_once_token_and_revoke(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    dash = await dash_as(tenant, "developer")
    empty = await dash.get(CLIENTS)
    assert empty.status_code == 200
    assert "No OAuth clients in test mode yet" in empty.text
    made = await dash.post(CLIENTS, {"name": "Reporting"})
    assert made.status_code == 201
    assert made.headers["cache-control"] == "no-store"
    secret = secret_in(made.text)
    client_id = re.search(r'data-testid="client-id">([^<]+)<', made.text)
    assert client_id
    assert "http://localhost:8000/v1/oauth/token" in made.text
    assert "curl -s" in made.text
    token = await dash.client.post(
        "/v1/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id.group(1), "client_secret": secret},
    )
    assert token.status_code == 200, token.text
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert (await dash.client.get("/v1/plans", headers=bearer)).status_code == 200
    listed = await dash.get(CLIENTS)
    assert secret not in listed.text
    assert client_id.group(1) in listed.text
    pk = re.search(r'data-client-id="(oac_[^"]+)"', listed.text)
    assert pk
    assert (await dash.post(f"{CLIENTS}/{pk.group(1)}/revoke")).status_code == 303
    again = await dash.client.post(
        "/v1/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id.group(1), "client_secret": secret},
    )
    assert again.status_code == 401
    actions = await audit_actions(db, tenant.id)
    assert "oauth_client.created" in actions
    assert "oauth_client.revoked" in actions


async def test_oauth_clients_permission_and_mode(tenant: TenantKeys, dash_as: Any) -> None:
    reader = await dash_as(tenant, "read_only")
    page = await reader.get(CLIENTS)
    assert page.status_code == 200
    assert 'data-testid="create-client"' not in page.text
    assert (await reader.post(CLIENTS, {"name": "Nope"})).status_code == 403
    dev = await dash_as(tenant, "developer")
    assert (await dev.post(CLIENTS, {"name": "Test only"})).status_code == 201
    long = await dev.post(CLIENTS, {"name": "n" * 81})
    assert long.status_code == 422
    assert 'data-field="name"' in long.text
    live = await dash_as(tenant, "owner", mode="live")
    live_page = await live.get(CLIENTS)
    assert "Test only" not in live_page.text
    assert "Nope" not in (await dev.get(CLIENTS)).text


# --- pages and audit entries written by the credential services ---


def ctx_for(conn: Any, tenant_id: str, settings: Settings) -> RepositoryContext:
    """The context `duro keys …` / `duro oauth …` build (cli.py `_cli_ctx`)."""
    return RepositoryContext(conn, tenant_id, "test", SystemClock(), settings, CLI_ACTOR)


def ids_in(html: str, attr: str) -> list[str]:
    return re.findall(rf'{attr}="([^"]+)"', html)


def next_link(html: str) -> str:
    found = re.search(r'<a rel="next" href="([^"]+)"', html)
    assert found, "no next page link"
    return found.group(1).replace("&amp;", "&")


async def audit_rows(db: Database, tenant_id: str, action: str) -> list[Any]:
    async with db.core_transaction() as conn:
        stmt = (
            select(audit_logs)
            .where(audit_logs.c.tenant_id == tenant_id, audit_logs.c.action == action)
            .order_by(audit_logs.c.id)
        )
        return list((await conn.execute(stmt)).all())


async def test_keys_are_listed_in_pages_of_20_with_the_count_of_every_page(
    tenant: TenantKeys, dash_as: Any, db: Database, settings: Settings
) -> None:
    async with db.transaction("test") as conn:
        ctx = ctx_for(conn, tenant.id, settings)
        for i in range(21):  # revoked as they go, so the limit of 20 unrevoked keys is never reached
            made = await create_api_key(ctx, "secret", f"paged {i}")
            await revoke_api_key(ctx, made.row.id)
    dash = await dash_as(tenant, "developer")
    first = await dash.get(KEYS)
    assert first.status_code == 200
    page1 = ids_in(first.text, "data-key-id")
    assert len(page1) == 20
    assert "2 of 20 unrevoked keys in use" in first.text  # counted over all pages, not the shown rows
    assert "paged 20</td>" in first.text  # newest first
    second = await dash.get(next_link(first.text))
    assert second.status_code == 200
    page2 = ids_in(second.text, "data-key-id")
    assert len(page2) == 3  # 2 provisioned + 21 made
    assert not set(page1) & set(page2)
    assert "Default secret key</td>" in second.text
    assert "2 of 20 unrevoked keys in use" in second.text
    assert 'rel="next"' not in second.text
    assert "« First page" in second.text
    stale = await dash.get(f"{KEYS}?cursor=key_not_in_this_list")
    assert stale.status_code == 400


async def test_oauth_clients_are_listed_in_pages_of_20(
    tenant: TenantKeys, dash_as: Any, db: Database, settings: Settings
) -> None:
    async with db.transaction("test") as conn:
        for i in range(21):
            await create_oauth_client(ctx_for(conn, tenant.id, settings), f"client {i}")
    dash = await dash_as(tenant, "read_only")
    first = await dash.get(CLIENTS)
    page1 = ids_in(first.text, "data-client-id")
    assert len(page1) == 20
    assert "client 20</td>" in first.text
    second = await dash.get(next_link(first.text))
    page2 = ids_in(second.text, "data-client-id")
    assert len(page2) == 1
    assert "client 0</td>" in second.text
    assert not set(page1) & set(page2)
    live = await dash_as(tenant, "owner", mode="live")
    assert "No OAuth clients in live mode yet" in (await live.get(CLIENTS)).text


async def test_dashboard_audit_entries_keep_their_shape_and_hold_no_secret(
    tenant: TenantKeys, dash_as: Any, db: Database
) -> None:
    dash = await dash_as(tenant, "developer")
    made = await dash.post(KEYS, {"name": "Audited", "kind": "secret"}, headers={"user-agent": "audit-test/1"})
    plaintext = secret_in(made.text)
    key_id = re.search(r'data-key-id="(key_[^"]+)">\s*<td>Audited<', made.text)
    assert key_id
    assert (await dash.post(f"{KEYS}/{key_id.group(1)}/revoke")).status_code == 303
    assert (await dash.post(f"{KEYS}/{key_id.group(1)}/revoke")).status_code == 303  # twice: one entry
    client = await dash.post(CLIENTS, {"name": "Audited client"})
    client_secret = secret_in(client.text)
    client_pk = re.search(r'data-client-id="(oac_[^"]+)"', client.text)
    assert client_pk
    assert (await dash.post(f"{CLIENTS}/{client_pk.group(1)}/revoke")).status_code == 303

    (created,) = await audit_rows(db, tenant.id, "api_key.created")
    assert (created.actor_type, created.actor_id, created.actor_label) == (
        "member",
        dash.member.id,
        dash.member.email,
    )
    assert (created.target_type, created.target_id, created.mode) == ("api_key", key_id.group(1), "test")
    assert created.after == {"kind": "secret", "name": "Audited", "prefix": plaintext[:12], "last4": plaintext[-4:]}
    assert created.ip
    assert created.request_id
    assert created.user_agent == "audit-test/1"
    (revoked,) = await audit_rows(db, tenant.id, "api_key.revoked")
    assert revoked.before == {"revokedAt": None}
    assert revoked.after["revokedAt"].startswith("2025-03-03T09:00:00")
    assert (revoked.actor_type, revoked.target_id) == ("member", key_id.group(1))
    (client_created,) = await audit_rows(db, tenant.id, "oauth_client.created")
    assert set(client_created.after) == {"clientId", "name", "secretLast4"}
    assert client_created.after["secretLast4"] == client_secret[-4:]
    (client_revoked,) = await audit_rows(db, tenant.id, "oauth_client.revoked")
    assert (client_revoked.target_type, client_revoked.before) == ("oauth_client", {"revokedAt": None})
    for row in (created, revoked, client_created, client_revoked):
        dumped = str(dict(row._mapping))
        assert plaintext not in dumped
        assert client_secret not in dumped
