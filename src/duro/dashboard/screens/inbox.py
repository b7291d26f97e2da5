"""Dashboard screens: the dev inbox (07 §11).

The one screen that is not bound to the session's mode: the tenant's captured messages of both modes (every
`sandbox` notification, and the `live` ones the console provider captured) plus captured platform messages
addressed to its members, newest first, as HTML and as JSON (`inbox.json`, the same entries). Identity OTP
messages belong to no tenant; they are listed only when `DURO_ENV=development`, so phone flows can be finished
locally.

**Decision:** a captured `password_reset` carries a working reset link, so outside development it is listed only
to the member it is addressed to — another member of the tenant (say `read_only`) must not be able to take over
the owner's account from here.

A message opens on its own page; its HTML part is served by a separate route under a policy that lets nothing run
or load (`default-src 'none'`, inline styles only) and shown in a `sandbox`ed iframe.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any, Final

from fastapi import APIRouter, Request
from sqlalchemy import ColumnElement, Table, and_, or_, select, tuple_
from starlette.responses import HTMLResponse, Response

from duro.api.responses import json_response
from duro.dashboard.pages import fail
from duro.dashboard.screens.appearance_preview import email_headers
from duro.dashboard.shell import DashCall, dash
from duro.db.engine import Mode
from duro.db.executor import Connection
from duro.db.repository import DbRow
from duro.kit.jsonenc import format_ts
from duro.models.notifications import notifications, platform_notifications
from duro.notifications.templates import TEMPLATES

router = APIRouter(prefix="/dashboard", include_in_schema=False)

PAGE_SIZE: Final = 20
SOURCES: Final = ("test", "live", "platform")
MEMBER_TEMPLATES: Final = tuple(t.key for t in TEMPLATES.values() if t.audience in ("member", "owner"))
PRIVATE_TEMPLATES: Final = ("password_reset",)
MAX_FILTER: Final = 320


def _entry(row: DbRow, source: str) -> dict[str, Any]:
    related = row["related"] or {}
    return {
        "object": "inbox_message",
        "id": row["id"],
        "mode": None if source == "platform" else source,
        "channel": row["channel"],
        "templateKey": row["template_key"],
        "recipient": row["recipient"],
        "subject": row["subject"],
        "status": row["status"],
        "related": {
            "customerId": related.get("customerId"),
            "subscriptionId": related.get("subscriptionId"),
            "invoiceId": related.get("invoiceId"),
            "scheduleId": related.get("scheduleId"),
        },
        "createdAt": format_ts(row["created_at"]),
        "url": f"/dashboard/dev/inbox/{source}/{row['id']}",
    }


def _encode_cursor(row: dict[str, Any]) -> str:
    raw = f"{row['_at'].isoformat()}|{row['id']}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor or len(cursor) > 200:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, ident = raw.partition("|")
        return datetime.fromisoformat(at), ident
    except ValueError:
        return None


class Filters:
    def __init__(self, request: Request) -> None:
        q = request.query_params
        self.channel = (q.get("channel") or "").strip()[:20] or None
        self.template_key = (q.get("templateKey") or "").strip()[:60] or None
        self.recipient = (q.get("recipient") or "").strip()[:MAX_FILTER] or None
        self.after = _decode_cursor(q.get("cursor"))

    def where(self, table: Table) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.channel:
            out.append(table.c.channel == self.channel)
        if self.template_key:
            out.append(table.c.template_key == self.template_key)
        if self.recipient:
            out.append(table.c.recipient == self.recipient)
        if self.after is not None:
            out.append(tuple_(table.c.created_at, table.c.id) < tuple_(*self.after))
        return out

    def query(self) -> dict[str, str]:
        found = {"channel": self.channel, "templateKey": self.template_key, "recipient": self.recipient}
        return {k: v for k, v in found.items() if v}


def _platform_scope(call: DashCall) -> ColumnElement[bool]:
    """Captured platform messages the member may read: the tenant's member messages (a reset only when it is the
    member's own, outside development), and every OTP in development."""
    p = platform_notifications
    development = call.runtime.settings.env == "development"
    own = p.c.template_key.in_([k for k in MEMBER_TEMPLATES if development or k not in PRIVATE_TEMPLATES])
    private = and_(p.c.template_key.in_(PRIVATE_TEMPLATES), p.c.recipient == call.session.email)
    scope: ColumnElement[bool] = and_(p.c.tenant_id == call.tenant_id, or_(own, private))
    if development:
        scope = or_(scope, p.c.template_key == "otp")
    return and_(p.c.status == "captured", scope)


