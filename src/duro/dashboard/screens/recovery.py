"""Dashboard screens: the recovery ledger (07 §3, §7) — header figures, the dunning schedules table, a schedule's
timeline and its two actions (pay now, cancel the subscription). Recovery settings live in `recovery_settings`,
mounted on this module's router.

Reads and writes call the services the `/v1` routers call: `recovery.service` (schedules), `analytics.service`
(the recovery summary of `/v1/analytics/failures`), `invoices.service` and `invoices.pay` (pay now, in the two
transactions of 03 §10), `subscriptions.actions` (cancel).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final, get_args

from fastapi import APIRouter, Request
from starlette.responses import Response

from duro.analytics import service as analytics
from duro.billing.dunning import RAIL_CHAIN
from duro.context import RepositoryContext
from duro.dashboard.pages import fail
from duro.dashboard.screens.recovery_settings import router as settings_router
from duro.dashboard.shell import dash, dash_post, keep, optional, parse
from duro.invoices import pay
from duro.invoices import service as invoices
from duro.invoices.schemas import PayRequest
from duro.kit.errors import DuroError
from duro.kit.jsonenc import format_ts
from duro.recovery import service
from duro.recovery.schemas import ScheduleState
from duro.subscriptions import actions
from duro.subscriptions.schemas import CancelRequest

router = APIRouter(prefix="/dashboard", include_in_schema=False)
router.include_router(settings_router)

WINDOWS: Final[tuple[int, ...]] = (7, 30, 90)
DEFAULT_WINDOW: Final = 30
STATES: Final[tuple[str, ...]] = get_args(ScheduleState)
# The gateway's failure codes by name (04 §1); the filter matches the stored code exactly.
FAILURE_CODES: Final[tuple[str, ...]] = (
    "insufficient_funds",
    "expired_card",
    "card_not_supported",
    "no_payment_method",
    "do_not_honor",
    "stolen_card",
    "processor_error",
    "timeout",
    "kyc_required",
)
# A schedule whose invoice a merchant may still charge (04 §4: `exhausted` only while the subscription is past due,
# which the pay service itself checks), and one whose subscription a cancel still affects.
PAYABLE_STATES: Final = frozenset({"scheduled", "awaiting_customer", "exhausted"})
CANCELABLE_STATES: Final = frozenset({"scheduled", "awaiting_customer", "exhausted"})


def relative(stamp: str | None, now: datetime) -> str:
    """`in 3 h`, `2 d ago`: the ledger's "next attempt" next to its UTC value (07 §7)."""
    if not stamp:
        return ""
    at = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    delta = at - now
    seconds = abs(delta.total_seconds())
    if seconds < 60:
        return "now"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            amount = f"{int(seconds // size)} {unit}"
            break
    return f"in {amount}" if delta > timedelta(0) else f"{amount} ago"


def _choice(value: str | None, allowed: tuple[str, ...]) -> str | None:
    return value if value in allowed else None


def _window(raw: str | None) -> int:
    try:
        days = int(raw or DEFAULT_WINDOW)
    except ValueError:
        return DEFAULT_WINDOW
    return days if days in WINDOWS else DEFAULT_WINDOW


@router.get("/recovery")
async def ledger(request: Request) -> Response:
    call = await dash(request)
    q = request.query_params
    days = _window(q.get("window"))
    filters = {
        "state": _choice(q.get("state"), STATES),
        "failure_code": _choice(q.get("failureCode"), FAILURE_CODES),
        "rail": _choice(q.get("rail"), RAIL_CHAIN),
    }
    page = call.page_request()

    async def load(ctx: RepositoryContext) -> tuple[dict[str, Any], dict[str, Any], dict[str, dict[str, Any]]]:
        now = ctx.clock.now()
        summary = await analytics.failure_summary(
            ctx, start=now - timedelta(days=days), end=now, currency=None, test_clock_id=None
        )
        schedules = await service.list_schedules(ctx, page, **filters)
        labels = await service.ledger_labels(ctx, [i["subscriptionId"] for i in schedules["items"]])
        return summary, schedules, labels

    try:
        summary, schedules, labels = await call.read(load)
    except DuroError as exc:  # a stale cursor from another filter set
        raise fail(request, exc.status, exc.reason or "invalid_request", exc.message) from exc
    now = call.runtime.clock.now()
    rows = []
    for item in schedules["items"]:
        label = labels.get(item["subscriptionId"], {})
        rows.append(
            {**item, "label": label, "nextRelative": relative(item["nextAttemptAt"], label.get("clockTime") or now)}
        )
    return await call.screen(
        "screens/recovery/ledger.html",
        summary=summary,
        schedules=schedules,
        rows=rows,
        window=days,
        windows=WINDOWS,
        states=STATES,
        failure_codes=FAILURE_CODES,
        rails=RAIL_CHAIN,
        filtered=any(v is not None for v in filters.values()),
    )


