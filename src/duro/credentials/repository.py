"""SQL for API keys and OAuth clients.

Lookups by hash run before a tenant is known (that is how the tenant is found), so they are the one
deliberate exception to tenant scoping: `CredentialLookup` answers only "whose credential is this?".
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select, update

from duro.db.executor import Connection
from duro.db.repository import DbRow, TenantRepository
from duro.models.credentials import api_keys, oauth_clients

UNSCOPED = "/* unscoped: credential lookup */"


class ApiKeyRepository(TenantRepository):
    table = api_keys

    async def count_unrevoked(self) -> int:
        return await self.count(api_keys.c.revoked_at.is_(None))

    async def revoke(self, key_id: str, at: datetime) -> DbRow | None:
        stmt = (
            update(api_keys)
            .where(self.scoped(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)))
            .values(revoked_at=at)
            .returning(api_keys)
        )
        row: DbRow | None = (await self.conn.execute(stmt)).first()
        return row

    async def touch(self, key_id: str, at: datetime, not_since: datetime) -> None:
        stmt = (
            update(api_keys)
            .where(
                self.scoped(
                    api_keys.c.id == key_id,
                    (api_keys.c.last_used_at.is_(None)) | (api_keys.c.last_used_at < not_since),
                )
            )
            .values(last_used_at=at)
        )
        await self.conn.execute(stmt)

    async def list_all(self) -> list[DbRow]:
        stmt = select(api_keys).where(self.scoped()).order_by(api_keys.c.created_at.desc(), api_keys.c.id.desc())
        return list((await self.conn.execute(stmt)).all())


class OAuthClientRepository(TenantRepository):
    table = oauth_clients

    async def revoke(self, client_pk: str, at: datetime) -> DbRow | None:
        stmt = (
            update(oauth_clients)
            .where(self.scoped(oauth_clients.c.id == client_pk, oauth_clients.c.revoked_at.is_(None)))
            .values(revoked_at=at)
            .returning(oauth_clients)
        )
        row: DbRow | None = (await self.conn.execute(stmt)).first()
        return row

    async def touch(self, client_pk: str, at: datetime) -> None:
        await self.conn.execute(
            update(oauth_clients).where(self.scoped(oauth_clients.c.id == client_pk)).values(last_used_at=at)
        )

    async def list_all(self) -> list[DbRow]:
        stmt = (
            select(oauth_clients)
            .where(self.scoped())
            .order_by(oauth_clients.c.created_at.desc(), oauth_clients.c.id.desc())
        )
        return list((await self.conn.execute(stmt)).all())


_KEY_BY_HASH = (
    select(api_keys.c.id, api_keys.c.tenant_id, api_keys.c.kind, api_keys.c.prefix, api_keys.c.revoked_at)
    .where(api_keys.c.key_hash == bindparam("b_hash"))
    .prefix_with(UNSCOPED)
)


_KEY_BY_HASH = (
    select(api_keys.c.id, api_keys.c.tenant_id, api_keys.c.kind, api_keys.c.prefix, api_keys.c.revoked_at)
    .where(api_keys.c.key_hash == bindparam("b_hash"))
    .prefix_with(UNSCOPED)
)


class CredentialLookup:
    """Find the owner of a presented credential by its hash (unique index; timing does not depend on it).

    Statements here carry the `/* unscoped: … */` marker that the tenancy guard in the tests accepts.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def api_key_by_hash(self, key_hash: str) -> DbRow | None:
        row: DbRow | None = (await self.conn.execute(_KEY_BY_HASH, {"b_hash": key_hash})).first()
        return row

    async def oauth_client_by_client_id(self, client_id: str) -> DbRow | None:
        stmt = select(oauth_clients).where(oauth_clients.c.client_id == client_id).prefix_with(UNSCOPED)
        return (await self.conn.execute(stmt)).first()

    async def oauth_client_by_pk(self, client_pk: str, tenant_id: str) -> DbRow | None:
        stmt = select(oauth_clients.c.id, oauth_clients.c.revoked_at).where(
            oauth_clients.c.id == client_pk, oauth_clients.c.tenant_id == tenant_id
        )
        return (await self.conn.execute(stmt)).first()
