"""The SQL of the analytics endpoints: one aggregate statement per endpoint (04 §7).

Each statement also resolves what the request needs besides the figures, so the endpoint is one round trip:
"now" (the test clock's `frozen_time`, or the wall time passed in), whether the clock exists in this tenant and
mode, the tenant's default currency and the window's defaults. Two variants of each statement are built once at
import: scoped to a test clock (its subscriptions and their invoices, transactions and schedules) or over all of
the mode's data. Every table reference filters on the tenant.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar, Final

from sqlalchemy import (
    ColumnElement,
    Date,
    DateTime,
    Select,
    Table,
    Text,
    and_,
    bindparam,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.sql.elements import BindParameter

from duro.analytics.formulas import (
    EMPTY_OBJECT,
    INVOLUNTARY,
    MRR_STATUSES,
    OPEN_STATES,
    THIRTY_DAYS,
    VOLUNTARY,
    lit,
    money_map,
    one_of,
    rate,
    status_count,
    subscription_figures,
)
from duro.db.repository import DbRow, TenantRepository
from duro.models.billing import dunning_schedules as d
from duro.models.billing import invoices as i
from duro.models.billing import subscriptions as s
from duro.models.billing import test_clocks as tc
from duro.models.billing import transactions as t
from duro.models.core import tenants
from duro.models.settings import metrics_snapshots as ms

_TENANT: BindParameter[str] = bindparam("b_tenant_id", type_=Text())
_NOW: BindParameter[datetime] = bindparam("b_now", type_=DateTime(timezone=True))
_CLOCK: BindParameter[str] = bindparam("b_clock_id", type_=Text())
_FROM: BindParameter[datetime] = bindparam("b_from", type_=DateTime(timezone=True))
_TO: BindParameter[datetime] = bindparam("b_to", type_=DateTime(timezone=True))
_CURRENCY: BindParameter[str] = bindparam("b_currency", type_=Text())
_SINCE: BindParameter[date] = bindparam("b_since", type_=Date())


def _params(clocked: bool) -> Any:
    """CTE `params(now, clock_found)`: the clock's frozen time when scoped to a clock, else the wall time."""
    if clocked:
        frozen = select(tc.c.frozen_time).where(tc.c.tenant_id == _TENANT, tc.c.id == _CLOCK)
        now: ColumnElement[Any] = func.coalesce(frozen.scalar_subquery(), _NOW)
        found: ColumnElement[Any] = frozen.exists()
    else:
        now, found = _NOW, true()
    return select(now.label("now"), found.label("clock_found")).cte("params")


def _in_scope(subscription_id: ColumnElement[Any], clocked: bool) -> ColumnElement[bool]:
    """Rows of the clock's subscriptions when scoped to a clock; everything of the tenant otherwise."""
    if not clocked:
        return true()
    return subscription_id.in_(select(s.c.id).where(s.c.tenant_id == _TENANT, s.c.test_clock_id == _CLOCK))


def _scalar(cte: Any, column: str) -> ColumnElement[Any]:
    # A scalar subquery on a one-row CTE is an InitPlan: its value can drive an index condition.
    return select(cte.c[column]).scalar_subquery()


def _failures_statement(clocked: bool) -> Select[Any]:
    params = _params(clocked)
    to = func.coalesce(_TO, params.c.now)
    tenant_currency = select(tenants.c.default_currency).where(tenants.c.id == _TENANT).scalar_subquery()
    win = select(
        params.c.now,
        params.c.clock_found,
        func.coalesce(_CURRENCY, tenant_currency).label("currency"),
        func.coalesce(_FROM, to - THIRTY_DAYS).label("from"),
        to.label("to"),
    ).cte("win")
    currency, start, end = _scalar(win, "currency"), _scalar(win, "from"), _scalar(win, "to")

    open_ = (
        select(
            func.count().label("n"),
            func.coalesce(func.sum(i.c.amount - i.c.amount_paid), lit(0)).label("amount"),
        )
        .select_from(d.join(i, and_(i.c.tenant_id == d.c.tenant_id, i.c.id == d.c.invoice_id)))
        .where(
            d.c.tenant_id == _TENANT,
            one_of(d.c.state, OPEN_STATES),
            d.c.currency == currency,
            _in_scope(d.c.subscription_id, clocked),
        )
        .cte("open_schedules")
    )

    def ended(state: str, at: ColumnElement[Any]) -> Any:
        return (
            select(func.count().label("n"), func.coalesce(func.sum(d.c.amount), lit(0)).label("amount"))
            .where(
                d.c.tenant_id == _TENANT,
                d.c.state == lit(state),
                at >= start,
                at < end,
                d.c.currency == currency,
                _in_scope(d.c.subscription_id, clocked),
            )
            .cte(f"{state}_schedules")
        )

    recovered = ended("recovered", d.c.recovered_at)
    exhausted = ended("exhausted", d.c.exhausted_at)
    codes = (
        select(t.c.failure_code.label("code"), func.count().label("n"))
        .where(
            t.c.tenant_id == _TENANT,
            t.c.status == lit("failed"),
            t.c.created_at >= start,
            t.c.created_at < end,
            t.c.currency == currency,
            t.c.failure_code.is_not(None),
            _in_scope(t.c.subscription_id, clocked),
        )
        .group_by(t.c.failure_code)
        .cte("failure_codes")
    )
    by_code = select(func.coalesce(func.jsonb_object_agg(codes.c.code, codes.c.n), EMPTY_OBJECT)).scalar_subquery()
    return select(
        win.c.now,
        win.c.clock_found,
        win.c.currency,
        win.c["from"],
        win.c.to,
        open_.c.n.label("open_schedules"),
        open_.c.amount.label("in_flight"),
        recovered.c.n.label("recovered_count"),
        recovered.c.amount.label("recovered"),
        exhausted.c.n.label("exhausted_count"),
        exhausted.c.amount.label("exhausted"),
        rate(recovered.c.amount, recovered.c.amount + exhausted.c.amount).label("recovery_rate"),
        by_code.label("by_failure_code"),
    ).select_from(win.join(open_, true()).join(recovered, true()).join(exhausted, true()))


