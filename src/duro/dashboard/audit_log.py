"""Reading the audit log for the dashboard (02 §9, 07 §13): a tenant's entries newest first with keyset pagination
on the id (ids are monotonic ULIDs, so id order is insertion order), filters by action, actor, target and date, and
`before`/`after` turned into a field diff. Read-only: nothing here (or anywhere) updates or deletes an entry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, or_, select

from duro.db.executor import Connection
from duro.kit import jsonenc
from duro.kit.jsonenc import format_ts
from duro.kit.pagination import Page, PageRequest, page_from_rows
from duro.models.core import audit_logs

# The actions of 02 §9, offered in the filter's drop-down (free text is accepted too).
ACTIONS = (
    "tenant.created",
    "tenant.updated",
    "member.invited",
    "member.invite_revoked",
    "member.joined",
    "member.role_changed",
    "member.removed",
    "member.two_factor_enrolled",
    "member.two_factor_reset",
    "member.password_changed",
    "session.login_succeeded",
    "session.login_failed",
    "api_key.created",
    "api_key.revoked",
    "oauth_client.created",
    "oauth_client.revoked",
    "webhook_endpoint.created",
    "webhook_endpoint.updated",
    "webhook_endpoint.enabled",
    "webhook_endpoint.disabled",
    "webhook_endpoint.deleted",
    "webhook_endpoint.secret_rotated",
    "webhook_delivery.replayed",
    "appearance.published",
    "appearance.discarded",
    "email_template.updated",
    "email_template.reset",
    "settings.recovery_updated",
    "customer.blacklisted",
    "customer.unblacklisted",
    "invoice.refunded",
    "kyc.document_uploaded",
    "kyc.submitted",
    "kyc.approved",
    "kyc.rejected",
)


@dataclass(frozen=True, slots=True)
class AuditFilters:
    action: str | None = None
    actor: str | None = None  # an actor id or label (email, key prefix, `cli`, ...)
    target: str | None = None  # a target id or type
    since: date | None = None  # inclusive, UTC days
    until: date | None = None  # inclusive

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> tuple[AuditFilters, dict[str, str]]:
        """Filters from the page's query string, and the problems with them (shown inline, filter ignored)."""
        errors: dict[str, str] = {}

        def day(name: str) -> date | None:
            raw = (query.get(name) or "").strip()
            if not raw:
                return None
            try:
                return date.fromisoformat(raw)
            except ValueError:
                errors[name] = "must be a date like 2025-03-31"
                return None

        def words(name: str) -> str | None:
            return (query.get(name) or "").strip()[:200] or None

        return cls(words("action"), words("actor"), words("target"), day("since"), day("until")), errors


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    before: str | None  # JSON text; None when the field was absent on that side
    after: str | None


def field_diff(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[FieldChange]:
    """One row per field present on either side, in first-seen order; values shown as compact JSON."""
    b, a = before or {}, after or {}
    keys = list(dict.fromkeys([*b.keys(), *a.keys()]))

    def shown(side: Mapping[str, Any], key: str) -> str | None:
        if key not in side:
            return None
        value = side[key]
        return value if isinstance(value, str) else jsonenc.dumps(value).decode()

    return [FieldChange(k, shown(b, k), shown(a, k)) for k in keys]


def entry_json(row: Any) -> dict[str, Any]:
    """The entry in the field names of 02 §9, plus the diff rows for the screen."""
    return {
        "id": row.id,
        "at": format_ts(row.at),
        "actorType": row.actor_type,
        "actorId": row.actor_id,
        "actorLabel": row.actor_label,
        "action": row.action,
        "targetType": row.target_type,
        "targetId": row.target_id,
        "mode": row.mode,
        "before": row.before,
        "after": row.after,
        "ip": row.ip,
        "userAgent": row.user_agent,
        "requestId": row.request_id,
        "diff": field_diff(row.before, row.after),
    }


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


async def list_entries(
    conn: Connection, tenant_id: str, filters: AuditFilters, page: PageRequest
) -> Page[dict[str, Any]]:
    """One page of the tenant's entries, newest first; the cursor is the last entry's id."""
    a = audit_logs.c
    stmt = select(audit_logs).where(a.tenant_id == tenant_id)
    if filters.action:
        stmt = stmt.where(a.action == filters.action)
    if filters.actor:
        stmt = stmt.where(or_(a.actor_id == filters.actor, func.lower(a.actor_label) == filters.actor.lower()))
    if filters.target:
        stmt = stmt.where(or_(a.target_id == filters.target, a.target_type == filters.target))
    if filters.since:
        stmt = stmt.where(a.at >= _day_start(filters.since))
    if filters.until:
        stmt = stmt.where(a.at < _day_start(filters.until + timedelta(days=1)))
    if page.cursor:
        stmt = stmt.where(a.id < page.cursor)
    rows = (await conn.execute(stmt.order_by(a.id.desc()).limit(page.limit + 1))).all()
    return page_from_rows(rows, page.limit, lambda r: str(r.id)).map(entry_json)


# Joining signs the new member in too (02 §8.1), without a separate login entry.
_SIGN_INS = ("session.login_succeeded", "member.joined")


async def last_logins(conn: Connection, tenant_id: str) -> dict[str, datetime]:
    """Each member's latest sign-in, from the append-only audit entries (members carry no such column, and
    sessions are deleted at logout)."""
    a = audit_logs.c
    stmt = (
        select(a.target_id, func.max(a.at).label("at"))
        .where(a.tenant_id == tenant_id, a.action.in_(_SIGN_INS), a.target_type == "member")
        .group_by(a.target_id)
    )
    return {str(r.target_id): r.at for r in (await conn.execute(stmt)).all()}
