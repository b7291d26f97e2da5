"""Money is an integer amount of minor units plus an ISO 4217 currency. No floats, ever."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_CURRENCY = "NGN"
MAX_AMOUNT = 1_000_000_000_000

_currencies: tuple[str, ...] = ("NGN", "USD", "GBP", "EUR", "GHS", "KES", "ZAR")


def configure_currencies(codes: tuple[str, ...]) -> None:
    """Set the process-wide accepted currencies (DURO_CURRENCIES)."""
    global _currencies
    _currencies = tuple(codes)


def accepted_currencies() -> tuple[str, ...]:
    return _currencies


def round_half_up(n: int, d: int) -> int:
    """The only rounding function (01 §4): nearest integer to n/d, halves away from zero, integers only."""
    if d <= 0:
        raise ValueError("denominator must be positive")
    sign = -1 if n < 0 else 1
    return sign * ((2 * abs(n) + d) // (2 * d))


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: str = DEFAULT_CURRENCY

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise TypeError("money amounts are integers in minor units")
        if len(self.currency) != 3 or not self.currency.isupper():
            raise ValueError("currency must be an upper-case ISO 4217 code")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"currency mismatch: {self.currency} vs {other.currency}")
