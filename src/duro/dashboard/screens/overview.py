"""Dashboard screens: the overview (07 §5) and first-run onboarding (07 §2).

The KPI cards are the `/v1/analytics/overview` service's answer and the recovery rate is the
`/v1/analytics/failures` one (tenant currency, last 30 days), so the dashboard and the API can never disagree. The
charts are server-rendered SVG (`dashboard.charts`): MRR from the daily `metrics_snapshots`, and money entering
dunning versus recovered per week from the dunning schedules (`overview_queries`).
"""

from __future__ import annotations

from datetime import date
from typing import Any, Final

from fastapi import APIRouter, Request
from markupsafe import Markup
from starlette.responses import Response

from duro.analytics import service as analytics
from duro.analytics.snapshots import read_snapshots
from duro.dashboard.charts import bar_chart, compact, line_chart
from duro.dashboard.screens.business import load_business, save_business, submitted
from duro.dashboard.screens.overview_queries import WEEKS, checklist, recovery_weeks
from duro.dashboard.shell import DashCall, dash, dash_post, field_errors
from duro.events import service as events
from duro.kit.errors import Detail, DuroError, validation
from duro.kit.pagination import PageRequest

router = APIRouter(prefix="/dashboard", include_in_schema=False)

MRR_DAYS: Final = 90
LATEST_EVENTS: Final = 10
ONBOARDING: Final = "/dashboard/onboarding"


def _major(value: float) -> str:
    """Chart ticks in major units (amounts are stored in minor units, 100 per major unit for every currency)."""
    return compact(value / 100)


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.2f}%"


def _day_label(iso_day: str) -> str:
    day = date.fromisoformat(iso_day)
    return f"{day.day} {day:%b}"


def mrr_charts(snapshots: list[dict[str, Any]], currency: str) -> list[tuple[str, Markup]]:
    """One MRR line per currency seen in the snapshots (the tenant currency when there are none). A day without
    MRR in a currency is 0 for it: a snapshot lists only non-zero currencies."""
    currencies = sorted({c for s in snapshots for c in s["mrr"]}) or [currency]
    charts = []
    for cur in currencies:
        points = [(_day_label(s["day"]), float(s["mrr"].get(cur, 0))) for s in snapshots]
        svg = line_chart(
            points,
            title=f"MRR ({cur}), last {MRR_DAYS} days",
            desc=f"Monthly recurring revenue in {cur} from the daily snapshots, oldest day first.",
            fmt=_major,
            ident=f"mrr-{cur}",
            empty_message="No snapshots yet: the first is taken at 00:05 UTC.",
        )
        charts.append((cur, Markup(svg)))  # noqa: S704 — built by charts.py, which escapes every label
    return charts


def recovery_charts(weeks: dict[str, list[tuple[str, int, int]]], currency: str) -> list[tuple[str, Markup]]:
    series = weeks or {currency: []}
    charts = []
    for cur, pairs in series.items():
        svg = bar_chart(
            [(label, float(a), float(b)) for label, a, b in pairs],
            title=f"Entering dunning vs recovered ({cur}), last {WEEKS} weeks",
            series=("Entering dunning", "Recovered"),
            desc=f"Per week, the amount of {cur} payments that failed and entered recovery, and the amount recovered.",
            fmt=_major,
            ident=f"recovery-{cur}",
            empty_message=f"No payment has entered recovery in the last {WEEKS} weeks.",
        )
        charts.append((cur, Markup(svg)))  # noqa: S704 — built by charts.py, which escapes every label
    return charts


@router.get("")
async def overview(request: Request) -> Response:
    call = await dash(request)
    figures = await call.read(lambda ctx: analytics.overview(ctx, test_clock_id=None))
    failures = await call.read(
        lambda ctx: analytics.failure_summary(ctx, start=None, end=None, currency=None, test_clock_id=None)
    )
    snapshots = await call.read(lambda ctx: read_snapshots(ctx, MRR_DAYS))
    weeks = await call.read(recovery_weeks)
    latest = await call.read(lambda ctx: events.list_events(ctx, PageRequest(LATEST_EVENTS), None, None, None))
    steps = await checklist(call.runtime, call.tenant_id)
    currency = failures["currency"]
    # Every currency with MRR, at-risk or recovered money gets a row; the tenant currency always does.
    money_currencies = sorted(
        {currency, *figures["mrr"], *figures["newMrr30d"], *figures["atRiskRevenue"], *figures["recoveredRevenue30d"]}
    )
    return await call.screen(
        "screens/overview/overview.html",
        figures=figures,
        failures=failures,
        currency=currency,
        money_currencies=money_currencies,
        churn={k: _percent(v) for k, v in figures["churnRate30d"].items()},
        recovery_rate=_percent(failures["recoveryRate"]),
        mrr_charts=mrr_charts(snapshots, currency),
        recovery_charts=recovery_charts(weeks, currency),
        events=latest["items"],
        checklist=steps,
    )


async def _onboarding_page(call: DashCall, status: int = 200, **context: Any) -> Response:
    tenant = await load_business(call)
    steps = await checklist(call.runtime, call.tenant_id)
    values = {**tenant, **context.pop("values", {})}
    return await call.screen(
        "screens/overview/onboarding.html",
        status=status,
        tenant=tenant,
        values=values,
        errors=context.pop("errors", {}),
        checklist=steps,
        currencies=call.runtime.settings.currency_list,
        **context,
    )


@router.get("/onboarding")
async def onboarding(request: Request) -> Response:
    call = await dash(request)
    return await _onboarding_page(call)


@router.post("/onboarding")
async def onboarding_save(request: Request) -> Response:
    """Business details of the first run: the business settings update (same service, permission and audit);
    the support email is required here because it is what marks this step done."""
    call, form = await dash_post(request, "business_settings.update")
    values = submitted(form, ("name", "defaultCurrency", "supportEmail"))
    try:
        if not values.get("supportEmail"):
            raise validation("supportEmail: is required", [Detail("supportEmail", "is required")])
        await save_business(call, values)
    except DuroError as exc:
        return await _onboarding_page(call, 422, values=values, errors=field_errors(exc))
    return call.done(ONBOARDING, "Business details saved. Next: work through the checklist.")
