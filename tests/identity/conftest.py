"""Identity tests run the real app on a frozen clock (OTP expiry, resend spacing and token lifetimes move with it).

The per-IP limits use the `limits` library's own clock, so they are exercised by request counts, not by time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from duro.app import create_app
from duro.db.engine import Database
from duro.kit.clock import FrozenClock
from duro.kit.phone import normalize_phone
from tests.conftest import make_settings
from tests.notifications.conftest import PHONE_NUMBER_ID, WHATSAPP_TOKEN, CloudApi, cloud_api  # noqa: F401

NOW = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
PHONE = "+2348012345678"
LOCAL_PHONE = "0801 234 5678"

ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture(autouse=True)
async def clean_identities(db: Database) -> None:
    # Core tables that do not hang off core.tenants, so the shared truncation leaves them alone.
    async with db.engine.begin() as conn:
        await conn.execute(text("TRUNCATE core.otp_challenges, core.customer_identities"))
        await conn.execute(text("DELETE FROM core.notifications WHERE template_key = 'otp'"))
        await conn.execute(text("DELETE FROM sandbox.payment_methods /* unscoped: test reset */"))
        await conn.execute(text("DELETE FROM live.payment_methods /* unscoped: test reset */"))


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
async def make_client(db: Database, clock: FrozenClock) -> AsyncIterator[ClientFactory]:
    """A client on an app with the given settings overrides (e.g. the WhatsApp Cloud stand-in)."""
    made: list[tuple[Any, httpx.AsyncClient]] = []

    async def factory(**overrides: Any) -> httpx.AsyncClient:
        app = create_app(make_settings(**overrides), db=db, clock=clock)
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        made.append((app, c))
        return c

    yield factory
    for app, c in made:
        await c.aclose()
        await app.state.runtime.close()


@pytest.fixture
async def client(make_client: ClientFactory) -> httpx.AsyncClient:
    return await make_client()


def cloud_settings(api: CloudApi) -> dict[str, Any]:
    return {
        "whatsapp_provider": "cloud",
        "whatsapp_token": WHATSAPP_TOKEN,
        "whatsapp_phone_number_id": PHONE_NUMBER_ID,
        "whatsapp_api_base_url": api.base_url,
    }


async def sent_code(db: Database, phone: str = PHONE) -> str:
    """The code of the newest OTP message to `phone`, as queued in core.notifications (06 §9)."""
    async with db.engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT whatsapp_template FROM core.notifications WHERE template_key = 'otp' AND recipient = :p "
                    "ORDER BY created_at DESC, id DESC LIMIT 1"
                ),
                {"p": phone},
            )
        ).one()
    return str(row[0]["params"][0])


async def request_code(client: httpx.AsyncClient, db: Database, phone: str = PHONE, **headers: str) -> str:
    r = await client.post("/identity/otp", json={"phone": phone}, headers=headers)
    assert r.status_code == 202, r.text
    return await sent_code(db, normalize_phone(phone))


async def sign_in(client: httpx.AsyncClient, db: Database, phone: str = PHONE) -> dict[str, Any]:
    code = await request_code(client, db, phone)
    r = await client.post("/identity/verify", json={"phone": phone, "code": code})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