def timeline(schedule: dict[str, Any], invoice: dict[str, Any]) -> list[dict[str, Any]]:
    """Decisions and the invoice's charge attempts in one list, oldest first (07 §7). At equal instants the
    attempt comes first: a decision is always made about the attempt that just failed."""
    entries: list[dict[str, Any]] = []
    for d in schedule["decisions"] or []:
        entries.append({"kind": "decision", "at": d["at"], "order": 1, **d})
    for t in invoice.get("attempts", []):
        entries.append({"kind": "transaction", "at": t["processedAt"] or t["createdAt"], "order": 0, **t})
    entries.sort(key=lambda e: (e["at"] or "", e["order"]))
    return entries


async def _detail(ctx: RepositoryContext, dun_id: str) -> dict[str, Any]:
    schedule = await service.get_schedule(ctx, dun_id)
    invoice = await invoices.get_invoice(ctx, schedule["invoiceId"])
    labels = await service.ledger_labels(ctx, [schedule["subscriptionId"]])
    return {"schedule": schedule, "invoice": invoice, "label": labels.get(schedule["subscriptionId"], {})}


@router.get("/recovery/{dun_id}")
async def detail(request: Request, dun_id: str) -> Response:
    call = await dash(request)
    try:
        found = await call.read(lambda ctx: _detail(ctx, dun_id))
    except DuroError as exc:
        raise fail(request, exc.status, exc.reason or "resource_missing", exc.message) from exc
    schedule, invoice, label = found["schedule"], found["invoice"], found["label"]
    now = label.get("clockTime") or call.runtime.clock.now()
    return await call.screen(
        "screens/recovery/detail.html",
        schedule=schedule,
        invoice=invoice,
        label=label,
        entries=timeline(schedule, invoice),
        next_relative=relative(schedule["nextAttemptAt"], now),
        clock_time=format_ts(label["clockTime"]) if label.get("clockTime") else None,
        payable=schedule["state"] in PAYABLE_STATES and invoice["status"] in ("open", "uncollectible"),
        cancelable=schedule["state"] in CANCELABLE_STATES
        and label.get("subscriptionStatus") not in (None, "canceled", "expired", "incomplete_expired"),
    )


async def _schedule_or_404(request: Request, ctx_read: Any, dun_id: str) -> dict[str, Any]:
    try:
        schedule: dict[str, Any] = await ctx_read(lambda ctx: service.get_schedule(ctx, dun_id))
    except DuroError as exc:
        raise fail(request, exc.status, exc.reason or "resource_missing", exc.message) from exc
    return schedule


@router.post("/recovery/{dun_id}/pay")
async def pay_now(request: Request, dun_id: str) -> Response:
    """Charge the schedule's invoice now with the merchant's pay route (04 §4): on success `recover()` runs; a
    decline keeps the schedule as it was and is shown as an error."""
    call, form = await dash_post(request, "invoice.pay")
    schedule = await _schedule_or_404(request, call.read, dun_id)
    here = f"/dashboard/recovery/{dun_id}"
    try:
        body = parse(PayRequest, keep([("paymentMethodId", optional(form, "paymentMethodId"))]))
        result = await call.charging(lambda ctx: pay.prepare_pay(ctx, schedule["invoiceId"], body))
    except DuroError as exc:
        return call.done(here, f"Payment not taken: {exc.message}", "error")
    return call.done(here, f"Invoice {result['id']} paid.")


@router.post("/recovery/{dun_id}/cancel")
async def cancel_subscription(request: Request, dun_id: str) -> Response:
    """Cancel the schedule's subscription now (03 §7); its open invoice is voided and the schedule `canceled`."""
    call, _form = await dash_post(request, "subscription.cancel")
    schedule = await _schedule_or_404(request, call.read, dun_id)
    here = f"/dashboard/recovery/{dun_id}"
    try:
        await call.write(lambda ctx: actions.cancel_subscription(ctx, schedule["subscriptionId"], CancelRequest()))
    except DuroError as exc:
        return call.done(here, exc.message, "error")
    return call.done(here, "Subscription canceled.")
