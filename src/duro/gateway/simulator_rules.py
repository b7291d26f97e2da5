"""The gateway simulator's deterministic rules (03 §2), without storage.

Only the test numbers below exist: anything else is refused when a method is saved (422 ``unknown_test_number``),
so a real card number is never stored. An outcome depends only on the number, plus the charge instant for the
"payday" number and the attempt number for the "flaky" one, which lets tests script every dunning path.
The ledger that makes the simulator idempotent per ``reference`` lives with its storage, not here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final, Literal

from duro.billing.payday import in_payday_window
from duro.gateway.protocol import BANK_RAILS, CARD, ChargeOutcome
from duro.kit.crypto import sha256_hex

Instrument = Literal["card", "bank_account"]

BANK_NAME: Final = "Duro Test Bank"


class Rule(StrEnum):
    SUCCESS = "success"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    EXPIRED_CARD = "expired_card"
    DO_NOT_HONOR = "do_not_honor"
    STOLEN_CARD = "stolen_card"
    CARD_NOT_SUPPORTED = "card_not_supported"
    PROCESSOR_ERROR = "processor_error"
    PAYDAY = "payday"  # insufficient_funds outside the payday window (04 §3), success inside it
    FLAKY = "flaky"  # processor_error on odd attempt numbers, success on even ones
    TIMEOUT = "timeout"  # fails at once: the simulator never really waits


@dataclass(frozen=True, slots=True)
class Behaviour:
    """What a test number does when charged; ``instrument`` only shapes the human message."""

    rule: Rule
    instrument: Instrument


# (failure code, ISO 8583 decline code) of each rule that always fails; bank rails use the card codes (03 §2).
FIXED_FAILURES: Final[Mapping[Rule, tuple[str, str]]] = {
    Rule.INSUFFICIENT_FUNDS: ("insufficient_funds", "51"),
    Rule.EXPIRED_CARD: ("expired_card", "54"),
    Rule.DO_NOT_HONOR: ("do_not_honor", "05"),
    Rule.STOLEN_CARD: ("stolen_card", "43"),
    Rule.CARD_NOT_SUPPORTED: ("card_not_supported", "57"),
    Rule.PROCESSOR_ERROR: ("processor_error", "96"),
    Rule.TIMEOUT: ("timeout", "68"),
}

# 03 §2 verbatim: card numbers, bank account numbers, behaviour.
_TEST_NUMBERS: Final[tuple[tuple[tuple[str, ...], str, Rule], ...]] = (
    (("4242424242424242", "5555555555554444"), "0123456789", Rule.SUCCESS),
    (("4000000000000051",), "0000000051", Rule.INSUFFICIENT_FUNDS),
    (("4000000000000054",), "0000000054", Rule.EXPIRED_CARD),
    (("4000000000000005",), "0000000005", Rule.DO_NOT_HONOR),
    (("4000000000000119",), "0000000119", Rule.STOLEN_CARD),
    (("4000000000000078",), "0000000078", Rule.CARD_NOT_SUPPORTED),
    (("4000000000000096",), "0000000096", Rule.PROCESSOR_ERROR),
    (("4000000000000028",), "0000000028", Rule.PAYDAY),
    (("4000000000000341",), "0000000341", Rule.FLAKY),
    (("4000000000000408",), "0000000408", Rule.TIMEOUT),
)

CARD_NUMBERS: Final[Mapping[str, Rule]] = {card: rule for cards, _, rule in _TEST_NUMBERS for card in cards}
ACCOUNT_NUMBERS: Final[Mapping[str, Rule]] = {account: rule for _, account, rule in _TEST_NUMBERS}

_MESSAGES: Final[Mapping[Instrument, Mapping[str, str]]] = {
    "card": {
        "insufficient_funds": "The card was declined for insufficient funds",
        "expired_card": "The card has expired",
        "do_not_honor": "The card issuer declined the payment without giving a reason",
        "stolen_card": "The card was reported lost or stolen",
        "card_not_supported": "The card does not support this kind of payment",
        "processor_error": "The payment processor had an error; the payment can be tried again later",
        "timeout": "The payment processor did not answer in time; the payment can be tried again later",
    },
    "bank_account": {
        "insufficient_funds": "The bank account has insufficient funds",
        "expired_card": "The bank account authorisation has expired",
        "do_not_honor": "The bank declined the payment without giving a reason",
        "stolen_card": "The bank account was reported compromised",
        "card_not_supported": "The bank account does not support this kind of payment",
        "processor_error": "The payment processor had an error; the payment can be tried again later",
        "timeout": "The payment processor did not answer in time; the payment can be tried again later",
    },
}


def normalize_number(raw: str) -> str:
    """The number as stored and fingerprinted: spaces and hyphens removed, nothing else touched (03 §1.3)."""
    return raw.replace(" ", "").replace("-", "")


def lookup_card(number: str) -> Behaviour | None:
    """The behaviour of a card test number; None means callers answer 422 ``unknown_test_number``."""
    rule = CARD_NUMBERS.get(normalize_number(number))
    return Behaviour(rule, "card") if rule is not None else None


def lookup_account(number: str) -> Behaviour | None:
    """The behaviour of a bank account test number (ussd, transfer, virtual_account, direct_debit)."""
    rule = ACCOUNT_NUMBERS.get(normalize_number(number))
    return Behaviour(rule, "bank_account") if rule is not None else None


def lookup(rail: str, number: str) -> Behaviour | None:
    """``lookup_card`` or ``lookup_account`` by rail; an unknown rail is a programming error."""
    if rail == CARD:
        return lookup_card(number)
    if rail in BANK_RAILS:
        return lookup_account(number)
    raise ValueError(f"unknown rail {rail!r}")


def card_brand(number: str) -> str | None:
    """Brand from the first digit (03 §2): 4 → visa, 5 → mastercard; anything else has none."""
    first = normalize_number(number)[:1]
    return {"4": "visa", "5": "mastercard"}.get(first)


def last4(number: str) -> str:
    return normalize_number(number)[-4:]


def fingerprint(rail: str, number: str) -> str:
    """``sha256(rail + ":" + number)`` with the number normalised (03 §1.3): the per-owner uniqueness key, so the
    same number saved twice on one rail finds the existing method."""
    return sha256_hex(f"{rail}:{normalize_number(number)}")


def decide(behaviour: Behaviour, at: datetime, attempt_number: int) -> ChargeOutcome:
    """The outcome of charging a method with ``behaviour`` at instant ``at`` (the clock in force, test clock time
    when attached) as the transaction's ``attempt_number`` (1-based)."""
    if attempt_number < 1:
        raise ValueError("attempt_number is 1-based")
    rule = behaviour.rule
    if rule is Rule.PAYDAY:
        rule = Rule.SUCCESS if in_payday_window(at) else Rule.INSUFFICIENT_FUNDS
    elif rule is Rule.FLAKY:
        rule = Rule.PROCESSOR_ERROR if attempt_number % 2 == 1 else Rule.SUCCESS
    if rule is Rule.SUCCESS:
        return ChargeOutcome.success()
    code, decline = FIXED_FAILURES[rule]
    return ChargeOutcome.failure(code, decline, _MESSAGES[behaviour.instrument][code])


def card_expired(exp_month: int, exp_year: int, now: datetime) -> bool:
    """True when the card's expiry month is before the current UTC month (03 §1.3): a card expiring this month is
    still accepted, because it stays valid until the month's last day."""
    if not 1 <= exp_month <= 12:
        raise ValueError("exp_month must be 1..12")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    today = now.astimezone(UTC)
    return (exp_year, exp_month) < (today.year, today.month)
