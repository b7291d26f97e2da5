from __future__ import annotations

from typing import Any


async def test_create_and_get_plan(client: Any, tenant: Any) -> None:
    r = await client.post(
        "/v1/plans", json={"name": "Pro", "amount": 500000, "interval": "month"}, headers=tenant.auth()
    )
    assert r.status_code == 201, r.text
    plan = r.json()
    assert plan["currency"] == "NGN"
    r2 = await client.get(f"/v1/plans/{plan['id']}", headers=tenant.auth())
    assert r2.json() == plan
    r3 = await client.get(f"/v1/plans/{plan['id']}", headers=tenant.auth("live"))
    assert r3.status_code == 404
