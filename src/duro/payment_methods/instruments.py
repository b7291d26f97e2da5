"""The stored form of a simulator instrument (03 §1.3, §2): one place that turns a test number into a payment
method row, whoever owns it (a customer, a phone identity, or a checkout session until it completes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from duro.gateway.protocol import CARD
from duro.gateway.simulator import TOKEN_PREFIX
from duro.gateway.simulator_rules import BANK_NAME, card_brand, fingerprint, last4
from duro.kit.ids import new_id


def simulator_method_values(
    rail: str, number: str, *, exp_month: int | None, exp_year: int | None, now: datetime
) -> dict[str, Any]:
    """Columns of a new method for `number` on `rail` (already normalised and known to the simulator); the caller
    adds the owner and the status. The gateway token is the only place the number is kept (simulator only)."""
    return {
        "id": new_id("pm"),
        "rail": rail,
        "brand": card_brand(number) if rail == CARD else None,
        "last4": last4(number),
        "exp_month": exp_month,
        "exp_year": exp_year,
        "bank_name": None if rail == CARD else BANK_NAME,
        "gateway_token": TOKEN_PREFIX + number,
        "fingerprint": fingerprint(rail, number),
        "created_at": now,
        "updated_at": now,
    }
