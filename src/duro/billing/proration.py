"""Plan-change proration (03 §8), renewal amounts (03 §10 step 6) and promo discounts (03 §9).

All money is integer minor units and the only rounding is ``round_half_up`` (01 §4), applied once per
figure. Functions here only compute; the service decides what to persist and which invoice to create.

Invariant kept by every result: ``balance`` (credit owed to the customer) and ``pendingCharge`` (debit
added to the next renewal) are never both > 0, so a new credit first cancels a pending debit and a new debit
first consumes the credit balance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal, NamedTuple

from duro.billing.cycles import as_utc
from duro.kit.money import round_half_up

ProrationBehavior = Literal["prorate_now", "prorate_next_invoice", "full_now", "none"]
Effective = Literal["now", "period_end"]
ProrationKind = Literal["charge", "credit", "none"]
InvoiceKind = Literal["proration", "plan_reset"]
DiscountType = Literal["percentage", "fixed"]

PRORATION_BEHAVIORS: Final[tuple[ProrationBehavior, ...]] = ("prorate_now", "prorate_next_invoice", "full_now", "none")
_ONE_SECOND: Final = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class ProrationQuote:
    """The outcome of a plan change, computed without side effects (used by both change-plan and preview).

    - ``net``: the signed prorated difference this change applies, ``round_half_up((new − old)·R, P)`` for
      ``prorate_now``/``prorate_next_invoice`` when effective now on a non-trialing subscription; 0 in every
      other case (``full_now`` charges the full price instead, ``none``/trialing/``period_end`` prorate nothing).
    - ``amount``/``kind``/``behavior``: the ``proration`` object of 03 §8, per its case table.
    - ``period_seconds``/``remaining_seconds``: ``P`` and ``R`` (whole seconds, R clamped to [0, P]) of the
      current period, reported in every case because the preview always shows them.
    - ``invoice_kind``/``invoice_subtotal``/``credit_applied``: the invoice to create now (``None``/0/0 when
      nothing is invoiced now); ``amount_due_now`` = subtotal − credit applied is what is charged now.
    - ``balance_after``/``pending_charge_after``: the subscription's values once the change is applied.
    - ``resets_period``: ``full_now`` starts a new period at the change time (anchor = now, cycles + 1).
    - ``swaps_plan_now``: false only for ``effective: period_end``, which merely schedules the new plan.
    """

    behavior: ProrationBehavior
    kind: ProrationKind
    amount: int
    net: int
    period_seconds: int
    remaining_seconds: int
    invoice_kind: InvoiceKind | None
    invoice_subtotal: int
    credit_applied: int
    amount_due_now: int
    balance_after: int
    pending_charge_after: int
    resets_period: bool
    swaps_plan_now: bool

    def proration_object(self) -> dict[str, int | str]:
        """The ``proration`` object of the change-plan response and ``subscription_plan_changed`` event."""
        return {"amount": self.amount, "kind": self.kind, "behavior": self.behavior}

    def preview_proration_object(self) -> dict[str, int | str]:
        """The preview's ``proration`` object: the same three fields plus ``periodSeconds`` and
        ``remainingSeconds``."""
        return {
            **self.proration_object(),
            "periodSeconds": self.period_seconds,
            "remainingSeconds": self.remaining_seconds,
        }


def _require_amount(value: int, name: str) -> None:
    # bool is an int subclass; a True price is a bug upstream, not 1 minor unit.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer amount")


def _check_ledger(balance: int, pending_charge: int) -> None:
    _require_amount(balance, "balance")
    _require_amount(pending_charge, "pending_charge")
    if balance > 0 and pending_charge > 0:
        raise ValueError("balance and pending_charge cannot both be positive")


def prorated_net(old_amount: int, new_amount: int, remaining_seconds: int, period_seconds: int) -> int:
    """``round_half_up((new − old) × R, P)``: the signed proration for ``R`` of ``P`` seconds (03 §8).

    A single rounding of the exact product, so the result never exceeds ``|new − old|`` in magnitude and
    halves round away from zero symmetrically for upgrades and downgrades.
    """
    if period_seconds < 1:
        raise ValueError("period must be at least one second long")
    if not 0 <= remaining_seconds <= period_seconds:
        raise ValueError("remaining seconds must lie within the period")
    return round_half_up((new_amount - old_amount) * remaining_seconds, period_seconds)


def period_and_remaining_seconds(period_start: datetime, period_end: datetime, now: datetime) -> tuple[int, int]:
    """``(P, R)`` in whole seconds: ``P = end − start``, ``R = end − now`` clamped to ``[0, P]``.

    Whole seconds are taken by flooring, so millisecond timestamps never produce a fractional ratio; a change
    after the period end (a late worker) prorates nothing, one before the start prorates the whole period.
    """
    start = as_utc(period_start, "period_start")
    end = as_utc(period_end, "period_end")
    at = as_utc(now, "now")
    period = (end - start) // _ONE_SECOND
    if period < 1:
        raise ValueError("period_end must be at least one second after period_start")
    remaining = min(max((end - at) // _ONE_SECOND, 0), period)
    return period, remaining


def quote_change(
    *,
    period_start: datetime,
    period_end: datetime,
    now: datetime,
    old_amount: int,
    new_amount: int,
    behavior: ProrationBehavior,
    effective: Effective = "now",
    trialing: bool = False,
    balance: int = 0,
    pending_charge: int = 0,
) -> ProrationQuote:
    """Quote a plan change from ``old_amount`` to ``new_amount`` (list prices; promos never enter, 03 §8).

    Cases, in order of precedence:

    - ``effective == "period_end"``: only schedules the plan; nothing is charged or credited, proration
      ``{0, none, behavior}``.
    - ``trialing``: the plan is swapped now without proration (03 §6), proration ``{0, none, behavior}``.
    - ``prorate_now``: net > 0 → a ``proration`` invoice for net, the credit balance consumed first;
      net < 0 → credit of |net|.
    - ``prorate_next_invoice``: net > 0 → the credit balance absorbs what it can, the rest is added to
      ``pendingCharge``; net < 0 → credit of |net|.
    - ``full_now``: a ``plan_reset`` invoice for the full new price, the credit balance consumed first; no
      credit for unused time; the period restarts now. ``amount`` is what is charged now and ``kind`` is
      always ``"charge"`` (03 §8 case table). An existing ``pendingCharge`` is left for the next renewal.
    - ``none``: nothing changes now; the next renewal bills the new plan.

    A credit first cancels any ``pendingCharge`` and only the rest is added to ``balance``, so the two are
    never both > 0. Raises ``ValueError`` for negative or non-integer amounts, an input where balance and
    pending charge are both positive, an unknown behaviour/effective, or a period shorter than one second.
    """
    if behavior not in PRORATION_BEHAVIORS:
        raise ValueError(f"unknown proration behavior {behavior!r}")
    if effective not in ("now", "period_end"):
        raise ValueError(f"unknown effective {effective!r}")
    _require_amount(old_amount, "old_amount")
    _require_amount(new_amount, "new_amount")
    _check_ledger(balance, pending_charge)
    period, remaining = period_and_remaining_seconds(period_start, period_end, now)

    def quote(
        *,
        kind: ProrationKind = "none",
        amount: int = 0,
        net: int = 0,
        invoice_kind: InvoiceKind | None = None,
        invoice_subtotal: int = 0,
        credit_applied: int = 0,
        balance_after: int = balance,
        pending_charge_after: int = pending_charge,
        resets_period: bool = False,
        swaps_plan_now: bool = True,
    ) -> ProrationQuote:
        return ProrationQuote(
            behavior=behavior,
            kind=kind,
            amount=amount,
            net=net,
            period_seconds=period,
            remaining_seconds=remaining,
            invoice_kind=invoice_kind,
            invoice_subtotal=invoice_subtotal,
            credit_applied=credit_applied,
            amount_due_now=invoice_subtotal - credit_applied,
            balance_after=balance_after,
            pending_charge_after=pending_charge_after,
            resets_period=resets_period,
            swaps_plan_now=swaps_plan_now,
        )

    if effective == "period_end":
        return quote(swaps_plan_now=False)
    if trialing or behavior == "none":
        return quote()
    if behavior == "full_now":
        used = min(balance, new_amount)
        return quote(
            kind="charge",
            amount=new_amount - used,
            invoice_kind="plan_reset",
            invoice_subtotal=new_amount,
            credit_applied=used,
            balance_after=balance - used,
            resets_period=True,
        )

    net = prorated_net(old_amount, new_amount, remaining, period)
    if net < 0:
        credit = -net
        # Cancel an outstanding proration debit before holding credit, keeping the ledger one-sided.
        cancelled = min(pending_charge, credit)
        return quote(
            kind="credit",
            amount=credit,
            net=net,
            balance_after=balance + credit - cancelled,
            pending_charge_after=pending_charge - cancelled,
        )
    if net == 0:
        return quote()
    used = min(balance, net)
    if behavior == "prorate_now":
        return quote(
            kind="charge",
            amount=net,
            net=net,
            invoice_kind="proration",
            invoice_subtotal=net,
            credit_applied=used,
            balance_after=balance - used,
        )
    return quote(
        kind="charge",
        amount=net,
        net=net,
        balance_after=balance - used,
        pending_charge_after=pending_charge + net - used,
    )


class RenewalAmount(NamedTuple):
    """A renewal invoice's figures (03 §10 step 6): ``amount = subtotal − discount − credit_applied``."""

    subtotal: int
    credit_applied: int
    amount: int
    new_balance: int