def _source_where(call: DashCall, source: str) -> tuple[Table, list[ColumnElement[bool]]]:
    if source == "platform":
        return platform_notifications, [_platform_scope(call)]
    n = notifications
    where = [n.c.tenant_id == call.tenant_id]
    if source == "live":
        where.append(n.c.status == "captured")  # only what the console provider kept; real sends are not shown
    return n, where


async def _rows(call: DashCall, conn: Connection, source: str, filters: Filters, limit: int) -> list[dict[str, Any]]:
    table, where = _source_where(call, source)
    stmt = (
        select(table)
        .where(*where, *filters.where(table))
        .order_by(table.c.created_at.desc(), table.c.id.desc())
        .limit(limit)
    )
    return [{**_entry(r, source), "_at": r["created_at"]} for r in (await conn.execute(stmt)).all()]


async def inbox_page(call: DashCall, filters: Filters) -> dict[str, Any]:
    """One page of the merged sources, newest first; the cursor is the last entry's (createdAt, id)."""
    db = call.runtime.db
    found: list[dict[str, Any]] = []
    for mode in ("test", "live"):
        m: Mode = "test" if mode == "test" else "live"
        async with db.reader(m) as conn:
            found += await _rows(call, conn, mode, filters, PAGE_SIZE + 1)
    async with db.core_transaction() as conn:
        found += await _rows(call, conn, "platform", filters, PAGE_SIZE + 1)
    found.sort(key=lambda e: (e["_at"], e["id"]), reverse=True)
    page, more = found[:PAGE_SIZE], len(found) > PAGE_SIZE
    cursor = _encode_cursor(page[-1]) if more and page else None
    items = [{k: v for k, v in e.items() if k != "_at"} for e in page]
    return {"object": "list", "items": items, "nextCursor": cursor, "hasMore": more}


@router.get("/dev/inbox")
async def inbox(request: Request) -> Response:
    call = await dash(request)
    filters = Filters(request)
    page = await inbox_page(call, filters)
    keys = sorted(TEMPLATES)
    return await call.screen(
        "screens/inbox/list.html", page=page, filters=filters.query(), template_keys=keys, all_modes=True
    )


@router.get("/dev/inbox.json")
async def inbox_json(request: Request) -> Response:
    call = await dash(request)
    return json_response(await inbox_page(call, Filters(request)))


async def _message(call: DashCall, source: str, message_id: str) -> DbRow | None:
    if source not in SOURCES or len(message_id) > 64:
        return None
    table, where = _source_where(call, source)
    stmt = select(table).where(*where, table.c.id == message_id)
    if source == "platform":
        async with call.runtime.db.core_transaction() as conn:
            return (await conn.execute(stmt)).first()
    mode: Mode = "test" if source == "test" else "live"
    async with call.runtime.db.reader(mode) as conn:
        return (await conn.execute(stmt)).first()


@router.get("/dev/inbox/{source}/{message_id}")
async def message(source: str, message_id: str, request: Request) -> Response:
    call = await dash(request)
    row = await _message(call, source, message_id)
    if row is None:
        raise fail(request, 404, "resource_missing", "No such message in your inbox.")
    return await call.screen(
        "screens/inbox/message.html",
        entry=_entry(row, source),
        body_text=row["body_text"],
        has_html=bool(row["body_html"]),
        whatsapp=row["whatsapp_template"],
        source=source,
    )


@router.get("/dev/inbox/{source}/{message_id}/html")
async def message_html(source: str, message_id: str, request: Request) -> Response:
    """The stored HTML part, framed by the dashboard only, in a sandbox, with nothing allowed to run or load."""
    call = await dash(request)
    row = await _message(call, source, message_id)
    if row is None or not row["body_html"]:
        raise fail(request, 404, "resource_missing", "No such message in your inbox.")
    return HTMLResponse(row["body_html"], headers=email_headers(call.runtime.settings))
