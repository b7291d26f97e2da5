"""GET /v1/analytics/overview: every formula of 04 §7 against hand-computed values."""

from __future__ import annotations

from datetime import timedelta

import httpx

from tests.analytics.conftest import NOW, T0, get_json
from tests.analytics.seed import Seed
from tests.conftest import TenantKeys

MS = timedelta(milliseconds=1)


async def test_mrr_spec_example_promos_and_rounding_once(
    client: httpx.AsyncClient, tenant: TenantKeys, seed: Seed
) -> None:
    # 04 §7 example: yearly 1,200,000 → 100,000; weekly 10,000 → 43,333.33…; monthly 500,000 → 500,000.
    yearly, weekly, monthly = (
        await seed.plan(1_200_000, interval="year"),
        await seed.plan(10_000, interval="week"),
        await seed.plan(500_000),
    )
    await seed.sub(yearly)
    await seed.sub(weekly)
    await seed.sub(monthly, "past_due")  # past_due counts toward MRR
    await seed.sub(monthly, "trialing", activated=None)  # not MRR
    await seed.sub(monthly, "paused")  # not MRR
    await seed.sub(monthly, "unpaid", ended=T0 - timedelta(days=3), reason="dunning_unpaid")
    await seed.sub(monthly, "canceled", ended=T0 - timedelta(days=3), reason="canceled_by_customer")

    # USD, plan 10,000 a month with recurring and non-recurring promos.
    usd = await seed.plan(10_000, "USD")
    other_usd = await seed.plan(20_000, "USD")
    forever_pct = await seed.promo("percentage", 15, "forever")  # 1,500 off → 8,500
    await seed.sub(usd, promo_id=forever_pct)
    repeating_fixed = await seed.promo("fixed", 2_500, "repeating", currency="USD", cycles=3)  # → 7,500
    await seed.sub(usd, promo_id=repeating_fixed, cycles_left=2)
    await seed.sub(usd, promo_id=repeating_fixed, cycles_left=0)  # cycles used up → 10,000
    once = await seed.promo("percentage", 50, "once")  # ignored → 10,000
    await seed.sub(usd, promo_id=once, cycles_left=1)
    scoped = await seed.promo("percentage", 50, "forever", plan_id=other_usd)  # scoped to another plan → 10,000
    await seed.sub(usd, promo_id=scoped)
    ngn_fixed = await seed.promo("fixed", 1_000, "forever", currency="NGN")  # wrong currency → 10,000
    await seed.sub(usd, promo_id=ngn_fixed)
    # Percentage discounts round half up per invoice: 33% of 10,001 = 3,300.33 → 3,300; 15% of 10,010 = 1,501.5 → 1,502.
    odd = await seed.plan(10_001, "USD")
    await seed.sub(odd, promo_id=await seed.promo("percentage", 33, "forever"))  # 6,701
    half = await seed.plan(10_010, "USD")
    await seed.sub(half, promo_id=forever_pct)  # 8,508
    # Two quarterly 1,001 → 333.666… each; rounded once: 667 (rounding each first would give 668).
    quarterly = await seed.plan(1_001, "USD", "quarter")
    await seed.sub(quarterly)
    await seed.sub(quarterly)
    # USD = 8,500 + 7,500 + 10,000 × 4 + 6,701 + 8,508 + 667.33… = 71,876.33… → 71,876

    # GBP: 1 minor unit every 2 months → 0.5 a month → half up → 1.
    await seed.sub(await seed.plan(1, "GBP", "month", 2))
    # EUR: only a trialing subscription and a 0-amount plan → no EUR key anywhere.
    await seed.sub(await seed.plan(9_000, "EUR"), "trialing", activated=None)
    await seed.sub(await seed.plan(0, "EUR"))
    # A 100 % forever discount makes an active subscription worth 0.
    await seed.sub(await seed.plan(4_000, "KES"), promo_id=await seed.promo("percentage", 100, "forever"))

    body = await get_json(client, "/v1/analytics/overview", tenant)
    assert body["object"] == "analytics_overview"
    assert body["asOf"] == "2025-01-31T09:00:00.000Z"
    assert body["mrr"] == {"NGN": 643_333, "USD": 71_876, "GBP": 1}
    assert (
        body["activeSubscriptions"] == 2 + 6 + 2 + 2 + 1 + 1 + 1
    )  # NGN, USD promos, odd/half, quarterly, GBP, EUR, KES
    assert (body["trialing"], body["pastDue"], body["paused"], body["unpaid"]) == (2, 1, 1, 1)
    # Nothing activated in the last 30 days, nothing recovered, nothing open.
    assert body["newMrr30d"] == {}
    assert body["recoveredRevenue30d"] == {}
    assert body["atRiskRevenue"] == {}


