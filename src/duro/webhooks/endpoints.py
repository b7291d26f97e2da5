"""Webhook endpoints (05 §7): created, edited, enabled, disabled, deleted and rotated by the dashboard and the CLI —
never through `/v1`, so a leaked API key cannot redirect a tenant's event stream.

The signing secret is shown once (creation, rotation) and stored encrypted; the URL passes the SSRF guard's
save-time rules (05 §8) on every create and edit. Every change is audited in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import delete, func, select, update

from duro.audit.service import record
from duro.context import RepositoryContext
from duro.db.repository import DbRow
from duro.kit.egress import DestinationRefused, EgressPolicy, check_url_at_save
from duro.kit.errors import Detail, conflict, not_found, validation
from duro.kit.ids import new_id
from duro.kit.jsonenc import format_ts
from duro.kit.secretbox import open_sealed, seal
from duro.models.webhooks import webhook_endpoints as we
from duro.webhooks.catalog import EVENT_TYPES
from duro.webhooks.signing import generate_secret

MAX_ENDPOINTS: Final = 16
MAX_URL: Final = 2048
MAX_DESCRIPTION: Final = 200
PREVIOUS_SECRET_TTL: Final = timedelta(hours=24)
SECRET_LABEL: Final = "webhook-secret"


@dataclass(frozen=True, slots=True)
class Created:
    endpoint: dict[str, Any]
    secret: str
    warning: str | None = None


def endpoint_json(row: DbRow) -> dict[str, Any]:
    return {
        "object": "webhook_endpoint",
        "id": row["id"],
        "url": row["url"],
        "description": row["description"],
        "enabledEvents": list(row["enabled_events"]),
        "status": row["status"],
        "disabledReason": row["disabled_reason"],
        "failingSince": format_ts(row["failing_since"]),
        "secretLast4": row["secret_last4"],
        "secretRotatedAt": format_ts(row["secret_rotated_at"]),
        "previousSecretExpiresAt": format_ts(row["previous_secret_expires_at"]),
        "createdAt": format_ts(row["created_at"]),
        "updatedAt": format_ts(row["updated_at"]),
    }


def _out(ctx: RepositoryContext, row: DbRow) -> dict[str, Any]:
    del ctx  # one shape in both modes; the caller knows which mode it asked
    return endpoint_json(row)


def _seal(ctx: RepositoryContext, endpoint_id: str, secret: str) -> str:
    return seal(ctx.settings.root_secret, SECRET_LABEL, secret, endpoint_id)


def active_secrets(root: bytes, row: DbRow, now: datetime) -> list[str]:
    """The secrets that sign an attempt now: the current one first, then the previous one until it expires."""
    secrets = [open_sealed(root, SECRET_LABEL, row["secret_ciphertext"], row["id"])]
    expires = row["previous_secret_expires_at"]
    if row["previous_secret_ciphertext"] is not None and expires is not None and expires > now:
        secrets.append(open_sealed(root, SECRET_LABEL, row["previous_secret_ciphertext"], row["id"]))
    return secrets


def _check_events(events: Sequence[str]) -> list[str]:
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown:
        raise validation(
            "enabledEvents: unknown event types",
            [Detail(f"enabledEvents.{i}", f"unknown event type {e}") for i, e in enumerate(events) if e in unknown],
        )
    return sorted(set(events), key=list(events).index)


def _check_description(description: str | None) -> None:
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise validation(
            "description: too long", [Detail("description", f"must be at most {MAX_DESCRIPTION} characters")]
        )


async def _check_url(ctx: RepositoryContext, url: str) -> tuple[str, str | None]:
    """The save-time SSRF rules (05 §8): 422 `forbidden_destination` naming the failing rule."""
    try:
        checked, warning = await check_url_at_save(url, EgressPolicy.for_mode(ctx.settings, ctx.mode))
    except DestinationRefused as exc:
        raise validation(f"url: {exc.rule}", [Detail("url", exc.rule)], reason="forbidden_destination") from exc
    return checked.url, warning


async def _get(ctx: RepositoryContext, endpoint_id: str, *, lock: bool = False) -> DbRow:
    stmt = select(we).where(we.c.tenant_id == ctx.tenant_id, we.c.id == endpoint_id)
    if lock:
        stmt = stmt.with_for_update()
    row: DbRow | None = (await ctx.conn.execute(stmt)).first()
    if row is None:
        raise not_found("No such webhook endpoint")
    return row


async def create_endpoint(
    ctx: RepositoryContext, *, url: str, enabled_events: Sequence[str] = (), description: str | None = None
) -> Created:
    """At most 16 endpoints per tenant and mode, disabled ones included (409 `endpoint_limit_reached`)."""
    events = _check_events(enabled_events)
    _check_description(description)
    stored_url, warning = await _check_url(ctx, url)
    # Serialise creations of one tenant and mode so two concurrent ones cannot both take the 16th place.
    await ctx.conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"webhook_endpoints:{ctx.tenant_id}"))))
    count = (await ctx.conn.execute(select(func.count()).where(we.c.tenant_id == ctx.tenant_id))).scalar_one()
    if count >= MAX_ENDPOINTS:
        raise conflict("endpoint_limit_reached", f"A tenant has at most {MAX_ENDPOINTS} webhook endpoints per mode")
    now = ctx.clock.now()
    endpoint_id = new_id("we")
    secret = generate_secret()
    row = (
        await ctx.conn.execute(
            we.insert()
            .values(
                id=endpoint_id,
                tenant_id=ctx.tenant_id,
                url=stored_url,
                description=description,
                enabled_events=events,
                status="enabled",
                secret_ciphertext=_seal(ctx, endpoint_id, secret),
                secret_last4=secret[-4:],
                created_at=now,
                updated_at=now,
            )
            .returning(we)
        )
    ).one()
    out = _out(ctx, row)
    await record(ctx, "webhook_endpoint.created", target_type="webhook_endpoint", target_id=endpoint_id, after=out)
    return Created(out, secret, warning)


async def list_endpoints(ctx: RepositoryContext) -> list[dict[str, Any]]:
    rows = await ctx.conn.execute(
        select(we).where(we.c.tenant_id == ctx.tenant_id).order_by(we.c.created_at.desc(), we.c.id.desc())
    )
    return [_out(ctx, r) for r in rows]


async def get_endpoint(ctx: RepositoryContext, endpoint_id: str) -> dict[str, Any]:
    return _out(ctx, await _get(ctx, endpoint_id))


async def _write(ctx: RepositoryContext, row: DbRow, values: dict[str, Any], action: str) -> dict[str, Any]:
    before = _out(ctx, row)
    updated = (
        await ctx.conn.execute(
            update(we)
            .where(we.c.tenant_id == ctx.tenant_id, we.c.id == row["id"])
            .values(**values, updated_at=ctx.clock.now())
            .returning(we)
        )
    ).one()
    after = _out(ctx, updated)
    changed = {k: v for k, v in after.items() if before.get(k) != v and k != "updatedAt"}
    await record(
        ctx,
        action,
        target_type="webhook_endpoint",
        target_id=row["id"],
        before={k: before[k] for k in changed},
        after=changed,
    )
    return after


async def update_endpoint(
    ctx: RepositoryContext,
    endpoint_id: str,
    *,
    url: str | None = None,
    enabled_events: Sequence[str] | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    row = await _get(ctx, endpoint_id, lock=True)
    values: dict[str, Any] = {}
    if url is not None:
        values["url"], _ = await _check_url(ctx, url)
    if enabled_events is not None:
        values["enabled_events"] = _check_events(enabled_events)
    if description is not None:
        _check_description(description)
        values["description"] = description
    return await _write(ctx, row, values, "webhook_endpoint.updated")


async def set_enabled(ctx: RepositoryContext, endpoint_id: str, enabled: bool) -> dict[str, Any]:
    """Disable (reason `manual`) or enable; enabling clears `failingSince` and `disabledReason` (05 §7) and re-checks
    the URL, as a saved endpoint is only ever enabled with a URL the current rules accept."""
    row = await _get(ctx, endpoint_id, lock=True)
    if enabled:
        await _check_url(ctx, row["url"])
        values: dict[str, Any] = {"status": "enabled", "disabled_reason": None, "failing_since": None}
        return await _write(ctx, row, values, "webhook_endpoint.enabled")
    return await _write(ctx, row, {"status": "disabled", "disabled_reason": "manual"}, "webhook_endpoint.disabled")


async def delete_endpoint(ctx: RepositoryContext, endpoint_id: str) -> dict[str, Any]:
    """Deleting keeps its deliveries and attempts (the inspector's history); they are purged with their events."""
    row = await _get(ctx, endpoint_id, lock=True)
    out = _out(ctx, row)
    await ctx.conn.execute(delete(we).where(we.c.tenant_id == ctx.tenant_id, we.c.id == endpoint_id))
    await record(ctx, "webhook_endpoint.deleted", target_type="webhook_endpoint", target_id=endpoint_id, before=out)
    return {**out, "deleted": True}


async def rotate_secret(ctx: RepositoryContext, endpoint_id: str, *, expire_old_now: bool = False) -> Created:
    """A new secret, shown once; the current one becomes the previous secret for 24 h (or not at all with
    `expire_old_now`). Rotating again replaces the previous secret with the current one (05 §7)."""
    row = await _get(ctx, endpoint_id, lock=True)
    now = ctx.clock.now()
    secret = generate_secret()
    values = {
        "secret_ciphertext": _seal(ctx, endpoint_id, secret),
        "secret_last4": secret[-4:],
        "secret_rotated_at": now,
        "previous_secret_ciphertext": row["secret_ciphertext"],
        "previous_secret_expires_at": now if expire_old_now else now + PREVIOUS_SECRET_TTL,
    }
    out = await _write(ctx, row, values, "webhook_endpoint.secret_rotated")
    return Created(out, secret)
