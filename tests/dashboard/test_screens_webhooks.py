"""Webhook endpoint screens and the inspector (07 §8, 05 §6-8): the CLI's services behind forms, the SSRF rule
inline, the cap of 16, the signing secret shown once, replays against a real local receiver, `webhook:manage`
enforced, current mode only."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from duro.config import Settings
from duro.db.engine import Database
from duro.kit.clock import FrozenClock
from duro.kit.ids import new_id
from duro.models.core import audit_logs
from duro.models.webhooks import webhook_deliveries, webhook_endpoints
from duro.runtime import Runtime
from duro.workers.webhooks import webhooks_tick
from tests.conftest import TenantKeys, make_settings
from tests.dashboard.conftest import audit_actions
from tests.webhooks.harness import Receiver, receiver  # noqa: F401  (fixture)

HOOKS = "/dashboard/developers/webhooks"
PUBLIC = "https://93.184.216.34/hooks"  # a public IP literal: passes the save-time rules without DNS
# Local receivers are allowed only in development with DURO_WEBHOOK_ALLOW_INSECURE_TEST, sandbox only (05 §8).
LOOPBACK = [make_settings(env="development", webhook_allow_insecure_test=True)]
_SECRET = re.compile(r'data-testid="secret-once">([^<]+)<')


def secret_in(html: str) -> str:
    found = _SECRET.search(html)
    assert found, "no secret shown"
    return found.group(1).strip()


async def endpoint_rows(db: Database, tenant: TenantKeys, mode: str = "test") -> list[Any]:
    async with db.reader(mode) as conn:  # type: ignore[arg-type]
        stmt = select(webhook_endpoints).where(webhook_endpoints.c.tenant_id == tenant.id)
        return list((await conn.execute(stmt)).all())


async def make_endpoint(dash: Any, url: str = PUBLIC, **extra: Any) -> str:
    made = await dash.post(HOOKS, {"url": url, **extra})
    assert made.status_code == 201, made.text
    found = re.search(r'data-endpoint-id="(we_[^"]+)"', made.text)
    assert found
    return found.group(1)


@pytest.fixture
async def worker(db: Database, settings: Settings, clock: FrozenClock) -> AsyncIterator[Runtime]:
    """The webhooks loop's runtime: same settings, database and frozen clock as the dashboard app."""
    rt = Runtime(settings, db, clock=clock)
    yield rt
    await rt.close()


async def test_empty_list_and_form_render(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "developer")
    page = await dash.get(HOOKS)
    assert page.status_code == 200
    assert "No webhook endpoints in test mode yet" in page.text
    assert 'href="/dashboard/developers/webhooks/new"' in page.text
    form = await dash.get(f"{HOOKS}/new")
    assert form.status_code == 200
    assert 'value="customer_created"' in form.text
    assert "None ticked = all events" in form.text


