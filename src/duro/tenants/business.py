"""Business settings of a tenant (02 §10, 07 §3): name, slug, default currency, support email.

One service for every surface that edits them (business settings screen, onboarding), with the rules signup and
`duro tenant create` apply (`tenants.service`, `tenants.slug`), so a value accepted at creation is accepted here and
the other way round. The change and its `tenant.updated` audit entry commit together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select, update

from duro.audit.service import record_core
from duro.config import Settings
from duro.context import Actor
from duro.db.executor import Connection, UniqueViolation
from duro.kit.errors import Detail, conflict, not_found, validation
from duro.kit.validation import check_email
from duro.models.core import tenants
from duro.tenants.service import tenant_json
from duro.tenants.slug import is_valid_slug

# API field → column. Only these are editable here; tier, KYC and volume belong to the KYC flow.
FIELDS: Final = {
    "name": "name",
    "slug": "slug",
    "defaultCurrency": "default_currency",
    "supportEmail": "support_email",
}


@dataclass(frozen=True, slots=True)
class Audit:
    """Who asked, for the audit entry."""

    actor: Actor
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


async def get_business(conn: Connection, tenant_id: str) -> dict[str, Any]:
    row = (await conn.execute(select(tenants).where(tenants.c.id == tenant_id))).first()
    if row is None:
        raise not_found("No such tenant")
    return tenant_json(row)


def _clean(settings: Settings, current: Mapping[str, Any], body: Mapping[str, str | None]) -> dict[str, Any]:
    """The submitted fields, normalised and checked; unknown keys are ignored, absent keys stay unchanged."""
    problems: list[Detail] = []
    out: dict[str, Any] = {}
    if "name" in body:
        name = (body["name"] or "").strip()
        if not 2 <= len(name) <= 120:
            problems.append(Detail("name", "must be 2-120 characters"))
        out["name"] = name
    if "slug" in body:
        slug = (body["slug"] or "").strip().lower()
        # A derived slug may carry a `-N` suffix past 48 characters (02 §10); keeping it unchanged is always allowed.
        if slug != current["slug"] and not is_valid_slug(slug):
            problems.append(Detail("slug", "must be 3-48 of a-z 0-9 and inner hyphens, and not reserved"))
        out["slug"] = slug
    if "defaultCurrency" in body:
        currency = (body["defaultCurrency"] or "").strip().upper()
        if currency not in settings.currency_list:
            problems.append(Detail("defaultCurrency", f"must be one of {', '.join(settings.currency_list)}"))
        out["defaultCurrency"] = currency
    if "supportEmail" in body:
        raw = (body["supportEmail"] or "").strip()
        email: str | None = None
        if raw:
            try:
                email = check_email(raw)
            except ValueError as exc:
                problems.append(Detail("supportEmail", str(exc)))
        out["supportEmail"] = email
    if problems:
        raise validation("invalid business settings", problems)
    return out


async def update_business(
    conn: Connection,
    settings: Settings,
    tenant_id: str,
    body: Mapping[str, str | None],
    *,
    at: datetime,
    audit: Audit,
) -> dict[str, Any]:
    """Apply the submitted fields; audit `tenant.updated` with the changed fields only (before/after, 02 §9).
    Nothing is written when nothing changed. A taken slug is 409 `duplicate_slug` with a `slug` detail."""
    row = (await conn.execute(select(tenants).where(tenants.c.id == tenant_id).with_for_update())).first()
    if row is None:
        raise not_found("No such tenant")
    current = tenant_json(row)
    wanted = _clean(settings, current, body)
    changed = {k: v for k, v in wanted.items() if v != current[k]}
    if not changed:
        return current
    if "slug" in changed:
        taken = (await conn.execute(select(tenants.c.id).where(tenants.c.slug == changed["slug"]))).first()
        if taken is not None:
            raise conflict("duplicate_slug", "this slug is taken", [Detail("slug", "is taken")])
    try:
        updated = (
            await conn.execute(
                update(tenants)
                .where(tenants.c.id == tenant_id)
                .values(**{FIELDS[k]: v for k, v in changed.items()}, updated_at=at)
                .returning(tenants)
            )
        ).one()
    except UniqueViolation as exc:  # lost a race for the slug
        raise conflict("duplicate_slug", "this slug is taken", [Detail("slug", "is taken")]) from exc
    await record_core(
        conn,
        tenant_id,
        "tenant.updated",
        at=at,
        actor=audit.actor,
        target_type="tenant",
        target_id=tenant_id,
        before={k: current[k] for k in changed},
        after=changed,
        ip=audit.ip,
        user_agent=audit.user_agent,
        request_id=audit.request_id,
    )
    return tenant_json(updated)


__all__ = ["FIELDS", "Audit", "get_business", "update_business"]
