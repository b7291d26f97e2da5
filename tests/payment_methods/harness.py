"""Shared helpers of the payment-method tests: HTTP shortcuts and direct rows for what no endpoint creates yet
(identity-owned and pending methods, identity links, subscriptions)."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy import text

from duro.db.engine import Database
from duro.kit.clock import SystemClock
from duro.kit.ids import new_id
from tests.http_assertions import ok

PM_ID = re.compile(r"^pm_[0-9A-HJKMNP-TV-Z]{26}$")
TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
PM_FIELDS = {
    "object",
    "id",
    "rail",
    "brand",
    "last4",
    "expMonth",
    "expYear",
    "bankName",
    "owner",
    "customerId",
    "usable",
    "isDefault",
    "createdAt",
}
VISA = "4242424242424242"
MASTERCARD = "5555555555554444"
GOOD_ACCOUNT = "0123456789"
MISSING_PM = "pm_01AAAAAAAAAAAAAAAAAAAAAAAA"
SCHEMA = {"test": "sandbox", "live": "live"}


def card(number: str = VISA, exp_month: int = 12, exp_year: int = 2099, **extra: Any) -> dict[str, Any]:
    return {"testCard": {"number": number, "expMonth": exp_month, "expYear": exp_year}, **extra}


def account(rail: str = "ussd", number: str = GOOD_ACCOUNT, **extra: Any) -> dict[str, Any]:
    return {"rail": rail, "testAccount": number, **extra}


def pm_url(cus_id: str, pm_id: str | None = None) -> str:
    base = f"/v1/customers/{cus_id}/payment-methods"
    return base if pm_id is None else f"{base}/{pm_id}"


def assert_pm_shape(pm: dict[str, Any]) -> None:
    assert set(pm) == PM_FIELDS
    assert pm["object"] == "payment_method"
    assert PM_ID.match(pm["id"])
    assert TS.match(pm["createdAt"])
    assert pm["owner"] in ("customer", "identity")
    assert (pm["customerId"] is None) == (pm["owner"] == "identity")


async def new_customer(client: httpx.AsyncClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    cus: dict[str, Any] = ok(await client.post("/v1/customers", json=fields, headers=headers), 201)
    return cus


async def add(client: httpx.AsyncClient, headers: dict[str, str], cus_id: str, body: dict[str, Any]) -> Any:
    pm = ok(await client.post(pm_url(cus_id), json=body, headers=headers), 201)
    assert_pm_shape(pm)
    return pm


async def listed(client: httpx.AsyncClient, headers: dict[str, str], cus_id: str) -> list[dict[str, Any]]:
    body = ok(await client.get(pm_url(cus_id), headers=headers))
    assert set(body) == {"object", "items", "nextCursor", "hasMore"}
    assert body["object"] == "list"
    assert body["nextCursor"] is None
    assert body["hasMore"] is False
    for pm in body["items"]:
        assert_pm_shape(pm)
    items: list[dict[str, Any]] = body["items"]
    return items


async def customer(client: httpx.AsyncClient, headers: dict[str, str], cus_id: str) -> dict[str, Any]:
    cus: dict[str, Any] = ok(await client.get(f"/v1/customers/{cus_id}", headers=headers))
    return cus


async def events(client: httpx.AsyncClient, headers: dict[str, str], type_: str = "customer_updated") -> list[Any]:
    body = ok(await client.get("/v1/events", params={"limit": 100, "type": type_}, headers=headers))
    return list(reversed(body["items"]))  # oldest first


async def sql(db: Database, statement: str, **params: Any) -> list[dict[str, Any]]:
    async with db.core_transaction() as conn:
        rows = await conn.execute(text(statement), params)
        return [dict(r._mapping) for r in rows]


async def stored_methods(db: Database, tenant_id: str, mode: str = "test") -> list[dict[str, Any]]:
    return await sql(
        db,
        f"SELECT * FROM {SCHEMA[mode]}.payment_methods WHERE tenant_id = :t ORDER BY created_at, id",
        t=tenant_id,
    )


async def link_identity(db: Database, tenant_id: str, cus_id: str, identity_id: str, mode: str = "test") -> None:
    await sql(
        db,
        f"UPDATE {SCHEMA[mode]}.customers SET identity_id = :i WHERE tenant_id = :t AND id = :c",
        i=identity_id,
        t=tenant_id,
        c=cus_id,
    )


async def insert_method(
    db: Database,
    *,
    tenant_id: str | None,
    customer_id: str | None = None,
    identity_id: str | None = None,
    status: str = "active",
    number: str = MASTERCARD,
    disabled: bool = False,
    mode: str = "test",
    fingerprint: str | None = None,
) -> str:
    """A method row as checkout or the portal would write it (no endpoint creates these yet)."""
    pm_id = new_id("pm")
    now = SystemClock().now()
    await sql(
        db,
        f"INSERT INTO {SCHEMA[mode]}.payment_methods (id, tenant_id, customer_id, identity_id, status, rail, brand,"
        " last4, exp_month, exp_year, gateway_token, fingerprint, disabled_at, created_at, updated_at)"
        " VALUES (:id, :t, :c, :i, :s, 'card', 'mastercard', :l4, 12, 2099, :tok, :fp, :d, :now, :now)",
        id=pm_id,
        t=tenant_id,
        c=customer_id,
        i=identity_id,
        s=status,
        l4=number[-4:],
        tok=f"sim:{number}",
        fp=fingerprint or f"fp-{pm_id}",
        d=now if disabled else None,
        now=now,
    )
    return pm_id


async def insert_subscription(db: Database, tenant_id: str, cus_id: str, pm_id: str | None, status: str) -> str:
    sub_id = new_id("sub")
    now = SystemClock().now()
    await sql(
        db,
        "INSERT INTO sandbox.subscriptions (id, tenant_id, customer_id, plan_id, status, current_period_start,"
        " current_period_end, billing_anchor, payment_method_id, created_at, updated_at)"
        " VALUES (:id, :t, :c, 'plan_x', :s, :now, :now, :now, :pm, :now, :now)",
        id=sub_id,
        t=tenant_id,
        c=cus_id,
        s=status,
        pm=pm_id,
        now=now,
    )
    return sub_id
