"""Failure classification (04 §1): gateway code or ISO 8583 alias → category and class. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FailureClass = Literal["soft", "needs_new_method", "hard_decline", "transient"]


@dataclass(frozen=True, slots=True)
class Classification:
    category: str
    klass: FailureClass


_TABLE: dict[str, Classification] = {}
for names, category, klass in (
    (("insufficient_funds", "51"), "insufficient_funds", "soft"),
    (("expired_card", "54"), "expired_card", "needs_new_method"),
    (("card_not_supported", "57"), "card_not_supported", "needs_new_method"),
    (("no_payment_method",), "no_payment_method", "needs_new_method"),
    (("do_not_honor", "05"), "do_not_honor", "hard_decline"),
    (("stolen_card", "43"), "stolen_card", "hard_decline"),
    (("processor_error", "96"), "processor_error", "transient"),
    (("timeout", "68"), "timeout", "transient"),
    (("kyc_required",), "kyc_required", "transient"),
):
    for name in names:
        _TABLE[name] = Classification(category, klass)  # type: ignore[arg-type]

UNKNOWN = Classification("unknown", "transient")


def classify(raw_code: str | None) -> Classification:
    """Unknown codes are transient: retrying with back-off is the safe default for money we might still win."""
    if raw_code is None:
        return UNKNOWN
    return _TABLE.get(raw_code.strip().lower(), UNKNOWN)
