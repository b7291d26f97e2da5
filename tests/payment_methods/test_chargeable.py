"""The chargeability API the billing code calls (03 §1.3): which methods a customer can be charged with, the
404/422 split of 01 §5, default resolution, `stolen_card` disabling, tokens for crash recovery — on a real
database through a RepositoryContext, as the services use it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest
from sqlalchemy import text

from duro.config import Settings
from duro.context import RepositoryContext
from duro.customers.repository import CustomerRepository
from duro.db.engine import Database
from duro.db.repository import DbRow
from duro.gateway.protocol import ChargeMethod
from duro.kit.clock import SystemClock
from duro.kit.errors import DuroError
from duro.payment_methods.service import (
    charge_method,
    chargeable_methods,
    disable_method,
    gateway_token_of,
    get_chargeable,
    resolve_method,
)
from duro.tenants.service import CLI_ACTOR
from tests.http_assertions import err, ok
from tests.payment_methods.harness import (
    VISA,
    account,
    add,
    card,
    insert_method,
    link_identity,
    listed,
    new_customer,
    pm_url,
    sql,
)

T = TypeVar("T")


@pytest.fixture
def unit(db: Database, settings: Settings) -> Callable[..., Any]:
    """Run `fn(ctx, customer_row)` in one test-mode transaction of `tenant_id`, as a service would."""

    async def run(tenant_id: str, cus_id: str, fn: Callable[[RepositoryContext, DbRow], Awaitable[T]]) -> T:
        async with db.transaction("test") as conn:
            ctx = RepositoryContext(conn, tenant_id, "test", SystemClock(), settings, CLI_ACTOR)
            row = await ctx.repo(CustomerRepository).get_row(cus_id)
            assert row is not None
            return await fn(ctx, row)

    return run


async def _raises(coro: Awaitable[Any]) -> DuroError:
    with pytest.raises(DuroError) as info:
        await coro
    return info.value


@pytest.fixture
async def world(client: Any, tenant: Any, make_tenant: Any, db: Database) -> dict[str, Any]:
    """A customer linked to identity idn_A with usable, disabled and pending methods of every owner kind, plus
    methods it must not reach."""
    cus = await new_customer(client, tenant.auth())
    other = await new_customer(client, tenant.auth())
    await link_identity(db, tenant.id, cus["id"], "idn_A")
    stranger = await make_tenant()
    stranger_cus = await new_customer(client, stranger.auth())
    return {
        "tenant": tenant,
        "cus": cus,
        "default": (await add(client, tenant.auth(), cus["id"], card()))["id"],
        "bank": (await add(client, tenant.auth(), cus["id"], account()))["id"],
        "identity": await insert_method(db, tenant_id=None, identity_id="idn_A"),
        "disabled": await insert_method(db, tenant_id=tenant.id, customer_id=cus["id"], disabled=True),
        "pending": await insert_method(db, tenant_id=tenant.id, customer_id=cus["id"], status="pending"),
        "identity_disabled": await insert_method(db, tenant_id=None, identity_id="idn_A", disabled=True),
        "other_customer": (await add(client, tenant.auth(), other["id"], card()))["id"],
        "other_identity": await insert_method(db, tenant_id=None, identity_id="idn_B"),
        "other_tenant": (await add(client, stranger.auth(), stranger_cus["id"], card()))["id"],
    }


async def test_chargeable_methods_default_first_then_newest(unit: Any, world: dict[str, Any]) -> None:
    rows = await unit(world["tenant"].id, world["cus"]["id"], chargeable_methods)
    assert [r["id"] for r in rows] == [world["default"], world["identity"], world["bank"]]


async def test_chargeable_methods_of_an_unlinked_customer_are_its_own(
    unit: Any, world: dict[str, Any], client: Any
) -> None:
    tenant = world["tenant"]
    lone = await new_customer(client, tenant.auth(), phone="08012345678")
    assert await unit(tenant.id, lone["id"], chargeable_methods) == []
    pm = await add(client, tenant.auth(), lone["id"], card())
    assert [r["id"] for r in await unit(tenant.id, lone["id"], chargeable_methods)] == [pm["id"]]


@pytest.mark.parametrize("key", ["default", "bank", "identity"])
async def test_get_chargeable_returns_the_method(unit: Any, world: dict[str, Any], key: str) -> None:
    row = await unit(world["tenant"].id, world["cus"]["id"], lambda ctx, c: get_chargeable(ctx, c, world[key]))
    assert row["id"] == world[key]


@pytest.mark.parametrize("key", ["disabled", "pending", "identity_disabled", "other_customer"])
async def test_get_chargeable_is_422_for_methods_it_cannot_use(unit: Any, world: dict[str, Any], key: str) -> None:
    e = await _raises(unit(world["tenant"].id, world["cus"]["id"], lambda ctx, c: get_chargeable(ctx, c, world[key])))
    assert (e.status, e.reason) == (422, "payment_method_unusable")
    assert [d.path for d in e.details] == ["paymentMethodId"]


@pytest.mark.parametrize("pm_id", ["other_identity", "other_tenant", "pm_01AAAAAAAAAAAAAAAAAAAAAAAA", "pm_\x00"])
async def test_get_chargeable_is_404_for_methods_not_in_this_tenant(
    unit: Any, world: dict[str, Any], pm_id: str
) -> None:
    pm_id = world.get(pm_id, pm_id)
    e = await _raises(
        unit(world["tenant"].id, world["cus"]["id"], lambda ctx, c: get_chargeable(ctx, c, pm_id, field="x.pm"))
    )
    assert (e.status, e.reason) == (404, "resource_missing")
    assert [d.path for d in e.details] == ["x.pm"]


async def test_resolve_method(unit: Any, world: dict[str, Any], db: Database) -> None:
    tenant_id, cus_id = world["tenant"].id, world["cus"]["id"]
    explicit = await unit(tenant_id, cus_id, lambda ctx, c: resolve_method(ctx, c, world["bank"]))
    assert explicit["id"] == world["bank"]
    default = await unit(tenant_id, cus_id, lambda ctx, c: resolve_method(ctx, c, None))
    assert default["id"] == world["default"]
    e = await _raises(unit(tenant_id, cus_id, lambda ctx, c: resolve_method(ctx, c, world["pending"])))
    assert e.reason == "payment_method_unusable"
    # A default that can no longer be charged resolves to nothing (the caller records no_payment_method).
    await sql(
        db,
        "UPDATE sandbox.customers SET default_payment_method_id = :pm WHERE tenant_id = :t AND id = :c",
        pm=world["disabled"],
        t=tenant_id,
        c=cus_id,
    )
    assert await unit(tenant_id, cus_id, lambda ctx, c: resolve_method(ctx, c, None)) is None
    await sql(
        db,
        "UPDATE sandbox.customers SET default_payment_method_id = NULL WHERE tenant_id = :t AND id = :c",
        t=tenant_id,
        c=cus_id,
    )
    assert await unit(tenant_id, cus_id, lambda ctx, c: resolve_method(ctx, c, None)) is None


async def test_resolve_to_identity_default(unit: Any, world: dict[str, Any], db: Database) -> None:
    tenant_id, cus_id = world["tenant"].id, world["cus"]["id"]
    await sql(
        db,
        "UPDATE sandbox.customers SET default_payment_method_id = :pm WHERE tenant_id = :t AND id = :c",
        pm=world["identity"],
        t=tenant_id,
        c=cus_id,
    )
    row = await unit(tenant_id, cus_id, lambda ctx, c: resolve_method(ctx, c, None, lock=True))
    assert row["id"] == world["identity"]


async def test_disable_method_after_stolen_card(unit: Any, world: dict[str, Any], client: Any) -> None:
    tenant, cus_id = world["tenant"], world["cus"]["id"]
    at = SystemClock().now()
    row = await unit(tenant.id, cus_id, lambda ctx, c: disable_method(ctx, world["default"], at))
    assert row["disabled_at"] == at
    later = await unit(tenant.id, cus_id, lambda ctx, c: disable_method(ctx, world["default"], SystemClock().now()))
    assert later["disabled_at"] == at  # the first instant stays
    items = {m["id"]: m for m in await listed(client, tenant.auth(), cus_id)}
    assert (items[world["default"]]["usable"], items[world["default"]]["isDefault"]) == (False, True)
    assert [r["id"] for r in await unit(tenant.id, cus_id, chargeable_methods)] == [world["identity"], world["bank"]]
    assert await unit(tenant.id, cus_id, lambda ctx, c: resolve_method(ctx, c, None)) is None
    e = await _raises(unit(tenant.id, cus_id, lambda ctx, c: get_chargeable(ctx, c, world["default"])))
    assert e.reason == "payment_method_unusable"


async def test_disable_identity_method(unit: Any, world: dict[str, Any]) -> None:
    tenant_id, cus_id = world["tenant"].id, world["cus"]["id"]
    row = await unit(tenant_id, cus_id, lambda ctx, c: disable_method(ctx, world["identity"], SystemClock().now()))
    assert row["disabled_at"] is not None
    assert world["identity"] not in [r["id"] for r in await unit(tenant_id, cus_id, chargeable_methods)]


async def test_disable_cannot_reach_another_tenants_method(unit: Any, world: dict[str, Any], client: Any) -> None:
    at = SystemClock().now()
    assert (
        await unit(
            world["tenant"].id, world["cus"]["id"], lambda ctx, c: disable_method(ctx, world["other_tenant"], at)
        )
        is None
    )
    assert await unit(world["tenant"].id, world["cus"]["id"], lambda ctx, c: disable_method(ctx, "pm_\x00", at)) is None


async def test_gateway_token_and_charge_method(unit: Any, world: dict[str, Any]) -> None:
    tenant_id, cus_id = world["tenant"].id, world["cus"]["id"]
    token = await unit(tenant_id, cus_id, lambda ctx, c: gateway_token_of(ctx, world["disabled"]))
    assert token == "sim:5555555555554444"
    assert await unit(tenant_id, cus_id, lambda ctx, c: gateway_token_of(ctx, world["other_tenant"])) is None
    assert await unit(tenant_id, cus_id, lambda ctx, c: gateway_token_of(ctx, "pm_01AAAAAAAAAAAAAAAAAAAAAAAA")) is None
    row = await unit(tenant_id, cus_id, lambda ctx, c: get_chargeable(ctx, c, world["default"]))
    assert charge_method(row) == ChargeMethod(
        rail="card", gateway_token=f"sim:{VISA}", payment_method_id=world["default"]
    )


async def test_locked_method_cannot_be_deleted_under_a_new_subscription(
    world: dict[str, Any], client: Any, db: Database, settings: Settings
) -> None:
    """A subscription create holding `lock=True` makes a concurrent DELETE wait, then see the subscription."""
    tenant, cus_id, pm_id = world["tenant"], world["cus"]["id"], world["bank"]

    @asynccontextmanager
    async def creating_subscription() -> AsyncIterator[RepositoryContext]:
        async with db.transaction("test") as conn:
            ctx = RepositoryContext(conn, tenant.id, "test", SystemClock(), settings, CLI_ACTOR)
            yield ctx

    async with creating_subscription() as ctx:
        customer_row = await ctx.repo(CustomerRepository).get_row(cus_id)
        assert customer_row is not None
        await get_chargeable(ctx, customer_row, pm_id, lock=True)
        deleting = asyncio.create_task(client.delete(pm_url(cus_id, pm_id), headers=tenant.auth()))
        await asyncio.sleep(0.2)  # let the delete reach the lock; the outcome does not depend on it
        await ctx.conn.execute(
            text(
                "INSERT INTO sandbox.subscriptions (id, tenant_id, customer_id, plan_id, status, current_period_start,"
                " current_period_end, billing_anchor, payment_method_id, created_at, updated_at)"
                " VALUES ('sub_x', :t, :c, 'plan_x', 'active', now(), now(), now(), :pm, now(), now())"
            ),
            {"t": tenant.id, "c": cus_id, "pm": pm_id},
        )
    err(await deleting, 409, "conflict", "payment_method_in_use")
    assert pm_id in [m["id"] for m in ok(await client.get(pm_url(cus_id), headers=tenant.auth()))["items"]]