async def test_create_shows_the_secret_once_and_audits(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    dash = await dash_as(tenant, "developer")
    made = await dash.post(
        HOOKS, {"url": PUBLIC, "description": "Orders", "enabledEvents": ["customer_created", "invoice_paid"]}
    )
    assert made.status_code == 201
    assert made.headers["cache-control"] == "no-store"
    secret = secret_in(made.text)
    assert secret.startswith("whsec_")
    rows = await endpoint_rows(db, tenant)
    assert len(rows) == 1
    assert rows[0].url == PUBLIC
    assert list(rows[0].enabled_events) == ["customer_created", "invoice_paid"]
    assert secret not in rows[0].secret_ciphertext
    again = await dash.get(HOOKS)
    assert secret not in again.text
    assert "customer_created, invoice_paid" in again.text
    assert "no attempts" in again.text
    assert "webhook_endpoint.created" in await audit_actions(db, tenant.id)


async def test_private_ip_url_shows_the_ssrf_rule_inline_and_creates_nothing(
    tenant: TenantKeys, dash_as: Any, db: Database
) -> None:
    dash = await dash_as(tenant, "developer")
    refused = await dash.post(HOOKS, {"url": "https://10.0.0.7/hooks", "description": "internal"})
    assert refused.status_code == 422
    error = re.search(r'<span class="field-error" data-field="url">([^<]+)</span>', refused.text)
    assert error, refused.text
    assert error.group(1) == "address 10.0.0.7 is not a public address"  # the failing rule, as the API says
    assert 'value="https://10.0.0.7/hooks"' in refused.text  # the submitted values are kept
    unknown = await dash.post(HOOKS, {"url": PUBLIC, "enabledEvents": ["nope"]})
    assert unknown.status_code == 422
    assert 'data-field="enabledEvents"' in unknown.text
    assert "unknown event type nope" in unknown.text
    missing = await dash.post(HOOKS, {"url": ""})
    assert missing.status_code == 422
    assert await endpoint_rows(db, tenant) == []


async def test_the_seventeenth_endpoint_is_refused(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    dash = await dash_as(tenant, "owner")
    ids = [await make_endpoint(dash, f"{PUBLIC}/{i}") for i in range(16)]
    assert (await dash.post(f"{HOOKS}/{ids[0]}/disable")).status_code == 303  # disabled ones count too
    page = await dash.get(HOOKS)
    assert 'data-testid="endpoint-cap"' in page.text
    assert 'data-testid="add-endpoint"' not in page.text
    refused = await dash.post(HOOKS, {"url": f"{PUBLIC}/17"})
    assert refused.status_code == 409
    assert "at most 16 webhook endpoints" in refused.text
    assert len(await endpoint_rows(db, tenant)) == 16


async def test_edit_enable_disable_delete(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    dash = await dash_as(tenant, "developer")
    we_id = await make_endpoint(dash)
    edit = await dash.get(f"{HOOKS}/{we_id}/edit")
    assert edit.status_code == 200
    assert f'value="{PUBLIC}"' in edit.text
    bad = await dash.post(f"{HOOKS}/{we_id}", {"url": "http://169.254.169.254/latest"})
    assert bad.status_code == 422
    assert 'data-field="url"' in bad.text
    assert (await endpoint_rows(db, tenant))[0].url == PUBLIC
    saved = await dash.post(f"{HOOKS}/{we_id}", {"url": PUBLIC + "/v2", "enabledEvents": ["invoice_paid"]})
    assert saved.status_code == 303
    row = (await endpoint_rows(db, tenant))[0]
    assert (row.url, list(row.enabled_events)) == (PUBLIC + "/v2", ["invoice_paid"])
    assert (await dash.post(f"{HOOKS}/{we_id}/disable")).status_code == 303
    page = await dash.get(f"{HOOKS}/{we_id}")
    assert "(manual)" in page.text
    assert f"{we_id}/enable" in page.text
    assert (await dash.post(f"{HOOKS}/{we_id}/enable")).status_code == 303
    assert (await endpoint_rows(db, tenant))[0].status == "enabled"
    assert 'data-confirm="Really delete' in (await dash.get(f"{HOOKS}/{we_id}")).text
    assert (await dash.post(f"{HOOKS}/{we_id}/delete")).status_code == 303
    assert await endpoint_rows(db, tenant) == []
    assert (await dash.get(f"{HOOKS}/{we_id}")).status_code == 404
    actions = await audit_actions(db, tenant.id)
    for action in ("updated", "disabled", "enabled", "deleted"):
        assert f"webhook_endpoint.{action}" in actions


async def test_rotate_shows_the_new_secret_once(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    dash = await dash_as(tenant, "developer")
    first = await dash.post(HOOKS, {"url": PUBLIC})
    old = secret_in(first.text)
    we_id = (await endpoint_rows(db, tenant))[0].id
    rotated = await dash.post(f"{HOOKS}/{we_id}/rotate-secret")
    assert rotated.status_code == 200
    assert rotated.headers["cache-control"] == "no-store"
    new = secret_in(rotated.text)
    assert new.startswith("whsec_")
    assert new != old
    assert "keeps signing" in rotated.text
    row = (await endpoint_rows(db, tenant))[0]
    assert row.secret_last4 == new[-4:]
    assert row.previous_secret_expires_at > row.secret_rotated_at
    now = await dash.post(f"{HOOKS}/{we_id}/rotate-secret", {"expireOldNow": "on"})
    assert secret_in(now.text) not in (old, new)
    row = (await endpoint_rows(db, tenant))[0]
    assert row.previous_secret_expires_at == row.secret_rotated_at
    assert new not in (await dash.get(f"{HOOKS}/{we_id}")).text
    assert "webhook_endpoint.secret_rotated" in await audit_actions(db, tenant.id)


async def test_finance_sees_no_buttons_and_gets_403(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    dev = await dash_as(tenant, "developer")
    we_id = await make_endpoint(dev)
    finance = await dash_as(tenant, "finance")
    page = await finance.get(HOOKS)
    assert page.status_code == 200
    assert "Add endpoint" not in page.text
    detail = await finance.get(f"{HOOKS}/{we_id}")
    assert detail.status_code == 200
    for hidden in ("/edit", "/disable", "/delete", "/rotate-secret", "/replay-failed"):
        assert hidden not in detail.text
    assert (await finance.get(f"{HOOKS}/new")).status_code == 403
    assert (await finance.post(HOOKS, {"url": PUBLIC + "/f"})).status_code == 403
    assert (await finance.post(f"{HOOKS}/{we_id}/disable")).status_code == 403
    assert (await finance.post(f"{HOOKS}/{we_id}/delete")).status_code == 403
    assert (await finance.post(f"{HOOKS}/{we_id}/rotate-secret")).status_code == 403
    rows = await endpoint_rows(db, tenant)
    assert [(r.id, r.status) for r in rows] == [(we_id, "enabled")]


async def test_writes_need_the_csrf_token(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    dash = await dash_as(tenant, "developer")
    assert (await dash.client.post(HOOKS, data={"url": PUBLIC})).status_code == 403
    assert await endpoint_rows(db, tenant) == []


async def test_mode_isolation(tenant: TenantKeys, dash_as: Any) -> None:
    test = await dash_as(tenant, "developer")
    we_id = await make_endpoint(test)
    live = await dash_as(tenant, "owner", mode="live")
    page = await live.get(HOOKS)
    assert we_id not in page.text
    assert "No webhook endpoints in live mode yet" in page.text
    assert (await live.get(f"{HOOKS}/{we_id}")).status_code == 404
    assert (await live.post(f"{HOOKS}/{we_id}/disable")).status_code == 303
    assert "enabled" in (await test.get(f"{HOOKS}/{we_id}")).text
    # Local receivers are refused in live mode even where test mode allows them.
    refused = await live.post(HOOKS, {"url": "http://127.0.0.1:8080/hooks"})
    assert refused.status_code == 422
    assert 'data-field="url"' in refused.text


@pytest.mark.parametrize("settings", LOOPBACK)
async def test_inspector_shows_attempts_and_replay_adds_one(
    tenant: TenantKeys,
    dash_as: Any,
    db: Database,
    worker: Runtime,
    receiver: Receiver,  # noqa: F811
) -> None:
    dash = await dash_as(tenant, "developer")
    we_id = await make_endpoint(dash, receiver.url, enabledEvents=["customer_created"])
    created = await dash.client.post("/v1/customers", json={"name": "Ada"}, headers=tenant.auth())
    assert created.status_code == 201, created.text
    await webhooks_tick(worker, ("test",))
    assert len(receiver.got) == 1
    page = await dash.get(f"{HOOKS}/{we_id}")
    assert page.status_code == 200
    assert "100% (1/1)" in page.text
    delivery_id = re.search(r'data-delivery-id="(whd_[^"]+)"', page.text)
    assert delivery_id
    filtered = await dash.get(f"{HOOKS}/{we_id}?status=failed")
    assert delivery_id.group(1) not in filtered.text
    by_type = await dash.get(f"{HOOKS}/{we_id}?eventType=customer_created&since=2025-03-01")
    assert delivery_id.group(1) in by_type.text
    later = await dash.get(f"{HOOKS}/{we_id}?since=2025-03-04")
    assert delivery_id.group(1) not in later.text
    path = f"{HOOKS}/{we_id}/deliveries/{delivery_id.group(1)}"
    detail = await dash.get(path)
    assert detail.status_code == 200
    assert 'data-attempt="1"' in detail.text
    assert "HTTP 200" in detail.text
    assert "Ada" in detail.text  # the event payload beside the attempts
    assert "webhook-signature" in detail.text.lower() or "duro-signature" in detail.text.lower()
    replayed = await dash.post(f"{path}/replay")
    assert replayed.status_code == 303
    assert len(receiver.got) == 2
    after = await dash.get(path)
    assert 'data-attempt="2"' in after.text
    assert "replay" in after.text
    assert "Replayed: attempt 2 got HTTP 200." in after.text
    assert "webhook_delivery.replayed" in await audit_actions(db, tenant.id)
    # The CLI's limit applies: 10 replays a minute per endpoint (the clock is frozen, so all in one minute).
    for _ in range(9):
        assert (await dash.post(f"{path}/replay")).status_code == 303
    assert len(receiver.got) == 11
    limited = await dash.post(f"{path}/replay")
    assert limited.status_code == 303
    assert "At most 10 replays per minute" in (await dash.get(path)).text
    assert len(receiver.got) == 11


@pytest.mark.parametrize("settings", LOOPBACK)
async def test_replay_failed_since_queues_failed_deliveries(
    tenant: TenantKeys,
    dash_as: Any,
    db: Database,
    worker: Runtime,
    receiver: Receiver,  # noqa: F811
) -> None:
    dash = await dash_as(tenant, "developer")
    we_id = await make_endpoint(dash, receiver.url)
    await dash.client.post("/v1/customers", json={"name": "Bo"}, headers=tenant.auth())
    await webhooks_tick(worker, ("test",))
    async with db.transaction("test") as conn:
        await conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.tenant_id == tenant.id)
            .values(status="failed", next_attempt_at=None)
        )
    finance = await dash_as(tenant, "finance")
    assert (await finance.post(f"{HOOKS}/{we_id}/replay-failed", {"since": "2025-03-01T00:00"})).status_code == 403
    done = await dash.post(f"{HOOKS}/{we_id}/replay-failed", {"since": "2025-03-01T00:00"})
    assert done.status_code == 303
    assert "1 failed deliveries since 2025-03-01 00:00 UTC queued" in (await dash.get(f"{HOOKS}/{we_id}")).text
    async with db.reader("test") as conn:
        queued = (
            await conn.execute(
                select(webhook_deliveries.c.replay_queued).where(webhook_deliveries.c.tenant_id == tenant.id)
            )
        ).scalar_one()
    assert queued is True
    await webhooks_tick(worker, ("test",))
    assert len(receiver.got) == 2


@pytest.mark.parametrize("settings", LOOPBACK)
async def test_a_delivery_is_only_found_under_its_own_endpoint_and_mode(
    tenant: TenantKeys,
    dash_as: Any,
    worker: Runtime,
    receiver: Receiver,  # noqa: F811
) -> None:
    dash = await dash_as(tenant, "developer")
    mine = await make_endpoint(dash, receiver.url)
    other = await make_endpoint(dash, receiver.url + "/other", enabledEvents=["invoice_paid"])
    await dash.client.post("/v1/customers", json={"name": "Cy"}, headers=tenant.auth())
    await webhooks_tick(worker, ("test",))
    found = re.search(r'data-delivery-id="(whd_[^"]+)"', (await dash.get(f"{HOOKS}/{mine}")).text)
    assert found
    delivery = found.group(1)
    assert (await dash.get(f"{HOOKS}/{mine}/deliveries/{delivery}")).status_code == 200
    assert (await dash.get(f"{HOOKS}/{other}/deliveries/{delivery}")).status_code == 404
    assert (await dash.post(f"{HOOKS}/{other}/deliveries/{delivery}/replay")).status_code == 404
    assert (await dash.get(f"{HOOKS}/{mine}/deliveries/whd_missing")).status_code == 404
    live = await dash_as(tenant, "owner", mode="live")
    assert (await live.get(f"{HOOKS}/{mine}/deliveries/{delivery}")).status_code == 404
    assert (await live.post(f"{HOOKS}/{mine}/deliveries/{delivery}/replay")).status_code == 404
    assert len(receiver.got) == 1


# --- inspector pages and replay audit ---


def next_link(html: str) -> str:
    found = re.search(r'<a rel="next" href="([^"]+)"', html)
    assert found, "no next page link"
    return found.group(1).replace("&amp;", "&")


async def add_deliveries(
    db: Database, tenant: TenantKeys, endpoint_id: str, count: int, *, status: str, event_type: str, start: datetime
) -> list[str]:
    """Deliveries written directly (the rows fan-out writes), one minute apart from `start`."""
    ids = [new_id("whd") for _ in range(count)]
    async with db.transaction("test") as conn:
        for i, delivery_id in enumerate(ids):
            at = start + timedelta(minutes=i)
            await conn.execute(
                insert(webhook_deliveries).values(
                    id=delivery_id,
                    tenant_id=tenant.id,
                    event_id=new_id("evt"),
                    endpoint_id=endpoint_id,
                    event_type=event_type,
                    status=status,
                    attempt_count=1,
                    created_at=at,
                    updated_at=at,
                )
            )
    return ids


def delivery_ids(html: str) -> list[str]:
    return re.findall(r'data-delivery-id="(whd_[^"]+)"', html)


async def test_inspector_pages_of_20_keep_the_filters(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    dash = await dash_as(tenant, "read_only")
    owner = await dash_as(tenant, "developer")
    we_id = await make_endpoint(owner)
    march, february = datetime(2025, 3, 2, 8, tzinfo=UTC), datetime(2025, 2, 20, 8, tzinfo=UTC)
    wanted = await add_deliveries(db, tenant, we_id, 23, status="failed", event_type="customer_created", start=march)
    delivered = await add_deliveries(
        db, tenant, we_id, 3, status="delivered", event_type="customer_created", start=march
    )
    other_type = await add_deliveries(db, tenant, we_id, 2, status="failed", event_type="invoice_paid", start=march)
    too_old = await add_deliveries(db, tenant, we_id, 2, status="failed", event_type="customer_created", start=february)

    filtered = f"{HOOKS}/{we_id}?status=failed&eventType=customer_created&since=2025-03-01"
    first = await dash.get(filtered)
    assert first.status_code == 200
    page1 = delivery_ids(first.text)
    assert page1 == list(reversed(wanted))[:20]  # newest first
    link = next_link(first.text)
    assert link.startswith(f"{HOOKS}/{we_id}?")
    for kept in ("status=failed", "eventType=customer_created", "since=2025-03-01", f"cursor={page1[-1]}"):
        assert kept in link
    second = await dash.get(link)
    assert second.status_code == 200
    assert delivery_ids(second.text) == list(reversed(wanted))[20:]
    assert 'rel="next"' not in second.text
    first_page = re.search(r'href="([^"]+)">« First page', second.text)
    assert first_page
    assert "cursor" not in first_page.group(1)
    assert "status=failed" in first_page.group(1)
    assert 'value="failed" selected' in second.text  # the filter form still shows them

    everything = await dash.get(f"{HOOKS}/{we_id}")
    all_ids = delivery_ids(everything.text) + delivery_ids((await dash.get(next_link(everything.text))).text)
    assert sorted(all_ids) == sorted(wanted + delivered + other_type + too_old)
    # A cursor that is not in the filtered list (a delivered one under status=failed) is refused.
    assert (await dash.get(f"{filtered}&cursor={delivered[0]}")).status_code == 400
    live = await dash_as(tenant, "owner", mode="live")
    assert (await live.get(f"{HOOKS}/{we_id}")).status_code == 404


@pytest.mark.parametrize("settings", LOOPBACK)
async def test_replay_audit_entry_has_the_members_request(
    tenant: TenantKeys,
    dash_as: Any,
    db: Database,
    worker: Runtime,
    receiver: Receiver,  # noqa: F811
) -> None:
    dash = await dash_as(tenant, "developer")
    we_id = await make_endpoint(dash, receiver.url, enabledEvents=["customer_created"])
    await dash.client.post("/v1/customers", json={"name": "Cy"}, headers=tenant.auth())
    await webhooks_tick(worker, ("test",))
    (delivery_id,) = delivery_ids((await dash.get(f"{HOOKS}/{we_id}")).text)
    replayed = await dash.post(
        f"{HOOKS}/{we_id}/deliveries/{delivery_id}/replay",
        headers={"user-agent": "replay-test/2"},
    )
    assert replayed.status_code == 303
    async with db.core_transaction() as conn:
        (entry,) = (
            await conn.execute(
                select(audit_logs).where(
                    audit_logs.c.tenant_id == tenant.id, audit_logs.c.action == "webhook_delivery.replayed"
                )
            )
        ).all()
    assert (entry.actor_type, entry.actor_id) == ("member", dash.member.id)
    assert (entry.target_type, entry.target_id, entry.mode) == ("webhook_delivery", delivery_id, "test")
    assert entry.ip
    assert entry.request_id
    assert entry.user_agent == "replay-test/2"
