"""Gateway simulator rules (03 §2) and method checks of 03 §1.3: every test number, brands, normalisation,
payday and flaky behaviour, fingerprints and the expiry rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from duro.gateway import BANK_RAILS, ChargeMethod, ChargeOutcome, RefundOutcome
from duro.gateway.simulator_rules import (
    Rule,
    card_brand,
    card_expired,
    decide,
    fingerprint,
    last4,
    lookup,
    lookup_account,
    lookup_card,
    normalize_number,
)

# Outside the payday window (day 15) and inside it (day 28), so fixed rows are checked in both.
MID_MONTH = datetime(2025, 3, 15, 12, 0, tzinfo=UTC)
PAYDAY = datetime(2025, 3, 28, 12, 0, tzinfo=UTC)

# 03 §2 transcribed: (card, account, failure code, decline code); None = success.
FIXED_ROWS = [
    ("4242424242424242", "0123456789", None, None),
    ("5555555555554444", "0123456789", None, None),
    ("4000000000000051", "0000000051", "insufficient_funds", "51"),
    ("4000000000000054", "0000000054", "expired_card", "54"),
    ("4000000000000005", "0000000005", "do_not_honor", "05"),
    ("4000000000000119", "0000000119", "stolen_card", "43"),
    ("4000000000000078", "0000000078", "card_not_supported", "57"),
    ("4000000000000096", "0000000096", "processor_error", "96"),
    ("4000000000000408", "0000000408", "timeout", "68"),
]


def _check(outcome: ChargeOutcome, code: str | None, decline: str | None) -> None:
    assert outcome.succeeded is (code is None)
    assert outcome.failure_code == code
    assert outcome.decline_code == decline
    if code is None:
        assert outcome.message is None
    else:
        assert outcome.message is not None
        assert outcome.message.startswith("The ")
        assert "_" not in outcome.message  # written for people, not a code


@pytest.mark.parametrize(("card", "account", "code", "decline"), FIXED_ROWS)
@pytest.mark.parametrize("at", [MID_MONTH, PAYDAY])
@pytest.mark.parametrize("attempt", [1, 2, 3])
def test_fixed_rows_for_cards_and_accounts(
    card: str, account: str, code: str | None, decline: str | None, at: datetime, attempt: int
) -> None:
    card_behaviour = lookup_card(card)
    account_behaviour = lookup_account(account)
    assert card_behaviour is not None
    assert account_behaviour is not None
    assert card_behaviour.rule == account_behaviour.rule
    _check(decide(card_behaviour, at, attempt), code, decline)
    _check(decide(account_behaviour, at, attempt), code, decline)


def test_the_table_has_exactly_the_spec_numbers() -> None:
    cards = [row[0] for row in FIXED_ROWS] + ["4000000000000028", "4000000000000341"]
    accounts = sorted({row[1] for row in FIXED_ROWS} | {"0000000028", "0000000341"})
    assert all(lookup_card(c) is not None for c in cards)
    assert all(lookup_account(a) is not None for a in accounts)
    assert len(set(cards)) == 11
    assert len(accounts) == 10
    assert {behaviour.rule for c in cards if (behaviour := lookup_card(c)) is not None} == set(Rule)


def test_card_and_bank_messages_name_the_instrument() -> None:
    card_behaviour, bank_behaviour = lookup_card("4000000000000051"), lookup_account("0000000051")
    assert card_behaviour is not None
    assert bank_behaviour is not None
    card, bank = decide(card_behaviour, MID_MONTH, 1), decide(bank_behaviour, MID_MONTH, 1)
    assert card.message == "The card was declined for insufficient funds"
    assert bank.message is not None
    assert "bank account" in bank.message
    assert (card.failure_code, card.decline_code) == (bank.failure_code, bank.decline_code)


@pytest.mark.parametrize(("number", "brand"), [("4242424242424242", "visa"), ("5555555555554444", "mastercard")])
def test_brands(number: str, brand: str) -> None:
    assert card_brand(number) == brand


def test_every_4000_number_is_visa_and_others_have_no_brand() -> None:
    assert {card_brand(row[0]) for row in FIXED_ROWS if row[0].startswith("4")} == {"visa"}
    assert card_brand("4000000000000028") == card_brand("4000000000000341") == "visa"
    assert card_brand("0123456789") is None
    assert card_brand("378282246310005") is None
    assert card_brand("") is None
    assert card_brand(" 5555-5555 5555 4444") == "mastercard"


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("4242 4242 4242 4242", "4242424242424242"),
        ("4242-4242-4242-4242", "4242424242424242"),
        (" 4242 - 4242-4242 4242 ", "4242424242424242"),
        ("012-345-6789", "0123456789"),
        ("4242.4242.4242.4242", "4242.4242.4242.4242"),  # only spaces and hyphens are stripped
    ],
)
def test_normalize_number(raw: str, normal: str) -> None:
    assert normalize_number(raw) == normal


def test_lookup_accepts_formatted_numbers() -> None:
    assert lookup_card("4000 0000 0000 0051") == lookup_card("4000000000000051")
    assert lookup_account("000-000-0051") == lookup_account("0000000051")
    assert lookup_card("4242.4242.4242.4242") is None
    assert last4("4242 4242 4242 4242") == "4242"
    assert last4("012-345-6789") == "6789"


@pytest.mark.parametrize(
    "number",
    ["4111111111111111", "4242424242424241", "5105105105105100", "424242424242424", "", "0123456789", "abc"],
)
def test_unknown_card_numbers(number: str) -> None:
    assert lookup_card(number) is None


@pytest.mark.parametrize("number", ["1234567890", "0000000052", "012345678", "4242424242424242", ""])
def test_unknown_account_numbers(number: str) -> None:
    assert lookup_account(number) is None


@pytest.mark.parametrize("rail", BANK_RAILS)
def test_lookup_by_rail(rail: str) -> None:
    assert lookup(rail, "0000000119") == lookup_account("0000000119")
    assert lookup(rail, "4000000000000119") is None
    assert lookup("card", "4000000000000119") == lookup_card("4000000000000119")
    with pytest.raises(ValueError, match="unknown rail"):
        lookup("cash", "0123456789")


@pytest.mark.parametrize(
    "at",
    [
        datetime(2025, 3, 28, 0, 0, tzinfo=UTC),
        datetime(2025, 3, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2025, 4, 1, 0, 0, tzinfo=UTC),
        datetime(2025, 4, 3, 23, 59, 59, tzinfo=UTC),
        datetime(2025, 2, 28, 9, 0, tzinfo=UTC),
        # 27th 23:30 at UTC-2 is the 28th 01:30 UTC: the window is judged in UTC.
        datetime(2025, 3, 27, 23, 30, tzinfo=timezone(timedelta(hours=-2))),
    ],
)
@pytest.mark.parametrize("number", ["4000000000000028", "0000000028"])
def test_payday_number_succeeds_inside_the_window(at: datetime, number: str) -> None:
    behaviour = lookup(("card" if len(number) == 16 else "transfer"), number)
    assert behaviour is not None
    _check(decide(behaviour, at, 1), None, None)
    _check(decide(behaviour, at, 2), None, None)


@pytest.mark.parametrize(
    "at",
    [
        datetime(2025, 3, 4, 0, 0, tzinfo=UTC),
        datetime(2025, 3, 15, 12, 0, tzinfo=UTC),
        datetime(2025, 3, 27, 23, 59, 59, tzinfo=UTC),
        # 28th 00:30 at UTC+1 is still the 27th in UTC.
        datetime(2025, 3, 28, 0, 30, tzinfo=timezone(timedelta(hours=1))),
    ],
)
@pytest.mark.parametrize("number", ["4000000000000028", "0000000028"])
def test_payday_number_fails_outside_the_window(at: datetime, number: str) -> None:
    behaviour = lookup(("card" if len(number) == 16 else "direct_debit"), number)
    assert behaviour is not None
    _check(decide(behaviour, at, 1), "insufficient_funds", "51")
    _check(decide(behaviour, at, 2), "insufficient_funds", "51")


@pytest.mark.parametrize("number", ["4000000000000341", "0000000341"])
def test_flaky_number_fails_on_odd_attempts_and_succeeds_on_even(number: str) -> None:
    behaviour = lookup(("card" if len(number) == 16 else "ussd"), number)
    assert behaviour is not None
    for attempt in (1, 3, 5, 99):
        _check(decide(behaviour, MID_MONTH, attempt), "processor_error", "96")
        _check(decide(behaviour, PAYDAY, attempt), "processor_error", "96")
    for attempt in (2, 4, 6, 100):
        _check(decide(behaviour, MID_MONTH, attempt), None, None)


def test_attempt_numbers_are_one_based() -> None:
    behaviour = lookup_card("4242424242424242")
    assert behaviour is not None
    with pytest.raises(ValueError, match="1-based"):
        decide(behaviour, MID_MONTH, 0)


def test_fingerprint_known_answers() -> None:
    # sha256("card:4242424242424242") and sha256("transfer:0123456789"), computed independently.
    card = "fe5e1c09fb21177be74947cc893f605b0cf6ade910d360a41ca6a3fc1c0f348a"
    transfer = "52d0be3d85d2b3d1800f0d2f50b709e2ebee0a378baf81cf3e0d5009997502f3"
    assert fingerprint("card", "4242424242424242") == card
    assert fingerprint("card", "4242 4242-4242 4242") == card
    assert fingerprint("transfer", "0123456789") == transfer


def test_fingerprint_depends_on_the_rail() -> None:
    assert fingerprint("ussd", "0123456789") != fingerprint("transfer", "0123456789")
    assert fingerprint("card", "4242424242424242") != fingerprint("card", "5555555555554444")


@pytest.mark.parametrize(
    ("exp_month", "exp_year", "now", "expired"),
    [
        (3, 2025, datetime(2025, 3, 15, tzinfo=UTC), False),  # expiring this month is still fine
        (3, 2025, datetime(2025, 3, 31, 23, 59, 59, tzinfo=UTC), False),
        (3, 2025, datetime(2025, 4, 1, 0, 0, tzinfo=UTC), True),
        (2, 2025, datetime(2025, 3, 1, 0, 0, tzinfo=UTC), True),
        (12, 2024, datetime(2025, 1, 1, 0, 0, tzinfo=UTC), True),
        (1, 2025, datetime(2024, 12, 31, 23, 59, tzinfo=UTC), False),
        (4, 2025, datetime(2025, 3, 15, tzinfo=UTC), False),
        (1, 2026, datetime(2025, 12, 31, tzinfo=UTC), False),
        (12, 2024, datetime(2025, 3, 15, tzinfo=UTC), True),
        # 28 Feb 23:30 at UTC-5 is 1 March 04:30 UTC: February has ended in UTC.
        (2, 2025, datetime(2025, 2, 28, 23, 30, tzinfo=timezone(timedelta(hours=-5))), True),
        # 1 March 00:30 at UTC+1 is still 28 February in UTC.
        (2, 2025, datetime(2025, 3, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))), False),
    ],
)
def test_card_expiry_is_judged_against_the_current_utc_month(
    exp_month: int, exp_year: int, now: datetime, expired: bool
) -> None:
    assert card_expired(exp_month, exp_year, now) is expired


def test_card_expiry_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="exp_month"):
        card_expired(13, 2030, MID_MONTH)
    with pytest.raises(ValueError, match="exp_month"):
        card_expired(0, 2030, MID_MONTH)
    with pytest.raises(ValueError, match="aware"):
        card_expired(1, 2030, datetime(2025, 3, 15))


def test_outcomes_are_consistent_and_round_trip() -> None:
    failed = ChargeOutcome.failure("insufficient_funds", "51", "The card was declined for insufficient funds")
    assert ChargeOutcome.from_json(failed.to_json()) == failed
    assert failed.to_json() == {
        "succeeded": False,
        "failureCode": "insufficient_funds",
        "declineCode": "51",
        "message": "The card was declined for insufficient funds",
    }
    assert ChargeOutcome.from_json(ChargeOutcome.success().to_json()) == ChargeOutcome.success()
    with pytest.raises(ValueError, match="no failure"):
        ChargeOutcome(True, "processor_error", "96", None)
    with pytest.raises(ValueError, match="needs a failure code"):
        ChargeOutcome(False)
    refund = RefundOutcome(True)
    assert RefundOutcome.from_json(refund.to_json()) == refund
    with pytest.raises(ValueError, match="needs a failure code"):
        RefundOutcome(False)


def test_charge_method_knows_the_rails() -> None:
    assert ChargeMethod("virtual_account", "0123456789").rail == "virtual_account"
    with pytest.raises(ValueError, match="unknown rail"):
        ChargeMethod("cash", "0123456789")
