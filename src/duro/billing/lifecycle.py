"""The subscription state machine (03 §4) as one table of data.

Services ask ``can`` before doing work, call ``transition`` to learn the target status and the events to write
(in this order, in the same transaction as the change), and answer ``illegal_transition`` (409) otherwise. This
module is the single source of lifecycle event names: services emit ``Event`` members, never string literals.

Action names. The spec names ``cancel``, ``cancel_at_period_end``, ``pause``, ``resume``, ``change_plan``,
``update``, ``schedule_plan_change``, ``renewal_failed``, ``recover``, ``mark_unpaid``, ``reach_limit`` and
``expire_incomplete``; those appear verbatim in the 409 ``issue``. The rows the spec describes only in prose get
these names (they are driven by the system, so no client ever sees them in an error):

- ``create_with_trial`` / ``create_paid`` / ``create_failed``: the three creation rows ("—" in the spec). Their
  from-state is ``None`` (no subscription yet); every creation action from an existing status is illegal.
  ``create_paid`` also covers a zero-amount first invoice; ``create_failed`` also covers ``no_payment_method``.
- ``pay_incomplete``: the ``incomplete`` invoice is paid (hosted link, merchant pay, portal retry).
- ``renew_success``: a renewal charge succeeds (or the renewal invoice is zero); from ``trialing`` it activates.
- ``cancel_at_period_end_reached``: the renewal finds ``cancelAtPeriodEnd`` and cancels instead of billing.
- ``dunning_cancel`` / ``dunning_keep``: dunning ends with its ``cancel`` / ``keep`` outcome. They are distinct
  from the merchant's immediate ``cancel`` because ``past_due`` + ``cancel`` would otherwise have two event lists
  (``invoice_uncollectible`` first when dunning ends it, not when a person cancels).
- ``update_metadata``: the spec row "any non-terminal (and metadata in any state)" is two actions. ``update``
  (PATCH of ``paymentMethodId``) needs a non-terminal status other than ``unpaid`` (which "allows only cancel");
  ``update_metadata`` is allowed in every status. A PATCH touching both fields checks ``update``; when a metadata
  PATCH is refused it never is, so the spec's issue text ``"<from> cannot update"`` stays the only one clients see.

Conditional events. Rows whose spec event list ends with "then X if …" keep X out of ``events`` and list it in
``optional_events`` with its condition; the service appends it, after ``events``, only when the condition holds.
Two follow-ups are whole further steps rather than events of the row, so they are not in the table:
``resume`` after the period ended is followed by the renewal (``renew_success`` or ``renewal_failed`` from
``active``, 03 §7), and a renewal with ``scheduledPlanId`` writes ``subscription_plan_changed`` before its invoice
events (03 §10 step 4).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from duro.kit.errors import Detail, DuroError


class Status(StrEnum):
    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    PAUSED = "paused"
    UNPAID = "unpaid"
    CANCELED = "canceled"
    EXPIRED = "expired"


TERMINAL: Final[frozenset[Status]] = frozenset({Status.CANCELED, Status.EXPIRED, Status.INCOMPLETE_EXPIRED})


class Action(StrEnum):
    CREATE_WITH_TRIAL = "create_with_trial"
    CREATE_PAID = "create_paid"
    CREATE_FAILED = "create_failed"
    PAY_INCOMPLETE = "pay_incomplete"
    EXPIRE_INCOMPLETE = "expire_incomplete"
    RENEW_SUCCESS = "renew_success"
    RENEWAL_FAILED = "renewal_failed"
    RECOVER = "recover"
    MARK_UNPAID = "mark_unpaid"
    DUNNING_CANCEL = "dunning_cancel"
    DUNNING_KEEP = "dunning_keep"
    REACH_LIMIT = "reach_limit"
    CANCEL_AT_PERIOD_END_REACHED = "cancel_at_period_end_reached"
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"
    CANCEL_AT_PERIOD_END = "cancel_at_period_end"
    SCHEDULE_PLAN_CHANGE = "schedule_plan_change"
    UPDATE = "update"
    UPDATE_METADATA = "update_metadata"
    CHANGE_PLAN = "change_plan"


CREATION_ACTIONS: Final[frozenset[Action]] = frozenset(
    {Action.CREATE_WITH_TRIAL, Action.CREATE_PAID, Action.CREATE_FAILED}
)


class Event(StrEnum):
    """Lifecycle event names (05 §1). The status is spelled ``canceled``, the event ``subscription_cancelled``."""

    SUBSCRIPTION_CREATED = "subscription_created"
    SUBSCRIPTION_ACTIVATED = "subscription_activated"
    SUBSCRIPTION_UPDATED = "subscription_updated"
    SUBSCRIPTION_PLAN_CHANGED = "subscription_plan_changed"
    SUBSCRIPTION_PAUSED = "subscription_paused"
    SUBSCRIPTION_RESUMED = "subscription_resumed"
    SUBSCRIPTION_PAST_DUE = "subscription_past_due"
    SUBSCRIPTION_RECOVERED = "subscription_recovered"
    SUBSCRIPTION_UNPAID = "subscription_unpaid"
    SUBSCRIPTION_EXPIRED = "subscription_expired"
    SUBSCRIPTION_CANCELLED = "subscription_cancelled"
    SUBSCRIPTION_PAYMENT_SUCCESS = "subscription_payment_success"
    SUBSCRIPTION_PAYMENT_FAILED = "subscription_payment_failed"
    SUBSCRIPTION_PAYMENT_RECOVERED = "subscription_payment_recovered"
    SUBSCRIPTION_PAYMENT_ACTION_REQUIRED = "subscription_payment_action_required"
    INVOICE_CREATED = "invoice_created"
    INVOICE_PAID = "invoice_paid"
    INVOICE_UNCOLLECTIBLE = "invoice_uncollectible"


@dataclass(frozen=True, slots=True)
class ConditionalEvent:
    """An event appended after a transition's fixed events only when ``when`` holds (the service decides)."""

    event: Event
    when: str


