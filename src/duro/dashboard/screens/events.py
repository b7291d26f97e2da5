"""Dashboard screens: events (07 §3, §12): the event list by type, an event's payload and its deliveries per
endpoint, and "resend to an endpoint" (05 §6).

Reads go through the `/v1/events` service (same retention window, same mode); resend is the inspector's service the
CLI uses (`duro webhooks resend`), which creates the delivery if the endpoint never had one and replays it now.
"""

from __future__ import annotations

import json
from typing import Any, Final

from fastapi import APIRouter, Request
from starlette.responses import Response

from duro.dashboard.pages import fail
from duro.dashboard.shell import DashCall, dash, dash_post, text
from duro.events import service
from duro.kit.errors import DuroError
from duro.kit.validation import check_printable
from duro.webhooks.catalog import EVENT_TYPES
from duro.webhooks.endpoints import list_endpoints
from duro.webhooks.inspector import resend

router = APIRouter(prefix="/dashboard", include_in_schema=False)

LIST_PATH: Final = "/dashboard/developers/events"


def _type_filter(raw: str) -> str | None:
    """The `type` filter as `/v1/events` accepts it (≤ 80 printable characters); anything else shows no match."""
    if not raw:
        return None
    if len(raw) > 80:
        raise ValueError("type: at most 80 characters")
    try:
        return check_printable(raw)
    except ValueError as exc:
        raise ValueError(f"type: {exc}") from exc


@router.get("/developers/events")
async def events_list(request: Request) -> Response:
    call = await dash(request)
    raw_type = request.query_params.get("type", "").strip()
    error: str | None = None
    page: dict[str, Any] = {"items": [], "hasMore": False, "nextCursor": None}
    try:
        type_ = _type_filter(raw_type)
        page = await call.read(lambda ctx: service.list_events(ctx, call.page_request(), type_, None, None))
    except ValueError as exc:
        error = str(exc)
    except DuroError as exc:  # a stale or foreign cursor
        error = exc.message
    return await call.screen(
        "screens/events/list.html",
        page=page,
        type_filter=raw_type,
        event_types=sorted(EVENT_TYPES),
        error=error,
    )


async def _event_or_404(call: DashCall, request: Request, event_id: str) -> dict[str, Any]:
    try:
        event: dict[str, Any] = await call.read(lambda ctx: service.get_event(ctx, event_id))
    except DuroError as exc:
        if exc.status == 404:
            raise fail(request, 404, "resource_missing", "No such event in this mode.") from exc
        raise
    return event


@router.get("/developers/events/{event_id}")
async def event_detail(request: Request, event_id: str) -> Response:
    call = await dash(request)
    event = await _event_or_404(call, request, event_id)
    endpoints: list[dict[str, Any]] = await call.read(list_endpoints)
    by_id = {e["id"]: e for e in endpoints}
    deliveries = [{**d, "endpoint": by_id.get(d["endpointId"])} for d in event["deliveries"]]
    payload = {k: v for k, v in event.items() if k != "deliveries"}
    return await call.screen(
        "screens/events/detail.html",
        event=event,
        payload_json=json.dumps(payload, indent=2, ensure_ascii=False),
        deliveries=deliveries,
        endpoints=endpoints,
    )


@router.post("/developers/events/{event_id}/resend")
async def event_resend(request: Request, event_id: str) -> Response:
    call, form = await dash_post(request, "event.resend")
    here = f"{LIST_PATH}/{event_id}"
    endpoint_id = text(form, "endpointId")
    if not endpoint_id:
        return call.done(here, "Choose an endpoint to resend the event to.", "error")
    try:
        attempt = await resend(call.runtime, call.tenant_id, call.mode, event_id, endpoint_id, call.actor)
    except DuroError as exc:
        return call.done(here, exc.message, "error")
    if attempt.get("responseStatus") is not None and 200 <= attempt["responseStatus"] < 300:
        return call.done(here, f"Event resent to {endpoint_id}: HTTP {attempt['responseStatus']}.")
    outcome = attempt.get("responseStatus") or attempt.get("error") or "no response"
    return call.done(here, f"Event resent to {endpoint_id}, but the endpoint answered {outcome}.", "error")
