"""SQL and figures for the overview (07 §5) beyond `/v1/analytics`: the 12-week "entering dunning vs recovered"
series and the onboarding checklist's facts (07 §2).

Weeks are counted back from "now" (not calendar weeks), half-open like the overview's 30-day window: week k
(0 = the latest) is (now − 7(k+1) days, now − 7k days]. A schedule counts as *entering* in the week of its
`startedAt` and as *recovered* in the week of its `recoveredAt`, each with its `amount` (the invoice amount when
recovery began), so the two bars of a week compare like with like. Sums are exact NUMERIC in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Final

from sqlalchemy import (
    DateTime,
    Integer,
    Table,
    Text,
    bindparam,
    cast,
    exists,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.sql.elements import BindParameter

from duro.analytics.formulas import lit
from duro.context import RepositoryContext
from duro.db.engine import MODES, Mode
from duro.db.repository import DbRow, TenantRepository
from duro.models.billing import dunning_schedules as d
from duro.models.core import tenants
from duro.models.credentials import api_keys as k
from duro.models.plans import plans as p
from duro.models.webhooks import webhook_endpoints as we
from duro.runtime import Runtime

WEEKS: Final = 12
WEEK_SECONDS: Final = 7 * 24 * 3600

_TENANT: BindParameter[str] = bindparam("b_tenant_id", type_=Text())
_NOW: BindParameter[datetime] = bindparam("b_now", type_=DateTime(timezone=True))
_SINCE: BindParameter[datetime] = bindparam("b_since", type_=DateTime(timezone=True))


def _week_of(column: Any) -> Any:
    # floor((now − t) / 7 days): 0 for the latest week; t = now falls in week 0, t = now − 84 days is excluded.
    return cast(func.floor(func.extract("epoch", _NOW - column) / WEEK_SECONDS), Integer)


def _weekly_statement() -> Any:
    entered = select(
        d.c.currency.label("currency"),
        literal("entered").label("kind"),
        _week_of(d.c.started_at).label("week"),
        d.c.amount.label("amount"),
    ).where(d.c.tenant_id == _TENANT, d.c.started_at > _SINCE, d.c.started_at <= _NOW)
    recovered = select(
        d.c.currency.label("currency"),
        literal("recovered").label("kind"),
        _week_of(d.c.recovered_at).label("week"),
        d.c.amount.label("amount"),
    ).where(
        d.c.tenant_id == _TENANT,
        d.c.state == lit("recovered"),
        d.c.recovered_at > _SINCE,
        d.c.recovered_at <= _NOW,
    )
    both = union_all(entered, recovered).subquery("moves")
    return (
        select(both.c.currency, both.c.kind, both.c.week, func.sum(both.c.amount).label("amount"))
        .group_by(both.c.currency, both.c.kind, both.c.week)
        .order_by(both.c.currency, both.c.week)
    )


_WEEKLY: Final = _weekly_statement()

# One round trip per mode for the checklist: an active test secret key, any plan, any webhook endpoint.
_SETUP: Final = select(
    exists().where(k.c.tenant_id == _TENANT, k.c.kind == lit("secret"), k.c.revoked_at.is_(None)).label("keys"),
    exists().where(p.c.tenant_id == _TENANT).label("plans"),
    exists().where(we.c.tenant_id == _TENANT).label("endpoints"),
)


class RecoveryWeeksRepository(TenantRepository):
    table: ClassVar[Table] = d

    async def weekly(self, now: datetime) -> list[DbRow]:
        params = {"b_tenant_id": self.tenant_id, "b_now": now, "b_since": now - timedelta(weeks=WEEKS)}
        return list((await self.conn.execute(_WEEKLY, params)).all())


class SetupRepository(TenantRepository):
    table: ClassVar[Table] = k

    async def facts(self) -> DbRow:
        return (await self.conn.execute(_SETUP, {"b_tenant_id": self.tenant_id})).one()


def _week_label(now: datetime, week: int) -> str:
    start = now - timedelta(weeks=week + 1)
    return f"{start.day} {start:%b}"


async def recovery_weeks(ctx: RepositoryContext) -> dict[str, list[tuple[str, int, int]]]:
    """Per currency with any movement in the last 12 weeks: 12 (week label, entered, recovered), oldest first.
    The label is the first day of the week."""
    now = ctx.clock.now()
    rows = await ctx.repo(RecoveryWeeksRepository).weekly(now)
    sums: dict[str, dict[tuple[str, int], int]] = {}
    for row in rows:
        sums.setdefault(row["currency"], {})[(row["kind"], row["week"])] = int(row["amount"])
    out: dict[str, list[tuple[str, int, int]]] = {}
    for currency, by in sorted(sums.items()):
        out[currency] = [
            (_week_label(now, week), by.get(("entered", week), 0), by.get(("recovered", week), 0))
            for week in range(WEEKS - 1, -1, -1)
        ]
    return out


@dataclass(frozen=True, slots=True)
class ChecklistItem:
    key: str
    label: str
    href: str
    done: bool
    hint: str


@dataclass(frozen=True, slots=True)
class Checklist:
    business_done: bool
    items: tuple[ChecklistItem, ...]

    @property
    def complete(self) -> bool:
        return self.business_done and all(i.done for i in self.items)

    @property
    def done_count(self) -> int:
        return sum(1 for i in self.items if i.done) + (1 if self.business_done else 0)

    @property
    def total(self) -> int:
        return len(self.items) + 1


async def checklist(runtime: Runtime, tenant_id: str) -> Checklist:
    """The onboarding checklist ticked from real data (07 §2). Test keys are checked in test mode; a plan or an
    endpoint in either mode counts (a merchant may set up live directly). Business details count as done once a
    support email is set: name and currency already exist from signup, the support email is what onboarding asks."""
    facts: dict[Mode, Any] = {}
    for mode in MODES:
        async with runtime.db.reader(mode) as conn:
            facts[mode] = await SetupRepository(conn, tenant_id).facts()
    async with runtime.db.reader("test") as conn:
        row = (
            await conn.execute(select(tenants.c.support_email, tenants.c.kyc_status).where(tenants.c.id == tenant_id))
        ).one()

    def any_mode(name: str) -> bool:
        return any(bool(facts[m][name]) for m in MODES)

    items = (
        ChecklistItem(
            "keys",
            "Create test API keys",
            "/dashboard/developers/api-keys",
            bool(facts["test"]["keys"]),
            "A secret key lets your server call the API in test mode.",
        ),
        ChecklistItem(
            "plan",
            "Create your first plan",
            "/dashboard/plans",
            any_mode("plans"),
            "A plan sets the price and interval customers subscribe to.",
        ),
        ChecklistItem(
            "webhook",
            "Add a webhook endpoint",
            "/dashboard/developers/webhooks",
            any_mode("endpoints"),
            "Your server hears about payments, renewals and failures as they happen.",
        ),
        ChecklistItem(
            "kyc",
            "Submit KYC documents",
            "/dashboard/settings/kyc",
            row.kyc_status in ("pending", "approved"),
            "Verification lifts the live-mode cap.",
        ),
    )
    return Checklist(business_done=bool(row.support_email), items=items)


__all__ = ["WEEKS", "Checklist", "ChecklistItem", "checklist", "recovery_weeks"]