def _overview_statement(clocked: bool) -> Select[Any]:
    params = _params(clocked)
    now = _scalar(params, "now")
    t0 = select(params.c.now - THIRTY_DAYS).scalar_subquery()
    scope = s.c.test_clock_id == _CLOCK if clocked else true()
    subs = subscription_figures(s.c.tenant_id == _TENANT, scope).cte("subs")

    base = and_(subs.c.activated_at <= t0, or_(subs.c.ended_at.is_(None), subs.c.ended_at > t0))
    left = and_(base, subs.c.ended_at > t0, subs.c.ended_at <= now)
    voluntary = func.count().filter(left, one_of(subs.c.ended_reason, VOLUNTARY))
    involuntary = func.count().filter(left, one_of(subs.c.ended_reason, INVOLUNTARY))
    counts = select(
        status_count(subs.c.status, "active").label("active"),
        status_count(subs.c.status, "trialing").label("trialing"),
        status_count(subs.c.status, "past_due").label("past_due"),
        status_count(subs.c.status, "paused").label("paused"),
        status_count(subs.c.status, "unpaid").label("unpaid"),
        func.count().filter(base).label("base"),
        voluntary.label("voluntary"),
        involuntary.label("involuntary"),
    ).cte("counts")

    mrr = (
        select(
            subs.c.currency,
            func.round(func.sum(subs.c.monthly).filter(one_of(subs.c.status, MRR_STATUSES))).label("mrr"),
            func.round(func.sum(subs.c.monthly).filter(subs.c.activated_at > t0, subs.c.activated_at <= now)).label(
                "new_mrr"
            ),
        )
        .group_by(subs.c.currency)
        .cte("mrr")
    )
    recovered_in_window = and_(d.c.state == lit("recovered"), d.c.recovered_at > t0, d.c.recovered_at <= now)
    schedules = (
        select(
            d.c.currency,
            func.sum(d.c.amount).filter(recovered_in_window).label("recovered"),
            func.sum(i.c.amount - i.c.amount_paid).filter(one_of(d.c.state, OPEN_STATES)).label("at_risk"),
        )
        .select_from(d.join(i, and_(i.c.tenant_id == d.c.tenant_id, i.c.id == d.c.invoice_id)))
        .where(
            d.c.tenant_id == _TENANT,
            or_(one_of(d.c.state, OPEN_STATES), recovered_in_window),
            _in_scope(d.c.subscription_id, clocked),
        )
        .group_by(d.c.currency)
        .cte("schedules")
    )
    return select(
        params.c.now,
        params.c.clock_found,
        counts.c.active,
        counts.c.trialing,
        counts.c.past_due,
        counts.c.paused,
        counts.c.unpaid,
        rate(counts.c.voluntary, counts.c.base).label("churn_voluntary"),
        rate(counts.c.involuntary, counts.c.base).label("churn_involuntary"),
        rate(counts.c.voluntary + counts.c.involuntary, counts.c.base).label("churn_total"),
        select(money_map(mrr.c.currency, mrr.c.mrr)).scalar_subquery().label("mrr"),
        select(money_map(mrr.c.currency, mrr.c.new_mrr)).scalar_subquery().label("new_mrr"),
        select(money_map(schedules.c.currency, schedules.c.recovered)).scalar_subquery().label("recovered"),
        select(money_map(schedules.c.currency, schedules.c.at_risk)).scalar_subquery().label("at_risk"),
    ).select_from(params.join(counts, true()))


_FAILURES: Final = {clocked: _failures_statement(clocked) for clocked in (False, True)}
_OVERVIEW: Final = {clocked: _overview_statement(clocked) for clocked in (False, True)}
_SNAPSHOTS: Final = select(ms).where(ms.c.tenant_id == _TENANT, ms.c.day >= _SINCE).order_by(ms.c.day)


class AnalyticsRepository(TenantRepository):
    table: ClassVar[Table] = ms

    async def failures(
        self,
        *,
        now: datetime,
        test_clock_id: str | None,
        start: datetime | None,
        end: datetime | None,
        currency: str | None,
    ) -> DbRow:
        """The recovery summary's figures, plus `now`, `clock_found`, the resolved `currency`, `from` and `to`."""
        params = {
            "b_tenant_id": self.tenant_id,
            "b_now": now,
            "b_from": start,
            "b_to": end,
            "b_currency": currency,
        }
        if test_clock_id is not None:
            params["b_clock_id"] = test_clock_id
        return (await self.conn.execute(_FAILURES[test_clock_id is not None], params)).one()

    async def overview(self, *, now: datetime, test_clock_id: str | None) -> DbRow:
        """The overview's figures (money maps as JSON objects, rates as NUMERIC or NULL), `now`, `clock_found`."""
        params: dict[str, Any] = {"b_tenant_id": self.tenant_id, "b_now": now}
        if test_clock_id is not None:
            params["b_clock_id"] = test_clock_id
        return (await self.conn.execute(_OVERVIEW[test_clock_id is not None], params)).one()

    async def snapshots_since(self, since: date) -> list[DbRow]:
        return list((await self.conn.execute(_SNAPSHOTS, {"b_tenant_id": self.tenant_id, "b_since": since})).all())
