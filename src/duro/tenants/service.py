"""Provisioning a tenant: the tenant, its owner and one secret + one publishable key per mode.

This is the one unit of work that writes `core` and both mode schemas: a tenant must never exist half-made,
so it runs in a single transaction, switching the connection's schema map between the two modes.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert

from duro.audit.service import record_core
from duro.config import Settings
from duro.context import Actor, RepositoryContext
from duro.credentials.service import create_api_key
from duro.db.engine import MODES, Database, Mode
from duro.db.executor import Connection, UniqueViolation
from duro.db.repository import DbRow
from duro.kit.clock import Clock
from duro.kit.errors import Detail, conflict, validation
from duro.kit.ids import new_id
from duro.kit.jsonenc import format_ts
from duro.kit.validation import check_email
from duro.models.base import MODE_SCHEMAS
from duro.models.identity import store_configs
from duro.settings.repository import StoreSettingsRepository
from duro.settings.service import default_settings_columns
from duro.tenants.passwords import hash_password, password_problem
from duro.tenants.repository import MemberStore, TenantStore
from duro.tenants.slug import candidates, is_valid_slug

CLI_ACTOR = Actor("system", None, "cli")


@dataclass(frozen=True)
class ProvisionedTenant:
    tenant: DbRow
    owner: DbRow
    owner_password: str
    keys: dict[Mode, dict[str, str]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The stable `duro tenant create --json` shape (01 §11)."""
        return {
            "tenant": {"id": self.tenant.id, "name": self.tenant.name, "slug": self.tenant.slug},
            "owner": {"id": self.owner.id, "email": self.owner.email, "password": self.owner_password},
            "keys": {mode: dict(self.keys[mode]) for mode in MODES},
        }


def tenant_json(row: DbRow) -> dict[str, Any]:
    return {
        "object": "tenant",
        "id": row["id"],
        "name": row["name"],
        "slug": row["slug"],
        "defaultCurrency": row["default_currency"],
        "supportEmail": row["support_email"],
        "tier": row["tier"],
        "kycStatus": row["kyc_status"],
        "liveGrossVolume": row["live_gross_volume"],
        "verifiedAt": format_ts(row["verified_at"]),
        "createdAt": format_ts(row["created_at"]),
    }


def generate_password() -> str:
    return secrets.token_urlsafe(18)


async def provision_tenant(
    db: Database,
    settings: Settings,
    clock: Clock,
    *,
    name: str,
    owner_email: str,
    owner_password: str | None = None,
    owner_name: str | None = None,
    slug: str | None = None,
    currency: str = "NGN",
    actor: Actor = CLI_ACTOR,
    within: Callable[[Connection, DbRow, DbRow], Awaitable[None]] | None = None,
    audit_as_creator: bool = False,
) -> ProvisionedTenant:
    """`within(conn, tenant, owner)` runs last in the same transaction (dashboard signup: audit, welcome
    notification and the first session), so they commit or roll back with the tenant."""
    name = name.strip()
    problems: list[Detail] = []
    if not 2 <= len(name) <= 120:
        problems.append(Detail("name", "must be 2-120 characters"))
    try:
        email = check_email(owner_email)
    except ValueError as exc:
        problems.append(Detail("ownerEmail", str(exc)))
        email = owner_email
    password = owner_password or generate_password()
    if owner_password is not None and (issue := password_problem(owner_password, email)):
        problems.append(Detail("ownerPassword", issue))
    currency = currency.upper()
    if currency not in settings.currency_list:
        problems.append(Detail("currency", f"must be one of {', '.join(settings.currency_list)}"))
    if slug is not None and not is_valid_slug(slug):
        problems.append(Detail("slug", "must be 3-48 of a-z 0-9 and inner hyphens, and not reserved"))
    if problems:
        raise validation("invalid tenant", problems)

    # argon2 is slow on purpose: in a worker thread (never on the event loop) and before the transaction opens.
    password_hash = await asyncio.to_thread(hash_password, password)
    now = clock.now()
    async with db.core_transaction() as conn:
        tenants = TenantStore(conn)
        members = MemberStore(conn)
        if await members.by_email(email) is not None:
            raise conflict("duplicate_email", "a member with this email already exists")
        if slug is None:
            options = candidates(name)
            taken = await tenants.taken_slugs(options)
            slug = next(s for s in options if s not in taken)
        elif await tenants.by_slug(slug) is not None:
            raise conflict("duplicate_slug", "this slug is taken")
        tenant_id = new_id("ten")
        try:
            tenant = await tenants.insert(
                {
                    "id": tenant_id,
                    "name": name,
                    "slug": slug,
                    "default_currency": currency,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            owner = await members.insert(
                {
                    "id": new_id("mem"),
                    "tenant_id": tenant_id,
                    "email": email,
                    "name": owner_name,
                    "password_hash": password_hash,
                    "role": "owner",
                    "created_at": now,
                    "updated_at": now,
                }
            )
        except UniqueViolation as exc:  # lost a race on the slug or the email
            raise conflict("duplicate_slug", "this slug or email was taken concurrently") from exc
        keys: dict[Mode, dict[str, str]] = {}
        for mode in MODES:
            ctx = RepositoryContext(conn.for_schema(MODE_SCHEMAS[mode]), tenant_id, mode, clock, settings, actor)
            # Not audited one by one: the default keys are part of creating the tenant, which is the change the log
            # records (`tenant.created`, written by signup through `within`); four `api_key.created` entries per
            # new tenant would only be noise. Every key minted later (dashboard, `duro keys create`) is audited.
            secret = await create_api_key(ctx, "secret", "Default secret key", audited=False)
            publishable = await create_api_key(ctx, "publishable", "Default publishable key", audited=False)
            keys[mode] = {"secret": secret.plaintext, "publishable": publishable.plaintext}
            # 02 §4: default recovery settings in both modes and an empty appearance, written now so a tenant's
            # configuration is never implicit (readers still fall back to the defaults for older tenants).
            await ctx.repo(StoreSettingsRepository).insert_if_missing(
                {**default_settings_columns(), "created_at": now, "updated_at": now}
            )
        await conn.execute(insert(store_configs).values(tenant_id=tenant_id, created_at=now, updated_at=now))
        if audit_as_creator:  # the CLI and the demo seed; signup writes its own entry (member actor, IP)
            await record_core(
                conn,
                tenant_id,
                "tenant.created",
                at=now,
                actor=actor,
                target_type="tenant",
                target_id=tenant_id,
                after={"name": tenant.name, "slug": tenant.slug},
            )
        if within is not None:
            await within(conn, tenant, owner)
    return ProvisionedTenant(tenant, owner, password, keys)
