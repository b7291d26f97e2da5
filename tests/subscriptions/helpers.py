"""Shared set-up for subscription tests: plans, customers with simulator methods, events in order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tests.http_assertions import ok

GOOD_CARD = "4242424242424242"
DECLINE_NSF = "4000000000000051"
STOLEN = "4000000000000119"


async def plan(client: Any, tenant: Any, mode: str = "test", **over: Any) -> dict[str, Any]:
    body = {"name": "Pro Monthly", "amount": 500000, "interval": "month", **over}
    return ok(await client.post("/v1/plans", json=body, headers=tenant.auth(mode)), 201)  # type: ignore[no-any-return]


async def customer(client: Any, tenant: Any, mode: str = "test", card: str | None = GOOD_CARD) -> dict[str, Any]:
    cus = ok(await client.post("/v1/customers", json={"name": "Ada"}, headers=tenant.auth(mode)), 201)
    if card is not None:
        body = {"testCard": {"number": card, "expMonth": 12, "expYear": 2099}}
        ok(await client.post(f"/v1/customers/{cus['id']}/payment-methods", json=body, headers=tenant.auth(mode)), 201)
    return cus  # type: ignore[no-any-return]


async def add_card(client: Any, tenant: Any, customer_id: str, number: str, default: bool = False) -> dict[str, Any]:
    body = {"testCard": {"number": number, "expMonth": 12, "expYear": 2099}, "setDefault": default}
    r = await client.post(f"/v1/customers/{customer_id}/payment-methods", json=body, headers=tenant.auth())
    return ok(r, 201)  # type: ignore[no-any-return]


async def subscribe(client: Any, tenant: Any, headers: dict[str, str] | None = None, **body: Any) -> Any:
    return await client.post("/v1/subscriptions", json=body, headers={**tenant.auth(), **(headers or {})})


async def event_types(client: Any, tenant: Any, mode: str = "test") -> list[str]:
    """Event types in the order they were emitted (the API lists newest first)."""
    page = ok(await client.get("/v1/events?limit=100", headers=tenant.auth(mode)))
    return [e["type"] for e in reversed(page["items"])]


async def events_of(client: Any, tenant: Any, type_: str, mode: str = "test") -> list[dict[str, Any]]:
    """Events of one type, newest first (as `/v1/events` lists them)."""
    page = ok(await client.get(f"/v1/events?type={type_}&limit=100", headers=tenant.auth(mode)))
    return page["items"]  # type: ignore[no-any-return]


async def get_sub(client: Any, tenant: Any, sub_id: str, mode: str = "test") -> dict[str, Any]:
    return ok(await client.get(f"/v1/subscriptions/{sub_id}", headers=tenant.auth(mode)))  # type: ignore[no-any-return]


async def act(client: Any, tenant: Any, sub_id: str, action: str, body: Any = None, **headers: str) -> Any:
    """POST /v1/subscriptions/{id}/{action} (cancel, pause, resume, cancel-scheduled-change)."""
    url = f"/v1/subscriptions/{sub_id}/{action}"
    return await client.post(url, json={} if body is None else body, headers={**tenant.auth(), **headers})


async def set_columns(db: Any, tenant: Any, table: str, row_id: str, mode: str = "sandbox", **values: Any) -> None:
    """Write columns straight to the database, for states the API cannot reach yet (past_due, unpaid, expired,
    a scheduled plan change, proration credits). Callers say why at the call site."""
    assignments = ", ".join(f"{column} = :{column}" for column in values)
    async with db.core_transaction() as conn:
        result = await conn.execute(
            text(f"UPDATE {mode}.{table} SET {assignments} WHERE tenant_id = :tenant_id AND id = :row_id RETURNING id"),
            {**values, "tenant_id": tenant.id, "row_id": row_id},
        )
    assert len(result.all()) == 1


async def make_clock(client: Any, tenant: Any, at: str) -> dict[str, Any]:
    return ok(await client.post("/v1/test-clocks", json={"frozenTime": at}, headers=tenant.auth()), 201)  # type: ignore[no-any-return]


async def advance_clock(client: Any, tenant: Any, clock_id: str, to: str) -> dict[str, Any]:
    """Move a test clock forward; due renewals of its subscriptions run before this answers (03 §12)."""
    r = await client.post(f"/v1/test-clocks/{clock_id}/advance", json={"to": to}, headers=tenant.auth())
    return ok(r)  # type: ignore[no-any-return]
