"""Plan-change proration (03 §8), renewal amounts (03 §10 step 6) and discounts (03 §9)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from duro.billing.cycles import next_boundary
from duro.billing.proration import (
    PRORATION_BEHAVIORS,
    DiscountType,
    Effective,
    ProrationBehavior,
    ProrationQuote,
    discount_for,
    quote_change,
    renewal_amount,
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


JAN = (utc(2025, 1, 1), utc(2025, 1, 31))
JAN_CHANGE = utc(2025, 1, 16)
FEB = (utc(2025, 2, 1), utc(2025, 3, 1))
FEB_CHANGE = utc(2025, 2, 11, 9)


def quote(
    period: tuple[datetime, datetime],
    now: datetime,
    old: int,
    new: int,
    behavior: ProrationBehavior,
    *,
    effective: Effective = "now",
    trialing: bool = False,
    balance: int = 0,
    pending_charge: int = 0,
) -> ProrationQuote:
    return quote_change(
        period_start=period[0],
        period_end=period[1],
        now=now,
        old_amount=old,
        new_amount=new,
        behavior=behavior,
        effective=effective,
        trialing=trialing,
        balance=balance,
        pending_charge=pending_charge,
    )


# --- worked examples A–F ---


def test_example_a_upgrade_prorate_now() -> None:
    q = quote(JAN, JAN_CHANGE, 500000, 1000000, "prorate_now")
    assert (q.period_seconds, q.remaining_seconds) == (2592000, 1296000)
    assert q.net == 250000
    assert q.proration_object() == {"amount": 250000, "kind": "charge", "behavior": "prorate_now"}
    assert (q.invoice_kind, q.invoice_subtotal, q.credit_applied, q.amount_due_now) == ("proration", 250000, 0, 250000)
    assert (q.balance_after, q.pending_charge_after, q.resets_period) == (0, 0, False)


def test_example_b_downgrade_prorate_now_credits_then_nets_renewal() -> None:
    q = quote(JAN, JAN_CHANGE, 1000000, 500000, "prorate_now")
    assert q.net == -250000
    assert q.proration_object() == {"amount": 250000, "kind": "credit", "behavior": "prorate_now"}
    assert (q.invoice_kind, q.amount_due_now, q.balance_after, q.pending_charge_after) == (None, 0, 250000, 0)
    renewal = renewal_amount(500000, q.pending_charge_after, 0, q.balance_after)
    assert renewal == (500000, 250000, 250000, 0)


def test_example_c_upgrade_prorate_next_invoice() -> None:
    q = quote(FEB, FEB_CHANGE, 300000, 500000, "prorate_next_invoice")
    assert (q.period_seconds, q.remaining_seconds) == (2419200, 1522800)
    assert q.net == 125893  # 125892.857… rounds half up
    assert q.proration_object() == {"amount": 125893, "kind": "charge", "behavior": "prorate_next_invoice"}
    assert (q.amount_due_now, q.invoice_kind, q.pending_charge_after, q.balance_after) == (0, None, 125893, 0)
    renewal = renewal_amount(500000, q.pending_charge_after, 0, q.balance_after)
    assert (renewal.subtotal, renewal.amount, renewal.new_balance) == (625893, 625893, 0)


@pytest.mark.parametrize("behavior", ["prorate_now", "prorate_next_invoice"])
def test_example_d_downgrade_any_prorating(behavior: ProrationBehavior) -> None:
    q = quote(FEB, FEB_CHANGE, 500000, 300000, behavior)
    assert q.net == -125893
    assert q.proration_object() == {"amount": 125893, "kind": "credit", "behavior": behavior}
    assert (q.amount_due_now, q.balance_after, q.pending_charge_after) == (0, 125893, 0)
    renewal = renewal_amount(300000, q.pending_charge_after, 0, q.balance_after)
    assert (renewal.credit_applied, renewal.amount, renewal.new_balance) == (125893, 174107, 0)


def test_example_e_full_now_resets_period() -> None:
    q = quote(FEB, FEB_CHANGE, 300000, 500000, "full_now")
    assert q.proration_object() == {"amount": 500000, "kind": "charge", "behavior": "full_now"}
    assert (q.invoice_kind, q.invoice_subtotal, q.amount_due_now) == ("plan_reset", 500000, 500000)
    assert q.net == 0  # no credit for unused time
    assert q.resets_period
    assert next_boundary(FEB_CHANGE, "month", 1, FEB_CHANGE) == utc(2025, 3, 11, 9)


def test_example_f_none_changes_nothing_now() -> None:
    q = quote(FEB, FEB_CHANGE, 300000, 500000, "none")
    assert q.proration_object() == {"amount": 0, "kind": "none", "behavior": "none"}
    assert (q.net, q.amount_due_now, q.balance_after, q.pending_charge_after) == (0, 0, 0, 0)
    assert not q.resets_period
    assert renewal_amount(500000, q.pending_charge_after, 0, q.balance_after).amount == 500000


# --- trialing, period_end, preview object ---


@pytest.mark.parametrize("behavior", PRORATION_BEHAVIORS)
def test_trialing_swaps_without_proration(behavior: ProrationBehavior) -> None:
    q = quote(FEB, FEB_CHANGE, 300000, 500000, behavior, trialing=True, balance=7000)
    assert q.proration_object() == {"amount": 0, "kind": "none", "behavior": behavior}
    assert (q.net, q.amount_due_now, q.invoice_kind) == (0, 0, None)
    assert (q.balance_after, q.pending_charge_after) == (7000, 0)
    assert q.swaps_plan_now
    assert not q.resets_period  # the trial end is unchanged


@pytest.mark.parametrize("behavior", PRORATION_BEHAVIORS)
@pytest.mark.parametrize("trialing", [False, True])
def test_period_end_only_schedules(behavior: ProrationBehavior, trialing: bool) -> None:
    q = quote(FEB, FEB_CHANGE, 500000, 300000, behavior, effective="period_end", trialing=trialing, pending_charge=900)
    assert q.proration_object() == {"amount": 0, "kind": "none", "behavior": behavior}
    assert (q.net, q.amount_due_now, q.balance_after, q.pending_charge_after) == (0, 0, 0, 900)
    assert not q.swaps_plan_now
    assert not q.resets_period


def test_preview_object_reports_period_and_remaining_seconds() -> None:
    q = quote(JAN, JAN_CHANGE, 500000, 1000000, "prorate_now", balance=100000)
    assert q.preview_proration_object() == {
        "amount": 250000,
        "kind": "charge",
        "behavior": "prorate_now",
        "periodSeconds": 2592000,
        "remainingSeconds": 1296000,
    }
    assert (q.amount_due_now, q.balance_after, q.pending_charge_after) == (150000, 0, 0)


# --- balance and pendingCharge offsets ---


@pytest.mark.parametrize(
    ("balance", "credit_applied", "due", "balance_after"),
    [(100000, 100000, 150000, 0), (250000, 250000, 0, 0), (300000, 250000, 0, 50000)],
)
def test_prorate_now_charge_consumes_balance_first(
    balance: int, credit_applied: int, due: int, balance_after: int
) -> None:
    q = quote(JAN, JAN_CHANGE, 500000, 1000000, "prorate_now", balance=balance)
    assert q.amount == 250000  # the proration object shows |net|, before the balance
    assert (q.invoice_subtotal, q.credit_applied, q.amount_due_now) == (250000, credit_applied, due)
    assert (q.balance_after, q.pending_charge_after) == (balance_after, 0)


@pytest.mark.parametrize(
    ("balance", "balance_after", "pending_after"),
    [(100000, 0, 150000), (250000, 0, 0), (300000, 50000, 0)],
)
def test_prorate_next_invoice_charge_offsets_balance_first(
    balance: int, balance_after: int, pending_after: int
) -> None:
    q = quote(JAN, JAN_CHANGE, 500000, 1000000, "prorate_next_invoice", balance=balance)
    assert q.amount_due_now == 0
    assert (q.balance_after, q.pending_charge_after) == (balance_after, pending_after)


def test_prorate_next_invoice_charges_accumulate() -> None:
    q = quote(JAN, JAN_CHANGE, 500000, 1000000, "prorate_next_invoice", pending_charge=40000)
    assert (q.balance_after, q.pending_charge_after) == (0, 290000)


@pytest.mark.parametrize("behavior", ["prorate_now", "prorate_next_invoice"])
@pytest.mark.parametrize(
    ("pending", "balance_after", "pending_after"),
    [(100000, 150000, 0), (250000, 0, 0), (400000, 0, 150000)],
)
def test_credit_cancels_pending_charge_before_adding_balance(
    behavior: ProrationBehavior, pending: int, balance_after: int, pending_after: int
) -> None:
    q = quote(JAN, JAN_CHANGE, 1000000, 500000, behavior, pending_charge=pending)
    assert q.proration_object()["amount"] == 250000
    assert (q.balance_after, q.pending_charge_after, q.amount_due_now) == (balance_after, pending_after, 0)


def test_credit_adds_to_existing_balance() -> None:
    q = quote(JAN, JAN_CHANGE, 1000000, 500000, "prorate_now", balance=10000)
    assert (q.balance_after, q.pending_charge_after) == (260000, 0)


@pytest.mark.parametrize(
    ("balance", "pending", "due", "balance_after", "pending_after"),
    [
        (200000, 0, 300000, 0, 0),
        (600000, 0, 0, 100000, 0),
        (0, 125893, 500000, 0, 125893),  # an earlier proration debit still bills at the next renewal
    ],
)
def test_full_now_against_balance(balance: int, pending: int, due: int, balance_after: int, pending_after: int) -> None:
    q = quote(FEB, FEB_CHANGE, 300000, 500000, "full_now", balance=balance, pending_charge=pending)
    assert q.proration_object() == {"amount": due, "kind": "charge", "behavior": "full_now"}
    assert (q.invoice_subtotal, q.amount_due_now) == (500000, due)
    assert (q.balance_after, q.pending_charge_after) == (balance_after, pending_after)


def test_full_now_downgrade_still_charges_full_price() -> None:
    q = quote(FEB, FEB_CHANGE, 500000, 300000, "full_now")
    assert (q.kind, q.amount, q.amount_due_now, q.balance_after) == ("charge", 300000, 300000, 0)


# --- R clamping and whole seconds ---


def test_change_after_period_end_prorates_nothing() -> None:
    q = quote(FEB, utc(2025, 3, 2), 300000, 500000, "prorate_now")
    assert (q.remaining_seconds, q.net, q.kind, q.amount_due_now) == (0, 0, "none", 0)


def test_change_before_period_start_prorates_the_whole_period() -> None:
    q = quote(FEB, utc(2025, 1, 20), 300000, 500000, "prorate_now")
    assert q.remaining_seconds == q.period_seconds
    assert q.net == 200000


def test_remaining_seconds_are_whole_seconds() -> None:
    q = quote(FEB, FEB[1] - timedelta(seconds=1, milliseconds=500), 0, 2419200, "prorate_now")
    assert q.remaining_seconds == 1
    assert q.net == 1


def test_halves_round_away_from_zero_both_ways() -> None:
    period = (utc(2025, 1, 1), utc(2025, 1, 1, 0, 0, 2))
    now = utc(2025, 1, 1, 0, 0, 1)
    assert quote(period, now, 0, 1, "prorate_now").net == 1
    assert quote(period, now, 1, 0, "prorate_now").net == -1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"balance": 1, "pending_charge": 1}, "both be positive"),
        ({"balance": -1}, "non-negative"),
        ({"old_amount": True}, "non-negative"),
        ({"behavior": "sometimes"}, "unknown proration behavior"),
        ({"effective": "later"}, "unknown effective"),
        ({"period_end": utc(2025, 2, 1)}, "at least one second"),
        ({"now": datetime(2025, 2, 1)}, "timezone-aware"),
    ],
)
def test_invalid_inputs_are_refused(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "period_start": FEB[0],
        "period_end": FEB[1],
        "now": FEB_CHANGE,
        "old_amount": 300000,
        "new_amount": 500000,
        "behavior": "prorate_now",
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        quote_change(**args)  # type: ignore[arg-type]


# --- renewal amounts and discounts ---


def test_renewal_amount_applies_discount_before_credit() -> None:
    discount = discount_for(500000, "percentage", 10)
    assert discount == 50000
    # Credit covers at most what is left after the discount; the rest stays as balance.
    assert renewal_amount(500000, 0, discount, 600000) == (500000, 450000, 0, 150000)
    assert renewal_amount(500000, 0, discount, 0) == (500000, 0, 450000, 0)
    assert renewal_amount(500000, 20000, discount, 0) == (520000, 0, 470000, 0)


def test_renewal_amount_refuses_inconsistent_inputs() -> None:
    with pytest.raises(ValueError, match="plan line only"):
        renewal_amount(1000, 5000, 2000, 0)
    with pytest.raises(ValueError, match="both be positive"):
        renewal_amount(1000, 5, 0, 5)


@pytest.mark.parametrize(
    ("amount", "kind", "value", "discount"),
    [
        (500000, "percentage", 10, 50000),
        (500000, "percentage", 100, 500000),
        (1, "percentage", 50, 1),  # half a minor unit rounds up
        (1, "percentage", 49, 0),
        (999, "percentage", 15, 150),  # 149.85
        (500000, "fixed", 100000, 100000),
        (50000, "fixed", 100000, 50000),  # never more than the plan line
        (0, "fixed", 100, 0),
    ],
)
def test_discount_for(amount: int, kind: DiscountType, value: int, discount: int) -> None:
    assert discount_for(amount, kind, value) == discount


def test_discount_for_refuses_out_of_range() -> None:
    with pytest.raises(ValueError, match="at most 100"):
        discount_for(1000, "percentage", 101)
    with pytest.raises(ValueError, match="unknown discount type"):
        discount_for(1000, "bogus", 1)  # type: ignore[arg-type]


# --- properties ---

PRORATING: tuple[ProrationBehavior, ...] = ("prorate_now", "prorate_next_invoice")
amounts = st.integers(0, 1_000_000_000_000)
period_starts = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


@st.composite
def ledgers(draw: st.DrawFn) -> tuple[int, int]:
    """(balance, pendingCharge) respecting the invariant that both are never > 0."""
    value = draw(st.integers(0, 2_000_000_000_000))
    return (value, 0) if draw(st.booleans()) else (0, value)


@dataclass(frozen=True)
class Change:
    period_start: datetime
    period_end: datetime
    now: datetime
    old_amount: int
    new_amount: int
    behavior: ProrationBehavior
    effective: Effective
    trialing: bool
    balance: int
    pending_charge: int

    @property
    def applies_now(self) -> bool:
        return self.effective == "now" and not self.trialing

    def quote(self) -> ProrationQuote:
        return quote_change(**asdict(self))


@st.composite
def changes(draw: st.DrawFn) -> Change:
    start = draw(period_starts)
    period = draw(st.integers(1, 3 * 366 * 86400))
    offset = draw(st.integers(-period, 2 * period))
    balance, pending = draw(ledgers())
    return Change(
        period_start=start,
        period_end=start + timedelta(seconds=period),
        now=start + timedelta(seconds=offset, milliseconds=draw(st.integers(0, 999))),
        old_amount=draw(amounts),
        new_amount=draw(amounts),
        behavior=draw(st.sampled_from(PRORATION_BEHAVIORS)),
        effective=draw(st.sampled_from(("now", "period_end"))),
        trialing=draw(st.booleans()),
        balance=balance,
        pending_charge=pending,
    )


def sign(n: int) -> int:
    return (n > 0) - (n < 0)


@given(changes())
def test_quote_invariants(change: Change) -> None:
    q = change.quote()
    for value in (q.amount, q.net, q.period_seconds, q.remaining_seconds, q.invoice_subtotal, q.credit_applied):
        assert type(value) is int
    for value in (q.amount_due_now, q.balance_after, q.pending_charge_after):
        assert type(value) is int
        assert value >= 0
    assert not (q.balance_after > 0 and q.pending_charge_after > 0)
    assert 0 <= q.remaining_seconds <= q.period_seconds
    assert abs(q.net) <= abs(change.new_amount - change.old_amount)
    assert sign(q.net) in (0, sign(change.new_amount - change.old_amount))
    assert q.amount_due_now == q.invoice_subtotal - q.credit_applied
    if change.applies_now and q.behavior == "full_now":
        expected_invoice = "plan_reset"
    elif change.applies_now and q.behavior == "prorate_now" and q.net > 0:
        expected_invoice = "proration"
    else:
        expected_invoice = None
    assert q.invoice_kind == expected_invoice
    assert q.resets_period == (expected_invoice == "plan_reset")
    assert q.swaps_plan_now == (change.effective == "now")


@given(changes())
def test_quote_conserves_what_the_customer_owes(change: Change) -> None:
    # Owed = pendingCharge − balance. A change moves it by exactly what it bills, minus what it charges now.
    q = change.quote()
    before = change.pending_charge - change.balance
    after = q.pending_charge_after - q.balance_after
    if not change.applies_now or q.behavior == "none":
        billed = 0
    elif q.behavior == "full_now":
        billed = change.new_amount
    else:
        billed = q.net
    assert after + q.amount_due_now == before + billed


@given(changes(), st.sampled_from(PRORATING))
def test_net_at_period_boundaries(change: Change, behavior: ProrationBehavior) -> None:
    change = replace(change, behavior=behavior, effective="now", trialing=False)
    at_start = replace(change, now=change.period_start).quote()
    assert at_start.remaining_seconds == at_start.period_seconds
    assert at_start.net == change.new_amount - change.old_amount
    at_end = replace(change, now=change.period_end).quote()
    assert at_end.remaining_seconds == 0
    assert (at_end.net, at_end.kind, at_end.amount) == (0, "none", 0)


@given(changes(), st.sampled_from(PRORATING))
def test_net_sign_and_kind(change: Change, behavior: ProrationBehavior) -> None:
    change = replace(change, behavior=behavior, effective="now", trialing=False)
    q = change.quote()
    diff = change.new_amount - change.old_amount
    # Rounding can only reach 0 when the exact value is below half a minor unit.
    if 2 * abs(diff) * q.remaining_seconds >= q.period_seconds:
        assert sign(q.net) == sign(diff)
    else:
        assert q.net == 0
    assert q.kind == {1: "charge", -1: "credit", 0: "none"}[sign(q.net)]
    assert q.amount == abs(q.net)


@given(amounts, st.integers(0, 100), ledgers())
def test_renewal_amount_properties(plan_amount: int, percent: int, ledger: tuple[int, int]) -> None:
    balance, pending = ledger
    discount = discount_for(plan_amount, "percentage", percent)
    assert 0 <= discount <= plan_amount
    r = renewal_amount(plan_amount, pending, discount, balance)
    assert r.amount == r.subtotal - discount - r.credit_applied >= 0
    assert 0 <= r.credit_applied <= balance
    assert r.new_balance == balance - r.credit_applied
    # Credit is left over only when the invoice is fully covered.
    assert r.new_balance == 0 or r.amount == 0
