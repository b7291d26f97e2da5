"""Set-up for the notification tests: rows written straight to a mode's schema (states the API cannot reach yet,
e.g. live subscriptions of an unverified tenant, cards about to expire), contexts for calling the outbox API the way
billing code does, and reads of the outbox rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, select, text

from duro.config import Settings
from duro.context import Actor, RepositoryContext
from duro.db.engine import Database, Mode
from duro.db.repository import DbRow
from duro.kit.clock import FrozenClock
from duro.kit.ids import new_id

SCHEMA = {"test": "sandbox", "live": "live"}
WORKER = Actor("system", None, "worker")


async def insert(db: Database, mode: str, table: str, **values: Any) -> str:
    values.setdefault("id", new_id(table[:3]))
    columns = ", ".join(values)
    params = ", ".join(f":{k}" for k in values)
    async with db.core_transaction() as conn:
        await conn.execute(text(f"INSERT INTO {SCHEMA[mode]}.{table} ({columns}) VALUES ({params})"), values)
    return str(values["id"])


async def customer(
    db: Database,
    tenant_id: str,
    mode: str = "test",
    *,
    name: str | None = "Ada Obi",
    email: str | None = "ada@example.com",
    phone: str | None = None,
    default_payment_method_id: str | None = None,
) -> str:
    at = datetime(2025, 1, 1, tzinfo=UTC)
    return await insert(
        db,
        mode,
        "customers",
        id=new_id("cus"),
        tenant_id=tenant_id,
        name=name,
        email=email,
        phone=phone,
        default_payment_method_id=default_payment_method_id,
        created_at=at,
        updated_at=at,
    )


async def plan(
    db: Database, tenant_id: str, mode: str = "test", *, name: str = "Pro Monthly", amount: int = 500000
) -> str:
    at = datetime(2025, 1, 1, tzinfo=UTC)
    return await insert(
        db,
        mode,
        "plans",
        id=new_id("plan"),
        tenant_id=tenant_id,
        name=name,
        amount=amount,
        currency="NGN",
        interval="month",
        interval_count=1,
        trial_days=0,
        created_at=at,
        updated_at=at,
    )


async def subscription(
    db: Database,
    tenant_id: str,
    customer_id: str,
    plan_id: str,
    start: datetime,
    end: datetime,
    mode: str = "test",
    **extra: Any,
) -> str:
    values: dict[str, Any] = {
        "id": new_id("sub"),
        "tenant_id": tenant_id,
        "customer_id": customer_id,
        "plan_id": plan_id,
        "status": "active",
        "current_period_start": start,
        "current_period_end": end,
        "billing_anchor": start,
        "created_at": start,
        "updated_at": start,
        **extra,
    }
    return await insert(db, mode, "subscriptions", **values)


async def invoice(
    db: Database,
    tenant_id: str,
    customer_id: str,
    subscription_id: str | None,
    mode: str = "test",
    *,
    amount: int = 500000,
    period_end: datetime | None = None,
    **extra: Any,
) -> str:
    at = datetime(2025, 2, 1, tzinfo=UTC)
    values: dict[str, Any] = {
        "id": new_id("inv"),
        "tenant_id": tenant_id,
        "customer_id": customer_id,
        "subscription_id": subscription_id,
        "kind": "renewal",
        "status": "paid",
        "currency": "NGN",
        "subtotal": amount,
        "amount": amount,
        "amount_paid": amount,
        "lines": [],
        "period_end": period_end,
        "created_at": at,
        "updated_at": at,
        **extra,
    }
    return await insert(db, mode, "invoices", **values)


async def card(
    db: Database, tenant_id: str, customer_id: str, exp_month: int, exp_year: int, mode: str = "test"
) -> str:
    at = datetime(2025, 1, 1, tzinfo=UTC)
    return await insert(
        db,
        mode,
        "payment_methods",
        id=new_id("pm"),
        tenant_id=tenant_id,
        customer_id=customer_id,
        rail="card",
        brand="visa",
        last4="4242",
        exp_month=exp_month,
        exp_year=exp_year,
        gateway_token="sim:4242424242424242",
        fingerprint=new_id("fp"),
        created_at=at,
        updated_at=at,
    )


async def override(db: Database, tenant_id: str, key: str, **values: Any) -> None:
    row = {"tenant_id": tenant_id, "template_key": key, "updated_at": datetime.now(UTC), **values}
    columns = ", ".join(row)
    params = ", ".join(f":{k}" for k in row)
    async with db.core_transaction() as conn:
        await conn.execute(
            text(f"INSERT INTO core.email_templates ({columns}) VALUES ({params}) ON CONFLICT DO NOTHING"), row
        )


async def settings_row(db: Database, tenant_id: str, mode: str = "test", **values: Any) -> None:
    row = {
        "tenant_id": tenant_id,
        "dunning_enabled": True,
        "max_attempts": 5,
        "retry_offsets_hours": [0, 24, 72, 120, 168],
        "payday_aware": True,
        "dunning_escalation_days": 14,
        "dunning_escalation": "mark_unpaid",
        "renewal_reminders": True,
        "renewal_reminder_days": 3,
        "created_at": datetime.now(UTC),
        "updated_at": datetime.now(UTC),
        **values,
    }
    columns = ", ".join(row)
    params = ", ".join(f":{k}" for k in row)
    async with db.core_transaction() as conn:
        # Signup already wrote the default row (02 §4): replace its values.
        updates = ", ".join(f"{k} = EXCLUDED.{k}" for k in row if k != "tenant_id")
        await conn.execute(
            text(
                f"INSERT INTO {SCHEMA[mode]}.store_settings ({columns}) VALUES ({params}) "
                f"ON CONFLICT (tenant_id) DO UPDATE SET {updates}"
            ),
            row,
        )


@asynccontextmanager
async def context(
    db: Database, settings: Settings, tenant_id: str, mode: Mode = "test", at: datetime | None = None
) -> AsyncIterator[RepositoryContext]:
    """A unit of work of `tenant_id` in `mode`, committed on exit (like a billing path's transaction)."""
    clock = FrozenClock(at or datetime.now(UTC))
    async with db.transaction(mode) as conn:
        yield RepositoryContext(conn, tenant_id, mode, clock, settings, WORKER)


async def get(ctx: RepositoryContext, table: Table, row_id: str) -> DbRow:
    row = (await ctx.conn.execute(select(table).where(table.c.tenant_id == ctx.tenant_id, table.c.id == row_id))).one()
    return row


async def outbox(db: Database, tenant_id: str | None, mode: str | None = "test") -> list[dict[str, Any]]:
    """The outbox rows of a tenant (mode's table, or `core.notifications` for mode None), oldest first."""
    table = "core.notifications" if mode is None else f"{SCHEMA[mode]}.notifications"
    where, params = ("tenant_id = :t", {"t": tenant_id}) if tenant_id is not None else ("tenant_id IS NULL", None)
    async with db.core_transaction() as conn:
        rows = await conn.execute(text(f"SELECT * FROM {table} WHERE {where} ORDER BY created_at, id"), params)
    return [dict(r.items()) for r in rows]


async def set_default(db: Database, tenant_id: str, customer_id: str, method_id: str, mode: str = "test") -> None:
    async with db.core_transaction() as conn:
        await conn.execute(
            text(
                f"UPDATE {SCHEMA[mode]}.customers SET default_payment_method_id = :pm WHERE tenant_id = :t AND id = :c"
            ),
            {"pm": method_id, "t": tenant_id, "c": customer_id},
        )
