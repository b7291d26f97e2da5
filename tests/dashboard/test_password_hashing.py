"""argon2 work of the account flows (02 §4) runs in a worker thread, never on the event loop, and while no
transaction is open: signup, invitation acceptance, login, password change and reset.

The hashing functions are wrapped (still the real argon2) to record the thread they ran on and how many
transactions were open at that moment; the database's transaction methods are wrapped to count the open ones."""

from __future__ import annotations

import re
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from duro.dashboard import accounts, security
from duro.db.engine import Database
from duro.models.notifications import platform_notifications
from duro.team import service as team_service
from duro.tenants import service as tenants_service
from tests.conftest import TenantKeys
from tests.dashboard.conftest import PASSWORD, csrf_of, form_token, login

NEW_PASSWORD = "a much better passphrase 42"


@dataclass
class Watch:
    loop_thread: int
    open_transactions: int = 0
    calls: list[tuple[str, int, int]] = field(default_factory=list)  # (function, thread, open transactions)

    def wrap(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def watched(*args: Any) -> Any:
            self.calls.append((name, threading.get_ident(), self.open_transactions))
            return real(*args)

        return watched

    def names(self) -> list[str]:
        return [name for name, _, _ in self.calls]

    def assert_off_loop_and_outside_transactions(self) -> None:
        assert self.calls
        for name, thread, open_count in self.calls:
            assert thread != self.loop_thread, f"{name} ran on the event loop"
            assert open_count == 0, f"{name} ran inside an open transaction"


@pytest.fixture
def watch(monkeypatch: pytest.MonkeyPatch, db: Database) -> Watch:
    seen = Watch(threading.get_ident())

    def counting(real: Callable[..., Any]) -> Callable[..., Any]:
        @asynccontextmanager
        async def tracked(*args: Any) -> AsyncIterator[Any]:
            async with real(*args) as conn:
                seen.open_transactions += 1
                try:
                    yield conn
                finally:
                    seen.open_transactions -= 1

        return tracked

    monkeypatch.setattr(db, "core_transaction", counting(db.core_transaction))
    monkeypatch.setattr(db, "transaction", counting(db.transaction))
    for module in (accounts, security, team_service, tenants_service):
        for name in ("hash_password", "verify_password"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, seen.wrap(f"{module.__name__}.{name}", getattr(module, name)))
    return seen


async def test_signup_hashes_off_the_event_loop_before_the_transaction(client: httpx.AsyncClient, watch: Watch) -> None:
    token = await form_token(client, "/dashboard/signup")
    data = {"business_name": "Hash Co", "name": "Ada", "email": "ada@hash.example", "password": PASSWORD}
    response = await client.post("/dashboard/signup", data={**data, "csrf_token": token})
    assert (response.status_code, response.headers["location"]) == (303, "/dashboard/2fa/enrol")
    assert watch.names() == ["duro.tenants.service.hash_password"]
    watch.assert_off_loop_and_outside_transactions()


async def test_invitation_acceptance_hashes_off_the_event_loop_before_the_transaction(
    dash_as: Any, db: Database, tenant: TenantKeys, watch: Watch
) -> None:
    admin = await dash_as(tenant, "admin")
    assert (
        await admin.post("/dashboard/team/invite", {"email": "new@example.com", "role": "developer"})
    ).status_code == 303
    async with db.core_transaction() as conn:
        body = (
            await conn.execute(
                select(platform_notifications.c.body_text).where(
                    platform_notifications.c.recipient == "new@example.com"
                )
            )
        ).scalar_one()
    found = re.search(r"/dashboard/invite/([0-9A-Za-z]{43})", body)
    assert found
    link = f"/dashboard/invite/{found.group(1)}"
    async with httpx.AsyncClient(transport=admin.client._transport, base_url="http://testserver") as browser:
        page = await browser.get(link)
        # A password the policy refuses is not hashed at all; the service still answers with the field error.
        data = {"csrf_token": csrf_of(page.text), "name": "New", "password": "short", "password_confirm": "short"}
        refused = await browser.post(link, data=data)
        assert refused.status_code == 422
        assert "must be 12-128 characters" in refused.text
        assert watch.calls == []
        data["password_confirm"] = data["password"] = PASSWORD
        joined = await browser.post(link, data=data)
        assert (joined.status_code, joined.headers["location"]) == (303, "/dashboard")
    assert watch.names() == ["duro.team.service.hash_password"]
    watch.assert_off_loop_and_outside_transactions()


async def test_login_password_change_and_reset_hash_off_the_event_loop_outside_transactions(
    client: httpx.AsyncClient, dash_as: Any, db: Database, tenant: TenantKeys, watch: Watch
) -> None:
    assert (await login(client, tenant.owner_email)).status_code == 303
    assert (await login(client, "nobody@example.com")).status_code == 401  # the dummy hash is verified too
    assert watch.names() == ["duro.dashboard.accounts.verify_password"] * 2

    fin = await dash_as(tenant, "finance")
    changed = await fin.post(
        "/dashboard/account/password",
        {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD, "newPasswordConfirm": NEW_PASSWORD},
    )
    assert changed.status_code == 303, changed.text
    assert watch.names()[2:] == ["duro.dashboard.security.verify_password", "duro.dashboard.security.hash_password"]

    token = await form_token(client, "/dashboard/password/forgot")
    sent = await client.post("/dashboard/password/forgot", data={"csrf_token": token, "email": tenant.owner_email})
    assert sent.status_code == 200
    async with db.core_transaction() as conn:
        body = (
            await conn.execute(
                select(platform_notifications.c.body_text).where(
                    platform_notifications.c.template_key == "password_reset"
                )
            )
        ).scalar_one()
    found = re.search(r"/dashboard/password/reset/([0-9A-Za-z]+)", body)
    assert found
    reset = await client.post(
        f"/dashboard/password/reset/{found.group(1)}",
        data={"csrf_token": token, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
    )
    assert (reset.status_code, reset.headers["location"]) == (303, "/dashboard/login?reset=done")
    assert watch.names()[4:] == ["duro.dashboard.accounts.hash_password"]
    watch.assert_off_loop_and_outside_transactions()
