"""Subscription state machine (03 §4): every (status, action) pair, against a table transcribed from the spec by
hand rather than read from the module's data, so a typo in either shows up as a failure."""

from __future__ import annotations

import itertools

import pytest

from duro.billing.lifecycle import (
    TERMINAL,
    Action,
    Event,
    IllegalTransition,
    Status,
    can,
    illegal_transition,
    transition,
)
from duro.kit.errors import DuroError

STATES: list[str | None] = [
    None,  # "—": no subscription yet
    "incomplete",
    "incomplete_expired",
    "trialing",
    "active",
    "past_due",
    "paused",
    "unpaid",
    "canceled",
    "expired",
]

ACTIONS = [
    "create_with_trial",
    "create_paid",
    "create_failed",
    "pay_incomplete",
    "expire_incomplete",
    "renew_success",
    "renewal_failed",
    "recover",
    "mark_unpaid",
    "dunning_cancel",
    "dunning_keep",
    "reach_limit",
    "cancel_at_period_end_reached",
    "pause",
    "resume",
    "cancel",
    "cancel_at_period_end",
    "schedule_plan_change",
    "update",
    "update_metadata",
    "change_plan",
]

ALL_STATUSES = [s for s in STATES if s is not None]

# 03 §4, one line per allowed pair: (from, action) -> (to, events in order).
EXPECTED: dict[tuple[str | None, str], tuple[str, list[str]]] = {
    (None, "create_with_trial"): ("trialing", ["subscription_created"]),
    (None, "create_paid"): (
        "active",
        [
            "subscription_created",
            "invoice_created",
            "invoice_paid",
            "subscription_payment_success",
            "subscription_activated",
        ],
    ),
    (None, "create_failed"): (
        "incomplete",
        ["subscription_created", "invoice_created", "subscription_payment_failed"],
    ),
    ("incomplete", "pay_incomplete"): (
        "active",
        ["invoice_paid", "subscription_payment_success", "subscription_activated"],
    ),
    ("incomplete", "expire_incomplete"): ("incomplete_expired", ["subscription_updated"]),
    ("trialing", "renew_success"): (
        "active",
        ["invoice_created", "invoice_paid", "subscription_payment_success", "subscription_activated"],
    ),
    ("active", "renew_success"): ("active", ["invoice_created", "invoice_paid", "subscription_payment_success"]),
    ("active", "renewal_failed"): (
        "past_due",
        ["invoice_created", "subscription_payment_failed", "subscription_past_due"],
    ),
    ("trialing", "renewal_failed"): (
        "past_due",
        ["invoice_created", "subscription_payment_failed", "subscription_past_due"],
    ),
    ("past_due", "recover"): (
        "active",
        ["invoice_paid", "subscription_payment_recovered", "subscription_recovered"],
    ),
    ("past_due", "mark_unpaid"): ("unpaid", ["invoice_uncollectible", "subscription_unpaid"]),
    ("past_due", "dunning_cancel"): ("canceled", ["invoice_uncollectible", "subscription_cancelled"]),
    ("past_due", "dunning_keep"): ("past_due", ["invoice_uncollectible"]),
    ("active", "reach_limit"): ("expired", ["subscription_expired"]),
    ("active", "cancel_at_period_end_reached"): ("canceled", ["subscription_cancelled"]),
    ("trialing", "cancel_at_period_end_reached"): ("canceled", ["subscription_cancelled"]),
    ("active", "pause"): ("paused", ["subscription_paused"]),
    ("paused", "resume"): ("active", ["subscription_resumed"]),
    ("incomplete", "cancel"): ("canceled", ["subscription_cancelled"]),
    ("trialing", "cancel"): ("canceled", ["subscription_cancelled"]),
    ("active", "cancel"): ("canceled", ["subscription_cancelled"]),
    ("past_due", "cancel"): ("canceled", ["subscription_cancelled"]),
    ("paused", "cancel"): ("canceled", ["subscription_cancelled"]),
    ("unpaid", "cancel"): ("canceled", ["subscription_cancelled"]),
    ("active", "cancel_at_period_end"): ("active", ["subscription_updated"]),
    ("trialing", "cancel_at_period_end"): ("trialing", ["subscription_updated"]),
    ("active", "schedule_plan_change"): ("active", ["subscription_updated"]),
    ("trialing", "schedule_plan_change"): ("trialing", ["subscription_updated"]),
    # update (paymentMethodId): non-terminal, except unpaid which "allows only cancel".
    ("incomplete", "update"): ("incomplete", ["subscription_updated"]),
    ("trialing", "update"): ("trialing", ["subscription_updated"]),
    ("active", "update"): ("active", ["subscription_updated"]),
    ("past_due", "update"): ("past_due", ["subscription_updated"]),
    ("paused", "update"): ("paused", ["subscription_updated"]),
    # metadata in any state
    **{(status, "update_metadata"): (status, ["subscription_updated"]) for status in ALL_STATUSES},
    ("active", "change_plan"): ("active", ["subscription_plan_changed"]),
    ("trialing", "change_plan"): ("trialing", ["subscription_plan_changed"]),
}

ALL_PAIRS = list(itertools.product(STATES, ACTIONS))
ALLOWED = [pair for pair in ALL_PAIRS if pair in EXPECTED]
FORBIDDEN = [pair for pair in ALL_PAIRS if pair not in EXPECTED]


