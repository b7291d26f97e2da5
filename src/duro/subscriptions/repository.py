"""SQL for subscriptions, test clocks, and the subscription-side writes to dunning schedules."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy import ColumnElement, select, update

from duro.db.repository import DbRow, TenantRepository
from duro.kit.pagination import Page, PageRequest
from duro.models.billing import dunning_schedules, subscriptions, test_clocks
from duro.models.payment_methods import payment_methods


class SubscriptionRepository(TenantRepository):
    table = subscriptions

    async def list_page(
        self,
        page: PageRequest,
        *,
        status: str | None = None,
        customer_id: str | None = None,
        plan_id: str | None = None,
        test_clock_id: str | None = None,
    ) -> Page[DbRow]:
        filters: list[ColumnElement[bool]] = []
        for column, value in (
            (subscriptions.c.status, status),
            (subscriptions.c.customer_id, customer_id),
            (subscriptions.c.plan_id, plan_id),
            (subscriptions.c.test_clock_id, test_clock_id),
        ):
            if value is not None:
                filters.append(column == value)
        return await self.page(page, filters)


class TestClockRepository(TenantRepository):
    table = test_clocks


# Schedules that may still charge: the ones a subscription cancellation ends (04 §4). `recovered`, `exhausted`
# and `canceled` are final and stay as they are.
LIVE_DUNNING_STATES: Final = ("scheduled", "awaiting_customer", "in_flight")


class DunningScheduleRepository(TenantRepository):
    table = dunning_schedules

    async def cancel_live_for_subscription(self, subscription_id: str, at: datetime) -> list[DbRow]:
        """Move the subscription's live schedules to `canceled` (04 §4: "Subscription canceled"); returns them.

        An `in_flight` schedule is canceled too: the dunning loop re-checks the subscription when it records its
        charge (04 §4 step 2), so its lease is left for it to expire."""
        t = dunning_schedules
        stmt = (
            update(t)
            .where(self.scoped(t.c.subscription_id == subscription_id, t.c.state.in_(LIVE_DUNNING_STATES)))
            .values(state="canceled", canceled_at=at, next_attempt_at=None, updated_at=at)
            .returning(t)
        )
        return list((await self.conn.execute(stmt)).all())

    async def adopt_method(self, subscription_id: str, pm_id: str | None, at: datetime) -> None:
        """The subscription's new `paymentMethodId` is used from the open schedule's next attempt (04 §2). Only a
        `scheduled` schedule changes: `awaiting_customer` keeps waiting for an explicit payment, and an `in_flight`
        attempt has already chosen its method. Null ("the customer's default") leaves the schedule's method, which
        the attempt replaces by the default only if it is no longer chargeable."""
        if pm_id is None:
            return
        t = dunning_schedules
        rail = select(payment_methods.c.rail).where(payment_methods.c.id == pm_id).scalar_subquery()
        stmt = (
            update(t)
            .where(self.scoped(t.c.subscription_id == subscription_id, t.c.state == "scheduled"))
            .values(payment_method_id=pm_id, rail=rail, updated_at=at)
        )
        await self.conn.execute(stmt)
