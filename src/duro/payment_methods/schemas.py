"""Request and response models of /v1/customers/{id}/payment-methods (03 §13.2)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from duro.gateway.protocol import BANK_RAILS
from duro.kit.validation import RequestModel

Rail = Literal["card", "ussd", "transfer", "virtual_account", "direct_debit"]
# Test numbers are short; the bound only keeps junk out of error messages and lookups.
TestNumber = Annotated[str, Field(min_length=1, max_length=64)]


class TestCardIn(RequestModel):
    number: TestNumber
    exp_month: Annotated[int, Field(ge=1, le=12)]
    exp_year: Annotated[int, Field(ge=1000, le=9999)]


class PaymentMethodCreate(RequestModel):
    """`{testCard: {...}}` or `{rail, testAccount}`, plus `setDefault` (default: true when the customer has no
    chargeable default). `rail: "card"` may accompany `testCard`; it is implied when omitted."""

    test_card: TestCardIn | None = None
    rail: Rail | None = None
    test_account: TestNumber | None = None
    set_default: bool | None = None

    @model_validator(mode="after")
    def _one_form(self) -> PaymentMethodCreate:
        # Messages "field: issue" become details naming the field (api/errors.py).
        if self.test_card is not None:
            if self.test_account is not None:
                raise ValueError("testAccount: not allowed together with testCard")
            if self.rail not in (None, "card"):
                raise ValueError("rail: must be card (or omitted) with testCard")
        elif self.test_account is not None:
            if self.rail is None:
                raise ValueError(f"rail: required with testAccount, one of {', '.join(BANK_RAILS)}")
            if self.rail == "card":
                raise ValueError("rail: card numbers go in testCard; testAccount needs a bank rail")
        elif self.rail == "card" or self.rail is None:
            raise ValueError("testCard: required (or rail with testAccount)")
        else:
            raise ValueError(f"testAccount: required with rail {self.rail}")
        return self

    @property
    def resolved_rail(self) -> str:
        return "card" if self.test_card is not None else str(self.rail)

    @property
    def number(self) -> str:
        if self.test_card is not None:
            return self.test_card.number
        assert self.test_account is not None  # guaranteed by _one_form
        return self.test_account

    @property
    def number_path(self) -> str:
        return "testCard.number" if self.test_card is not None else "testAccount"


class PaymentMethodOut(BaseModel):
    """Documentation shape of a payment method (responses are rendered by `payment_method_json`)."""

    object: Literal["payment_method"]
    id: str
    rail: Rail
    brand: Literal["visa", "mastercard"] | None
    last4: str
    expMonth: int | None  # noqa: N815
    expYear: int | None  # noqa: N815
    bankName: str | None  # noqa: N815
    owner: Literal["customer", "identity"]
    customerId: str | None  # noqa: N815
    usable: bool
    isDefault: bool  # noqa: N815
    createdAt: str  # noqa: N815