def test_the_hand_lists_cover_the_module() -> None:
    assert sorted(ACTIONS) == sorted(a.value for a in Action)
    assert sorted(ALL_STATUSES) == sorted(s.value for s in Status)
    assert {s.value for s in TERMINAL} == {"canceled", "expired", "incomplete_expired"}
    assert set(EXPECTED) <= set(ALL_PAIRS)
    assert len(ALLOWED) == len(EXPECTED) == 44
    assert len(ALLOWED) + len(FORBIDDEN) == 10 * 21


@pytest.mark.parametrize(("status", "action"), ALLOWED)
def test_allowed_pair_gives_the_spec_target_and_events(status: str | None, action: str) -> None:
    to, events = EXPECTED[(status, action)]
    assert can(status, action) is True
    result = transition(status, action)
    assert result.to == to
    assert [str(e) for e in result.events] == events
    assert all(type(e) is Event for e in result.events)


@pytest.mark.parametrize(("status", "action"), FORBIDDEN)
def test_forbidden_pair_is_a_409_illegal_transition(status: str | None, action: str) -> None:
    assert can(status, action) is False
    with pytest.raises(IllegalTransition) as caught:
        transition(status, action)
    error = caught.value
    name = status if status is not None else "new"
    assert error.status == 409
    assert error.code == "conflict"
    assert error.reason == "illegal_transition"
    assert [d.as_json() for d in error.details] == [{"path": "status", "issue": f"{name} cannot {action}"}]
    assert error.message.startswith("Cannot ")
    assert name in error.message
    built = illegal_transition(status, action)
    assert isinstance(built, DuroError)
    assert (built.status, built.reason, built.details, built.message) == (
        409,
        "illegal_transition",
        error.details,
        error.message,
    )


def test_the_spec_example_envelope() -> None:
    body = illegal_transition("canceled", "pause").envelope("req_1")
    assert body == {
        "error": {
            "code": "conflict",
            "message": "Cannot pause a subscription whose status is canceled",
            "reason": "illegal_transition",
            "details": [{"path": "status", "issue": "canceled cannot pause"}],
            "requestId": "req_1",
        }
    }


@pytest.mark.parametrize("status", ["canceled", "expired", "incomplete_expired"])
def test_terminal_states_allow_only_metadata_updates(status: str) -> None:
    assert [a for a in ACTIONS if can(status, a)] == ["update_metadata"]
    assert can(status, "update") is False


def test_unpaid_allows_only_cancel_and_metadata() -> None:
    assert [a for a in ACTIONS if can("unpaid", a)] == ["cancel", "update_metadata"]
    assert transition("unpaid", "cancel").to == "canceled"


def test_creation_only_from_nothing() -> None:
    assert [a for a in ACTIONS if can(None, a)] == ["create_with_trial", "create_paid", "create_failed"]
    for status in ALL_STATUSES:
        assert not any(can(status, a) for a in ("create_with_trial", "create_paid", "create_failed"))


def test_dunning_cancel_differs_from_an_immediate_cancel() -> None:
    assert transition("past_due", "dunning_cancel").events == ("invoice_uncollectible", "subscription_cancelled")
    assert transition("past_due", "cancel").events == ("subscription_cancelled",)


def test_conditional_trailing_events_are_optional_not_fixed() -> None:
    def optional(status: str, action: str) -> list[str]:
        return [c.event for c in transition(status, action).optional_events]

    assert optional("incomplete", "pay_incomplete") == ["subscription_updated"]
    assert optional("past_due", "recover") == ["subscription_updated"]
    assert optional("active", "renewal_failed") == ["subscription_payment_action_required"]
    assert optional("trialing", "renewal_failed") == ["subscription_payment_action_required"]
    assert optional("active", "change_plan") == ["invoice_created", "invoice_paid", "subscription_payment_success"]
    assert optional("trialing", "change_plan") == ["invoice_created", "invoice_paid", "subscription_payment_success"]
    with_optional = {("incomplete", "pay_incomplete"), ("past_due", "recover"), ("active", "renewal_failed")}
    with_optional |= {("trialing", "renewal_failed"), ("active", "change_plan"), ("trialing", "change_plan")}
    for status, action in ALLOWED:
        result = transition(status, action)
        assert bool(result.optional_events) == ((status, action) in with_optional)
        assert all(c.when for c in result.optional_events)
        # an optional event never duplicates one already in the fixed list
        assert not {c.event for c in result.optional_events} & set(result.events)


def test_event_names_are_the_catalog_names() -> None:
    catalog = {
        "subscription_created",
        "subscription_activated",
        "subscription_updated",
        "subscription_plan_changed",
        "subscription_paused",
        "subscription_resumed",
        "subscription_past_due",
        "subscription_recovered",
        "subscription_unpaid",
        "subscription_expired",
        "subscription_cancelled",
        "subscription_payment_success",
        "subscription_payment_failed",
        "subscription_payment_recovered",
        "subscription_payment_action_required",
        "invoice_created",
        "invoice_paid",
        "invoice_uncollectible",
    }
    assert {e.value for e in Event} == catalog


def test_enum_members_and_plain_strings_are_interchangeable() -> None:
    assert can(Status.ACTIVE, Action.PAUSE) is can("active", "pause") is True
    assert transition(Status.PAUSED, Action.RESUME).to == Status.ACTIVE


@pytest.mark.parametrize(("status", "action"), [("archived", "pause"), ("active", "delete"), (None, "explode")])
def test_unknown_names_are_programming_errors(status: str | None, action: str) -> None:
    with pytest.raises(ValueError, match="is not a valid"):
        can(status, action)
    with pytest.raises(ValueError, match="is not a valid"):
        transition(status, action)
