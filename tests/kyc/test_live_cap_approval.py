"""End to end (02 §10): an unverified tenant's live charge over the cap is refused with 403 kyc_required; the
owner's documents are submitted and approved through the staff API; the same charge then succeeds."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from duro.context import Actor
from duro.db.engine import Database
from duro.kit.clock import SystemClock
from duro.kyc import service
from duro.models.core import members
from duro.storage import LocalStorage
from tests.conftest import TenantKeys
from tests.http_assertions import err, ok
from tests.kyc.files import JPEG, PDF, PNG
from tests.subscriptions.test_live_cap import live_customer, live_plan, volume

STAFF_KEY = "s" * 40  # tests/kyc/conftest.py


async def test_over_cap_refused_then_allowed_after_staff_approval(
    client: httpx.AsyncClient, tenant: TenantKeys, db: Database, app: Any
) -> None:
    cus, pm = await live_customer(client, tenant, db, "4242424242424242")
    plan = await live_plan(client, tenant, 100_000_001)  # one kobo over NGN 1,000,000
    body = {"customerId": cus["id"], "planId": plan["id"], "paymentMethodId": pm}
    refused = await client.post("/v1/subscriptions", json=body, headers=tenant.auth("live"))
    err(refused, 403, "forbidden", "kyc_required")
    assert await volume(db, tenant.id) == 0

    settings = app.state.runtime.settings
    storage = LocalStorage(settings.effective_storage_dir)
    clock = SystemClock()
    async with db.core_transaction() as conn:
        owner = (await conn.execute(select(members).where(members.c.tenant_id == tenant.id))).one()
    origin = service.Origin(Actor("member", owner.id, owner.email))
    for t, data in (("cac", PDF), ("memart", PNG), ("status_report", JPEG)):
        await service.upload_document(db, storage, clock, tenant.id, t, file_name=f"{t}.pdf", data=data, origin=origin)
    async with db.core_transaction() as conn:
        await service.submit(conn, clock, tenant.id, origin)
    approved = await client.post(f"/staff/api/kyc/{tenant.id}/approve", headers={"X-Staff-Key": STAFF_KEY})
    assert ok(approved)["tier"] == "verified"

    sub = ok(await client.post("/v1/subscriptions", json=body, headers=tenant.auth("live")), 201)
    assert sub["status"] == "active"
    assert await volume(db, tenant.id) == 100_000_001
