"""The charge gateway interface (03 §2) and the plain values that cross it.

The renewal engine, dunning, checkout and the portal depend on ``ChargeGateway`` only, so the deterministic
simulator used in this release and a real processor adapter later are interchangeable. ``reference`` (the
transaction or refund id) is the gateway's idempotency key: a second call with the same reference must return the
recorded outcome without a new decision, which is what makes crash recovery safe (03 §10).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

CARD: Final = "card"
# Bank rails share the account-number table and failure codes (03 §2).
BANK_RAILS: Final[tuple[str, ...]] = ("ussd", "transfer", "virtual_account", "direct_debit")
RAILS: Final[tuple[str, ...]] = (CARD, *BANK_RAILS)


@dataclass(frozen=True, slots=True)
class ChargeMethod:
    """What the gateway needs to charge a saved method; never the customer-facing object.

    ``gateway_token`` is the stored token of the method (for the simulator, the normalised test number).
    """

    rail: str
    gateway_token: str
    payment_method_id: str | None = None

    def __post_init__(self) -> None:
        if self.rail not in RAILS:
            raise ValueError(f"unknown rail {self.rail!r}")


@dataclass(frozen=True, slots=True)
class ChargeOutcome:
    """Result of one charge attempt. ``failure_code`` is the 03 §2 code (also the 402 ``reason``), ``decline_code``
    the ISO 8583 string; both are None exactly when the charge succeeded. ``message`` is shown to people."""

    succeeded: bool
    failure_code: str | None = None
    decline_code: str | None = None
    message: str | None = None

    def __post_init__(self) -> None:
        # An outcome that is both a success and a failure would be recorded one way and reported the other.
        if self.succeeded and (self.failure_code is not None or self.decline_code is not None):
            raise ValueError("a successful charge carries no failure or decline code")
        if not self.succeeded and not self.failure_code:
            raise ValueError("a failed charge needs a failure code")

    @classmethod
    def success(cls) -> ChargeOutcome:
        return cls(True)

    @classmethod
    def failure(cls, failure_code: str, decline_code: str | None, message: str) -> ChargeOutcome:
        return cls(False, failure_code, decline_code, message)

    def to_json(self) -> dict[str, Any]:
        """The form kept in the gateway's idempotency ledger, so a replay returns the identical outcome."""
        return {
            "succeeded": self.succeeded,
            "failureCode": self.failure_code,
            "declineCode": self.decline_code,
            "message": self.message,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChargeOutcome:
        return cls(bool(data["succeeded"]), data.get("failureCode"), data.get("declineCode"), data.get("message"))


@dataclass(frozen=True, slots=True)
class RefundOutcome:
    succeeded: bool
    failure_code: str | None = None
    message: str | None = None

    def __post_init__(self) -> None:
        if self.succeeded and self.failure_code is not None:
            raise ValueError("a successful refund carries no failure code")
        if not self.succeeded and not self.failure_code:
            raise ValueError("a failed refund needs a failure code")

    def to_json(self) -> dict[str, Any]:
        return {"succeeded": self.succeeded, "failureCode": self.failure_code, "message": self.message}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RefundOutcome:
        return cls(bool(data["succeeded"]), data.get("failureCode"), data.get("message"))


class ChargeGateway(Protocol):
    async def charge(
        self,
        method: ChargeMethod,
        amount: int,
        currency: str,
        reference: str,
        at: datetime,
        attempt_number: int,
    ) -> ChargeOutcome:
        """Charge ``amount`` minor units off-session. ``at`` is the charge instant of the clock in force (test
        clock time when attached) and ``attempt_number`` the transaction's 1-based attempt; the simulator's
        payday and flaky numbers decide on them. Idempotent on ``reference``."""
        ...

    async def refund(self, transaction_reference: str, amount: int, reference: str) -> RefundOutcome:
        """Refund ``amount`` of the charge made with ``transaction_reference``. Idempotent on ``reference``."""
        ...
