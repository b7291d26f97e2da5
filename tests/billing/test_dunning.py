"""Dunning strategy (04 §1, §2, §3, §6): classification, decide() rule by rule, the payday table, settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from duro.billing.dunning import (
    RAIL_CHAIN,
    ChargeableMethod,
    Decision,
    FailedAttempt,
    RecoverySettings,
    SettingsProblem,
    backoff,
    decide,
    gap,
    next_method,
)
from duro.billing.failures import classify
from duro.gateway.protocol import RAILS

DEFAULTS = RecoverySettings()
ESCALATION = timedelta(days=14)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def failed(
    code: str | None,
    at: datetime,
    *,
    attempts: int = 0,
    escalation_at: datetime | None = None,
    pm: str | None = "pm_card",
    rail: str | None = "card",
    hard: int = 0,
    failed_ids: frozenset[str] = frozenset(),
) -> FailedAttempt:
    return FailedAttempt.from_code(
        code,
        attempts_made=attempts,
        last_attempt_at=at,
        escalation_at=escalation_at if escalation_at is not None else at + ESCALATION,
        payment_method_id=pm,
        rail=rail,
        hard_declines_on_method=hard,
        failed_method_ids=failed_ids,
    )


CARD = ChargeableMethod("pm_card", "card", 1)
USSD_OLD = ChargeableMethod("pm_ussd_old", "ussd", 2)
USSD_NEW = ChargeableMethod("pm_ussd_new", "ussd", 5)
TRANSFER = ChargeableMethod("pm_transfer", "transfer", 3)
VA = ChargeableMethod("pm_va", "virtual_account", 4)
DD = ChargeableMethod("pm_dd", "direct_debit", 6)
ALL = (CARD, USSD_OLD, USSD_NEW, TRANSFER, VA, DD)
T0 = utc(2025, 3, 10, 12)  # day 10: outside the payday window


# --------------------------------------------------------------------------------------------- classification


@pytest.mark.parametrize(
    ("raw", "category", "klass"),
    [
        ("insufficient_funds", "insufficient_funds", "soft"),
        ("51", "insufficient_funds", "soft"),
        ("expired_card", "expired_card", "needs_new_method"),
        ("54", "expired_card", "needs_new_method"),
        ("card_not_supported", "card_not_supported", "needs_new_method"),
        ("57", "card_not_supported", "needs_new_method"),
        ("no_payment_method", "no_payment_method", "needs_new_method"),
        ("do_not_honor", "do_not_honor", "hard_decline"),
        ("05", "do_not_honor", "hard_decline"),
        ("stolen_card", "stolen_card", "hard_decline"),
        ("43", "stolen_card", "hard_decline"),
        ("processor_error", "processor_error", "transient"),
        ("96", "processor_error", "transient"),
        ("timeout", "timeout", "transient"),
        ("68", "timeout", "transient"),
        ("kyc_required", "kyc_required", "transient"),
        ("fraud_suspected", "unknown", "transient"),
        ("99", "unknown", "transient"),
        ("5", "unknown", "transient"),  # "05" is an alias, "5" is not
        ("", "unknown", "transient"),
        (None, "unknown", "transient"),
    ],
)
def test_every_documented_code_and_alias(raw: str | None, category: str, klass: str) -> None:
    c = classify(raw)
    assert (c.category, c.klass) == (category, klass)
    f = failed(raw, T0, hard=1 if klass == "hard_decline" else 0)
    assert (f.category, f.klass) == (category, klass)


@pytest.mark.parametrize(
    ("raw", "expected_action"),
    [
        ("insufficient_funds", "retry_payday"),
        ("51", "retry_payday"),
        ("expired_card", "request_card_update"),
        ("54", "request_card_update"),
        ("card_not_supported", "request_card_update"),
        ("57", "request_card_update"),
        ("no_payment_method", "request_card_update"),
        ("do_not_honor", "retry"),
        ("05", "retry"),
        ("stolen_card", "switch_rail"),
        ("43", "switch_rail"),
        ("processor_error", "retry"),
        ("96", "retry"),
        ("timeout", "retry"),
        ("68", "retry"),
        ("kyc_required", "retry"),
        ("something_new", "retry"),
    ],
)
def test_each_code_reaches_its_documented_branch(raw: str, expected_action: str) -> None:
    # Day 20 with a 14-day deadline: payday (28th) is reachable, so insufficient funds waits for it.
    at = utc(2025, 3, 20, 10)
    hard = 1 if classify(raw).klass == "hard_decline" else 0
    d = decide(failed(raw, at, hard=hard), DEFAULTS, ALL, at)
    assert d.action == expected_action


# -------------------------------------------------------------------------------------------------- the table


@pytest.mark.parametrize(
    ("now", "code", "attempts", "escalation_at", "action", "next_at"),
    [
        (utc(2025, 3, 20, 10), "insufficient_funds", 0, utc(2025, 4, 3, 10), "retry_payday", utc(2025, 3, 28, 9)),
        (utc(2025, 3, 6, 8), "insufficient_funds", 0, utc(2025, 3, 20, 8), "retry", utc(2025, 3, 6, 8)),
        (utc(2025, 3, 29, 12), "insufficient_funds", 0, utc(2025, 4, 12, 12), "retry", utc(2025, 3, 29, 12)),
        (utc(2025, 4, 2, 7), "insufficient_funds", 0, utc(2025, 4, 16, 7), "retry", utc(2025, 4, 2, 7)),
        (utc(2025, 3, 20, 10), "processor_error", 0, utc(2025, 4, 3, 10), "retry", utc(2025, 3, 20, 10)),
        # Last row: retry 1 of the first row fails on payday and the offsets continue as gaps.
        (utc(2025, 3, 28, 9), "insufficient_funds", 1, utc(2025, 4, 3, 10), "retry", utc(2025, 3, 29, 9)),
        (utc(2025, 3, 29, 9), "insufficient_funds", 2, utc(2025, 4, 3, 10), "retry", utc(2025, 3, 31, 9)),
        (utc(2025, 3, 31, 9), "insufficient_funds", 3, utc(2025, 4, 3, 10), "retry", utc(2025, 4, 2, 9)),
        # decide() still answers 04-04 09:00; escalation (the loop, 04 §5) ends dunning at 04-03 10:00 first.
        (utc(2025, 4, 2, 9), "insufficient_funds", 4, utc(2025, 4, 3, 10), "retry", utc(2025, 4, 4, 9)),
    ],
)
def test_worked_table(
    now: datetime, code: str, attempts: int, escalation_at: datetime, action: str, next_at: datetime
) -> None:
    d = decide(failed(code, now, attempts=attempts, escalation_at=escalation_at), DEFAULTS, ALL, now)
    assert d.action == action
    assert d.next_attempt_at == next_at
    assert (d.payment_method_id, d.rail) == ("pm_card", "card")


def test_worked_table_last_row_is_after_the_deadline() -> None:
    now = utc(2025, 4, 2, 9)
    d = decide(failed("51", now, attempts=4, escalation_at=utc(2025, 4, 3, 10)), DEFAULTS, ALL, now)
    assert d.next_attempt_at is not None
    assert d.next_attempt_at > utc(2025, 4, 3, 10)


@pytest.mark.parametrize(
    ("now", "action", "next_at"),
    [
        (utc(2025, 3, 14, 8, 59), "retry", utc(2025, 3, 14, 8, 59)),  # 28th 09:00 is one minute too late
        (utc(2025, 3, 14, 9), "retry_payday", utc(2025, 3, 28, 9)),  # exactly at the deadline counts
        (utc(2025, 3, 27, 23, 59), "retry_payday", utc(2025, 3, 28, 9)),
        (utc(2025, 3, 28, 0), "retry", utc(2025, 3, 28, 0)),  # window opens at 00:00 on the 28th
        (utc(2025, 3, 4, 0), "retry", utc(2025, 3, 4, 0)),  # window closed; 28th is 24 days away
        (utc(2025, 2, 14, 9), "retry_payday", utc(2025, 2, 28, 9)),  # non-leap February: 28th is its last day
        (utc(2024, 2, 27, 12), "retry_payday", utc(2024, 2, 28, 9)),  # leap February
        (utc(2024, 2, 29, 12), "retry", utc(2024, 2, 29, 12)),  # 29th is in the window
        (utc(2025, 4, 30, 12), "retry", utc(2025, 4, 30, 12)),  # 30-day month end
        (utc(2025, 12, 20, 10), "retry_payday", utc(2025, 12, 28, 9)),
    ],
)
def test_payday_edges_with_default_escalation(now: datetime, action: str, next_at: datetime) -> None:
    d = decide(failed("insufficient_funds", now), DEFAULTS, ALL, now)
    assert (d.action, d.next_attempt_at) == (action, next_at)


def test_payday_deadline_is_ignored_with_keep() -> None:
    now = utc(2025, 3, 6, 8)
    keep = RecoverySettings(dunning_escalation="keep")
    d = decide(failed("insufficient_funds", now), keep, ALL, now)
    assert (d.action, d.next_attempt_at) == ("retry_payday", utc(2025, 3, 28, 9))
    assert "payday" in d.reason


def test_thirty_day_escalation_covers_the_whole_month() -> None:
    now = utc(2025, 3, 4, 0)
    d = decide(failed("51", now, escalation_at=now + timedelta(days=30)), DEFAULTS, ALL, now)
    assert (d.action, d.next_attempt_at) == ("retry_payday", utc(2025, 3, 28, 9))


def test_payday_off_backs_off() -> None:
    now = utc(2025, 3, 20, 10)
    d = decide(failed("insufficient_funds", now), RecoverySettings(payday_aware=False), ALL, now)
    assert (d.action, d.next_attempt_at) == ("retry", now)


def test_payday_judges_now_not_the_failure_instant() -> None:
    # The decision ran late: the failure was on the 27th but now it is the 28th, inside the window.
    last = utc(2025, 3, 27, 23)
    now = utc(2025, 3, 28, 1)
    d = decide(failed("51", last, attempts=1), DEFAULTS, ALL, now)
    assert (d.action, d.next_attempt_at) == ("retry", last + timedelta(hours=24))


def test_payday_too_late_reason_names_the_deadline() -> None:
    now = utc(2025, 3, 6, 8)
    d = decide(failed("51", now), DEFAULTS, ALL, now)
    assert "after the escalation deadline" in d.reason
    assert "2025-03-28 09:00 UTC" in d.reason


# ------------------------------------------------------------------------------------------------ rules 1 and 2


@pytest.mark.parametrize("code", ["51", "expired_card", "stolen_card", "do_not_honor", "timeout", "weird"])
def test_exhaust_wins_over_every_branch(code: str) -> None:
    hard = 1 if classify(code).klass == "hard_decline" else 0
    d = decide(failed(code, T0, attempts=5, hard=hard), DEFAULTS, ALL, T0)
    assert d == Decision("exhaust", None, "pm_card", "card", "Gave up after 5 retries")


def test_exhaust_with_one_attempt_reads_naturally() -> None:
    s = RecoverySettings(max_attempts=1)
    d = decide(failed("timeout", T0, attempts=1), s, ALL, T0)
    assert (d.action, d.reason) == ("exhaust", "Gave up after 1 retry")


def test_one_below_max_still_retries() -> None:
    d = decide(failed("timeout", T0, attempts=4), DEFAULTS, ALL, T0)
    assert (d.action, d.next_attempt_at) == ("retry", T0 + timedelta(hours=48))
    assert "retry 5 of 5" in d.reason


@pytest.mark.parametrize("code", ["expired_card", "card_not_supported", "no_payment_method"])
def test_needs_new_method_requests_an_update(code: str) -> None:
    d = decide(failed(code, T0), DEFAULTS, ALL, T0)
    assert d == Decision("request_card_update", None, "pm_card", "card", f"{code}: waiting for a new payment method")


def test_needs_new_method_does_not_walk_the_chain() -> None:
    # Even with bank methods on file, an expired card is the customer's to fix (the spec's rule 2 precedes 3).
    d = decide(failed("54", T0), DEFAULTS, ALL, T0)
    assert d.action == "request_card_update"


def test_no_payment_method_without_a_current_method() -> None:
    d = decide(failed("no_payment_method", T0, pm=None, rail=None), DEFAULTS, (), T0)
    assert (d.action, d.payment_method_id, d.rail) == ("request_card_update", None, None)


# ------------------------------------------------------------------------------------------------------ rule 3


def test_do_not_honor_first_decline_retries_same_method() -> None:
    d = decide(failed("do_not_honor", T0, attempts=1, hard=1), DEFAULTS, ALL, T0)
    assert (d.action, d.payment_method_id, d.rail) == ("retry", "pm_card", "card")
    assert d.next_attempt_at == T0 + timedelta(hours=24)
    assert "once on the same payment method" in d.reason


def test_do_not_honor_second_decline_switches_rail() -> None:
    d = decide(failed("05", T0, attempts=1, hard=2), DEFAULTS, ALL, T0)
    assert (d.action, d.payment_method_id, d.rail) == ("switch_rail", "pm_ussd_new", "ussd")
    assert d.next_attempt_at == T0 + timedelta(hours=24)
    assert d.reason == "do_not_honor on card: switching to ussd at 2025-03-11 12:00 UTC"


def test_stolen_card_switches_at_once() -> None:
    methods = tuple(m for m in ALL if m is not CARD)  # the caller disabled the stolen card first
    d = decide(failed("stolen_card", T0, hard=1), DEFAULTS, methods, T0)
    assert (d.action, d.payment_method_id, d.rail, d.next_attempt_at) == ("switch_rail", "pm_ussd_new", "ussd", T0)


@pytest.mark.parametrize("code", ["stolen_card", "do_not_honor"])
def test_hard_decline_with_nowhere_to_go_requests_an_update(code: str) -> None:
    d = decide(failed(code, T0, hard=2), DEFAULTS, (CARD,), T0)
    assert (d.action, d.next_attempt_at) == ("request_card_update", None)
    assert d.reason.startswith(f"{code}: no other payment method")


@pytest.mark.parametrize(
    ("current_rail", "current_id", "methods", "failed_ids", "expected"),
    [
        ("card", "pm_card", ALL, frozenset(), "pm_ussd_new"),  # earliest rail, newest method of it
        ("card", "pm_card", ALL, frozenset({"pm_ussd_new"}), "pm_ussd_old"),  # skip one that failed
        ("card", "pm_card", ALL, frozenset({"pm_ussd_new", "pm_ussd_old"}), "pm_transfer"),
        ("ussd", "pm_ussd_new", ALL, frozenset(), "pm_transfer"),  # strictly after: the other ussd is skipped
        ("transfer", "pm_transfer", ALL, frozenset(), "pm_va"),
        ("virtual_account", "pm_va", ALL, frozenset(), "pm_dd"),
        ("direct_debit", "pm_dd", ALL, frozenset(), None),  # end of the chain: never back to card
        ("card", "pm_card", (CARD, DD), frozenset(), "pm_dd"),  # gaps in the chain are jumped
        ("card", "pm_card", (CARD, ChargeableMethod("pm_card2", "card", 9)), frozenset(), None),  # same rail no
        (None, None, (DD, TRANSFER), frozenset(), "pm_transfer"),  # no current rail: the whole chain is open
    ],
)
def test_rail_chain(
    current_rail: str | None,
    current_id: str | None,
    methods: tuple[ChargeableMethod, ...],
    failed_ids: frozenset[str],
    expected: str | None,
) -> None:
    f = failed("stolen_card", T0, pm=current_id, rail=current_rail, hard=1, failed_ids=failed_ids)
    m = next_method(f, methods)
    assert (m.id if m else None) == expected


def test_rail_chain_ties_fall_to_the_smaller_id() -> None:
    a, b = ChargeableMethod("pm_b", "ussd", 3), ChargeableMethod("pm_a", "ussd", 3)
    f = failed("stolen_card", T0, hard=1)
    assert next_method(f, (a, b)) == b
    assert next_method(f, (b, a)) == b


def test_rail_chain_order_is_the_spec_order() -> None:
    assert RAIL_CHAIN == ("card", "ussd", "transfer", "virtual_account", "direct_debit") == RAILS


# ------------------------------------------------------------------------------------------------ rule 5 / backoff


@pytest.mark.parametrize(("k", "hours"), [(0, 0), (1, 24), (2, 48), (3, 48), (4, 48)])
def test_default_gaps(k: int, hours: int) -> None:
    assert gap(DEFAULTS, k) == timedelta(hours=hours)


def test_default_schedule_is_cumulative_without_delay() -> None:
    # +0, +24, +72, +120, +168 h after the first failure when each retry runs on time and fails; the fifth exhausts.
    first = utc(2025, 3, 5, 10)
    at, seen = first, []
    for attempts in range(6):
        d = decide(failed("processor_error", at, attempts=attempts), DEFAULTS, ALL, at)
        if d.action == "exhaust":
            break
        assert d.next_attempt_at is not None
        at = d.next_attempt_at
        seen.append((at - first) / timedelta(hours=1))
    assert seen == [0, 24, 72, 120, 168]
    assert d.action == "exhaust"


def test_backoff_never_before_now() -> None:
    last = utc(2025, 3, 5, 10)
    late = last + timedelta(days=3)
    assert backoff(DEFAULTS, 1, late, last) == late
    d = decide(failed("timeout", last, attempts=1), DEFAULTS, ALL, late)
    assert d.next_attempt_at == late


def test_custom_offsets() -> None:
    s = RecoverySettings(max_attempts=2, retry_offsets_hours=(6, 30))
    assert decide(failed("timeout", T0), s, ALL, T0).next_attempt_at == T0 + timedelta(hours=6)
    assert decide(failed("timeout", T0, attempts=1), s, ALL, T0).next_attempt_at == T0 + timedelta(hours=24)


def test_soft_decline_inside_window_backs_off_with_reason() -> None:
    now = utc(2025, 3, 30, 10)
    d = decide(failed("insufficient_funds", now, attempts=2), DEFAULTS, ALL, now)
    assert d == Decision(
        "retry",
        now + timedelta(hours=48),
        "pm_card",
        "card",
        "insufficient_funds: retry 3 of 5 at 2025-04-01 10:00 UTC",
    )


def test_aware_non_utc_inputs_are_normalised() -> None:
    lagos = timezone(timedelta(hours=1))
    now = datetime(2025, 3, 10, 13, tzinfo=lagos)
    d = decide(failed("timeout", now), DEFAULTS, ALL, now)
    assert d.next_attempt_at == utc(2025, 3, 10, 12)
    assert d.next_attempt_at.tzinfo == UTC


# --------------------------------------------------------------------------------------------------- input guards


def test_invalid_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        failed("timeout", datetime(2025, 3, 10))
    with pytest.raises(ValueError, match="attempts_made"):
        failed("timeout", T0, attempts=-1)
    with pytest.raises(ValueError, match="counts itself"):
        failed("stolen_card", T0, hard=0)
    with pytest.raises(ValueError, match="unknown rail"):
        failed("timeout", T0, rail="cheque")
    with pytest.raises(ValueError, match="unknown rail"):
        ChargeableMethod("pm", "cash", 1)
    with pytest.raises(ValueError, match="failure class"):
        FailedAttempt("x", "fatal", 0, T0, T0, None, None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(failed("timeout", T0), DEFAULTS, ALL, datetime(2025, 3, 10))
    with pytest.raises(ValueError, match="invalid recovery settings"):
        decide(failed("timeout", T0), RecoverySettings(max_attempts=6), ALL, T0)


# -------------------------------------------------------------------------------------------------------- settings


def test_defaults_match_the_spec_and_are_valid() -> None:
    assert (
        RecoverySettings(
            dunning_enabled=True,
            max_attempts=5,
            retry_offsets_hours=(0, 24, 72, 120, 168),
            payday_aware=True,
            dunning_escalation_days=14,
            dunning_escalation="mark_unpaid",
            renewal_reminders=True,
            renewal_reminder_days=3,
        )
        == DEFAULTS
    )
    assert DEFAULTS.validate() == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"max_attempts": 0}, [("maxAttempts", "validation_error")]),
        ({"max_attempts": 11}, [("maxAttempts", "validation_error")]),
        ({"max_attempts": True}, [("maxAttempts", "validation_error")]),
        ({"max_attempts": "5"}, [("maxAttempts", "validation_error")]),
        ({"max_attempts": None}, [("maxAttempts", "validation_error")]),
        ({"dunning_enabled": 1}, [("dunningEnabled", "validation_error")]),
        ({"payday_aware": None}, [("paydayAware", "validation_error")]),
        ({"renewal_reminders": "yes"}, [("renewalReminders", "validation_error")]),
        ({"dunning_escalation_days": 0}, [("dunningEscalationDays", "validation_error")]),
        ({"dunning_escalation_days": 91}, [("dunningEscalationDays", "validation_error")]),
        ({"renewal_reminder_days": 31}, [("renewalReminderDays", "validation_error")]),
        ({"renewal_reminder_days": 0}, [("renewalReminderDays", "validation_error")]),
        ({"dunning_escalation": "suspend"}, [("dunningEscalation", "validation_error")]),
        (
            {"retry_offsets_hours": (0, 24, 721, 800, 900)},
            [
                ("retryOffsetsHours.2", "validation_error"),
                ("retryOffsetsHours.3", "validation_error"),
                ("retryOffsetsHours.4", "validation_error"),
            ],
        ),
        ({"retry_offsets_hours": (0, -1, 72, 120, 168)}, [("retryOffsetsHours.1", "validation_error")]),
        ({"retry_offsets_hours": (0, 24.5, 72, 120, 168)}, [("retryOffsetsHours.1", "validation_error")]),
        ({"retry_offsets_hours": ()}, [("retryOffsetsHours", "validation_error")]),
        ({"retry_offsets_hours": "0,24"}, [("retryOffsetsHours", "validation_error")]),
        ({"retry_offsets_hours": None}, [("retryOffsetsHours", "validation_error")]),
        # Cross-field rules, judged only on individually valid values.
        ({"retry_offsets_hours": (0, 24, 24, 120, 168)}, [("retryOffsetsHours.2", "settings_inconsistent")]),
        (
            {"retry_offsets_hours": (0, 72, 24, 120, 100)},
            [("retryOffsetsHours.2", "settings_inconsistent"), ("retryOffsetsHours.4", "settings_inconsistent")],
        ),
        ({"retry_offsets_hours": (0, 24, 72)}, [("retryOffsetsHours", "settings_inconsistent")]),
        ({"max_attempts": 6}, [("retryOffsetsHours", "settings_inconsistent")]),
        ({"max_attempts": 11, "retry_offsets_hours": (0, 24)}, [("maxAttempts", "validation_error")]),
        ({"retry_offsets_hours": [0, 24, 72, 120, 168]}, []),  # a JSON array arrives as a list
        ({"max_attempts": 3, "retry_offsets_hours": (0, 1, 2, 700)}, []),  # more offsets than attempts is fine
        ({"max_attempts": 10, "retry_offsets_hours": tuple(range(0, 720, 72))}, []),
        ({"dunning_escalation": "keep", "dunning_escalation_days": 90, "renewal_reminder_days": 30}, []),
    ],
)
def test_settings_validation(changes: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    problems = RecoverySettings(**changes).validate()
    assert [(p.path, p.code) for p in problems] == expected
    assert all(p.issue for p in problems)


def test_inconsistency_messages_are_specific() -> None:
    (p,) = RecoverySettings(max_attempts=6).validate()
    assert p == SettingsProblem(
        "retryOffsetsHours", "needs at least maxAttempts (6) offsets, got 5", "settings_inconsistent"
    )


# ------------------------------------------------------------------------------------------------------ properties

CODES = st.sampled_from(
    [
        "insufficient_funds",
        "51",
        "expired_card",
        "54",
        "card_not_supported",
        "57",
        "no_payment_method",
        "do_not_honor",
        "05",
        "stolen_card",
        "43",
        "processor_error",
        "96",
        "timeout",
        "68",
        "kyc_required",
        "other",
    ]
)
INSTANTS = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC))


@st.composite
def valid_settings(draw: st.DrawFn) -> RecoverySettings:
    max_attempts = draw(st.integers(1, 10))
    extra = draw(st.integers(0, 3))
    offsets = sorted(draw(st.sets(st.integers(0, 720), min_size=max_attempts + extra, max_size=max_attempts + extra)))
    return RecoverySettings(
        max_attempts=max_attempts,
        retry_offsets_hours=tuple(offsets),
        payday_aware=draw(st.booleans()),
        dunning_escalation_days=draw(st.integers(1, 90)),
        dunning_escalation=draw(st.sampled_from(["cancel", "mark_unpaid", "keep"])),
    )


@st.composite
def methods(draw: st.DrawFn) -> list[ChargeableMethod]:
    rails = draw(st.lists(st.sampled_from(RAILS), max_size=6))
    return [ChargeableMethod(f"pm_{i}", rail, draw(st.integers(0, 3))) for i, rail in enumerate(rails)]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[FailedAttempt, RecoverySettings, list[ChargeableMethod], datetime]:
    s = draw(valid_settings())
    ms = draw(methods())
    code = draw(CODES)
    klass = classify(code).klass
    # The current method is one of the customer's (or none); a stolen card has been disabled, so it is dropped.
    current = draw(st.sampled_from([None, *ms])) if ms else None
    if current is not None and classify(code).category == "stolen_card":
        ms = [m for m in ms if m.id != current.id]
    last = draw(INSTANTS)
    now = last + draw(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=40)))
    escalation_at = last + timedelta(days=s.dunning_escalation_days)
    failed_ids = frozenset(draw(st.sets(st.sampled_from([m.id for m in ms]))) if ms else set())
    f = FailedAttempt.from_code(
        code,
        attempts_made=draw(st.integers(0, s.max_attempts + 2)),
        last_attempt_at=last,
        escalation_at=escalation_at,
        payment_method_id=current.id if current else None,
        rail=current.rail if current else None,
        hard_declines_on_method=draw(st.integers(1, 3)) if klass == "hard_decline" else 0,
        failed_method_ids=failed_ids,
    )
    return f, s, ms, now


@given(scenarios())
@settings(max_examples=400)
def test_property_never_schedules_in_the_past(
    scenario: tuple[FailedAttempt, RecoverySettings, list[ChargeableMethod], datetime],
) -> None:
    f, s, ms, now = scenario
    d = decide(f, s, ms, now)
    assert (d.next_attempt_at is not None) == (d.action in {"retry", "retry_payday", "switch_rail"})
    if d.next_attempt_at is not None:
        assert d.next_attempt_at >= now
        assert d.next_attempt_at.tzinfo is not None
    assert d.reason
    assert d.reason[0].isalpha()


@given(scenarios())
@settings(max_examples=400)
def test_property_never_exceeds_max_attempts(
    scenario: tuple[FailedAttempt, RecoverySettings, list[ChargeableMethod], datetime],
) -> None:
    f, s, ms, now = scenario
    d = decide(f, s, ms, now)
    if f.attempts_made >= s.max_attempts:
        assert d.action == "exhaust"
    else:
        assert d.action != "exhaust"


@given(scenarios())
@settings(max_examples=400)
def test_property_never_picks_a_rail_without_a_method(
    scenario: tuple[FailedAttempt, RecoverySettings, list[ChargeableMethod], datetime],
) -> None:
    f, s, ms, now = scenario
    d = decide(f, s, ms, now)
    if d.action == "switch_rail":
        chosen = next(m for m in ms if m.id == d.payment_method_id)
        assert chosen.rail == d.rail
        assert chosen.id not in f.failed_method_ids
        assert f.rail is None or RAIL_CHAIN.index(chosen.rail) > RAIL_CHAIN.index(f.rail)
    else:
        # Every other action stays on the schedule's own method: nothing new is picked.
        assert (d.payment_method_id, d.rail) == (f.payment_method_id, f.rail)


@given(valid_settings(), INSTANTS, st.sampled_from(["processor_error", "timeout", "insufficient_funds", "other"]))
@settings(max_examples=200)
def test_property_a_failing_schedule_makes_at_most_max_attempts_retries(
    s: RecoverySettings, start: datetime, code: str
) -> None:
    # Drive decide() as the loop does: every scheduled retry runs on time and fails again.
    at, attempts, retries = start, 0, 0
    escalation_at = start + timedelta(days=s.dunning_escalation_days)
    while True:
        d = decide(failed(code, at, attempts=attempts, escalation_at=escalation_at), s, [CARD], at)
        if d.action == "exhaust":
            break
        assert d.next_attempt_at is not None
        assert d.next_attempt_at >= at
        at, attempts, retries = d.next_attempt_at, attempts + 1, retries + 1
    assert retries == s.max_attempts
    assert d.reason == f"Gave up after {s.max_attempts} {'retry' if s.max_attempts == 1 else 'retries'}"


@given(INSTANTS, st.integers(0, 4))
def test_property_payday_target_is_the_28th_at_nine_outside_the_window(now: datetime, attempts: int) -> None:
    d = decide(failed("51", now, attempts=attempts, escalation_at=now + timedelta(days=90)), DEFAULTS, [CARD], now)
    if 4 <= now.day <= 27:
        assert d.action == "retry_payday"
        assert d.next_attempt_at is not None
        assert (d.next_attempt_at.day, d.next_attempt_at.hour, d.next_attempt_at.minute) == (28, 9, 0)
        assert d.next_attempt_at.month == now.month
    else:
        assert d.action == "retry"
