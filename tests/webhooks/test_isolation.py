"""Webhooks keep tenants and modes apart (05 §5–6, 02 tenancy): two tenants, each with a test-mode endpoint on the
local receiver and a live-mode endpoint on a public https URL. An event creates deliveries only for its own
tenant's endpoints of its own mode; the body names that tenant and mode; another tenant (or the other mode) cannot
see, replay or resend any of it, and `GET /v1/events/{id}` answers 404 to another tenant's key and to the other
mode's key.

Live endpoints are never delivered to here (a public URL, no local stand-in for it): their deliveries are made by
the real fan-out in the live schema and their signed body is built by the real `prepare`, without a POST.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from duro.app import create_app
from duro.customers.schemas import CustomerCreate
from duro.customers.service import create_customer
from duro.db.engine import Database, Mode
from duro.kit.clock import FrozenClock
from duro.kit.errors import DuroError
from duro.runtime import Runtime
from duro.subscriptions.runner import worker_context
from duro.webhooks import WebhookVerificationError, verify
from duro.webhooks.delivery import Prepared, prepare
from duro.webhooks.endpoints import create_endpoint
from duro.webhooks.fanout import fan_out
from duro.webhooks.inspector import get_delivery, list_deliveries, replay, resend
from duro.workers.webhooks import webhooks_tick
from tests.conftest import TenantKeys
from tests.webhooks.harness import OPERATOR, Receiver, ctx_factory

UNSCOPED = "/* unscoped: isolation test reads every tenant */"


@dataclass
class Side:
    """One tenant's endpoints (id, secret) and events per mode."""

    keys: TenantKeys
    endpoint: dict[Mode, str]
    secret: dict[Mode, str]
    event: dict[Mode, str]


async def _in(runtime: Runtime, tenant_id: str, mode: Mode, fn: Callable[[Any], Awaitable[Any]]) -> Any:
    make = ctx_factory(runtime, tenant_id, mode)
    async with runtime.db.transaction(mode) as conn:
        return await fn(make(conn))


async def _event_of(db: Database, mode: Mode, tenant_id: str, customer_id: str) -> str:
    schema = "live" if mode == "live" else "sandbox"
    async with db.core_transaction() as conn:
        sql = f"""SELECT id FROM {schema}.events WHERE tenant_id = :t AND type = 'customer_created'
                  AND data -> 'object' ->> 'id' = :c"""
        return str((await conn.execute(text(sql), {"t": tenant_id, "c": customer_id})).scalar_one())


async def _side(runtime: Runtime, db: Database, keys: TenantKeys, receiver: Receiver, tag: str) -> Side:
    urls: dict[Mode, str] = {"test": f"{receiver.url}/{tag}", "live": f"https://{tag}.example.com/hooks"}
    side = Side(keys, {}, {}, {})
    for mode, url in urls.items():
        made = await _in(runtime, keys.id, mode, lambda c, url=url: create_endpoint(c, url=url))
        side.endpoint[mode], side.secret[mode] = made.endpoint["id"], made.secret
        customer = await _in(runtime, keys.id, mode, lambda c: create_customer(c, CustomerCreate(name=f"{tag} cust")))
        side.event[mode] = await _event_of(db, mode, keys.id, customer["id"])
    return side


async def _all_deliveries(db: Database, mode: Mode) -> set[tuple[str, str, str]]:
    schema = "live" if mode == "live" else "sandbox"
    async with db.core_transaction() as conn:
        rows = await conn.execute(
            text(f"SELECT {UNSCOPED} tenant_id, event_id, endpoint_id FROM {schema}.webhook_deliveries")
        )
        return {(r[0], r[1], r[2]) for r in rows}


async def _counts(db: Database) -> tuple[int, ...]:
    """Everything a refused call could have changed: deliveries, attempts, audit entries, in both modes."""
    async with db.core_transaction() as conn:
        out = []
        for table in (
            "sandbox.webhook_deliveries",
            "live.webhook_deliveries",
            "sandbox.webhook_attempts",
            "live.webhook_attempts",
            "core.audit_logs",
        ):
            out.append(int((await conn.execute(text(f"SELECT {UNSCOPED} count(*) FROM {table}"))).scalar_one()))
        return tuple(out)


