"""Dunning strategy (04 §2, §6): what to do after a failed renewal or retry. Pure: no I/O, no clock.

``decide()`` applies the rules of 04 §2 in their documented order, and the order matters: exhaustion wins over
everything (a schedule past ``maxAttempts`` must stop even if a new card would help), then "needs a new method",
then hard declines, then the payday delay, then plain back-off. Every decision carries a sentence for the recovery
ledger, the webhook and the dunning email, so the reason is built here, next to the rule that fired.

Escalation (``escalationAt`` reached, 04 §5) is deliberately not a rule of ``decide()``: the dunning loop ends a
schedule by time whatever the last decision said, so ``decide()`` only uses ``escalationAt`` to bound a payday delay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Literal, get_args

from duro.billing.cycles import as_utc
from duro.billing.failures import FailureClass, classify
from duro.billing.payday import in_payday_window, next_payday
from duro.gateway.protocol import RAILS

Action = Literal["retry", "retry_payday", "switch_rail", "request_card_update", "exhaust"]
Escalation = Literal["cancel", "mark_unpaid", "keep"]

ESCALATIONS: Final[tuple[str, ...]] = get_args(Escalation)
FAILURE_CLASSES: Final[tuple[str, ...]] = get_args(FailureClass)
# The gateway's rail tuple is already in chain order (card → ussd → transfer → virtual_account → direct_debit), so
# the chain is that tuple: one source of truth for which rails exist and in which order dunning walks them.
RAIL_CHAIN: Final[tuple[str, ...]] = RAILS
_CHAIN_INDEX: Final[dict[str, int]] = {rail: i for i, rail in enumerate(RAIL_CHAIN)}

MAX_ATTEMPTS_RANGE: Final = (1, 10)
OFFSET_HOURS_RANGE: Final = (0, 720)
ESCALATION_DAYS_RANGE: Final = (1, 90)
REMINDER_DAYS_RANGE: Final = (1, 30)

FIELD_INVALID: Final = "validation_error"
SETTINGS_INCONSISTENT: Final = "settings_inconsistent"


# --------------------------------------------------------------------------------------------------- settings


@dataclass(frozen=True, slots=True)
class SettingsProblem:
    """One reason a settings object is refused. ``path`` is the API path (``retryOffsetsHours.2``); ``code`` tells
    the caller which 422 to answer: ``validation_error`` for a field on its own, ``settings_inconsistent`` for a
    rule between fields (04 §6)."""

    path: str
    issue: str
    code: Literal["validation_error", "settings_inconsistent"] = FIELD_INVALID


@dataclass(frozen=True, slots=True)
class RecoverySettings:
    """Recovery settings of a tenant and mode (04 §6), with the spec defaults.

    Construction does not validate: a PATCH merges the request into the stored settings first and the cross-field
    rules are judged on the result, so the caller builds the candidate and asks ``validate()``.
    """

    dunning_enabled: bool = True
    max_attempts: int = 5
    retry_offsets_hours: tuple[int, ...] = (0, 24, 72, 120, 168)
    payday_aware: bool = True
    dunning_escalation_days: int = 14
    dunning_escalation: Escalation = "mark_unpaid"
    renewal_reminders: bool = True
    renewal_reminder_days: int = 3

    def validate(self) -> list[SettingsProblem]:
        """Every problem, per-field ones first. Empty means the settings may be stored and used by ``decide()``.

        Cross-field rules are only judged when both fields they relate are valid on their own: "fewer offsets than
        maxAttempts" means nothing when maxAttempts is not a number, and reporting it would hide the real error.
        """
        problems: list[SettingsProblem] = []
        for path, value in (
            ("dunningEnabled", self.dunning_enabled),
            ("paydayAware", self.payday_aware),
            ("renewalReminders", self.renewal_reminders),
        ):
            if not isinstance(value, bool):
                problems.append(SettingsProblem(path, "must be a boolean"))
        max_ok = _check_int(problems, "maxAttempts", self.max_attempts, MAX_ATTEMPTS_RANGE)
        _check_int(problems, "dunningEscalationDays", self.dunning_escalation_days, ESCALATION_DAYS_RANGE)
        _check_int(problems, "renewalReminderDays", self.renewal_reminder_days, REMINDER_DAYS_RANGE)
        if self.dunning_escalation not in ESCALATIONS:
            problems.append(SettingsProblem("dunningEscalation", f"must be one of {', '.join(ESCALATIONS)}"))
        offsets_ok = self._check_offsets(problems)
        if max_ok and offsets_ok:
            problems.extend(self._inconsistencies())
        return problems

    def _check_offsets(self, problems: list[SettingsProblem]) -> bool:
        offsets: object = self.retry_offsets_hours
        # A JSON array arrives as a list; both are fine, anything else (a string is a sequence too) is not.
        if not isinstance(offsets, (list, tuple)):
            problems.append(SettingsProblem("retryOffsetsHours", "must be a list of integers"))
            return False
        if not offsets:
            problems.append(SettingsProblem("retryOffsetsHours", "must not be empty"))
            return False
        ok = True
        for i, hours in enumerate(offsets):
            ok = _check_int(problems, f"retryOffsetsHours.{i}", hours, OFFSET_HOURS_RANGE) and ok
        return ok

    def _inconsistencies(self) -> list[SettingsProblem]:
        problems: list[SettingsProblem] = []
        offsets = self.retry_offsets_hours
        for i in range(1, len(offsets)):
            if offsets[i] <= offsets[i - 1]:
                problems.append(
                    SettingsProblem(
                        f"retryOffsetsHours.{i}",
                        f"must be greater than the previous offset ({offsets[i - 1]})",
                        SETTINGS_INCONSISTENT,
                    )
                )
        if len(offsets) < self.max_attempts:
            problems.append(
                SettingsProblem(
                    "retryOffsetsHours",
                    f"needs at least maxAttempts ({self.max_attempts}) offsets, got {len(offsets)}",
                    SETTINGS_INCONSISTENT,
                )
            )
        return problems


def _check_int(problems: list[SettingsProblem], path: str, value: object, bounds: tuple[int, int]) -> bool:
    low, high = bounds
    # bool is an int subclass in Python, but `true` is not a valid count in the API.
    if not isinstance(value, int) or isinstance(value, bool):
        problems.append(SettingsProblem(path, "must be an integer"))
        return False
    if not low <= value <= high:
        problems.append(SettingsProblem(path, f"must be between {low} and {high}"))
        return False
    return True


# ----------------------------------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class ChargeableMethod:
    """A method the customer may be charged with right now (usable and owned, 03 §1.3).

    ``created_order`` ranks methods by creation, higher = newer; the caller derives it from (createdAt, id) so
    that two methods created in the same instant still have a stable order.
    """

    id: str
    rail: str
    created_order: int

    def __post_init__(self) -> None:
        if self.rail not in _CHAIN_INDEX:
            raise ValueError(f"unknown rail {self.rail!r}")


@dataclass(frozen=True, slots=True)
class FailedAttempt:
    """The failure being decided and the schedule state around it (04 §2 inputs).

    ``attempts_made`` counts automatic retries already made; the failed renewal that opened the schedule is not
    one, so the opening decision has 0. ``hard_declines_on_method`` counts hard declines of the current method in
    this schedule, this one included. ``failed_method_ids`` are methods that already had a hard decline or a
    needs-new-method failure in this schedule: the rail chain skips them.
    """

    category: str
    klass: FailureClass
    attempts_made: int
    last_attempt_at: datetime
    escalation_at: datetime
    payment_method_id: str | None
    rail: str | None
    hard_declines_on_method: int = 0
    failed_method_ids: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        # Refusing bad inputs here keeps the rules below free of defensive branches the spec does not have.
        if self.klass not in FAILURE_CLASSES:
            raise ValueError(f"unknown failure class {self.klass!r}")
        if self.attempts_made < 0:
            raise ValueError("attempts_made must be ≥ 0")
        if self.hard_declines_on_method < 0:
            raise ValueError("hard_declines_on_method must be ≥ 0")
        if self.klass == "hard_decline" and self.hard_declines_on_method < 1:
            raise ValueError("a hard decline counts itself: hard_declines_on_method must be ≥ 1")
        if self.rail is not None and self.rail not in _CHAIN_INDEX:
            raise ValueError(f"unknown rail {self.rail!r}")
        object.__setattr__(self, "last_attempt_at", as_utc(self.last_attempt_at, "last_attempt_at"))
        object.__setattr__(self, "escalation_at", as_utc(self.escalation_at, "escalation_at"))

    @classmethod
    def from_code(
        cls,
        raw_code: str | None,
        *,
        attempts_made: int,
        last_attempt_at: datetime,
        escalation_at: datetime,
        payment_method_id: str | None,
        rail: str | None,
        hard_declines_on_method: int = 0,
        failed_method_ids: frozenset[str] = frozenset(),
    ) -> FailedAttempt:
        """Build from a gateway code or ISO 8583 alias through ``classify`` (04 §1)."""
        c = classify(raw_code)
        return cls(
            c.category,
            c.klass,
            attempts_made,
            last_attempt_at,
            escalation_at,
            payment_method_id,
            rail,
            hard_declines_on_method,
            failed_method_ids,
        )


# ---------------------------------------------------------------------------------------------------- output


@dataclass(frozen=True, slots=True)
class Decision:
    """What the schedule does next. ``next_attempt_at`` is set exactly for the actions that schedule a charge
    (retry, retry_payday, switch_rail). For request_card_update and exhaust the method and rail are the ones that
    just failed, so the ledger entry still says which instrument the decision was about."""

    action: Action
    next_attempt_at: datetime | None
    payment_method_id: str | None
    rail: str | None
    reason: str

    @property
    def schedules_attempt(self) -> bool:
        return self.next_attempt_at is not None


# -------------------------------------------------------------------------------------------------- decide()


def gap(settings: RecoverySettings, k: int) -> timedelta:
    """Spacing before retry ``k + 1``: offsets are cumulative targets applied as gaps from the previous attempt,
    so retries after a payday delay keep their spacing instead of firing back to back (04 §2)."""
    offsets = settings.retry_offsets_hours
    hours = offsets[0] if k == 0 else offsets[k] - offsets[k - 1]
    return timedelta(hours=hours)


def backoff(settings: RecoverySettings, k: int, now: datetime, last_attempt_at: datetime) -> datetime:
    """``max(now, lastAttemptAt + gap(k))``: never in the past, even when the decision runs late."""
    return max(as_utc(now, "now"), as_utc(last_attempt_at, "last_attempt_at") + gap(settings, k))


def next_method(failure: FailedAttempt, methods: Sequence[ChargeableMethod]) -> ChargeableMethod | None:
    """The method the rail chain moves to (04 §2): a rail strictly after the current one, skipping methods that
    already failed hard or needed replacing in this schedule; the earliest rail wins, then the newest method.

    Without a current rail (the schedule never had a method) every rail is "after" it. Ties on ``created_order``
    fall to the smaller id so that the same inputs always give the same choice.
    """
    after = -1 if failure.rail is None else _CHAIN_INDEX[failure.rail]
    candidates = [
        m
        for m in methods
        if _CHAIN_INDEX[m.rail] > after and m.id != failure.payment_method_id and m.id not in failure.failed_method_ids
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda m: (_CHAIN_INDEX[m.rail], -m.created_order, m.id))


def decide(
    failure: FailedAttempt,
    settings: RecoverySettings,
    methods: Sequence[ChargeableMethod],
    now: datetime,
) -> Decision:
    """The next step of a dunning schedule after ``failure`` (04 §2), rules in the spec's order.

    ``settings`` must be valid (``validate()`` empty): the stored settings always are, and a schedule read with
    fewer offsets than ``maxAttempts`` would have no gap to use. ``methods`` are the customer's chargeable methods;
    a ``stolen_card`` method has already been disabled by the caller and so is not among them.
    """
    problems = settings.validate()
    if problems:
        raise ValueError(f"invalid recovery settings: {problems[0].path} {problems[0].issue}")
    now = as_utc(now, "now")
    n = failure.attempts_made
    current = (failure.payment_method_id, failure.rail)

    # 1. Exhaustion first: with no retries left, nothing else the failure says can lead to another charge.
    if n >= settings.max_attempts:
        return Decision("exhaust", None, *current, f"Gave up after {n} {'retry' if n == 1 else 'retries'}")

    # 2. Retrying an expired or unsupported card cannot succeed; only the customer can fix it.
    if failure.klass == "needs_new_method":
        return Decision("request_card_update", None, *current, f"{failure.category}: waiting for a new payment method")

    at = backoff(settings, n, now, failure.last_attempt_at)
    when = _fmt(at)

    # 3. Hard declines: do_not_honor is often transient, so it earns one retry on the same method; anything else
    #    (stolen_card) or a second do_not_honor moves along the rail chain.
    if failure.klass == "hard_decline":
        if failure.category == "do_not_honor" and failure.hard_declines_on_method == 1:
            return Decision("retry", at, *current, f"do_not_honor: retrying once on the same payment method at {when}")
        m = next_method(failure, methods)
        if m is None:
            return Decision(
                "request_card_update",
                None,
                *current,
                f"{failure.category}: no other payment method to switch to, waiting for a new payment method",
            )
        return Decision(
            "switch_rail",
            at,
            m.id,
            m.rail,
            f"{failure.category} on {failure.rail or 'no method'}: switching to {_rail_name(m.rail)} at {when}",
        )

    # 4. Insufficient funds outside the payday window: wait for salaries, unless payday falls after the
    #    escalation deadline (which would end dunning before the retry ran); `keep` has no deadline that ends it.
    if failure.category == "insufficient_funds" and settings.payday_aware and not in_payday_window(now):
        p = next_payday(now)
        if settings.dunning_escalation == "keep" or p <= failure.escalation_at:
            return Decision("retry_payday", p, *current, f"insufficient_funds: retrying on payday, {_fmt(p)}")
        return Decision(
            "retry",
            at,
            *current,
            f"insufficient_funds: payday ({_fmt(p)}) is after the escalation deadline, "
            f"retry {n + 1} of {settings.max_attempts} at {when}",
        )

    # 5. Everything else (soft in the window, transient, unknown) backs off along the configured offsets.
    return Decision("retry", at, *current, f"{failure.category}: retry {n + 1} of {settings.max_attempts} at {when}")


def _fmt(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M UTC")


def _rail_name(rail: str) -> str:
    return rail.replace("_", " ")