def renewal_amount(plan_amount: int, pending_charge: int, discount: int, balance: int) -> RenewalAmount:
    """Figures for a renewal invoice (03 §10 step 6).

    ``subtotal`` = plan line + proration line (``pending_charge``); the discount (from ``discount_for``,
    plan line only, so ``0 ≤ discount ≤ plan_amount``) comes off next; ``credit_applied = min(balance,
    subtotal − discount)``; ``amount`` is what remains to collect (≥ 0) and ``new_balance`` the credit left
    over. The caller resets ``pendingCharge`` to 0 once the invoice exists.
    """
    _require_amount(plan_amount, "plan_amount")
    _require_amount(discount, "discount")
    _check_ledger(balance, pending_charge)
    if discount > plan_amount:
        raise ValueError("a discount applies to the plan line only and cannot exceed it")
    subtotal = plan_amount + pending_charge
    credit_applied = min(balance, subtotal - discount)
    return RenewalAmount(
        subtotal=subtotal,
        credit_applied=credit_applied,
        amount=subtotal - discount - credit_applied,
        new_balance=balance - credit_applied,
    )


def discount_for(plan_amount: int, discount_type: DiscountType, value: int) -> int:
    """The discount on a plan line of ``plan_amount`` (03 §9).

    ``percentage`` → ``round_half_up(plan_amount × value, 100)`` with ``value`` in 0–100 (percent);
    ``fixed`` → ``min(value, plan_amount)`` (minor units), so a discount never makes the line negative.
    """
    _require_amount(plan_amount, "plan_amount")
    _require_amount(value, "value")
    if discount_type == "percentage":
        if value > 100:
            raise ValueError("a percentage discount is at most 100")
        return round_half_up(plan_amount * value, 100)
    if discount_type == "fixed":
        return min(value, plan_amount)
    raise ValueError(f"unknown discount type {discount_type!r}")
