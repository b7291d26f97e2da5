"""Direct inserts for the analytics tests: just the columns the formulas read, every row tenant-scoped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert

from duro.db.engine import Database, Mode
from duro.kit.ids import new_id
from duro.models.billing import dunning_schedules, invoices, subscriptions, test_clocks, transactions
from duro.models.plans import plans
from duro.models.promo_codes import promo_codes

LONG_AGO = datetime(2024, 1, 1, tzinfo=UTC)


def at(text: str) -> datetime:
    """`2025-01-31T09:00:00.000Z` → an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@dataclass
class Seed:
    db: Database
    tenant_id: str
    mode: Mode = "test"

    async def _insert(self, table: Any, values: dict[str, Any]) -> str:
        row = {"tenant_id": self.tenant_id, **values}
        async with self.db.transaction(self.mode) as conn:
            await conn.execute(insert(table), row)
        return str(values["id"])

    async def plan(self, amount: int, currency: str = "NGN", interval: str = "month", count: int = 1) -> str:
        return await self._insert(
            plans,
            {
                "id": new_id("plan"),
                "name": f"{amount} {currency} / {count} {interval}",
                "amount": amount,
                "currency": currency,
                "interval": interval,
                "interval_count": count,
                "trial_days": 0,
                "created_at": LONG_AGO,
                "updated_at": LONG_AGO,
            },
        )

    async def promo(
        self,
        discount_type: str,
        value: int,
        duration: str,
        *,
        currency: str | None = None,
        plan_id: str | None = None,
        cycles: int | None = None,
    ) -> str:
        promo_id = new_id("promo")
        return await self._insert(
            promo_codes,
            {
                "id": promo_id,
                "code": promo_id[-10:].upper(),
                "discount_type": discount_type,
                "discount_value": value,
                "currency": currency,
                "plan_id": plan_id,
                "duration": duration,
                "duration_cycles": cycles,
                "created_at": LONG_AGO,
                "updated_at": LONG_AGO,
            },
        )

    async def clock(self, frozen: datetime) -> str:
        return await self._insert(
            test_clocks,
            {
                "id": new_id("clock"),
                "name": "analytics",
                "frozen_time": frozen,
                "status": "ready",
                "created_at": LONG_AGO,
                "updated_at": LONG_AGO,
            },
        )

    async def sub(
        self,
        plan_id: str,
        status: str = "active",
        *,
        activated: datetime | None = LONG_AGO,
        ended: datetime | None = None,
        reason: str | None = None,
        promo_id: str | None = None,
        cycles_left: int | None = None,
        clock_id: str | None = None,
    ) -> str:
        return await self._insert(
            subscriptions,
            {
                "id": new_id("sub"),
                "customer_id": new_id("cus"),
                "plan_id": plan_id,
                "status": status,
                "current_period_start": LONG_AGO,
                "current_period_end": LONG_AGO,
                "billing_anchor": LONG_AGO,
                "activated_at": activated,
                "ended_at": ended,
                "ended_reason": reason,
                "promo_code_id": promo_id,
                "discount_cycles_remaining": cycles_left,
                "test_clock_id": clock_id,
                "created_at": LONG_AGO,
                "updated_at": LONG_AGO,
            },
        )

    async def invoice(self, sub_id: str, amount: int, currency: str = "NGN", amount_paid: int = 0) -> str:
        return await self._insert(
            invoices,
            {
                "id": new_id("inv"),
                "customer_id": "cus_x",
                "subscription_id": sub_id,
                "kind": "renewal",
                "status": "open",
                "currency": currency,
                "subtotal": amount,
                "amount": amount,
                "amount_paid": amount_paid,
                "lines": [],
                "created_at": LONG_AGO,
                "updated_at": LONG_AGO,
            },
        )

    async def schedule(
        self,
        sub_id: str,
        state: str,
        amount: int,
        currency: str = "NGN",
        *,
        amount_paid: int = 0,
        recovered: datetime | None = None,
        exhausted: datetime | None = None,
    ) -> str:
        """A dunning schedule and its invoice (`amount`, of which `amount_paid` is paid)."""
        invoice_id = await self.invoice(sub_id, amount, currency, amount_paid)
        return await self._insert(
            dunning_schedules,
            {
                "id": new_id("dun"),
                "invoice_id": invoice_id,
                "subscription_id": sub_id,
                "customer_id": "cus_x",
                "state": state,
                "amount": amount,
                "currency": currency,
                "started_at": LONG_AGO,
                "escalation_at": LONG_AGO,
                "recovered_at": recovered,
                "exhausted_at": exhausted,
                "created_at": LONG_AGO,
                "updated_at": LONG_AGO,
            },
        )

    async def txn(
        self,
        sub_id: str | None,
        created: datetime,
        code: str | None,
        *,
        status: str = "failed",
        currency: str = "NGN",
    ) -> str:
        return await self._insert(
            transactions,
            {
                "id": new_id("txn"),
                "subscription_id": sub_id,
                "status": status,
                "amount": 1000,
                "currency": currency,
                "source": "renewal",
                "attempt_number": 1,
                "failure_code": code,
                "created_at": created,
                "updated_at": created,
            },
        )
