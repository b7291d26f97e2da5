"""`duro demo`: the "Demo Store" tenant with plans and customers to explore (01 §11).

Development convenience: the demo credentials are kept in `DURO_DATA_DIR/demo.json` (0600) so `make run`
can print them on every start. Never written in production.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete

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
    if settings.env != "production":
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        creds_path.write_text(json.dumps(out, indent=2))
        creds_path.chmod(0o600)
    return out