async def test_deliveries_stay_within_their_tenant_and_mode(
    runtime: Runtime, db: Database, make_tenant: Any, receiver: Receiver, clock: FrozenClock
) -> None:
    a = await _side(runtime, db, await make_tenant("Tenant A"), receiver, "a")
    b = await _side(runtime, db, await make_tenant("Tenant B"), receiver, "b")

    # Fan-out and delivery in sandbox through the loop; fan-out only in live (nothing local answers live URLs).
    await webhooks_tick(runtime, ("test",))
    async with db.transaction("live") as conn:
        assert await fan_out(conn, clock.now(), 50) == (2, 2)

    for mode in ("test", "live"):
        assert await _all_deliveries(db, mode) == {(s.keys.id, s.event[mode], s.endpoint[mode]) for s in (a, b)}, mode

    # Each test endpoint got its own tenant's event, signed with its own secret, naming its tenant in test mode.
    assert len(receiver.got) == 2
    now = int(clock.now().timestamp())
    for got in receiver.got:
        body = json.loads(got.body)
        side = a if body["tenantId"] == a.keys.id else b
        event = verify(got.body, got.headers, side.secret["test"], now=now)
        assert (event["id"], event["tenantId"], event["livemode"]) == (side.event["test"], side.keys.id, False)
        other = b if side is a else a
        with pytest.raises(WebhookVerificationError):
            verify(got.body, got.headers, other.secret["test"], now=now)
    # The live body that would be sent: the tenant's own event, livemode true.
    for side in (a, b):
        (delivery,) = await _in(runtime, side.keys.id, "live", lambda c: list_deliveries(c))
        async with db.reader("live") as conn:
            prepared = await prepare(worker_context(runtime, conn, side.keys.id, "live"), delivery["id"], clock.now())
        assert isinstance(prepared, Prepared)
        body = json.loads(prepared.body)
        assert (body["id"], body["tenantId"], body["livemode"]) == (side.event["live"], side.keys.id, True)

    # B (and A's other mode) cannot see, replay or resend A's deliveries, events or endpoints.
    (a_test,) = await _in(runtime, a.keys.id, "test", lambda c: list_deliveries(c))
    assert await _in(runtime, b.keys.id, "test", lambda c: list_deliveries(c, endpoint_id=a.endpoint["test"])) == []
    assert await _in(runtime, b.keys.id, "test", lambda c: list_deliveries(c, event_id=a.event["test"])) == []
    assert await _in(runtime, a.keys.id, "live", lambda c: list_deliveries(c, event_id=a.event["test"])) == []
    before = await _counts(db)
    sent_before = len(receiver.got)
    refused: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("B get", lambda: _in(runtime, b.keys.id, "test", lambda c: get_delivery(c, a_test["id"]))),
        ("A live get", lambda: _in(runtime, a.keys.id, "live", lambda c: get_delivery(c, a_test["id"]))),
        ("B replay", lambda: replay(runtime, b.keys.id, "test", a_test["id"], OPERATOR)),
        ("A live replay", lambda: replay(runtime, a.keys.id, "live", a_test["id"], OPERATOR)),
        ("B resend A event", lambda: resend(runtime, b.keys.id, "test", a.event["test"], b.endpoint["test"], OPERATOR)),
        (
            "B resend to A endpoint",
            lambda: resend(runtime, b.keys.id, "test", b.event["test"], a.endpoint["test"], OPERATOR),
        ),
        (
            "B resend A's both",
            lambda: resend(runtime, b.keys.id, "test", a.event["test"], a.endpoint["test"], OPERATOR),
        ),
        ("A live resend", lambda: resend(runtime, a.keys.id, "live", a.event["test"], a.endpoint["test"], OPERATOR)),
    ]
    for name, call in refused:
        with pytest.raises(DuroError) as caught:
            await call()
        assert caught.value.status == 404, name
    assert await _counts(db) == before  # nothing created, attempted or audited
    assert len(receiver.got) == sent_before  # and nothing sent

    # /v1/events/{id}: A's test event is A's test key's only.
    app = create_app(runtime.settings, db=db, clock=clock)  # the events' frozen time is "now" for retention
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
            path = f"/v1/events/{a.event['test']}"
            mine = await client.get(path, headers=a.keys.auth("test"))
            for name, headers in (
                ("B test", b.keys.auth("test")),
                ("B live", b.keys.auth("live")),
                ("A live", a.keys.auth("live")),
            ):
                r = await client.get(path, headers=headers)
                assert r.status_code == 404, (name, r.text)
    finally:
        await app.state.runtime.close()
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert (body["id"], body["livemode"]) == (a.event["test"], False)
    assert [(d["endpointId"], d["deliveryId"]) for d in body["deliveries"]] == [(a.endpoint["test"], a_test["id"])]