async def test_churn_counts_and_rates(client: httpx.AsyncClient, tenant: TenantKeys, seed: Seed) -> None:
    plan = await seed.plan(500_000)
    for _ in range(7):
        await seed.sub(plan)  # base, still active
    await seed.sub(plan, "canceled", ended=T0 + timedelta(days=9), reason="canceled_by_customer")  # voluntary
    await seed.sub(plan, "canceled", ended=NOW, reason="canceled_by_merchant")  # voluntary (now is inclusive)
    await seed.sub(plan, "unpaid", ended=T0 + timedelta(days=19), reason="dunning_unpaid")  # involuntary
    await seed.sub(plan, "canceled", ended=T0 + MS, reason="dunning_canceled")  # involuntary
    await seed.sub(plan, "expired", ended=T0 + timedelta(days=14), reason="max_cycles")  # base, not churn
    # Not in the base:
    await seed.sub(plan, "canceled", ended=T0, reason="canceled_by_customer")  # ended at t0 (not > t0)
    await seed.sub(plan, "canceled", ended=T0 - timedelta(days=20), reason="canceled_by_customer")
    await seed.sub(plan, "canceled", activated=T0 + MS, ended=T0 + timedelta(days=2), reason="canceled_by_customer")
    await seed.sub(
        plan, "incomplete_expired", activated=None, ended=T0 + timedelta(days=1), reason="incomplete_expired"
    )
    # Base member whose cancellation lies in the future of "now" (possible with test clocks): not churn yet.
    await seed.sub(plan, "canceled", ended=NOW + MS, reason="canceled_by_customer")
    # base = 7 + 5 + 1 = 13; voluntary 2/13 = 0.153846… → 0.1538; involuntary 2/13 → 0.1538;
    # total 4/13 = 0.307692… → 0.3077 (the sum of the rounded rates would be 0.3076).
    body = await get_json(client, "/v1/analytics/overview", tenant)
    assert body["churnRate30d"] == {"voluntary": 0.1538, "involuntary": 0.1538, "total": 0.3077}
    # The subscription activated inside the window counts toward new MRR whatever its status.
    assert body["newMrr30d"] == {"NGN": 500_000}


async def test_churn_rate_rounds_half_up(client: httpx.AsyncClient, tenant: TenantKeys, seed: Seed) -> None:
    plan = await seed.plan(1_000)
    for _ in range(31):
        await seed.sub(plan)
    await seed.sub(plan, "canceled", ended=NOW - timedelta(days=1), reason="canceled_by_customer")
    body = await get_json(client, "/v1/analytics/overview", tenant)
    # 1/32 = 0.03125 → 0.0313 (half up; half-to-even would give 0.0312)
    assert body["churnRate30d"] == {"voluntary": 0.0313, "involuntary": 0.0, "total": 0.0313}


async def test_new_mrr_window_edges(client: httpx.AsyncClient, tenant: TenantKeys, seed: Seed) -> None:
    ngn = await seed.plan(300_000)
    usd = await seed.plan(1_200, "USD", "year")  # 100 a month
    await seed.sub(ngn, activated=T0)  # t0 itself is outside (t0, now]
    await seed.sub(ngn, activated=T0 + MS)  # in
    await seed.sub(ngn, "past_due", activated=NOW)  # now is inside
    await seed.sub(ngn, activated=NOW + MS)  # after now: outside
    await seed.sub(
        usd, "canceled", activated=T0 + timedelta(days=3), ended=T0 + timedelta(days=4), reason="canceled_by_customer"
    )
    await seed.sub(
        usd, "unpaid", activated=T0 + timedelta(days=3), ended=T0 + timedelta(days=25), reason="dunning_unpaid"
    )
    body = await get_json(client, "/v1/analytics/overview", tenant)
    assert body["newMrr30d"] == {"NGN": 600_000, "USD": 200}
    assert body["mrr"] == {"NGN": 1_200_000}
    # Only the one activated at t0 is in the base (activatedAt <= t0), and it did not churn.
    assert body["churnRate30d"] == {"voluntary": 0.0, "involuntary": 0.0, "total": 0.0}


async def test_recovered_and_at_risk_revenue(client: httpx.AsyncClient, tenant: TenantKeys, seed: Seed) -> None:
    sub = await seed.sub(await seed.plan(100_000))
    await seed.schedule(sub, "scheduled", 100_000)
    await seed.schedule(sub, "in_flight", 50_000, amount_paid=20_000)  # 30,000 left
    await seed.schedule(sub, "awaiting_customer", 7_000, "USD")
    await seed.schedule(sub, "exhausted", 99_999, exhausted=NOW - timedelta(days=1))  # neither
    await seed.schedule(sub, "canceled", 88_888)  # neither
    await seed.schedule(sub, "recovered", 40_000, recovered=NOW)  # in (t0, now]
    await seed.schedule(sub, "recovered", 2_500, "USD", recovered=T0 + MS)  # in
    await seed.schedule(sub, "recovered", 1_000_000, recovered=T0)  # t0 excluded
    await seed.schedule(sub, "recovered", 3_000, "GHS", recovered=NOW + MS)  # after now
    body = await get_json(client, "/v1/analytics/overview", tenant)
    assert body["atRiskRevenue"] == {"NGN": 130_000, "USD": 7_000}
    assert body["recoveredRevenue30d"] == {"NGN": 40_000, "USD": 2_500}


async def test_empty_tenant(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    body = await get_json(client, "/v1/analytics/overview", tenant)
    assert body == {
        "object": "analytics_overview",
        "asOf": "2025-01-31T09:00:00.000Z",
        "mrr": {},
        "activeSubscriptions": 0,
        "trialing": 0,
        "pastDue": 0,
        "paused": 0,
        "unpaid": 0,
        "churnRate30d": {"voluntary": None, "involuntary": None, "total": None},
        "newMrr30d": {},
        "recoveredRevenue30d": {},
        "atRiskRevenue": {},
    }
