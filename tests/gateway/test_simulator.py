"""The DB-backed gateway simulator (03 §2): outcomes from the stored token, the `sim_charges` ledger keyed by
reference (one decision per reference, also under concurrency), refunds, and the per-mode runtime gateway.

`sim_charges` has no tenant column, so the per-test truncation does not empty it: every test uses fresh ids."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from duro.db.engine import Database
from duro.gateway.protocol import ChargeMethod, ChargeOutcome, RefundOutcome
from duro.gateway.simulator import SimulatorGateway
from duro.kit.ids import new_id
from duro.runtime import Runtime

MID_MONTH = datetime(2025, 3, 15, 12, 0, tzinfo=UTC)
PAYDAY = datetime(2025, 3, 28, 0, 0, tzinfo=UTC)
EARLY_MONTH = datetime(2025, 4, 3, 23, 59, tzinfo=UTC)


def method(number: str, rail: str = "card") -> ChargeMethod:
    return ChargeMethod(rail=rail, gateway_token=f"sim:{number}", payment_method_id=new_id("pm"))


async def ledger(db: Database, reference: str, mode: str = "test") -> list[dict[str, Any]]:
    schema = {"test": "sandbox", "live": "live"}[mode]
    async with db.core_transaction() as conn:
        rows = await conn.execute(text(f"SELECT * FROM {schema}.sim_charges WHERE reference = :r"), {"r": reference})
        return [dict(r._mapping) for r in rows]


@pytest.fixture
def gateway(db: Database) -> SimulatorGateway:
    return SimulatorGateway(db, "test")


async def charge(gw: SimulatorGateway, m: ChargeMethod, ref: str, at: datetime = MID_MONTH, attempt: int = 1) -> Any:
    return await gw.charge(m, 50_000, "NGN", ref, at, attempt)


@pytest.mark.parametrize(
    ("number", "rail", "code", "decline"),
    [
        ("4242424242424242", "card", None, None),
        ("5555555555554444", "card", None, None),
        ("0123456789", "direct_debit", None, None),
        ("4000000000000051", "card", "insufficient_funds", "51"),
        ("0000000054", "transfer", "expired_card", "54"),
        ("4000000000000119", "card", "stolen_card", "43"),
        ("0000000408", "ussd", "timeout", "68"),
    ],
)
async def test_outcome_follows_the_stored_token(
    gateway: SimulatorGateway, db: Database, number: str, rail: str, code: str | None, decline: str | None
) -> None:
    ref = new_id("txn")
    m = method(number, rail)
    outcome = await charge(gateway, m, ref)
    assert (outcome.succeeded, outcome.failure_code, outcome.decline_code) == (code is None, code, decline)
    [row] = await ledger(db, ref)
    assert row["kind"] == "charge"
    assert ChargeOutcome.from_json(row["outcome"]) == outcome
    assert row["outcome"]["amount"] == 50_000
    assert row["outcome"]["currency"] == "NGN"
    assert row["outcome"]["rail"] == rail
    assert row["outcome"]["paymentMethodId"] == m.payment_method_id
    assert row["outcome"]["attemptNumber"] == 1


async def test_bare_number_token_is_accepted(gateway: SimulatorGateway) -> None:
    m = ChargeMethod(rail="card", gateway_token="4000000000000005")
    assert (await charge(gateway, m, new_id("txn"))).failure_code == "do_not_honor"


async def test_same_reference_answers_the_recorded_outcome(gateway: SimulatorGateway, db: Database) -> None:
    ref = new_id("txn")
    first = await charge(gateway, method("4000000000000096"), ref)
    assert first.failure_code == "processor_error"
    # A repeat with another token, instant or attempt is not decided again: the ledger answers.
    again = await charge(gateway, method("4242424242424242"), ref, PAYDAY, attempt=2)
    assert again == first
    assert len(await ledger(db, ref)) == 1


async def test_flaky_number_by_attempt(gateway: SimulatorGateway, db: Database) -> None:
    flaky = method("4000000000000341")
    outcomes = [await charge(gateway, flaky, new_id("txn"), attempt=n) for n in (1, 2, 3, 4)]
    assert [o.succeeded for o in outcomes] == [False, True, False, True]
    assert {o.failure_code for o in outcomes if not o.succeeded} == {"processor_error"}
    assert {o.decline_code for o in outcomes if not o.succeeded} == {"96"}
    # A crash-recovery repeat of attempt 1 with the same reference stays a failure.
    ref = new_id("txn")
    assert not (await charge(gateway, flaky, ref, attempt=1)).succeeded
    assert not (await charge(gateway, flaky, ref, attempt=2)).succeeded


@pytest.mark.parametrize("rail", ["card", "virtual_account"])
async def test_payday_number_by_charge_instant(gateway: SimulatorGateway, rail: str) -> None:
    payday = method("4000000000000028" if rail == "card" else "0000000028", rail)
    outside = await charge(gateway, payday, new_id("txn"), MID_MONTH)
    assert (outside.succeeded, outside.failure_code, outside.decline_code) == (False, "insufficient_funds", "51")
    for at in (PAYDAY, EARLY_MONTH):
        assert (await charge(gateway, payday, new_id("txn"), at)).succeeded


async def test_concurrent_calls_with_one_reference_agree(db: Database) -> None:
    """Twenty callers (e.g. a request and crash recovery), each with its own gateway object, race on one reference
    with attempt numbers that would decide differently; exactly one decision is recorded and all report it."""
    ref = new_id("txn")
    flaky = method("4000000000000341")
    gateways = [SimulatorGateway(db, "test") for _ in range(20)]
    outcomes = await asyncio.gather(
        *(gw.charge(flaky, 50_000, "NGN", ref, MID_MONTH, attempt) for attempt, gw in enumerate(gateways, 1))
    )
    assert len(set(outcomes)) == 1
    [row] = await ledger(db, ref)
    assert ChargeOutcome.from_json(row["outcome"]) == outcomes[0]
    assert outcomes[0].succeeded is (row["outcome"]["attemptNumber"] % 2 == 0)


async def test_refund_always_succeeds_and_is_recorded(gateway: SimulatorGateway, db: Database) -> None:
    txn_ref, refund_ref = new_id("txn"), new_id("rfd")
    await charge(gateway, method("4242424242424242"), txn_ref)
    outcome = await gateway.refund(txn_ref, 20_000, refund_ref)
    assert outcome == RefundOutcome(True)
    assert await gateway.refund(txn_ref, 99_999, refund_ref) == outcome
    [row] = await ledger(db, refund_ref)
    assert row["kind"] == "refund"
    assert row["outcome"]["transactionReference"] == txn_ref
    assert row["outcome"]["amount"] == 20_000
    assert RefundOutcome.from_json(row["outcome"]) == outcome


async def test_concurrent_refunds_with_one_reference_record_once(db: Database) -> None:
    ref = new_id("rfd")
    outcomes = await asyncio.gather(*(SimulatorGateway(db, "test").refund("txn_x", n, ref) for n in range(1, 11)))
    assert set(outcomes) == {RefundOutcome(True)}
    assert len(await ledger(db, ref)) == 1


async def test_a_reference_belongs_to_one_kind(gateway: SimulatorGateway, db: Database) -> None:
    ref = new_id("txn")
    await charge(gateway, method("4242424242424242"), ref)
    with pytest.raises(ValueError, match="used for a charge"):
        await gateway.refund(ref, 100, ref)
    refund_ref = new_id("rfd")
    await gateway.refund(ref, 100, refund_ref)
    with pytest.raises(ValueError, match="used for a refund"):
        await charge(gateway, method("4242424242424242"), refund_ref)


async def test_refused_calls_record_nothing(gateway: SimulatorGateway, db: Database) -> None:
    ref = new_id("txn")
    with pytest.raises(ValueError, match="not a simulator number"):
        await charge(gateway, ChargeMethod(rail="card", gateway_token="sim:4111111111111111"), ref)
    with pytest.raises(ValueError, match="not a simulator number"):
        await charge(gateway, method("4242424242424242", "ussd"), ref)
    with pytest.raises(ValueError, match="positive amount"):
        await gateway.charge(method("4242424242424242"), 0, "NGN", ref, MID_MONTH, 1)
    with pytest.raises(ValueError, match="1-based"):
        await charge(gateway, method("4242424242424242"), ref, attempt=0)
    with pytest.raises(ValueError, match="positive amount"):
        await gateway.refund("txn_x", 0, ref)
    assert await ledger(db, ref) == []


async def test_each_mode_has_its_own_ledger(db: Database) -> None:
    ref = new_id("txn")
    live = await SimulatorGateway(db, "live").charge(method("4000000000000051"), 100, "NGN", ref, MID_MONTH, 1)
    test = await SimulatorGateway(db, "test").charge(method("4242424242424242"), 100, "NGN", ref, MID_MONTH, 1)
    assert (live.succeeded, test.succeeded) == (False, True)
    assert len(await ledger(db, ref, "live")) == 1
    assert len(await ledger(db, ref, "test")) == 1


async def test_runtime_gives_one_simulator_per_mode(app: Any) -> None:
    runtime: Runtime = app.state.runtime
    test_gw, live_gw = runtime.gateway("test"), runtime.gateway("live")
    assert isinstance(test_gw, SimulatorGateway)
    assert isinstance(live_gw, SimulatorGateway)
    assert (test_gw.mode, live_gw.mode) == ("test", "live")
    assert runtime.gateway("test") is test_gw
    assert runtime.gateway("live") is live_gw
    ref = new_id("txn")
    outcome = await test_gw.charge(method("4242424242424242"), 100, "NGN", ref, MID_MONTH, 1)
    assert outcome.succeeded
