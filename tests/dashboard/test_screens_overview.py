"""Overview (07 §5) and onboarding (07 §2): figures against hand-computed data, the SVG charts, the checklist
ticked from real data, the business details form, RBAC and mode isolation. "Now" is 2025-03-03T09:00:00Z."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from typing import Any

from sqlalchemy import insert, select, update

from duro.context import Actor, RepositoryContext
from duro.dashboard.screens.overview_queries import recovery_weeks
from duro.db.engine import Database
from duro.kit.clock import FrozenClock
from duro.kit.ids import new_id
from duro.models.billing import dunning_schedules
from duro.models.core import audit_logs, tenants
from duro.models.settings import metrics_snapshots
from duro.models.webhooks import webhook_endpoints
from tests.analytics.seed import Seed
from tests.conftest import TenantKeys
from tests.dashboard.conftest import NOW

NS = "{http://www.w3.org/2000/svg}"
DAY = timedelta(days=1)


def _testid(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{re.escape(testid)}">(.*?)</', html, re.S)
    assert found, f"no {testid}"
    return found.group(1).strip()


def _figure(html: str, testid: str) -> ET.Element:
    found = re.search(rf'<figure class="chart-box" data-testid="{re.escape(testid)}">(.*?)</figure>', html, re.S)
    assert found, f"no chart {testid}"
    return ET.fromstring(found.group(1))


async def _started(db: Database, tenant_id: str, schedule_id: str, started: Any) -> None:
    d = dunning_schedules
    async with db.transaction("test") as conn:
        await conn.execute(
            update(d).where(d.c.tenant_id == tenant_id, d.c.id == schedule_id).values(started_at=started)
        )


async def _seed_business(db: Database, tenant: TenantKeys) -> None:
    """Hand-computed figures (04 §7):
    MRR NGN = round(500,000 + 1,200,000/12 + 10,000×52/12) = round(643,333.33) = 643,333 (active + past_due);
    new MRR = the weekly plan activated 5 days ago = round(43,333.33) = 43,333;
    churn base = 4 (activated ≤ t0, not ended by t0): one voluntary, one involuntary → 25.00% each;
    at risk NGN 100,000; recovered 30 days NGN 40,000 and USD 7,000; rate NGN 40,000 / (40,000 + 10,000) = 80%."""
    seed = Seed(db, tenant.id)
    monthly = await seed.plan(500_000)
    yearly = await seed.plan(1_200_000, interval="year")
    weekly = await seed.plan(10_000, interval="week")
    await seed.sub(monthly, "active")
    past_due = await seed.sub(yearly, "past_due")
    await seed.sub(weekly, "active", activated=NOW - 5 * DAY)
    await seed.sub(monthly, "trialing", activated=None)
    await seed.sub(monthly, "canceled", ended=NOW - 2 * DAY, reason="canceled_by_customer")
    await seed.sub(monthly, "canceled", ended=NOW - 3 * DAY, reason="dunning_canceled")
    open_ = await seed.schedule(past_due, "scheduled", 100_000)
    await _started(db, tenant.id, open_, NOW - 2 * DAY)  # week 0
    won = await seed.schedule(past_due, "recovered", 40_000, recovered=NOW - DAY)
    await _started(db, tenant.id, won, NOW - 10 * DAY)  # entered in week 1, recovered in week 0
    lost = await seed.schedule(past_due, "exhausted", 10_000, exhausted=NOW - 5 * DAY)
    await _started(db, tenant.id, lost, NOW - 20 * DAY)  # week 2
    usd = await seed.schedule(past_due, "recovered", 7_000, "USD", recovered=NOW - 9 * DAY)
    await _started(db, tenant.id, usd, NOW - 15 * DAY)  # entered week 2, recovered week 1
    old = await seed.schedule(past_due, "recovered", 999_999, recovered=NOW - 90 * DAY)
    await _started(db, tenant.id, old, NOW - 100 * DAY)  # outside the 12 weeks and the 30 days


async def _snapshot(db: Database, tenant: TenantKeys, day: date, mrr: dict[str, int]) -> None:
    async with db.transaction("test") as conn:
        await conn.execute(
            insert(metrics_snapshots).values(
                tenant_id=tenant.id,
                day=day,
                mrr=mrr,
                active_subscriptions=1,
                trialing=0,
                past_due=0,
                paused=0,
                unpaid=0,
                created_at=NOW,
            )
        )


async def test_overview_figures_match_the_hand_computed_data_and_the_api(
    tenant: TenantKeys, dash_as: Any, db: Database
) -> None:
    await _seed_business(db, tenant)
    dash = await dash_as(tenant, "read_only")
    page = await dash.get("/dashboard")
    assert page.status_code == 200
    html = page.text
    assert _testid(html, "kpi-mrr-NGN") == "₦6,433.33"
    assert _testid(html, "kpi-active") == "2"
    assert _testid(html, "kpi-trialing") == "1"
    assert _testid(html, "kpi-past-due") == "1"
    assert _testid(html, "kpi-churn-voluntary") == "25.00%"
    assert _testid(html, "kpi-churn-involuntary") == "25.00%"
    assert _testid(html, "kpi-new-mrr-NGN") == "₦433.33"
    assert _testid(html, "at-risk-NGN") == "₦1,000.00"
    assert _testid(html, "recovered-NGN") == "₦400.00"
    assert _testid(html, "recovered-USD") == "$70.00"
    assert _testid(html, "at-risk-USD") == "$0.00"
    assert _testid(html, "recovery-rate") == "80.00%"
    # The same service as the API: the cards are its numbers.
    api = (await dash.client.get("/v1/analytics/overview", headers=tenant.auth())).json()
    assert api["mrr"] == {"NGN": 643_333}
    assert api["newMrr30d"] == {"NGN": 43_333}
    assert api["atRiskRevenue"] == {"NGN": 100_000}
    assert api["recoveredRevenue30d"] == {"NGN": 40_000, "USD": 7_000}


async def test_recovery_weeks_series(tenant: TenantKeys, db: Database, settings: Any) -> None:
    await _seed_business(db, tenant)
    async with db.reader("test") as conn:
        ctx = RepositoryContext(conn, tenant.id, "test", FrozenClock(NOW), settings, Actor("system", None, "test"))
        weeks = await recovery_weeks(ctx)
    assert set(weeks) == {"NGN", "USD"}
    ngn = weeks["NGN"]
    assert len(ngn) == 12
    # Oldest first: the last three entries are weeks 2, 1 and 0 before now.
    assert [(a, b) for _, a, b in ngn[-3:]] == [(10_000, 0), (40_000, 0), (100_000, 40_000)]
    assert all((a, b) == (0, 0) for _, a, b in ngn[:-3])  # the 100-day-old schedule is outside
    assert [(a, b) for _, a, b in weeks["USD"][-3:]] == [(7_000, 0), (0, 7_000), (0, 0)]
    assert ngn[-1][0] == "24 Feb"  # the week (24 Feb 09:00, 3 Mar 09:00]
    assert ngn[0][0] == "9 Dec"


async def test_the_recovery_chart_is_svg_with_both_series(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    await _seed_business(db, tenant)
    dash = await dash_as(tenant, "finance")
    html = (await dash.get("/dashboard")).text
    chart = _figure(html, "recovery-chart-NGN")
    assert chart.get("role") == "img"
    assert "Entering dunning vs recovered (NGN)" in (chart.find(f"{NS}title").text or "")  # type: ignore[union-attr]
    bars = [r for r in chart.iter(f"{NS}rect") if r.get("class") == "chart-bar"]
    assert len(bars) == 24  # 12 weeks × 2 series
    tips = [t.text for r in bars for t in r.iter(f"{NS}title")]
    assert "24 Feb — Entering dunning: 1k" in tips  # ₦1,000.00 in major units
    assert "24 Feb — Recovered: 400" in tips
    assert _figure(html, "recovery-chart-USD") is not None
    assert "style=" not in html


async def test_mrr_chart_reads_90_days_of_snapshots(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    today = NOW.date()
    await _snapshot(db, tenant, today - timedelta(days=100), {"NGN": 1})  # older than 90 days: not drawn
    await _snapshot(db, tenant, today - timedelta(days=2), {"NGN": 600_000})
    await _snapshot(db, tenant, today - timedelta(days=1), {"NGN": 643_333})
    await _snapshot(db, tenant, today, {"NGN": 643_333, "USD": 10_000})
    dash = await dash_as(tenant, "read_only")
    html = (await dash.get("/dashboard")).text
    ngn = _figure(html, "mrr-chart-NGN")
    points = [c for c in ngn.iter(f"{NS}circle")]
    assert len(points) == 3
    tips = [t.text for c in points for t in c.iter(f"{NS}title")]
    assert tips == ["1 Mar: 6k", "2 Mar: 6.4k", "3 Mar: 6.4k"]
    usd = _figure(html, "mrr-chart-USD")
    assert [t.text for c in usd.iter(f"{NS}circle") for t in c.iter(f"{NS}title")] == [
        "1 Mar: 0",
        "2 Mar: 0",
        "3 Mar: 100",
    ]


async def test_empty_tenant_overview(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    html = (await dash.get("/dashboard")).text
    assert _testid(html, "kpi-mrr-NGN") == "₦0.00"
    assert _testid(html, "kpi-active") == "0"
    assert _testid(html, "kpi-churn-voluntary") == "—"  # no base: the API's null
    assert _testid(html, "recovery-rate") == "—"
    assert "No snapshots yet" in html
    assert "No payment has entered recovery in the last 12 weeks." in html
    assert "No events yet in test mode" in html
    assert 'data-testid="overview-checklist"' in html


async def test_latest_ten_events(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "developer")
    for n in range(12):
        made = await dash.client.post("/v1/customers", json={"name": f"C{n}"}, headers=tenant.auth())
        assert made.status_code == 201
    api = (await dash.client.get("/v1/events", params={"limit": 10}, headers=tenant.auth())).json()
    html = (await dash.get("/dashboard")).text
    section = html.split('data-testid="latest-events"', 1)[1]
    shown = re.findall(r'href="/dashboard/developers/events/(evt_\w+)"', section)
    assert shown == [e["id"] for e in api["items"]]
    assert len(shown) == 10


async def test_live_mode_shows_only_live_data(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    await _seed_business(db, tenant)  # all in test mode
    made = await dash_as(tenant, "owner", mode="live")
    await made.client.post("/v1/customers", json={"name": "Test only"}, headers=tenant.auth())
    html = (await made.get("/dashboard")).text
    assert 'data-testid="test-banner"' not in html
    assert _testid(html, "kpi-mrr-NGN") == "₦0.00"
    assert _testid(html, "kpi-active") == "0"
    assert _testid(html, "at-risk-NGN") == "₦0.00"
    assert 'data-testid="at-risk-USD"' not in html
    assert "No events yet in live mode" in html


# --- onboarding ---


async def _checks(html: str) -> dict[str, bool]:
    return {k: v == "yes" for k, v in re.findall(r'data-testid="check-(\w+)" data-done="(yes|no)"', html)}


async def test_checklist_is_ticked_from_real_data(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    dash = await dash_as(tenant, "owner")
    page = await dash.get("/dashboard/onboarding")
    assert page.status_code == 200
    # Provisioning made the test keys; nothing else exists yet.
    assert await _checks(page.text) == {"keys": True, "plan": False, "webhook": False, "kyc": False}
    for href in ("/dashboard/developers/api-keys", "/dashboard/plans", "/dashboard/developers/webhooks"):
        assert f'href="{href}"' in page.text
    assert 'href="/dashboard/settings/kyc"' in page.text

    await Seed(db, tenant.id).plan(5_000)
    async with db.transaction("live") as conn:  # an endpoint in either mode counts
        await conn.execute(
            insert(webhook_endpoints).values(
                id=new_id("we"),
                tenant_id=tenant.id,
                url="https://example.com/hooks",
                status="enabled",
                secret_ciphertext="x",
                secret_last4="abcd",
                created_at=NOW,
                updated_at=NOW,
            )
        )
    async with db.core_transaction() as conn:
        await conn.execute(update(tenants).where(tenants.c.id == tenant.id).values(kyc_status="pending"))
    page = await dash.get("/dashboard/onboarding")
    assert await _checks(page.text) == {"keys": True, "plan": True, "webhook": True, "kyc": True}
    assert 'data-testid="overview-checklist"' in (await dash.get("/dashboard")).text  # business details still due

    saved = await dash.post(
        "/dashboard/onboarding", {"name": "Acme Ltd", "defaultCurrency": "NGN", "supportEmail": "help@acme.ng"}
    )
    assert saved.status_code == 303
    overview = (await dash.get("/dashboard")).text
    assert 'data-testid="overview-checklist"' not in overview  # complete: the overview stops showing it
    assert "You are all set" in (await dash.get("/dashboard/onboarding")).text


async def test_onboarding_saves_business_details_with_the_business_service(
    tenant: TenantKeys, dash_as: Any, db: Database
) -> None:
    dash = await dash_as(tenant, "owner")
    answer = await dash.post(
        "/dashboard/onboarding", {"name": "Acme Stores", "defaultCurrency": "GHS", "supportEmail": "Care@Acme.com"}
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard/onboarding"
    async with db.core_transaction() as conn:
        row = (await conn.execute(select(tenants).where(tenants.c.id == tenant.id))).one()
        audits = (
            await conn.execute(
                select(audit_logs.c.action, audit_logs.c.after).where(
                    audit_logs.c.tenant_id == tenant.id, audit_logs.c.action == "tenant.updated"
                )
            )
        ).all()
    assert (row.name, row.default_currency, row.support_email, row.slug) == (
        "Acme Stores",
        "GHS",
        "care@acme.com",
        tenant.slug,  # onboarding does not touch the slug
    )
    assert [a.after for a in audits] == [
        {"name": "Acme Stores", "defaultCurrency": "GHS", "supportEmail": "care@acme.com"}
    ]
    page = await dash.get("/dashboard/onboarding")
    assert "Business details saved." in page.text


async def test_onboarding_validation_errors_change_nothing(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    dash = await dash_as(tenant, "owner")
    blank = await dash.post("/dashboard/onboarding", {"name": "Acme Ltd", "defaultCurrency": "NGN", "supportEmail": ""})
    assert blank.status_code == 422
    assert 'data-field="supportEmail"' in blank.text
    assert "is required" in blank.text
    bad = await dash.post(
        "/dashboard/onboarding", {"name": "Acme Ltd", "defaultCurrency": "BTC", "supportEmail": "help@acme.ng"}
    )
    assert bad.status_code == 422
    assert 'data-field="defaultCurrency"' in bad.text
    async with db.core_transaction() as conn:
        row = (await conn.execute(select(tenants).where(tenants.c.id == tenant.id))).one()
    assert (row.default_currency, row.support_email) == ("NGN", None)


async def test_onboarding_form_needs_tenant_manage_and_csrf(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    body = {"name": "Hacked", "defaultCurrency": "NGN", "supportEmail": "x@example.com"}
    admin = await dash_as(tenant, "admin")
    page = await admin.get("/dashboard/onboarding")
    assert page.status_code == 200
    assert 'data-testid="onboarding-form"' not in page.text
    assert (await admin.post("/dashboard/onboarding", body)).status_code == 403
    owner = await dash_as(tenant, "owner")
    assert (await owner.client.post("/dashboard/onboarding", data=body)).status_code == 403
    async with db.core_transaction() as conn:
        row = (await conn.execute(select(tenants).where(tenants.c.id == tenant.id))).one()
    assert row.name == "Acme Ltd"
