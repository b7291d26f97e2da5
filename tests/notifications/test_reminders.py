"""The reminders loop (04 §8): renewal reminders once per period within `renewalReminderDays`, only for periods of
at least twice that, only when the tenant has them on; card-expiry notices once per card and expiry; test-clock
subscriptions only through `reminders_for_clock`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from duro.db.engine import Database
from duro.kit.clock import FrozenClock
from duro.runtime import Runtime
from duro.workers.reminders import reminders_for_clock, reminders_tick
from tests.conftest import TenantKeys, make_settings
from tests.notifications import support
from tests.notifications.support import context, outbox

NOW = datetime(2025, 2, 10, 9, 30, tzinfo=UTC)


async def subscribed(
    db: Database, tenant: TenantKeys, mode: str, start: datetime, end: datetime, **extra: Any
) -> dict[str, str]:
    cus = await support.customer(db, tenant.id, mode)
    plan = await support.plan(db, tenant.id, mode, name="Gold", amount=1250000)
    sub = await support.subscription(db, tenant.id, cus, plan, start, end, mode, **extra)
    return {"customer": cus, "plan": plan, "subscription": sub}


def runtime(db: Database, clock: FrozenClock) -> Runtime:
    return Runtime(make_settings(), db, clock)


async def test_renewal_reminder_once_per_period_in_both_modes(db: Database, tenant: TenantKeys) -> None:
    end = NOW + timedelta(days=2, hours=5)
    live = await subscribed(db, tenant, "live", end - timedelta(days=31), end)
    test = await subscribed(db, tenant, "test", end - timedelta(days=31), end, status="trialing")
    clock = FrozenClock(NOW)
    rt = runtime(db, clock)
    assert await reminders_tick(rt) == 2
    assert await reminders_tick(rt) == 0
    clock.advance(timedelta(days=1))
    assert await reminders_tick(rt) == 0
    (row,) = await outbox(db, tenant.id, "live")
    assert row["template_key"] == "renewal_reminder"
    assert row["dedup_key"] == f"reminder_{live['subscription']}_2025-02-12T14:30:00.000Z"
    assert (row["status"], row["created_at"], row["next_attempt_at"]) == ("pending", NOW, NOW)
    assert row["subject"] == "Your Gold subscription at Acme Ltd renews on 12 Feb 2025"
    assert "we'll charge ₦12,500.00" in row["body_text"]
    assert row["related"]["subscriptionId"] == live["subscription"]
    (captured,) = await outbox(db, tenant.id, "test")
    assert captured["status"] == "captured"
    assert captured["dedup_key"] == f"reminder_{test['subscription']}_2025-02-12T14:30:00.000Z"


async def test_next_period_is_reminded_again(db: Database, tenant: TenantKeys) -> None:
    end = NOW + timedelta(days=1)
    w = await subscribed(db, tenant, "live", end - timedelta(days=30), end)
    clock = FrozenClock(NOW)
    assert await reminders_tick(runtime(db, clock)) == 1
    # Renewed: the period moved on a month.
    new_end = end + timedelta(days=30)
    await support_set(db, tenant, w["subscription"], current_period_start=end, current_period_end=new_end)
    clock.advance(timedelta(days=28))
    assert await reminders_tick(runtime(db, clock)) == 1
    keys = [r["dedup_key"] for r in await outbox(db, tenant.id, "live")]
    assert len(set(keys)) == 2


async def support_set(db: Database, tenant: TenantKeys, sub_id: str, **values: Any) -> None:
    from tests.subscriptions.helpers import set_columns

    await set_columns(db, tenant, "subscriptions", sub_id, "live", **values)


async def test_threshold_is_renewal_reminder_days(db: Database, tenant: TenantKeys) -> None:
    end = NOW + timedelta(days=3, minutes=1)
    await subscribed(db, tenant, "live", end - timedelta(days=30), end)
    clock = FrozenClock(NOW)
    assert await reminders_tick(runtime(db, clock)) == 0
    clock.advance(timedelta(minutes=1))  # exactly 3 days before the renewal
    assert await reminders_tick(runtime(db, clock)) == 1


async def test_tenant_settings_switch_and_days(db: Database, tenant: TenantKeys, make_tenant: Any) -> None:
    end = NOW + timedelta(days=5)
    await subscribed(db, tenant, "live", end - timedelta(days=30), end)
    other = await make_tenant("Other")
    await subscribed(db, other, "live", end - timedelta(days=30), end)
    await support.settings_row(db, tenant.id, "live", renewal_reminder_days=7)
    await support.settings_row(db, other.id, "live", renewal_reminders=False, renewal_reminder_days=7)
    clock = FrozenClock(NOW)
    assert await reminders_tick(runtime(db, clock)) == 1
    assert len(await outbox(db, tenant.id, "live")) == 1
    assert await outbox(db, other.id, "live") == []


async def test_period_too_short(db: Database, tenant: TenantKeys) -> None:
    end = NOW + timedelta(days=1)
    short = await subscribed(db, tenant, "live", end - timedelta(days=5, hours=23), end)  # < 2 × 3 days
    exact = await subscribed(db, tenant, "live", end - timedelta(days=6), end)
    assert await reminders_tick(runtime(db, FrozenClock(NOW))) == 1
    (row,) = await outbox(db, tenant.id, "live")
    assert row["subscription_id"] == exact["subscription"]
    assert row["subscription_id"] != short["subscription"]


async def test_not_for_cancelling_paused_past_due_or_clock_subscriptions(db: Database, tenant: TenantKeys) -> None:
    end = NOW + timedelta(days=1)
    start = end - timedelta(days=30)
    await subscribed(db, tenant, "test", start, end, cancel_at_period_end=True)
    await subscribed(db, tenant, "test", start, end, status="paused")
    await subscribed(db, tenant, "test", start, end, status="past_due")
    await subscribed(db, tenant, "test", start, end, status="canceled")
    clock_id = await support.insert(
        db, "test", "test_clocks", id="clock_T1", tenant_id=tenant.id, frozen_time=NOW, created_at=NOW, updated_at=NOW
    )
    on_clock = await subscribed(db, tenant, "test", start, end, test_clock_id=clock_id)
    assert await reminders_tick(runtime(db, FrozenClock(NOW))) == 0
    assert await outbox(db, tenant.id, "test") == []
    # The test-clock advance asks for the clock's own reminders, at the clock's time.
    clock_time = NOW + timedelta(hours=3)
    async with context(db, make_settings(), tenant.id, "test", clock_time) as ctx:
        assert await reminders_for_clock(ctx, clock_id, clock_time) == 1
        assert await reminders_for_clock(ctx, clock_id, clock_time) == 0
        assert await reminders_for_clock(ctx, "clock_other", clock_time) == 0
    (row,) = await outbox(db, tenant.id, "test")
    assert row["subscription_id"] == on_clock["subscription"]
    assert (row["status"], row["created_at"]) == ("captured", clock_time)


async def test_card_expiring_before_next_renewal(db: Database, tenant: TenantKeys) -> None:
    start, end = datetime(2025, 2, 5, tzinfo=UTC), datetime(2025, 3, 5, tzinfo=UTC)
    # Valid through February: expired at the 5 March renewal.
    cus = await support.customer(db, tenant.id, "live")
    pm = await support.card(db, tenant.id, cus, 2, 2025, "live")
    plan = await support.plan(db, tenant.id, "live", name="Gold")
    sub = await support.subscription(db, tenant.id, cus, plan, start, end, "live", payment_method_id=pm)
    # A second subscription on the same card: still one notice for the card.
    await support.subscription(db, tenant.id, cus, plan, start, end + timedelta(days=2), "live", payment_method_id=pm)
    # Customer default card valid through March: fine for a 5 March renewal.
    cus2 = await support.customer(db, tenant.id, "live")
    pm2 = await support.card(db, tenant.id, cus2, 3, 2025, "live")
    await support.set_default(db, tenant.id, cus2, pm2, "live")
    await support.subscription(db, tenant.id, cus2, plan, start, end, "live")
    # Customer default card valid through January, used because the subscription has no method of its own.
    cus3 = await support.customer(db, tenant.id, "live", email="bola@example.com")
    pm3 = await support.card(db, tenant.id, cus3, 1, 2025, "live")
    await support.set_default(db, tenant.id, cus3, pm3, "live")
    sub3 = await support.subscription(db, tenant.id, cus3, plan, start, end, "live")
    # Same expiry but the subscription is past due: not `active`.
    cus4 = await support.customer(db, tenant.id, "live")
    pm4 = await support.card(db, tenant.id, cus4, 2, 2025, "live")
    await support.subscription(db, tenant.id, cus4, plan, start, end, "live", payment_method_id=pm4, status="past_due")

    clock = FrozenClock(datetime(2025, 2, 6, tzinfo=UTC))
    assert await reminders_tick(runtime(db, clock)) == 2
    assert await reminders_tick(runtime(db, clock)) == 0
    rows = {r["dedup_key"]: r for r in await outbox(db, tenant.id, "live")}
    assert set(rows) == {f"card_expiring_{pm}_202502", f"card_expiring_{pm3}_202501"}
    first = rows[f"card_expiring_{pm}_202502"]
    assert first["template_key"] == "card_expiring"
    assert first["subscription_id"] == sub
    assert "before your next renewal on 5 Mar 2025" in first["body_text"]
    assert rows[f"card_expiring_{pm3}_202501"]["subscription_id"] == sub3
    assert rows[f"card_expiring_{pm3}_202501"]["recipient"] == "bola@example.com"
