"""Fan-out and delivery through the webhooks loop against a real local HTTP receiver (05 §2–7): one delivery per
subscribed endpoint, signed bodies our receiver helper verifies, the retry schedule, 410 and 5-day auto-disable,
Retry-After, replay and resend, and the delivery status on `/v1/events/{id}`."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from duro.db.engine import Database
from duro.kit.clock import FrozenClock
from duro.kit.errors import DuroError
from duro.kit.ids import new_id
from duro.runtime import Runtime
from duro.webhooks import verify
from duro.webhooks.endpoints import create_endpoint, set_enabled
from duro.webhooks.inspector import get_delivery, list_deliveries, replay, replay_failed_since, resend
from duro.workers.webhooks import webhooks_tick
from tests.conftest import TenantKeys
from tests.webhooks.harness import OPERATOR, Receiver, ctx_factory


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def _in(runtime: Runtime, tenant: TenantKeys, fn: Any) -> Any:
    make = ctx_factory(runtime, tenant.id)
    async with runtime.db.transaction("test") as conn:
        return await fn(make(conn))


async def _customer(db: Database, runtime: Runtime, tenant: TenantKeys, name: str = "Ada") -> str:
    """A change that emits `customer_created` through the real service."""
    from duro.customers.schemas import CustomerCreate
    from duro.customers.service import create_customer

    out = await _in(runtime, tenant, lambda c: create_customer(c, CustomerCreate(name=name)))
    return str(out["id"])


async def _deliveries(runtime: Runtime, tenant: TenantKeys, **filters: Any) -> list[dict[str, Any]]:
    return await _in(runtime, tenant, lambda c: list_deliveries(c, **filters))  # type: ignore[no-any-return]


async def _endpoint(runtime: Runtime, tenant: TenantKeys, url: str, events: list[str] | None = None) -> Any:
    return await _in(runtime, tenant, lambda c: create_endpoint(c, url=url, enabled_events=events or []))


async def test_fan_out_creates_one_delivery_per_subscribed_enabled_endpoint(
    runtime: Runtime, tenant: TenantKeys, db: Database, receiver: Receiver
) -> None:
    everything = await _endpoint(runtime, tenant, receiver.url)
    customers_only = await _endpoint(runtime, tenant, receiver.url + "/c", ["customer_created"])
    invoices_only = await _endpoint(runtime, tenant, receiver.url + "/i", ["invoice_paid"])
    off = await _endpoint(runtime, tenant, receiver.url + "/off")
    await _in(runtime, tenant, lambda c: set_enabled(c, off.endpoint["id"], False))
    await _customer(db, runtime, tenant)
    # Two workers at once: the claim and the unique key keep it to one delivery per (event, endpoint).
    await asyncio.gather(webhooks_tick(runtime, ("test",)), webhooks_tick(runtime, ("test",)))
    rows = await _deliveries(runtime, tenant)
    assert sorted(r["endpointId"] for r in rows) == sorted([everything.endpoint["id"], customers_only.endpoint["id"]])
    assert invoices_only.endpoint["id"] not in {r["endpointId"] for r in rows}
    assert {r["status"] for r in rows} == {"delivered"}
    assert len(receiver.got) == 2
    async with db.core_transaction() as conn:
        undispatched = (
            await conn.execute(
                text("SELECT count(*) FROM sandbox.events WHERE tenant_id = :t AND dispatched_at IS NULL"),
                {"t": tenant.id},
            )
        ).scalar_one()
    assert undispatched == 0


async def test_a_delivery_is_signed_and_verifies_with_the_receiver_helper(
    runtime: Runtime, tenant: TenantKeys, db: Database, receiver: Receiver, clock: FrozenClock
) -> None:
    made = await _endpoint(runtime, tenant, receiver.url)
    customer_id = await _customer(db, runtime, tenant, "Adé Ọlá")
    await webhooks_tick(runtime, ("test",))
    (got,) = receiver.got
    event = verify(got.body, got.headers, made.secret, now=int(clock.now().timestamp()))
    assert event["type"] == "customer_created"
    assert event["data"]["object"]["id"] == customer_id
    assert list(event) == ["id", "type", "createdAt", "livemode", "tenantId", "data"]
    assert (event["livemode"], event["tenantId"]) == (False, tenant.id)
    assert "Adé Ọlá".encode() in got.body  # UTF-8 as itself, not \\u escapes (05 §2)
    (delivery,) = await _deliveries(runtime, tenant)
    assert got.headers["Duro-Event-Id"] == got.headers["webhook-id"] == event["id"]
    assert got.headers["Duro-Delivery-Id"] == delivery["id"]
    assert got.headers["User-Agent"] == "Duro-Webhooks/1"
    assert got.headers["Duro-Signature"].startswith(f"t={int(clock.now().timestamp())},v1=")
    (attempt,) = delivery["attempts"]
    assert (attempt["attemptNumber"], attempt["trigger"], attempt["responseStatus"], attempt["responseBody"]) == (
        1,
        "automatic",
        200,
        "ok",
    )
    assert attempt["requestHeaders"]["Duro-Signature"] == got.headers["Duro-Signature"]


async def test_failures_follow_the_retry_schedule_then_fail(
    runtime: Runtime, tenant: TenantKeys, db: Database, receiver: Receiver, clock: FrozenClock
) -> None:
    receiver.status = 500
    await _endpoint(runtime, tenant, receiver.url)
    await _customer(db, runtime, tenant)
    await webhooks_tick(runtime, ("test",))
    gaps = []
    for _ in range(7):
        (d,) = await _deliveries(runtime, tenant)
        if d["status"] != "pending":
            break
        due = d["nextAttemptAt"]
        gaps.append(due)
        clock.advance(datetime.fromisoformat(due.replace("Z", "+00:00")) - clock.now())  # exactly when due
        await webhooks_tick(runtime, ("test",))
    (d,) = await _deliveries(runtime, tenant)
    assert (d["status"], d["attemptCount"], d["lastStatusCode"]) == ("failed", 7, 500)
    assert len(receiver.got) == 7
    ends = [_ts(a["startedAt"]) + timedelta(milliseconds=a["durationMs"]) for a in d["attempts"]]
    # Each retry is due 1 min, 5 min, 30 min, 2 h, 6 h, 24 h after the previous attempt ended; in all ≈ 32 h 36 min,
    # well before the 5-day auto-disable.
    due_after = [_ts(g) - end for g, end in zip(gaps, ends, strict=False)]
    assert due_after == [
        timedelta(minutes=1),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=6),
        timedelta(hours=24),
    ]


async def test_retry_after_on_429_replaces_a_shorter_delay(
    runtime: Runtime, tenant: TenantKeys, db: Database, receiver: Receiver
) -> None:
    receiver.status = 429
    receiver.headers = {"Retry-After": "600"}
    await _endpoint(runtime, tenant, receiver.url)
    await _customer(db, runtime, tenant)
    await webhooks_tick(runtime, ("test",))
    (d,) = await _deliveries(runtime, tenant)
    (a,) = d["attempts"]
    end = _ts(a["startedAt"]) + timedelta(milliseconds=a["durationMs"])
    assert _ts(d["nextAttemptAt"]) - end == timedelta(minutes=10)  # instead of 1 min


async def test_redirects_are_failures_and_never_followed(
    runtime: Runtime, tenant: TenantKeys, db: Database, receiver: Receiver
) -> None:
    receiver.status = 302
    receiver.headers = {"Location": receiver.url + "/elsewhere"}
    await _endpoint(runtime, tenant, receiver.url)
    await _customer(db, runtime, tenant)
    await webhooks_tick(runtime, ("test",))
    (d,) = await _deliveries(runtime, tenant)
    assert (d["status"], d["lastStatusCode"]) == ("pending", 302)
    assert len(receiver.got) == 1  # the Location was not visited


async def test_410_disables_the_endpoint_at_once_and_fails_its_pending_deliveries(
    runtime: Runtime, tenant: TenantKeys, db: Database, receiver: Receiver
) -> None:
    made = await _endpoint(runtime, tenant, receiver.url)
    receiver.status = 500
    await _customer(db, runtime, tenant, "First")
    await webhooks_tick(runtime, ("test",))  # pending, retry in 1 min
    receiver.status = 410
    await _customer(db, runtime, tenant, "Second")
    await webhooks_tick(runtime, ("test",))
    rows = await _deliveries(runtime, tenant)
    assert {r["status"] for r in rows} == {"failed"}
    assert sorted(r["lastError"] or "" for r in rows) == ["endpoint_disabled", "http_410"]
    async with db.core_transaction() as conn:
        ep = (
            await conn.execute(
                text("SELECT status, disabled_reason FROM sandbox.webhook_endpoints WHERE tenant_id = :t AND id = :e"),
                {"t": tenant.id, "e": made.endpoint["id"]},
            )
        ).one()
        alerts = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM core.notifications WHERE tenant_id = :t "
                    "AND template_key = 'webhook_endpoint_disabled'"
                ),
                {"t": tenant.id},
            )
        ).scalar_one()
    assert tuple(ep) == ("disabled", "gone")
    assert alerts == 1  # the owner
    await _customer(db, runtime, tenant, "Third")
    await webhooks_tick(runtime, ("test",))
    assert len(await _deliveries(runtime, tenant)) == 2  # a disabled endpoint gets no new deliveries


async def test_five_days_of_failure_disable_the_endpoint(
    runtime: Runtime, tenant: TenantKeys, db: Database, receiver: Receiver, clock: FrozenClock
) -> None:
    receiver.status = 503
    made = await _endpoint(runtime, tenant, receiver.url)
    # An admin and a developer beside the owner: the alert goes to the owner and admins only (05 §7).
    async with db.core_transaction() as conn:
        for role in ("admin", "developer"):
            await conn.execute(
                text(
                    "INSERT INTO core.members (id, tenant_id, email, password_hash, role, created_at, updated_at) "
                    "VALUES (:id, :t, :email, 'x', :role, now(), now())"
                ),
                {"id": new_id("mem"), "t": tenant.id, "email": f"{role}@example.com", "role": role},
            )
    for day in range(6):
        await _customer(db, runtime, tenant, f"Day {day}")
        await webhooks_tick(runtime, ("test",))
        clock.advance(timedelta(days=1))
    async with db.core_transaction() as conn:
        ep = (
            await conn.execute(
                text(
                    "SELECT status, disabled_reason, failing_since FROM sandbox.webhook_endpoints "
                    "WHERE tenant_id = :t AND id = :e"
                ),
                {"t": tenant.id, "e": made.endpoint["id"]},
            )
        ).one()
        # Attempts made once the endpoint had failed for 5 days: every pending delivery was due on day 5, so
        # several failures reached the threshold in the same tick.
        late = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM sandbox.webhook_attempts WHERE tenant_id = :t AND endpoint_id = :e "
                    "AND started_at >= :since"
                ),
                {"t": tenant.id, "e": made.endpoint["id"], "since": ep[2] + timedelta(days=5)},
            )
        ).scalar_one()
        alerts = (
            await conn.execute(
                text(
                    "SELECT recipient FROM core.notifications WHERE tenant_id = :t "
                    "AND template_key = 'webhook_endpoint_disabled'"
                ),
                {"t": tenant.id},
            )
        ).all()
        audits = (
            await conn.execute(
                text(
                    "SELECT actor_type, target_id, after FROM core.audit_logs WHERE tenant_id = :t "
                    "AND action = 'webhook_endpoint.disabled'"
                ),
                {"t": tenant.id},
            )
        ).all()
    assert (ep[0], ep[1]) == ("disabled", "failing")
    assert late > 1
    # Disabled once: one alert per owner/admin, one audit entry by `system`.
    assert sorted(r[0] for r in alerts) == sorted([tenant.owner_email, "admin@example.com"])
    assert [(r[0], r[1], r[2]["disabledReason"]) for r in audits] == [("system", made.endpoint["id"], "failing")]
    rows = await _deliveries(runtime, tenant)
    # Every delivery failed as `endpoint_disabled`, with no next attempt — also those whose own failure in the
    # disabling tick was recorded after the disable.
    assert {(r["status"], r["lastError"], r["nextAttemptAt"]) for r in rows} == {("failed", "endpoint_disabled", None)}
    # Enabling clears failingSince; "replay failed since" queues the failed ones for the loop.
    receiver.status = 200
    await _in(runtime, tenant, lambda c: set_enabled(c, made.endpoint["id"], True))
    queued = await _in(runtime, tenant, lambda c: replay_failed_since(c, made.endpoint["id"], ep[2]))
    assert queued == len(rows)
    await webhooks_tick(runtime, ("test",))
    rows = await _deliveries(runtime, tenant)
    assert {r["status"] for r in rows} == {"delivered"}
    assert {r["attempts"][-1]["trigger"] for r in rows} == {"replay"}


async def test_replay_resend_and_the_replay_limit(
    runtime: Runtime, tenant: TenantKeys, db: Database, receiver: Receiver
) -> None:
    receiver.status = 500
    made = await _endpoint(runtime, tenant, receiver.url)
    await _customer(db, runtime, tenant)
    await webhooks_tick(runtime, ("test",))
    (d,) = await _deliveries(runtime, tenant)
    receiver.status = 200
    attempt = await replay(runtime, tenant.id, "test", d["id"], OPERATOR)
    assert (attempt["trigger"], attempt["responseStatus"], attempt["attemptNumber"]) == ("replay", 200, 2)
    after = await _in(runtime, tenant, lambda c: get_delivery(c, d["id"]))
    assert after["status"] == "delivered"

    # Resend an event to an endpoint subscribed later.
    late = await _endpoint(runtime, tenant, receiver.url + "/late")
    sent = await resend(runtime, tenant.id, "test", d["eventId"], late.endpoint["id"], OPERATOR)
    assert (sent["trigger"], sent["responseStatus"]) == ("replay", 200)
    assert len(await _deliveries(runtime, tenant, endpoint_id=late.endpoint["id"])) == 1

    for _ in range(9):  # one replay so far on this endpoint (the resend was another's); 10 per minute each
        await replay(runtime, tenant.id, "test", d["id"], OPERATOR)
    with pytest.raises(DuroError) as caught:
        await replay(runtime, tenant.id, "test", d["id"], OPERATOR)
    assert (caught.value.status, caught.value.reason) == (429, "replay_rate_limited")
    assert made.endpoint["id"] == d["endpointId"]


async def test_events_api_shows_delivery_status_per_endpoint(
    runtime: Runtime, tenant: TenantKeys, db: Database, receiver: Receiver, clock: FrozenClock
) -> None:
    import httpx

    from duro.app import create_app

    app = create_app(runtime.settings, db=db, clock=clock)  # the events' frozen time is "now" for retention
    made = await _endpoint(runtime, tenant, receiver.url)
    await _customer(db, runtime, tenant)
    await webhooks_tick(runtime, ("test",))
    (d,) = await _deliveries(runtime, tenant)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        r = await client.get(f"/v1/events/{d['eventId']}", headers=tenant.auth())
    await app.state.runtime.close()
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["dispatchedAt"] is not None
    assert [(x["endpointId"], x["status"], x["lastStatusCode"]) for x in body["deliveries"]] == [
        (made.endpoint["id"], "delivered", 200)
    ]
    assert json.loads(receiver.got[0].body)["id"] == body["id"]
