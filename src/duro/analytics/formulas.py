"""The 04 §7 formulas as SQL expressions, shared by the endpoints and the daily snapshot.

Everything is computed by PostgreSQL in NUMERIC: `monthly(s)` divides at 30 decimal places and is summed before the
one rounding of each money figure; rates are rounded half-up at 4 decimals by exact integer division. PostgreSQL's
`round(numeric)` rounds halves away from zero, which is exactly `round_half_up` of 01 §4 (for the non-negative sums
here it is also plain half-up).

Constants that partial indexes match on (`state = 'recovered'`, `status = 'failed'`) are rendered inline, never as
bind parameters: a generic prepared plan with `state = $n` could not use those indexes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Interval,
    Numeric,
    Select,
    and_,
    case,
    cast,
    func,
    literal_column,
    null,
    or_,
    select,
)
from sqlalchemy.sql.elements import KeyedColumnElement

from duro.models.billing import subscriptions as s
from duro.models.plans import plans as p
from duro.models.promo_codes import promo_codes as pc

OPEN_STATES: Final = ("scheduled", "in_flight", "awaiting_customer")
MRR_STATUSES: Final = ("active", "past_due")
COUNTED_STATUSES: Final = ("active", "trialing", "past_due", "paused", "unpaid")
VOLUNTARY: Final = ("canceled_by_merchant", "canceled_by_customer")
INVOLUNTARY: Final = ("dunning_canceled", "dunning_unpaid")
PERIODS_PER_YEAR: Final = {"hour": 8760, "day": 365, "week": 52, "month": 12, "quarter": 4, "biannual": 2, "year": 1}

THIRTY_DAYS: Final = literal_column("interval '30 days'", Interval())
EMPTY_OBJECT: Final[ColumnElement[Any]] = literal_column("'{}'::jsonb")
# A monthly amount is at most ~1e12 × 8760 / 12 (16 integer digits); 30 decimals keep the sum of a million of
# them far from any rounding boundary it does not really sit on.
EXACT: Final = Numeric(50, 30)
RATE: Final = Numeric(12, 4)


def lit(value: str | int) -> ColumnElement[Any]:
    """An inline SQL constant (code-defined values only, never user input)."""
    if isinstance(value, int):
        return literal_column(str(value))
    if "'" in value:
        raise ValueError("constants never contain quotes")
    return literal_column(f"'{value}'")


def one_of(column: ColumnElement[Any], values: Iterable[str]) -> ColumnElement[bool]:
    """`column IN ('a', 'b')` with inline constants (an expanding bind would re-render the statement per call)."""
    return column.in_([lit(v) for v in values])


def monthly_amount() -> ColumnElement[Any]:
    """monthly(s) = effectiveAmount × periodsPerYear(interval) ÷ (12 × intervalCount), NUMERIC, unrounded.

    effectiveAmount = plan amount − the recurring promo discount the next renewal would apply (`forever`, or
    `repeating` with cycles remaining; `once` is ignored), with the renewal's rules (03 §9, `_applicable_promo`):
    a code scoped to another plan no longer applies after a plan change, a fixed code only in its currency;
    percentage → round_half_up(amount × value, 100), fixed → min(value, amount). Needs `s`, `p` and an outer
    join of `pc` in the FROM clause.
    """
    recurring = and_(
        pc.c.id.is_not(None),
        or_(
            pc.c.duration == lit("forever"),
            and_(pc.c.duration == lit("repeating"), s.c.discount_cycles_remaining > lit(0)),
        ),
        or_(pc.c.plan_id.is_(None), pc.c.plan_id == p.c.id),
    )
    discount = case(
        (
            and_(recurring, pc.c.discount_type == lit("percentage")),
            # round_half_up(n, 100) for n >= 0: (2n + 100) div 200
            func.div(p.c.amount * pc.c.discount_value * lit(2) + lit(100), lit(200)),
        ),
        (
            and_(recurring, pc.c.discount_type == lit("fixed"), pc.c.currency == p.c.currency),
            func.least(pc.c.discount_value, p.c.amount),
        ),
        else_=lit(0),
    )
    per_year = case(*((p.c.interval == lit(k), lit(v)) for k, v in PERIODS_PER_YEAR.items()), else_=null())
    return cast((p.c.amount - discount) * per_year, EXACT) / (p.c.interval_count * lit(12))


def subscription_figures(*where: ColumnElement[bool]) -> Select[Any]:
    """One row per subscription: what the overview and the snapshot aggregate (status, dates, monthly(s))."""
    return (
        select(
            s.c.tenant_id,
            s.c.status,
            s.c.activated_at,
            s.c.ended_at,
            s.c.ended_reason,
            p.c.currency,
            monthly_amount().label("monthly"),
        )
        .select_from(
            s.join(p, and_(p.c.tenant_id == s.c.tenant_id, p.c.id == s.c.plan_id)).outerjoin(
                pc, and_(pc.c.tenant_id == s.c.tenant_id, pc.c.id == s.c.promo_code_id)
            )
        )
        .where(*where)
    )


def status_count(status_column: KeyedColumnElement[Any], status: str) -> ColumnElement[Any]:
    return func.count().filter(status_column == lit(status))


def rate(numerator: ColumnElement[Any], denominator: ColumnElement[Any]) -> ColumnElement[Any]:
    """numerator ÷ denominator rounded half-up to 4 decimals, once, from the exact values; NULL when ÷ 0.

    floor(n / d × 10⁴ + ½) = (2·10⁴·n + d) div 2d, exact in NUMERIC for any n, d ≥ 0.
    """
    n = cast(numerator, Numeric())
    d = cast(denominator, Numeric())
    return case(
        (d == lit(0), null()),
        else_=cast(func.div(n * lit(20000) + d, d * lit(2)) / lit(10000), RATE),
    )


def money_map(currency: ColumnElement[Any], amount: ColumnElement[Any]) -> ColumnElement[Any]:
    """`{currency: amount}` over the rows of an aggregate, non-zero amounts only, `{}` when none."""
    return func.coalesce(
        func.jsonb_object_agg(currency, cast(amount, BigInteger)).filter(amount != lit(0)),
        EMPTY_OBJECT,
    )
