"""Minting, listing and revoking API keys and OAuth clients (dashboard and CLI only, never /v1).

Creation and revocation are audited here, in the same transaction, so the dashboard and `duro keys` / `duro oauth`
record the same entries (actor, ip and request id come from the RepositoryContext; the CLI's actor is
`system`/`cli`). An entry carries only what the lists show (prefix, last 4, client id): never a secret or a hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from duro.audit.service import record
from duro.auth.tokens import KeyKind, mint_client_id, mint_client_secret, mint_key
from duro.context import RepositoryContext
from duro.credentials.repository import ApiKeyRepository, OAuthClientRepository
from duro.db.repository import DbRow
from duro.kit.errors import conflict, not_found
from duro.kit.ids import new_id
from duro.kit.jsonenc import format_ts
from duro.kit.pagination import PageRequest

MAX_UNREVOKED_KEYS = 20


@dataclass(frozen=True)
class CreatedKey:
    row: DbRow
    plaintext: str


@dataclass(frozen=True)
class CreatedClient:
    row: DbRow
    client_secret: str


def api_key_json(row: DbRow) -> dict[str, Any]:
    return {
        "object": "api_key",
        "id": row["id"],
        "kind": row["kind"],
        "name": row["name"],
        "prefix": row["prefix"],
        "last4": row["last4"],
        "createdBy": row["created_by"],
        "createdAt": format_ts(row["created_at"]),
        "lastUsedAt": format_ts(row["last_used_at"]),
        "revokedAt": format_ts(row["revoked_at"]),
    }


def oauth_client_json(row: DbRow) -> dict[str, Any]:
    return {
        "object": "oauth_client",
        "id": row["id"],
        "clientId": row["client_id"],
        "name": row["name"],
        "secretLast4": row["secret_last4"],
        "createdBy": row["created_by"],
        "createdAt": format_ts(row["created_at"]),
        "lastUsedAt": format_ts(row["last_used_at"]),
        "revokedAt": format_ts(row["revoked_at"]),
    }


async def list_api_keys(ctx: RepositoryContext, page: PageRequest) -> dict[str, Any]:
    """Newest first, keyset pages (01 §7); revoked keys stay listed."""
    return (await ctx.repo(ApiKeyRepository).page(page)).map(api_key_json).as_json()


async def list_oauth_clients(ctx: RepositoryContext, page: PageRequest) -> dict[str, Any]:
    return (await ctx.repo(OAuthClientRepository).page(page)).map(oauth_client_json).as_json()


async def create_api_key(
    ctx: RepositoryContext, kind: KeyKind, name: str | None = None, *, audited: bool = True
) -> CreatedKey:
    """`audited=False` only for keys minted as part of another audited change (tenant provisioning)."""
    repo = ctx.repo(ApiKeyRepository)
    if await repo.count_unrevoked() >= MAX_UNREVOKED_KEYS:
        raise conflict("key_limit_reached", f"at most {MAX_UNREVOKED_KEYS} unrevoked keys per tenant and mode")
    minted = mint_key(kind, ctx.mode)
    row = await repo.insert_row(
        {
            "id": new_id("key"),
            "kind": kind,
            "name": (name or f"{kind.title()} key")[:80],
            "key_hash": minted.hash,
            "prefix": minted.prefix,
            "last4": minted.last4,
            "created_by": ctx.actor.label,
            "created_at": ctx.clock.now(),
        }
    )
    if audited:
        after = {"kind": row["kind"], "name": row["name"], "prefix": row["prefix"], "last4": row["last4"]}
        await record(ctx, "api_key.created", target_type="api_key", target_id=row["id"], after=after)
    return CreatedKey(row, minted.plaintext)


async def revoke_api_key(ctx: RepositoryContext, key_id: str) -> DbRow:
    repo = ctx.repo(ApiKeyRepository)
    row = await repo.revoke(key_id, ctx.clock.now())
    if row is None:
        existing = await repo.get_row(key_id)
        if existing is None:
            raise not_found("No such API key")
        return existing  # already revoked: revocation is irreversible and idempotent, and records nothing new
    await record(
        ctx,
        "api_key.revoked",
        target_type="api_key",
        target_id=key_id,
        before={"revokedAt": None},
        after={"revokedAt": format_ts(row["revoked_at"])},
    )
    return row


async def create_oauth_client(ctx: RepositoryContext, name: str | None = None) -> CreatedClient:
    secret = mint_client_secret(ctx.mode)
    row = await ctx.repo(OAuthClientRepository).insert_row(
        {
            "id": new_id("oac"),
            "client_id": mint_client_id(ctx.mode),
            "name": (name or "OAuth client")[:80],
            "secret_hash": secret.hash,
            "secret_last4": secret.last4,
            "created_by": ctx.actor.label,
            "created_at": ctx.clock.now(),
        }
    )
    after = {"clientId": row["client_id"], "name": row["name"], "secretLast4": row["secret_last4"]}
    await record(ctx, "oauth_client.created", target_type="oauth_client", target_id=row["id"], after=after)
    return CreatedClient(row, secret.plaintext)


async def revoke_oauth_client(ctx: RepositoryContext, client_pk: str) -> DbRow:
    repo = ctx.repo(OAuthClientRepository)
    row = await repo.revoke(client_pk, ctx.clock.now())
    if row is None:
        existing = await repo.get_row(client_pk)
        if existing is None:
            raise not_found("No such OAuth client")
        return existing
    await record(
        ctx,
        "oauth_client.revoked",
        target_type="oauth_client",
        target_id=client_pk,
        before={"revokedAt": None},
        after={"revokedAt": format_ts(row["revoked_at"])},
    )
    return row
