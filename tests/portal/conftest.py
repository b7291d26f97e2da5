"""Portal tests: the real app and database; identity tokens minted by the real issuer for identities written the
way `/identity/verify` writes them (the OTP flow itself is covered in tests/identity, and one test here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text

from duro.appearance import service as appearance
from duro.context import Actor
from duro.db.engine import Database
from duro.identity.repository import IdentityRepository
from duro.identity.tokens import issue_identity_token
from duro.kit.clock import SystemClock
from duro.kit.ids import new_id
from tests.http_assertions import ok
from tests.subscriptions.helpers import GOOD_CARD, plan, set_columns

PHONE = "+2348012345678"
OTHER_PHONE = "+2348098765432"
CLOCK = SystemClock()


@pytest.fixture(autouse=True)
async def clean_identities(db: Database) -> None:
    # Identities and identity-owned methods do not hang off core.tenants, so the shared truncation misses them.
    async with db.engine.begin() as conn:
        await conn.execute(text("TRUNCATE core.otp_challenges, core.customer_identities"))
        await conn.execute(text("DELETE FROM core.notifications WHERE template_key = 'otp'"))
        await conn.execute(text("DELETE FROM sandbox.payment_methods /* unscoped: test reset */"))
        await conn.execute(text("DELETE FROM live.payment_methods /* unscoped: test reset */"))


@dataclass
class Who:
    id: str
    phone: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def make_identity(db: Database, app: Any) -> Any:
    async def factory(phone: str = PHONE) -> Who:
        now = CLOCK.now()
        async with db.core_transaction() as conn:
            row = await IdentityRepository(conn).upsert_verified(new_id("idn"), phone, now)
        issued = issue_identity_token(app.state.runtime.jwt, row["id"], row["phone"], now)
        return Who(row["id"], row["phone"], issued.token)

    return factory


@pytest.fixture
async def me(make_identity: Any) -> Who:
    return await make_identity(PHONE)  # type: ignore[no-any-return]


async def customer_with_phone(
    client: Any, tenant: Any, phone: str = PHONE, mode: str = "test", card: str | None = GOOD_CARD
) -> dict[str, Any]:
    cus = ok(await client.post("/v1/customers", json={"name": "Ada", "phone": phone}, headers=tenant.auth(mode)), 201)
    if card is not None:
        body = {"testCard": {"number": card, "expMonth": 12, "expYear": 2099}}
        ok(await client.post(f"/v1/customers/{cus['id']}/payment-methods", json=body, headers=tenant.auth(mode)), 201)
    return cus  # type: ignore[no-any-return]


async def active_subscription(client: Any, tenant: Any, phone: str = PHONE, **plan_over: Any) -> dict[str, Any]:
    p = await plan(client, tenant, **plan_over)
    c = await customer_with_phone(client, tenant, phone)
    r = await client.post("/v1/subscriptions", json={"customerId": c["id"], "planId": p["id"]}, headers=tenant.auth())
    sub = ok(r, 201)
    assert sub["status"] == "active"
    return sub  # type: ignore[no-any-return]


async def give_phone(db: Database, tenant: Any, customer_id: str, phone: str = PHONE) -> None:
    """The /v1 harness makes customers without a phone; the portal finds customers by phone."""
    await set_columns(db, tenant, "customers", customer_id, phone=phone)


async def set_permissions(db: Database, tenant_id: str, **permissions: Any) -> None:
    async with db.core_transaction() as conn:
        await appearance.set_draft(conn, tenant_id, "portal", {"permissions": permissions}, clock=CLOCK)
        await appearance.publish(conn, tenant_id, actor=Actor("system", None, "cli"), clock=CLOCK)


def portal_url(sub_id: str, action: str, mode: str = "test") -> str:
    return f"/portal/subscriptions/{mode}/{sub_id}/{action}"


async def portal(client: Any, who: Who, mode: str = "test") -> dict[str, Any]:
    return ok(await client.get(f"/portal/subscriptions?mode={mode}", headers=who.auth))  # type: ignore[no-any-return]