@dataclass(frozen=True, slots=True)
class Transition:
    to: Status
    events: tuple[Event, ...]
    optional_events: tuple[ConditionalEvent, ...] = ()


@dataclass(frozen=True, slots=True)
class _Row:
    froms: tuple[Status | None, ...]
    action: Action
    to: Status | None  # None: the status does not change
    events: tuple[Event, ...]
    optional_events: tuple[ConditionalEvent, ...] = ()


_NON_TERMINAL: Final = tuple(s for s in Status if s not in TERMINAL)

_PAYMENT_METHOD_ADOPTED = ConditionalEvent(
    Event.SUBSCRIPTION_UPDATED, "the paying method changed the subscription's paymentMethodId"
)

# 03 §4, row by row and in the spec's order. Event tuples are copied from the spec verbatim.
_TABLE: Final[tuple[_Row, ...]] = (
    _Row((None,), Action.CREATE_WITH_TRIAL, Status.TRIALING, (Event.SUBSCRIPTION_CREATED,)),
    _Row(
        (None,),
        Action.CREATE_PAID,
        Status.ACTIVE,
        (
            Event.SUBSCRIPTION_CREATED,
            Event.INVOICE_CREATED,
            Event.INVOICE_PAID,
            Event.SUBSCRIPTION_PAYMENT_SUCCESS,
            Event.SUBSCRIPTION_ACTIVATED,
        ),
    ),
    _Row(
        (None,),
        Action.CREATE_FAILED,
        Status.INCOMPLETE,
        (Event.SUBSCRIPTION_CREATED, Event.INVOICE_CREATED, Event.SUBSCRIPTION_PAYMENT_FAILED),
    ),
    _Row(
        (Status.INCOMPLETE,),
        Action.PAY_INCOMPLETE,
        Status.ACTIVE,
        (Event.INVOICE_PAID, Event.SUBSCRIPTION_PAYMENT_SUCCESS, Event.SUBSCRIPTION_ACTIVATED),
        (_PAYMENT_METHOD_ADOPTED,),
    ),
    # subscription_updated carries status in previousAttributes (05 §1).
    _Row((Status.INCOMPLETE,), Action.EXPIRE_INCOMPLETE, Status.INCOMPLETE_EXPIRED, (Event.SUBSCRIPTION_UPDATED,)),
    _Row(
        (Status.TRIALING,),
        Action.RENEW_SUCCESS,
        Status.ACTIVE,
        (Event.INVOICE_CREATED, Event.INVOICE_PAID, Event.SUBSCRIPTION_PAYMENT_SUCCESS, Event.SUBSCRIPTION_ACTIVATED),
    ),
    _Row(
        (Status.ACTIVE,),
        Action.RENEW_SUCCESS,
        Status.ACTIVE,
        (Event.INVOICE_CREATED, Event.INVOICE_PAID, Event.SUBSCRIPTION_PAYMENT_SUCCESS),
    ),
    _Row(
        (Status.ACTIVE, Status.TRIALING),
        Action.RENEWAL_FAILED,
        Status.PAST_DUE,
        (Event.INVOICE_CREATED, Event.SUBSCRIPTION_PAYMENT_FAILED, Event.SUBSCRIPTION_PAST_DUE),
        (
            ConditionalEvent(
                Event.SUBSCRIPTION_PAYMENT_ACTION_REQUIRED,
                "the dunning schedule opens awaiting a new payment method (04 §4)",
            ),
        ),
    ),
    # No subscription_activated here even when activatedAt is first set by recovery: the spec row lists none.
    _Row(
        (Status.PAST_DUE,),
        Action.RECOVER,
        Status.ACTIVE,
        (Event.INVOICE_PAID, Event.SUBSCRIPTION_PAYMENT_RECOVERED, Event.SUBSCRIPTION_RECOVERED),
        (_PAYMENT_METHOD_ADOPTED,),
    ),
    _Row(
        (Status.PAST_DUE,), Action.MARK_UNPAID, Status.UNPAID, (Event.INVOICE_UNCOLLECTIBLE, Event.SUBSCRIPTION_UNPAID)
    ),
    _Row(
        (Status.PAST_DUE,),
        Action.DUNNING_CANCEL,
        Status.CANCELED,
        (Event.INVOICE_UNCOLLECTIBLE, Event.SUBSCRIPTION_CANCELLED),
    ),
    _Row((Status.PAST_DUE,), Action.DUNNING_KEEP, None, (Event.INVOICE_UNCOLLECTIBLE,)),
    # Only from active: a trial has cyclesCompleted 0 and maxCycles is ≥ 1, so a trial can never be at its limit.
    _Row((Status.ACTIVE,), Action.REACH_LIMIT, Status.EXPIRED, (Event.SUBSCRIPTION_EXPIRED,)),
    _Row(
        (Status.ACTIVE, Status.TRIALING),
        Action.CANCEL_AT_PERIOD_END_REACHED,
        Status.CANCELED,
        (Event.SUBSCRIPTION_CANCELLED,),
    ),
    _Row((Status.ACTIVE,), Action.PAUSE, Status.PAUSED, (Event.SUBSCRIPTION_PAUSED,)),
    _Row((Status.PAUSED,), Action.RESUME, Status.ACTIVE, (Event.SUBSCRIPTION_RESUMED,)),
    _Row(
        (Status.INCOMPLETE, Status.TRIALING, Status.ACTIVE, Status.PAST_DUE, Status.PAUSED, Status.UNPAID),
        Action.CANCEL,
        Status.CANCELED,
        (Event.SUBSCRIPTION_CANCELLED,),
    ),
    # "Set or clear": one action for both directions, so clearing is refused exactly where setting is.
    _Row((Status.ACTIVE, Status.TRIALING), Action.CANCEL_AT_PERIOD_END, None, (Event.SUBSCRIPTION_UPDATED,)),
    _Row((Status.ACTIVE, Status.TRIALING), Action.SCHEDULE_PLAN_CHANGE, None, (Event.SUBSCRIPTION_UPDATED,)),
    _Row(tuple(s for s in _NON_TERMINAL if s is not Status.UNPAID), Action.UPDATE, None, (Event.SUBSCRIPTION_UPDATED,)),
    _Row(tuple(Status), Action.UPDATE_METADATA, None, (Event.SUBSCRIPTION_UPDATED,)),
    # "plus invoice/payment events of any charge": they follow subscription_plan_changed, in the spec's order.
    # A failed immediate charge means the change is not applied (03 §8), so only success events can follow.
    _Row(
        (Status.ACTIVE, Status.TRIALING),
        Action.CHANGE_PLAN,
        None,
        (Event.SUBSCRIPTION_PLAN_CHANGED,),
        tuple(
            ConditionalEvent(event, "the immediate change invoices a charge (prorate_now charge case, full_now)")
            for event in (Event.INVOICE_CREATED, Event.INVOICE_PAID, Event.SUBSCRIPTION_PAYMENT_SUCCESS)
        ),
    ),
)


