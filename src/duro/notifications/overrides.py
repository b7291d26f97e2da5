"""Tenant overrides of the customer templates (06 §9, `core.email_templates`), as the dashboard's template editor
changes them (07 §9): save (override enabled), reset (the row deleted), mute / unmute. Each change is audited
(`email_template.updated`, `email_template.reset`, 02 §9) in the caller's core transaction; nothing commits here.

Resolution at send time is the outbox's (`outbox._channels`, `_message_rows`): muted → suppressed; enabled → the
override's texts; else the shipped default.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from duro.audit.service import record_core
from duro.context import Actor
from duro.db.executor import Connection
from duro.db.repository import DbRow
from duro.kit.errors import Detail, DuroError, not_found, validation
from duro.kit.jsonenc import format_ts
from duro.models.notifications import email_templates
from duro.notifications.rendering import tags_in, validate_override
from duro.notifications.templates import CUSTOMER_TEMPLATE_KEYS, Template, template

State = Literal["default", "overridden", "muted"]


def customer_template(key: str) -> Template:
    """The customer template of `key`; 404 for any other key (platform templates are not editable)."""
    if key not in CUSTOMER_TEMPLATE_KEYS:
        raise not_found("No such customer template")
    return template(key)


def override_json(row: DbRow | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "templateKey": row["template_key"],
        "subject": row["subject"],
        "body": row["body"],
        "channel": row["channel"],
        "enabled": row["enabled"],
        "muted": row["muted"],
        "updatedBy": row["updated_by"],
        "updatedAt": format_ts(row["updated_at"]),
    }


def state_of(override: dict[str, Any] | None) -> State:
    if override is None:
        return "default"
    if override["muted"]:
        return "muted"
    return "overridden" if override["enabled"] else "default"


def effective_channel(tpl: Template, override: dict[str, Any] | None) -> str:
    """The channel a message goes out on, as the outbox picks it (the override's only when it is in use)."""
    if override is not None and (override["enabled"] or override["muted"]):
        return str(override["channel"])
    return tpl.channel


async def list_overrides(conn: Connection, tenant_id: str) -> dict[str, dict[str, Any]]:
    stmt = select(email_templates).where(email_templates.c.tenant_id == tenant_id)
    rows = (await conn.execute(stmt)).all()
    return {r["template_key"]: found for r in rows if (found := override_json(r)) is not None}


async def get_override(conn: Connection, tenant_id: str, key: str, *, lock: bool = False) -> dict[str, Any] | None:
    stmt = select(email_templates).where(
        email_templates.c.tenant_id == tenant_id, email_templates.c.template_key == key
    )
    if lock:
        stmt = stmt.with_for_update()
    return override_json((await conn.execute(stmt)).first())


def check_texts(tpl: Template, subject: str, body: str, channel: str) -> None:
    """Every problem of an override at once (422 `validation_error`): the limits of 06 §9, and merge tags the
    template does not know — they would reach customers verbatim, so the editor refuses them."""
    errors, _ = validate_override(tpl, subject=subject, body=body, channel=channel)
    known = set(tpl.tags)
    for path, value in (("subject", subject), ("body", body)):
        unknown = [name for name in tags_in(value) if name not in known]
        if unknown:
            listed = ", ".join("{{" + name + "}}" for name in unknown)
            errors.append(Detail(path, f"unknown merge tag {listed}"))
    if errors:
        raise validation(f"{errors[0].path}: {errors[0].issue}", errors)


async def _upsert(conn: Connection, tenant_id: str, key: str, values: dict[str, Any]) -> None:
    stmt = pg_insert(email_templates).values(tenant_id=tenant_id, template_key=key, **values)
    await conn.execute(stmt.on_conflict_do_update(index_elements=["tenant_id", "template_key"], set_=values))


async def _audit(
    conn: Connection,
    tenant_id: str,
    action: str,
    key: str,
    *,
    actor: Actor,
    at: datetime,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    meta: dict[str, str | None],
) -> None:
    fields = ("subject", "body", "channel", "enabled", "muted")
    old = {k: before[k] for k in fields} if before else {}
    new = {k: after[k] for k in fields} if after else {}
    changed = [k for k in fields if old.get(k) != new.get(k)]
    await record_core(
        conn,
        tenant_id,
        action,
        at=at,
        actor=actor,
        target_type="email_template",
        target_id=key,
        before={k: old.get(k) for k in changed},
        after={k: new.get(k) for k in changed},
        request_id=meta.get("request_id"),
        ip=meta.get("ip"),
        user_agent=meta.get("user_agent"),
    )


async def save_override(
    conn: Connection,
    tenant_id: str,
    key: str,
    *,
    subject: str,
    body: str,
    channel: str,
    actor: Actor,
    at: datetime,
    meta: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    """Store and enable the override (the mute flag is kept); audited `email_template.updated`."""
    tpl = customer_template(key)
    check_texts(tpl, subject, body, channel)
    before = await get_override(conn, tenant_id, key, lock=True)
    values = {
        "subject": subject,
        "body": body,
        "channel": channel,
        "enabled": True,
        "updated_by": actor.id or actor.label,
        "updated_at": at,
    }
    await _upsert(conn, tenant_id, key, values)
    after = await get_override(conn, tenant_id, key)
    assert after is not None
    await _audit(
        conn, tenant_id, "email_template.updated", key, actor=actor, at=at, before=before, after=after, meta=meta or {}
    )
    return after


async def reset_override(
    conn: Connection, tenant_id: str, key: str, *, actor: Actor, at: datetime, meta: dict[str, str | None] | None = None
) -> None:
    """Delete the override (the shipped default again, unmuted); audited `email_template.reset`. A template that
    has no override is already the default: nothing is written then."""
    customer_template(key)
    before = await get_override(conn, tenant_id, key, lock=True)
    if before is None:
        return
    await conn.execute(
        delete(email_templates).where(email_templates.c.tenant_id == tenant_id, email_templates.c.template_key == key)
    )
    await _audit(
        conn, tenant_id, "email_template.reset", key, actor=actor, at=at, before=before, after=None, meta=meta or {}
    )


async def set_muted(
    conn: Connection,
    tenant_id: str,
    key: str,
    muted: bool,
    *,
    actor: Actor,
    at: datetime,
    meta: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    """Mute (messages stored `suppressed`, never sent) or unmute; texts and channel untouched. Audited
    `email_template.updated` when the flag changes."""
    tpl = customer_template(key)
    before = await get_override(conn, tenant_id, key, lock=True)
    if before is not None and before["muted"] == muted:
        return before
    if before is None:
        values: dict[str, Any] = {"channel": tpl.channel, "enabled": False}
    else:
        values = {}
    values.update(muted=muted, updated_by=actor.id or actor.label, updated_at=at)
    await _upsert(conn, tenant_id, key, values)
    after = await get_override(conn, tenant_id, key)
    assert after is not None
    await _audit(
        conn, tenant_id, "email_template.updated", key, actor=actor, at=at, before=before, after=after, meta=meta or {}
    )
    return after


def refusal(exc: DuroError) -> dict[str, str]:
    """`details` as {path: issue} (several issues of one path joined)."""
    out: dict[str, str] = {}
    for d in exc.details:
        out[d.path] = f"{out[d.path]}; {d.issue}" if d.path in out else d.issue
    return out or {"_form": exc.message}
