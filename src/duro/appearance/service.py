"""The appearance builder's rules (07 §4): one configuration per tenant, shared by both modes, edited as a draft
and published as a whole. Hosted pages (checkout, overlay, portal, store, emails) read only `published`, through
`published_for` / `published_for_many`, already cascaded (06 §8).

Every function takes a connection in the caller's transaction and never commits. `core.store_configs` is a core
table, so any connection works (`Database.core_transaction()`, or a mode-bound one the caller already holds).
A tenant without a row has the defaults as both draft and published.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from duro.appearance.repository import StoreConfigStore
from duro.appearance.surfaces import SURFACES, diff, effective, has_unpublished_changes, merge_surface, resolve
from duro.context import Actor
from duro.db.executor import Connection
from duro.db.repository import DbRow
from duro.kit.clock import Clock
from duro.kit.errors import DuroError, not_found
from duro.kit.jsonenc import format_ts


def _tenant_missing() -> DuroError:
    return not_found("No such tenant")


def _view(row: DbRow) -> dict[str, Any]:
    draft = row["draft"] or {}
    published = row["published"] or {}
    old, _ = diff(published, draft)
    return {
        "object": "appearance_config",
        "tenantId": row["tenant_id"],
        "draft": resolve(draft),
        "published": resolve(published),
        "version": row["version"] or 0,
        "publishedAt": format_ts(row["published_at"]),
        "publishedBy": row["published_by"],
        "hasUnpublishedChanges": has_unpublished_changes(draft, published),
        "changedSurfaces": [s for s in SURFACES if s in old],
    }


async def get_config(conn: Connection, tenant_id: str) -> dict[str, Any]:
    """The editor's view: `draft` and `published` with every field (defaults filled, not cascaded: `brandColor`
    null = inherit `general`, `general.displayName` null = the tenant's name), `version`, `publishedAt`,
    `publishedBy`, `hasUnpublishedChanges` and the `changedSurfaces` that carry the badge. 404 for an unknown
    tenant."""
    row = await StoreConfigStore(conn).get(tenant_id)
    if row is None:
        raise _tenant_missing()
    return _view(row)


async def set_draft(conn: Connection, tenant_id: str, surface: str, partial: Any, *, clock: Clock) -> dict[str, Any]:
    """Deep-merge a partial surface object into the draft (07 §4); returns `get_config`'s view. A 422 with every
    invalid field (paths relative to the surface object), or 404 for an unknown surface or tenant, leaves the
    draft untouched: validation runs before the first statement. Draft edits are not audited (only publish and
    discard are, 02 §9)."""
    merge_surface(None, surface, partial)  # every field error, before anything is written
    store = StoreConfigStore(conn)
    now = clock.now()
    row = await store.lock(tenant_id, now)
    if row is None:
        raise _tenant_missing()
    draft = merge_surface(row["draft"], surface, partial)
    await store.update(tenant_id, {"draft": draft, "updated_at": now})
    return await get_config(conn, tenant_id)


async def publish(
    conn: Connection,
    tenant_id: str,
    *,
    actor: Actor,
    clock: Clock,
    request_id: str | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
) -> dict[str, Any]:
    """Copy draft → published, increment `version`, stamp `publishedAt`/`publishedBy` (the actor's id, or its
    label when it has none: `cli`), and audit `appearance.published` with the changed fields (`before` = what
    was published, `after` = the draft, both with `version`). Publishing without changes still makes a version."""
    store = StoreConfigStore(conn)
    now = clock.now()
    row = await store.lock(tenant_id, now)
    if row is None:
        raise _tenant_missing()
    version = row["version"] + 1
    before, after = diff(row["published"], row["draft"])
    await store.update(
        tenant_id,
        {
            "published": row["draft"],
            "version": version,
            "published_at": now,
            "published_by": actor.id or actor.label,
            "updated_at": now,
        },
    )
    await store.audit(
        tenant_id,
        "appearance.published",
        at=now,
        actor=actor,
        before={**before, "version": row["version"]},
        after={**after, "version": version},
        request_id=request_id,
        ip=ip,
        user_agent=user_agent,
    )
    return await get_config(conn, tenant_id)


async def discard(
    conn: Connection,
    tenant_id: str,
    *,
    actor: Actor,
    clock: Clock,
    request_id: str | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
) -> dict[str, Any]:
    """Copy published → draft (the version is unchanged) and audit `appearance.discarded` with the fields the
    discarded draft had changed (`before` = the draft, `after` = published)."""
    store = StoreConfigStore(conn)
    now = clock.now()
    row = await store.lock(tenant_id, now)
    if row is None:
        raise _tenant_missing()
    before, after = diff(row["draft"], row["published"])
    await store.update(tenant_id, {"draft": row["published"], "updated_at": now})
    await store.audit(
        tenant_id,
        "appearance.discarded",
        at=now,
        actor=actor,
        before=before,
        after=after,
        request_id=request_id,
        ip=ip,
        user_agent=user_agent,
    )
    return await get_config(conn, tenant_id)


def published_from_row(row: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The effective published configuration from a row of `repository.published_select()` (columns
    `tenant_name`, `published`): for readers that compose that statement with their own columns."""
    return effective(row["published"], row["tenant_name"])


async def published_for(conn: Connection, tenant_id: str) -> dict[str, dict[str, Any]]:
    """The six surfaces as hosted pages render them: published, defaults filled, `general` cascaded into the
    others, `general.displayName` defaulting to the tenant's name. One statement; 404 for an unknown tenant."""
    found = await published_for_many(conn, [tenant_id])
    if tenant_id not in found:
        raise _tenant_missing()
    return found[tenant_id]


async def published_for_many(conn: Connection, tenant_ids: Sequence[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """`published_for` of several tenants in ONE statement (tenants left-joined to their configuration; none for
    an empty list). Unknown ids are absent from the result."""
    rows = await StoreConfigStore(conn).published_for(tenant_ids)
    return {row["tenant_id"]: published_from_row(row) for row in rows}


async def public_appearance(conn: Connection, tenant_slug: str) -> dict[str, Any] | None:
    """`GET /api/appearance/{tenantSlug}` (06 §5): the published configuration, effective, never the draft;
    None for an unknown slug."""
    row = await StoreConfigStore(conn).published_by_slug(tenant_slug)
    if row is None:
        return None
    return {
        "object": "appearance",
        "tenantSlug": row["tenant_slug"],
        "version": row["version"] or 0,
        "publishedAt": format_ts(row["published_at"]),
        **published_from_row(row),
    }