def _expand(rows: tuple[_Row, ...]) -> dict[tuple[Status | None, Action], Transition]:
    table: dict[tuple[Status | None, Action], Transition] = {}
    for row in rows:
        for source in row.froms:
            key = (source, row.action)
            if key in table:
                raise AssertionError(f"duplicate lifecycle row {key}")  # a table typo must not pass silently
            to = row.to if row.to is not None else source
            if to is None:
                raise AssertionError(f"creation row {key} must name its target status")
            table[key] = Transition(to, row.events, row.optional_events)
    return table


# Read-only so no caller can patch the machine at runtime.
TRANSITIONS: Final[Mapping[tuple[Status | None, Action], Transition]] = MappingProxyType(_expand(_TABLE))


def _parse(status: str | None, action: str) -> tuple[Status | None, Action]:
    # Unknown names are programming errors, not business conditions: fail loudly instead of answering 409.
    return (Status(status) if status is not None else None), Action(action)


def can(status: str | None, action: str) -> bool:
    """Whether ``action`` is allowed from ``status`` (``None``: the subscription does not exist yet)."""
    return _parse(status, action) in TRANSITIONS


def transition(status: str | None, action: str) -> Transition:
    """The target status and events of ``action`` from ``status``; raises the 409 when the pair is illegal."""
    key = _parse(status, action)
    found = TRANSITIONS.get(key)
    if found is None:
        raise illegal_transition(status, action)
    return found


