"""Dashboard screens: the webhook inspector (07 §8, 05 §6) — an endpoint's deliveries with filters, in keyset pages
of 20, a delivery's attempts beside the event payload, Replay (a delivery, now; audited with the member's request)
and Replay failed since… (queued for the loop).

Included in `webhooks.router`. Replays run `duro.webhooks.inspector` exactly as `duro webhooks replay` does, so the
per-endpoint limit of 10 replays a minute (429 `replay_rate_limited`) applies to the dashboard too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from fastapi import APIRouter, Request
from starlette.responses import Response

from duro.context import RepositoryContext, RequestMeta
from duro.dashboard.pages import fail
from duro.dashboard.shell import DashCall, dash, dash_post, text
from duro.events.service import get_event
from duro.kit.errors import DuroError, not_found
from duro.webhooks.catalog import EVENT_TYPES
from duro.webhooks.endpoints import MAX_ENDPOINTS, get_endpoint
from duro.webhooks.health import success_rates
from duro.webhooks.inspector import get_delivery, page_deliveries, replay, replay_failed_since

# No prefix of its own: `webhooks.router` (prefix /dashboard) includes it.
router = APIRouter(include_in_schema=False)

BASE: Final = "/dashboard/developers/webhooks"
STATUSES: Final = ("pending", "delivered", "failed")
PER_PAGE: Final = 20
BODY_SHOWN: Final = 4096


def parse_when(raw: str) -> datetime | None:
    """`2025-03-01` or `2025-03-01T09:30` (as typed into date/datetime-local inputs), read as UTC."""
    if not raw:
        return None
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _not_found(call: DashCall, exc: DuroError) -> Exception:
    return fail(call.request, exc.status, exc.reason or exc.code, exc.message)


async def inspector_page(call: DashCall, endpoint_id: str, status: int = 200, **extra: Any) -> Response:
    """The endpoint's page; `extra` carries the one-time secret after a rotation."""
    q = call.request.query_params
    status_filter = q.get("status") if q.get("status") in STATUSES else None
    type_filter = q.get("eventType") if q.get("eventType") in EVENT_TYPES else None
    since = parse_when(q.get("since", ""))
    # A cursor is the last delivery of the previous page under the same filters (the pager keeps them in its
    # links); one that does not match them is refused with 400 `invalid_cursor`.
    page_request = call.page_request()

    async def load(ctx: RepositoryContext) -> tuple[dict[str, Any], dict[str, Any], Any]:
        endpoint = await get_endpoint(ctx, endpoint_id)
        page = await page_deliveries(
            ctx, page_request, endpoint_id=endpoint_id, status=status_filter, event_type=type_filter, since=since
        )
        rates = await success_rates(ctx, [endpoint_id])
        return endpoint, page, rates.get(endpoint_id)

    try:
        endpoint, page, rate = await call.read(load)
    except DuroError as exc:
        raise _not_found(call, exc) from exc
    return await call.screen(
        "screens/webhooks/endpoint.html",
        status,
        endpoint=endpoint,
        page=page,
        deliveries=page["items"],
        rate=rate,
        statuses=STATUSES,
        event_types=sorted(EVENT_TYPES),
        filters={"status": status_filter or "", "eventType": type_filter or "", "since": q.get("since", "")},
        secret_once=extra.pop("secret_once", None),
        rotated=extra.pop("rotated", False),
        max_endpoints=MAX_ENDPOINTS,
        **extra,
    )


@router.get("/developers/webhooks/{endpoint_id}")
async def endpoint_inspector(request: Request, endpoint_id: str) -> Response:
    call = await dash(request)
    return await inspector_page(call, endpoint_id)


@router.get("/developers/webhooks/{endpoint_id}/deliveries/{delivery_id}")
async def delivery_detail(request: Request, endpoint_id: str, delivery_id: str) -> Response:
    call = await dash(request)

    async def load(ctx: RepositoryContext) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
        endpoint = await get_endpoint(ctx, endpoint_id)
        delivery = await get_delivery(ctx, delivery_id)
        if delivery["endpointId"] != endpoint_id:
            raise not_found("No such webhook delivery")
        try:
            found = await get_event(ctx, delivery["eventId"])
            event: dict[str, Any] | None = {k: v for k, v in found.items() if k != "deliveries"}  # the payload alone
        except DuroError:
            event = None  # purged by retention; the attempts stay readable
        return endpoint, delivery, event

    try:
        endpoint, delivery, event = await call.read(load)
    except DuroError as exc:
        raise _not_found(call, exc) from exc
    attempts = [
        {**a, "responseBody": (a["responseBody"] or "")[:BODY_SHOWN]} for a in reversed(delivery.get("attempts", []))
    ]
    return await call.screen(
        "screens/webhooks/delivery.html", endpoint=endpoint, delivery=delivery, attempts=attempts, event=event
    )


@router.post("/developers/webhooks/{endpoint_id}/deliveries/{delivery_id}/replay")
async def delivery_replay(request: Request, endpoint_id: str, delivery_id: str) -> Response:
    call, _ = await dash_post(request, "webhook_delivery.replay")
    here = f"{BASE}/{endpoint_id}/deliveries/{delivery_id}"
    try:
        delivery = await call.read(lambda ctx: get_delivery(ctx, delivery_id))
        if delivery["endpointId"] != endpoint_id:
            raise not_found("No such webhook delivery")
        meta = RequestMeta(call.ip, call.request.headers.get("user-agent"), call.request_id)
        attempt = await replay(call.runtime, call.tenant_id, call.mode, delivery_id, call.actor, meta)
    except DuroError as exc:
        if exc.status == 404:
            raise _not_found(call, exc) from exc
        return call.done(here, exc.message, "error")
    outcome = f"HTTP {attempt['responseStatus']}" if attempt["responseStatus"] else (attempt["error"] or "no answer")
    ok = attempt["responseStatus"] is not None and 200 <= attempt["responseStatus"] < 300
    return call.done(here, f"Replayed: attempt {attempt['attemptNumber']} got {outcome}.", "success" if ok else "error")


@router.post("/developers/webhooks/{endpoint_id}/replay-failed")
async def endpoint_replay_failed(request: Request, endpoint_id: str) -> Response:
    call, form = await dash_post(request, "webhook_delivery.replay")
    here = f"{BASE}/{endpoint_id}"
    since = parse_when(text(form, "since"))
    if since is None:
        return call.done(here, "Choose the date and time (UTC) to replay failed deliveries from.", "error")

    async def queue(ctx: RepositoryContext) -> int:
        await get_endpoint(ctx, endpoint_id)  # 404 for another tenant's or mode's endpoint
        return await replay_failed_since(ctx, endpoint_id, since)

    try:
        queued = await call.write(queue)
    except DuroError as exc:
        raise _not_found(call, exc) from exc
    return call.done(here, f"{queued} failed deliveries since {since:%Y-%m-%d %H:%M} UTC queued for replay.")
