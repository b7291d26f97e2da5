"""Dashboard screens: test clocks (07 §3, §10; 03 §12). Test mode only: in live mode the pages send the member to
the overview with a flash, as the navigation hides them there.

Create and delete run the services of `/v1/test-clocks` in one transaction each; advance runs
`service.advance_clock`, which commits each renewal, retry and escalation as its own unit of work like the API.
The events one advance produced are found by two event-id markers taken around it (event ids are monotonic), which
the redirect carries to the detail page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from fastapi import APIRouter, Request
from starlette.responses import Response

from duro.context import RepositoryContext
from duro.dashboard.pages import fail
from duro.dashboard.shell import DashCall, dash, dash_post, field_errors, keep, optional, parse, text
from duro.kit.errors import DuroError
from duro.kit.ids import new_id
from duro.test_clocks import service
from duro.test_clocks.schemas import TestClockAdvance, TestClockCreate

router = APIRouter(prefix="/dashboard", include_in_schema=False)

BASE: Final = "/dashboard/test-clocks"
LIVE_MESSAGE: Final = "Test clocks exist in test mode only."


def utc_input(raw: str) -> str:
    """A `datetime-local` value (`2025-03-01T10:00`, no zone) is read as UTC, as the form says; a value with a zone
    keeps it; anything else goes to the model as typed so it reports the API's error."""
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return raw
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.isoformat()


def local_value(stamp: str | None) -> str:
    """An API timestamp as a `datetime-local` value in UTC, cut to the minute (never later than the stamp)."""
    if not stamp:
        return ""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def _live_redirect(call: DashCall) -> Response | None:
    return call.done("/dashboard", LIVE_MESSAGE, "info") if call.mode != "test" else None


async def _list_page(call: DashCall, values: dict[str, Any], errors: dict[str, str], status: int = 200) -> Response:
    page = call.page_request()

    async def load(ctx: RepositoryContext) -> tuple[dict[str, Any], dict[str, int]]:
        clocks = await service.list_clocks(ctx, page)
        return clocks, await service.attached_counts(ctx, [c["id"] for c in clocks["items"]])

    try:
        clocks, counts = await call.read(load)
    except DuroError as exc:  # a cursor that is not a clock of this list
        raise fail(call.request, exc.status, exc.reason or "invalid_request", exc.message) from exc
    return await call.screen(
        "screens/test_clocks/list.html", status, clocks=clocks, counts=counts, values=values, errors=errors
    )


@router.get("/test-clocks")
async def clock_list(request: Request) -> Response:
    call = await dash(request)
    if (away := _live_redirect(call)) is not None:
        return away
    now = call.runtime.clock.now().strftime("%Y-%m-%dT%H:%M")
    return await _list_page(call, {"name": "", "frozenTime": now}, {})


@router.post("/test-clocks")
async def create_clock(request: Request) -> Response:
    call, form = await dash_post(request, "test_clock.create")
    if (away := _live_redirect(call)) is not None:
        return away
    values = {"name": text(form, "name"), "frozenTime": text(form, "frozenTime")}
    try:
        body = parse(
            TestClockCreate,
            keep([("frozenTime", utc_input(values["frozenTime"]) or None), ("name", optional(form, "name"))]),
        )
        clock = await call.write(lambda ctx: service.create_clock(ctx, body))
    except DuroError as exc:
        return await _list_page(call, values, field_errors(exc), 422)
    return call.done(f"{BASE}/{clock['id']}", f"Test clock {clock['name'] or clock['id']} created.")


async def _detail_page(
    call: DashCall, clock_id: str, values: dict[str, Any] | None = None, errors: dict[str, str] | None = None
) -> Response:
    q = call.request.query_params
    since, until = q.get("since"), q.get("until")

    async def load(ctx: RepositoryContext) -> tuple[dict[str, Any], list[dict[str, Any]], bool]:
        clock = await service.clock_detail(ctx, clock_id)
        if not (since and until):
            return clock, [], False
        sub_ids = [s["id"] for s in clock["subscriptions"]]
        found, cut = await service.advance_events(ctx, sub_ids, since, until)
        return clock, found, cut

    try:
        clock, advance_events, cut = await call.read(load)
    except DuroError as exc:
        raise fail(call.request, exc.status, exc.reason or "resource_missing", exc.message) from exc
    return await call.screen(
        "screens/test_clocks/detail.html",
        422 if errors else 200,
        clock=clock,
        advance_events=advance_events,
        events_cut=cut,
        advanced=bool(since and until),
        values=values or {"to": local_value(clock["maxAdvanceTo"])},
        errors=errors or {},
        max_local=local_value(clock["maxAdvanceTo"]),
    )


@router.get("/test-clocks/{clock_id}")
async def clock_detail(request: Request, clock_id: str) -> Response:
    call = await dash(request)
    if (away := _live_redirect(call)) is not None:
        return away
    return await _detail_page(call, clock_id)


@router.post("/test-clocks/{clock_id}/advance")
async def advance_clock(request: Request, clock_id: str) -> Response:
    call, form = await dash_post(request, "test_clock.advance")
    if (away := _live_redirect(call)) is not None:
        return away
    values = {"to": text(form, "to")}
    # Markers around the advance: every event it writes gets an id between them (monotonic ULIDs).
    since = new_id("evt")
    try:
        body = parse(TestClockAdvance, keep([("to", utc_input(values["to"]) or None)]))
        clock = await service.advance_clock(call.runtime, call.tenant_id, call.actor, clock_id, body)
    except DuroError as exc:
        if exc.status == 404:
            raise fail(request, 404, exc.reason or "resource_missing", exc.message) from exc
        return await _detail_page(call, clock_id, values, field_errors(exc))
    until = new_id("evt")
    return call.done(f"{BASE}/{clock_id}?since={since}&until={until}", f"Clock advanced to {clock['frozenTime']}.")


@router.post("/test-clocks/{clock_id}/delete")
async def delete_clock(request: Request, clock_id: str) -> Response:
    call, _form = await dash_post(request, "test_clock.delete")
    if (away := _live_redirect(call)) is not None:
        return away
    try:
        await call.write(lambda ctx: service.delete_clock(ctx, clock_id))
    except DuroError as exc:
        return call.done(BASE if exc.status == 404 else f"{BASE}/{clock_id}", exc.message, "error")
    return call.done(BASE, "Test clock deleted.")