class IllegalTransition(DuroError):
    """409 ``illegal_transition``: the state machine forbids the action (01 §5)."""


_ACTION_PHRASES: Final[dict[Action, str]] = {
    Action.CREATE_WITH_TRIAL: "create",
    Action.CREATE_PAID: "create",
    Action.CREATE_FAILED: "create",
    Action.PAY_INCOMPLETE: "activate by payment",
    Action.EXPIRE_INCOMPLETE: "expire",
    Action.RENEW_SUCCESS: "renew",
    Action.RENEWAL_FAILED: "fail the renewal of",
    Action.RECOVER: "recover",
    Action.MARK_UNPAID: "mark as unpaid",
    Action.DUNNING_CANCEL: "cancel by dunning",
    Action.DUNNING_KEEP: "end dunning on",
    Action.REACH_LIMIT: "expire at maxCycles",
    Action.CANCEL_AT_PERIOD_END_REACHED: "cancel at period end",
    Action.PAUSE: "pause",
    Action.RESUME: "resume",
    Action.CANCEL: "cancel",
    Action.CANCEL_AT_PERIOD_END: "set or clear cancelAtPeriodEnd on",
    Action.SCHEDULE_PLAN_CHANGE: "schedule a plan change on",
    Action.UPDATE: "update",
    Action.UPDATE_METADATA: "update the metadata of",
    Action.CHANGE_PLAN: "change the plan of",
}


def illegal_transition(status: str | None, action: str) -> DuroError:
    """The 409 for a forbidden pair; ``details`` follows 01 §5 exactly: ``"<from> cannot <action>"``."""
    source, act = _parse(status, action)
    # A missing subscription never reaches a client (creation is the only action without one); "new" keeps the
    # issue well-formed for logs and tests.
    if source is None:
        name, subject = "new", "a new subscription before it is created"
    elif act in CREATION_ACTIONS:
        name, subject = source.value, f"a subscription that already exists (status {source.value})"
    else:
        name, subject = source.value, f"a subscription whose status is {source.value}"
    return IllegalTransition(
        409,
        f"Cannot {_ACTION_PHRASES[act]} {subject}",
        "illegal_transition",
        [Detail("status", f"{name} cannot {act.value}")],
    )
