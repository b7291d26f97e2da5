"""Events screens (07 §3, §12): list by type with keyset pages, payload and deliveries, resend to an endpoint."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from duro.config import Settings
from duro.context import Actor, RepositoryContext
from duro.db.engine import Database
from duro.kit.clock import FrozenClock
from duro.webhooks.endpoints import create_endpoint
from tests.conftest import TenantKeys, make_settings
from tests.webhooks import harness
from tests.webhooks.harness import Receiver

receiver = harness.receiver  # the local webhook receiver fixture

LIST = "/dashboard/developers/events"
_ROW = re.compile(r'href="/dashboard/developers/events/(evt_[A-Za-z0-9]+)"')


@pytest.fixture
def settings() -> Settings:
    # Local receivers are allowed the way development allows them (test mode only, 05 §8).
    return make_settings(env="development", webhook_allow_insecure_test=True)


async def _customer(dash: Any, tenant: TenantKeys, name: str, mode: str = "test") -> str:
    made = await dash.client.post("/v1/customers", json={"name": name}, headers=tenant.auth(mode))
    assert made.status_code in (200, 201), made.text
    return str(made.json()["id"])


async def _endpoint(db: Database, settings: Settings, clock: FrozenClock, tenant: TenantKeys, url: str) -> str:
    async with db.transaction("test") as conn:
        ctx = RepositoryContext(conn, tenant.id, "test", clock, settings, Actor("system", None, "cli"))
        made = await create_endpoint(ctx, url=url)
    return str(made.endpoint["id"])


async def _event_ids(dash: Any, tenant: TenantKeys, mode: str = "test", type_: str | None = None) -> list[str]:
    query = {"type": type_} if type_ else {}
    listed = await dash.client.get("/v1/events", params=query, headers=tenant.auth(mode))
    return [e["id"] for e in listed.json()["items"]]


async def test_empty_state(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "read_only")
    page = await dash.get(LIST)
    assert page.status_code == 200
    assert "No events yet in test mode" in page.text
    assert 'data-testid="events-table"' not in page.text


async def test_list_pages_through_21_events_newest_first(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "read_only")
    for n in range(21):
        await _customer(dash, tenant, f"Customer {n}")
    expected = await _event_ids(dash, tenant)  # the API's order, first page of 20
    first = await dash.get(LIST)
    assert first.status_code == 200
    assert _ROW.findall(first.text) == expected
    found = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert found
    second = await dash.get(html.unescape(found.group(1)))
    assert second.status_code == 200
    rest = _ROW.findall(second.text)
    assert len(rest) == 1
    assert rest[0] not in expected
    assert 'rel="next"' not in second.text


async def test_type_filter(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "finance")
    customer = await _customer(dash, tenant, "Ada")
    updated = await dash.client.patch(f"/v1/customers/{customer}", json={"name": "Ada L."}, headers=tenant.auth())
    assert updated.status_code == 200, updated.text
    only = await _event_ids(dash, tenant, type_="customer_updated")
    assert len(only) == 1
    page = await dash.get(LIST, params={"type": "customer_updated"})
    assert _ROW.findall(page.text) == only
    assert '<option value="customer_updated" selected>' in page.text
    none = await dash.get(LIST, params={"type": "invoice_paid"})
    assert _ROW.findall(none.text) == []
    assert "No invoice_paid events in test mode." in none.text
    bad = await dash.get(LIST, params={"type": "x\u0007"})
    assert bad.status_code == 200
    assert "printable" in bad.text


async def test_detail_shows_the_payload_and_no_deliveries(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "read_only")
    customer = await _customer(dash, tenant, "Ada <b>")
    (event_id,) = await _event_ids(dash, tenant)
    page = await dash.get(f"{LIST}/{event_id}")
    assert page.status_code == 200
    payload = re.search(r'<pre class="json" data-testid="event-payload">(.*?)</pre>', page.text, re.S)
    assert payload
    text = html.unescape(payload.group(1))
    assert '\n  "type": "customer_created",' in text  # pretty-printed, two-space indent
    assert f'"id": "{customer}"' in text
    assert '"name": "Ada <b>"' in text
    assert "Ada <b>" not in page.text  # escaped in the page
    assert 'data-testid="no-deliveries"' in page.text
    assert 'data-testid="resend-form"' not in page.text  # read_only has no webhook:manage


async def test_resend_delivers_and_shows_the_delivery(
    tenant: TenantKeys, dash_as: Any, db: Database, settings: Settings, clock: FrozenClock, receiver: Receiver
) -> None:
    dash = await dash_as(tenant, "developer")
    await _customer(dash, tenant, "Ada")
    (event_id,) = await _event_ids(dash, tenant)
    endpoint_id = await _endpoint(db, settings, clock, tenant, receiver.url)
    page = await dash.get(f"{LIST}/{event_id}")
    assert 'data-testid="resend-form"' in page.text
    assert f'<option value="{endpoint_id}">{receiver.url}</option>' in page.text
    answer = await dash.post(f"{LIST}/{event_id}/resend", {"endpointId": endpoint_id})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{LIST}/{event_id}"
    assert len(receiver.got) == 1
    assert event_id.encode() in receiver.got[0].body
    after = await dash.get(f"{LIST}/{event_id}")
    assert f"Event resent to {endpoint_id}: HTTP 200." in after.text
    deliveries = re.search(r'data-testid="event-deliveries">(.*?)</table>', after.text, re.S)
    assert deliveries
    assert receiver.url in deliveries.group(1)
    assert "status-delivered" in deliveries.group(1)
    api = await dash.client.get(f"/v1/events/{event_id}", headers=tenant.auth())
    assert [(d["endpointId"], d["status"]) for d in api.json()["deliveries"]] == [(endpoint_id, "delivered")]


async def test_resend_to_an_unknown_endpoint_flashes_the_error(
    tenant: TenantKeys, dash_as: Any, receiver: Receiver
) -> None:
    dash = await dash_as(tenant, "owner")
    await _customer(dash, tenant, "Ada")
    (event_id,) = await _event_ids(dash, tenant)
    answer = await dash.post(f"{LIST}/{event_id}/resend", {"endpointId": "we_doesnotexist"})
    assert answer.status_code == 303
    assert "No such webhook endpoint" in (await dash.get(answer.headers["location"])).text
    assert receiver.got == []


async def test_resend_needs_webhook_manage_and_csrf(
    tenant: TenantKeys, dash_as: Any, db: Database, settings: Settings, clock: FrozenClock, receiver: Receiver
) -> None:
    owner = await dash_as(tenant, "owner")
    await _customer(owner, tenant, "Ada")
    (event_id,) = await _event_ids(owner, tenant)
    endpoint_id = await _endpoint(db, settings, clock, tenant, receiver.url)
    for role in ("finance", "read_only"):
        dash = await dash_as(tenant, role)
        page = await dash.get(f"{LIST}/{event_id}")
        assert 'data-testid="resend-form"' not in page.text
        refused = await dash.post(f"{LIST}/{event_id}/resend", {"endpointId": endpoint_id})
        assert refused.status_code == 403, role
    no_csrf = await owner.client.post(f"{LIST}/{event_id}/resend", data={"endpointId": endpoint_id})
    assert no_csrf.status_code == 403
    assert receiver.got == []
    api = await owner.client.get(f"/v1/events/{event_id}", headers=tenant.auth())
    assert api.json()["deliveries"] == []


async def test_live_mode_sees_no_test_events(tenant: TenantKeys, dash_as: Any) -> None:
    # One session per member: the fixture sets the mode on the member's session.
    live = await dash_as(tenant, "owner", mode="live")
    await _customer(live, tenant, "Test customer")  # with the test key
    (test_event,) = await _event_ids(live, tenant)
    page = await live.get(LIST)
    assert "No events yet in live mode" in page.text
    assert test_event not in page.text
    missing = await live.get(f"{LIST}/{test_event}")
    assert missing.status_code == 404
    refused = await live.post(f"{LIST}/{test_event}/resend", {"endpointId": "we_x"})
    assert refused.status_code == 303
    assert "No such event" in (await live.get(refused.headers["location"])).text
