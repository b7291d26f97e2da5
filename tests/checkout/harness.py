"""Checkout test shortcuts: create sessions with merchant keys, pay them as a customer through `/api/checkout`."""

from __future__ import annotations

from typing import Any

import httpx

from tests.http_assertions import ok

GOOD = "4242424242424242"
NSF = "4000000000000051"
STOLEN = "4000000000000119"
GOOD_ACCOUNT = "0123456789"


async def plan(client: Any, tenant: Any, mode: str = "test", **over: Any) -> dict[str, Any]:
    body = {"name": "Pro Monthly", "amount": 500000, "interval": "month", **over}
    return ok(await client.post("/v1/plans", json=body, headers=tenant.auth(mode)), 201)  # type: ignore[no-any-return]


async def session(client: Any, tenant: Any, mode: str = "test", kind: str = "secret", **body: Any) -> httpx.Response:
    return await client.post("/v1/checkout/sessions", json=body, headers=tenant.auth(mode, kind))  # type: ignore[no-any-return]


def card(number: str = GOOD, **over: Any) -> dict[str, Any]:
    return {"rail": "card", "card": {"number": number, "expMonth": 12, "expYear": 2099, "cvc": "123"}, **over}


async def pay(client: Any, token: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return await client.post(f"/api/checkout/{token}/pay", json=body, headers=headers)  # type: ignore[no-any-return]


async def count(db: Any, sql: str, **params: Any) -> int:
    from sqlalchemy import text

    async with db.core_transaction() as conn:
        return int((await conn.execute(text(sql), params)).scalar_one())
