"""Customer screens (07 §3, §6): search, create/edit, detail with billing history, blacklist, simulator methods."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from duro.db.engine import Database
from duro.models.core import audit_logs
from tests.conftest import TenantKeys

CARD = {"testCard": {"number": "4242424242424242", "expMonth": 12, "expYear": 2030}}


async def api(dash: Any, tenant: TenantKeys, method: str, path: str, body: Any = None, mode: str = "test") -> Any:
    response = await dash.client.request(method, path, json=body, headers=tenant.auth(mode))
    assert response.status_code < 300, response.text
    return response.json()


async def make_customer(dash: Any, tenant: TenantKeys, **fields: Any) -> dict[str, Any]:
    customer: dict[str, Any] = await api(dash, tenant, "POST", "/v1/customers", fields)
    return customer


async def test_customers_list_empty_state_and_pagination(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    empty = await dash.get("/dashboard/customers")
    assert empty.status_code == 200
    assert "No customers yet" in empty.text
    assert 'href="/dashboard/customers/new"' in empty.text
    for i in range(21):
        await make_customer(dash, tenant, name=f"Person {i:02d}")
    first = await dash.get("/dashboard/customers")
    assert first.text.count('<a href="/dashboard/customers/cus_') == 20
    assert "Person 00" not in first.text
    listing = await api(dash, tenant, "GET", "/v1/customers")
    nxt = await dash.get(f"/dashboard/customers?cursor={listing['nextCursor']}")
    assert "Person 00" in nxt.text
    assert "Person 20" not in nxt.text


async def test_search_by_email_phone_and_merchant_ref_uses_the_api_normalisation(
    tenant: TenantKeys, dash_as: Any
) -> None:
    dash = await dash_as(tenant, "read_only")
    owner = await dash_as(tenant, "owner")
    await make_customer(owner, tenant, name="Ada", email="ada@example.com", phone="+2348012345678", merchantRef="u/1")
    await make_customer(owner, tenant, name="Bola", email="bola@example.com")
    by_email = await dash.get("/dashboard/customers?email=ADA@example.com")
    assert "Ada" in by_email.text
    assert "Bola" not in by_email.text
    by_phone = await dash.get("/dashboard/customers?phone=08012345678")
    assert "Ada" in by_phone.text
    assert "Bola" not in by_phone.text
    by_ref = await dash.get("/dashboard/customers", params={"merchantRef": "u/1"})
    assert "Ada" in by_ref.text
    none = await dash.get("/dashboard/customers?email=nobody@example.com")
    assert "No customers match this search" in none.text
    invalid = await dash.get("/dashboard/customers?phone=12")
    assert invalid.status_code == 200
    assert 'data-field="phone"' in invalid.text
    assert "not a valid phone number" in invalid.text


async def test_create_and_edit_a_customer(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "finance")
    form = await dash.get("/dashboard/customers/new")
    assert form.status_code == 200
    answer = await dash.post(
        "/dashboard/customers",
        {"name": "Chi", "email": "Chi@Example.com", "phone": "08012345678", "merchantRef": "c-1", "metadata": "a=1"},
    )
    assert answer.status_code == 303, answer.text
    customer = (await api(dash, tenant, "GET", "/v1/customers"))["items"][0]
    assert answer.headers["location"] == f"/dashboard/customers/{customer['id']}"
    assert (customer["email"], customer["phone"], customer["merchantRef"]) == (
        "chi@example.com",
        "+2348012345678",
        "c-1",
    )
    assert customer["metadata"] == {"a": "1"}
    edit = await dash.get(f"/dashboard/customers/{customer['id']}/edit")
    assert 'value="chi@example.com"' in edit.text
    saved = await dash.post(
        f"/dashboard/customers/{customer['id']}", {"name": "Chioma", "email": "", "phone": "", "merchantRef": "c-2"}
    )
    assert saved.status_code == 303
    after = await api(dash, tenant, "GET", f"/v1/customers/{customer['id']}")
    assert (after["name"], after["email"], after["phone"], after["merchantRef"]) == ("Chioma", None, None, "c-2")
    assert after["metadata"] == {}


async def test_customer_validation_errors_are_inline_and_save_nothing(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    bad = await dash.post("/dashboard/customers", {"name": "X", "email": "not-an-email"})
    assert bad.status_code == 422
    assert 'data-field="email"' in bad.text
    assert "not a valid email address" in bad.text
    assert 'value="X"' in bad.text
    first = await make_customer(dash, tenant, merchantRef="taken")
    other = await make_customer(dash, tenant, name="Other")
    duplicate = await dash.post("/dashboard/customers", {"merchantRef": "taken"})
    assert duplicate.status_code == 422
    assert 'data-field="merchantRef"' in duplicate.text
    clash = await dash.post(f"/dashboard/customers/{other['id']}", {"name": "Other", "merchantRef": "taken"})
    assert clash.status_code == 422
    assert "Another customer already has this merchantRef" in clash.text
    items = (await api(dash, tenant, "GET", "/v1/customers"))["items"]
    assert sorted(i["id"] for i in items) == sorted([first["id"], other["id"]])
    assert (await api(dash, tenant, "GET", f"/v1/customers/{other['id']}"))["merchantRef"] is None


async def test_detail_shows_subscriptions_invoices_transactions_methods_and_events(
    tenant: TenantKeys, dash_as: Any
) -> None:
    dash = await dash_as(tenant, "owner")
    customer = await make_customer(dash, tenant, name="Dayo", email="dayo@example.com")
    await api(dash, tenant, "POST", f"/v1/customers/{customer['id']}/payment-methods", CARD)
    plan = await api(dash, tenant, "POST", "/v1/plans", {"name": "Gold plan", "amount": 250000, "interval": "month"})
    sub = await api(dash, tenant, "POST", "/v1/subscriptions", {"customerId": customer["id"], "planId": plan["id"]})
    page = await dash.get(f"/dashboard/customers/{customer['id']}")
    assert page.status_code == 200
    assert f"/dashboard/subscriptions/{sub['id']}" in page.text
    assert "Gold plan" in page.text
    assert f"/dashboard/invoices/{sub['latestInvoiceId']}" in page.text
    assert "₦2,500.00" in page.text
    assert 'data-testid="transactions"' in page.text
    assert "•••• 4242" in page.text
    assert "customer_created" in page.text
    assert "not linked" in page.text
    assert f'href="/dashboard/subscriptions/new?customerId={customer["id"]}"' in page.text


async def test_empty_detail_and_unknown_customer(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    customer = await make_customer(dash, tenant)
    page = await dash.get(f"/dashboard/customers/{customer['id']}")
    assert "No subscriptions." in page.text
    assert "No payment methods." in page.text
    assert (await dash.get("/dashboard/customers/cus_missing")).status_code == 404
    assert (await dash.get("/dashboard/customers/cus_missing/edit")).status_code == 404


async def test_blacklist_needs_a_reason_and_unblacklist_restores(
    tenant: TenantKeys, dash_as: Any, db: Database
) -> None:
    dash = await dash_as(tenant, "admin")
    customer = await make_customer(dash, tenant, name="Eke")
    page = await dash.get(f"/dashboard/customers/{customer['id']}")
    assert 'data-confirm="Blacklist this customer?' in page.text
    missing = await dash.post(f"/dashboard/customers/{customer['id']}/blacklist", {"reason": ""})
    assert missing.status_code == 422
    assert 'data-field="reason"' in missing.text
    assert (await api(dash, tenant, "GET", f"/v1/customers/{customer['id']}"))["blacklisted"] is False
    done = await dash.post(f"/dashboard/customers/{customer['id']}/blacklist", {"reason": "chargeback fraud"})
    assert done.status_code == 303
    after = await api(dash, tenant, "GET", f"/v1/customers/{customer['id']}")
    assert (after["blacklisted"], after["blacklistReason"]) == (True, "chargeback fraud")
    page = await dash.get(f"/dashboard/customers/{customer['id']}")
    assert "chargeback fraud" in page.text
    assert 'data-confirm="Remove this customer from the blacklist?' in page.text
    listed = await dash.get("/dashboard/customers?blacklisted=true")
    assert customer["id"] in listed.text
    assert (await dash.post(f"/dashboard/customers/{customer['id']}/unblacklist")).status_code == 303
    assert (await api(dash, tenant, "GET", f"/v1/customers/{customer['id']}"))["blacklisted"] is False
    async with db.core_transaction() as conn:
        stmt = select(audit_logs.c.action, audit_logs.c.actor_id).where(
            audit_logs.c.tenant_id == tenant.id, audit_logs.c.target_id == customer["id"]
        )
        entries = sorted((r.action, r.actor_id) for r in (await conn.execute(stmt)).all())
    member = dash.member.id
    assert entries == [("customer.blacklisted", member), ("customer.unblacklisted", member)]


async def test_attach_a_simulator_method_in_test_mode(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    customer = await make_customer(dash, tenant)
    path = f"/dashboard/customers/{customer['id']}/payment-methods"
    unknown = await dash.post(path, {"rail": "card", "number": "1111222233334444", "expMonth": "12", "expYear": "2030"})
    assert unknown.status_code == 422
    assert 'data-field="number"' in unknown.text
    assert "not a simulator test number" in unknown.text
    card = await dash.post(path, {"rail": "card", "number": "4242424242424242", "expMonth": "12", "expYear": "2030"})
    assert card.status_code == 303, card.text
    bank = await dash.post(path, {"rail": "ussd", "number": "0123456789", "setDefault": "on"})
    assert bank.status_code == 303, bank.text
    methods = (await api(dash, tenant, "GET", f"/v1/customers/{customer['id']}/payment-methods"))["items"]
    assert [(m["rail"], m["isDefault"]) for m in methods] == [("ussd", True), ("card", False)]
    page = await dash.get(f"/dashboard/customers/{customer['id']}")
    assert "attached" in page.text


async def test_live_mode_hides_test_customers_and_the_attach_form(tenant: TenantKeys, dash_as: Any) -> None:
    owner = await dash_as(tenant, "owner")
    test_customer = await make_customer(owner, tenant, name="Test only")
    live = await dash_as(tenant, "admin")
    await live.switch("live")
    assert "Test only" not in (await live.get("/dashboard/customers")).text
    assert (await live.get(f"/dashboard/customers/{test_customer['id']}")).status_code == 404
    created = await live.post("/dashboard/customers", {"name": "Live one"})
    assert created.status_code == 303
    page = await live.get(created.headers["location"])
    assert 'data-testid="attach-form"' not in page.text
    refused = await live.post(
        f"{created.headers['location']}/payment-methods",
        {"rail": "card", "number": "4242424242424242", "expMonth": "12", "expYear": "2030"},
    )
    assert refused.status_code == 303
    assert "test mode only" in (await live.get(created.headers["location"])).text
    assert "Live one" not in (await owner.get("/dashboard/customers")).text


async def test_read_only_cannot_write_customers_and_sees_no_buttons(tenant: TenantKeys, dash_as: Any) -> None:
    owner = await dash_as(tenant, "owner")
    customer = await make_customer(owner, tenant, name="Fola")
    dash = await dash_as(tenant, "read_only")
    assert 'data-testid="new-customer"' not in (await dash.get("/dashboard/customers")).text
    page = await dash.get(f"/dashboard/customers/{customer['id']}")
    for hidden in ("edit-customer", "new-subscription", "blacklist-form", "attach-form"):
        assert f'data-testid="{hidden}"' not in page.text
    cid = customer["id"]
    assert (await dash.post("/dashboard/customers", {"name": "New"})).status_code == 403
    assert (await dash.post(f"/dashboard/customers/{cid}", {"name": "Hacked"})).status_code == 403
    assert (await dash.post(f"/dashboard/customers/{cid}/blacklist", {"reason": "x"})).status_code == 403
    assert (await dash.post(f"/dashboard/customers/{cid}/payment-methods", {"number": "0123456789"})).status_code == 403
    after = await api(dash, tenant, "GET", f"/v1/customers/{cid}")
    assert (after["name"], after["blacklisted"]) == ("Fola", False)
    assert len((await api(dash, tenant, "GET", "/v1/customers"))["items"]) == 1
    assert (await api(dash, tenant, "GET", f"/v1/customers/{cid}/payment-methods"))["items"] == []


async def test_customer_writes_need_the_csrf_token(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    customer = await make_customer(dash, tenant)
    assert (await dash.client.post("/dashboard/customers", data={"name": "X"})).status_code == 403
    blacklist = await dash.client.post(f"/dashboard/customers/{customer['id']}/blacklist", data={"reason": "x"})
    assert blacklist.status_code == 403
    assert len((await api(dash, tenant, "GET", "/v1/customers"))["items"]) == 1
    assert (await api(dash, tenant, "GET", f"/v1/customers/{customer['id']}"))["blacklisted"] is False
