"""`duro demo`: the "Demo Store" tenant with plans, customers, cards, a promo code, subscriptions in several
states (one past due, in dunning), a test clock and a published appearance, to explore (01 §11).

Development convenience: the demo credentials are kept in `DURO_DATA_DIR/demo.json` (0600) so `make run`
can print them on every start. Never written in production.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete

from duro.appearance import service as appearance
from duro.config import Settings
from duro.context import RepositoryContext
from duro.customers.schemas import CustomerCreate
from duro.customers.service import create_customer
from duro.db.engine import Database
from duro.kit.clock import SystemClock
from duro.models.core import tenants
from duro.plans.schemas import PlanCreate
from duro.plans.service import create_plan
from duro.tenants.repository import TenantStore
from duro.tenants.service import CLI_ACTOR, provision_tenant

DEMO_SLUG = "demo-store"
DEMO_EMAIL = "owner@demo-store.example.com"

PLANS: list[dict[str, Any]] = [
    {"name": "Starter Monthly", "amount": 250_000, "interval": "month"},
    {"name": "Pro Monthly", "amount": 500_000, "interval": "month", "trialDays": 14},
    {"name": "Pro Yearly", "amount": 5_000_000, "interval": "year"},
    {"name": "Weekly Box", "amount": 150_000, "interval": "week"},
    {"name": "Daily Pass", "amount": 20_000, "interval": "day"},
    {"name": "Quarterly Plus", "amount": 1_400_000, "interval": "quarter", "maxCycles": 4},
    {"name": "Hourly Sandbox", "amount": 1_000, "interval": "hour", "intervalCount": 6},
]

APPEARANCE: dict[str, dict[str, Any]] = {
    "general": {"brandColor": "#7C3AED", "font": "inter"},
    "checkout": {"headline": "Join Demo Store", "footerNote": "Cancel any time from the customer portal."},
    "portal": {"heading": "Your Demo Store plan"},
}

CUSTOMERS: list[dict[str, Any]] = [
    {
        "name": "Adaeze Okafor",
        "email": "adaeze@example.com",
        "phone": "08031234567",
        "merchantRef": "demo-001",
    },
    {
        "name": "Tunde Bakare",
        "email": "tunde@example.com",
        "phone": "+2348051234567",
        "merchantRef": "demo-002",
    },
    {"name": "Chioma Eze", "email": "chioma@example.com", "merchantRef": "demo-003"},
    {
        "name": "Musa Ibrahim",
        "phone": "2348091234567",
        "merchantRef": "demo-004",
        "metadata": {"tier": "gold"},
    },
    {"name": "Ngozi Umeh", "email": "ngozi@example.com", "merchantRef": "demo-005"},
]


async def ensure_demo(
    db: Database, settings: Settings, *, reset: bool = False, only_if_empty: bool = False
) -> dict[str, Any] | None:
    """Create the demo tenant, or return its saved credentials. With `only_if_empty`, a database holding
    other tenants is left alone (None)."""
    creds_path = settings.data_dir / "demo.json"
    async with db.core_transaction() as conn:
        store = TenantStore(conn)
        existing = await store.by_slug(DEMO_SLUG)
        if existing is None and only_if_empty and await store.list_all():
            return None
        if existing is not None and reset:
            await conn.execute(delete(tenants).where(tenants.c.id == existing.id))  # cascades to every table
            existing = None
    if existing is not None:
        if creds_path.exists():
            saved: dict[str, Any] = json.loads(creds_path.read_text())
            if saved.get("tenant", {}).get("id") == existing.id:
                await ensure_demo_appearance(db, existing.id)  # demo tenants made before appearance existed
                return saved
        raise RuntimeError("the demo tenant exists but its credentials are gone; run: duro demo --reset")

    clock = SystemClock()
    made = await provision_tenant(
        db,
        settings,
        clock,
        name="Demo Store",
        owner_email=DEMO_EMAIL,
        slug=DEMO_SLUG,
        owner_name="Demo Owner",
        audit_as_creator=True,
    )
    tenant_id = made.tenant.id
    for mode in ("test", "live"):
        async with db.transaction(mode) as conn:
            ctx = RepositoryContext(conn, tenant_id, mode, clock, settings, CLI_ACTOR)
            for plan in PLANS:
                await create_plan(ctx, PlanCreate.model_validate(plan, strict=False))
            if mode == "test":
                for customer in CUSTOMERS:
                    await create_customer(ctx, CustomerCreate.model_validate(customer))
    out = made.as_json()
    await seed_billing(db, settings, out["keys"]["test"]["secret"])
    await ensure_demo_appearance(db, tenant_id)
    if settings.env != "production":
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        creds_path.write_text(json.dumps(out, indent=2))
        creds_path.chmod(0o600)
    return out


async def ensure_demo_appearance(db: Database, tenant_id: str) -> None:
    """Publish the demo's branding unless an appearance was already published (so a merchant's own edits to the
    demo survive re-running `duro demo`)."""
    async with db.core_transaction() as conn:
        if (await appearance.get_config(conn, tenant_id))["version"] > 0:
            return
        clock = SystemClock()
        for surface, partial in APPEARANCE.items():
            await appearance.set_draft(conn, tenant_id, surface, partial, clock=clock)
        await appearance.publish(conn, tenant_id, actor=CLI_ACTOR, clock=clock)


async def seed_billing(db: Database, settings: Settings, secret_key: str) -> None:
    """Subscriptions in several states, through the public API in-process, so the demo data is exactly what
    merchants' own calls produce: cards of several simulator outcomes, a promo code, an active, a trialing, an
    incomplete and a canceling subscription, and one past due (in dunning) on a test clock."""
    import httpx

    from duro.app import create_app

    # The in-process calls come in a burst: lift the per-key limit for them only.
    app = create_app(settings.model_copy(update={"rate_limit_test": 100_000}), db=db)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {secret_key}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://demo", headers=headers) as api:

        async def call(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
            r = await api.request(method, path, json=body)
            if r.status_code >= 400:
                raise RuntimeError(f"demo seeding failed: {method} {path} -> {r.status_code} {r.text}")
            data: dict[str, Any] = r.json()
            return data

        plans = {p["name"]: p for p in (await call("GET", "/v1/plans?limit=100"))["items"]}
        customers = {c["merchantRef"]: c for c in (await call("GET", "/v1/customers?limit=100"))["items"]}
        await call("POST", "/v1/promo-codes", {"code": "LAUNCH50", "discountType": "percentage", "discountValue": 50})

        async def card(ref: str, number: str) -> None:
            body = {"testCard": {"number": number, "expMonth": 12, "expYear": 2099}}
            await call("POST", f"/v1/customers/{customers[ref]['id']}/payment-methods", body)

        async def subscribe(ref: str, plan: str, **extra: Any) -> dict[str, Any]:
            body = {"customerId": customers[ref]["id"], "planId": plans[plan]["id"], **extra}
            return await call("POST", "/v1/subscriptions", body)

        await card("demo-001", "4242424242424242")
        await subscribe("demo-001", "Starter Monthly", promoCode="LAUNCH50")  # active, half price first month
        await card("demo-002", "4000000000000051")
        await subscribe("demo-002", "Starter Monthly")  # incomplete: insufficient funds
        await subscribe("demo-003", "Pro Monthly")  # trialing, no card needed
        await card("demo-005", "5555555555554444")
        leaving = await subscribe("demo-005", "Weekly Box")
        await call("POST", f"/v1/subscriptions/{leaving['id']}/cancel", {"atPeriodEnd": True})
        clock = await call("POST", "/v1/test-clocks", {"frozenTime": _iso(SystemClock().now()), "name": "Demo clock"})
        await card("demo-004", "4000000000000051")  # insufficient funds: the renewal at trial end fails
        await subscribe("demo-004", "Weekly Box", testClockId=clock["id"], trialDays=3)
        await call("POST", f"/v1/test-clocks/{clock['id']}/advance", {"to": _iso(SystemClock().now(), days=4)})
        await app.state.runtime.close()


def _iso(at: Any, days: int = 0) -> str:
    from datetime import timedelta

    from duro.kit.jsonenc import format_ts

    return str(format_ts(at + timedelta(days=days)))
