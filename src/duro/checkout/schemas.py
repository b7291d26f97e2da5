"""Request models of checkout: the merchant's session creation (06 §2) and the customer's pay (06 §3)."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, model_validator

from duro.kit.validation import CurrencyCode, Email, Metadata, Phone, Printable, RequestModel


def _check_url(value: str) -> str:
    """https, or http (accepted in test mode only; the service checks the mode). No credentials, no whitespace."""
    if len(value) > 2048 or any(c.isspace() for c in value):
        raise ValueError("must be a URL of at most 2048 characters without spaces")
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("must be an absolute https URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not contain credentials")
    return value


RedirectUrl = Annotated[str, AfterValidator(_check_url)]
Description = Annotated[Printable, Field(max_length=200)]
Rail = Literal["card", "ussd", "transfer", "virtual_account", "direct_debit"]


class CheckoutSessionCreate(RequestModel):
    plan_id: str | None = None
    amount: Annotated[int, Field(ge=1, le=10**12)] | None = None
    currency: CurrencyCode | None = None
    description: Description | None = None
    customer_id: str | None = None
    customer_email: Email | None = None
    customer_phone: Phone | None = None
    success_url: RedirectUrl | None = None
    cancel_url: RedirectUrl | None = None
    promo_code: Annotated[str, Field(min_length=3, max_length=40)] | None = None
    metadata: Metadata = Field(default_factory=dict)

    @model_validator(mode="after")
    def _kind(self) -> CheckoutSessionCreate:
        if (self.plan_id is None) == (self.amount is None):
            raise ValueError("planId: exactly one of planId or amount is required")
        if self.currency is not None and self.amount is None:
            raise ValueError("currency: only with amount")
        if self.promo_code is not None and self.plan_id is None:
            raise ValueError("promoCode: only for a subscription (planId)")
        return self


class CardIn(RequestModel):
    number: Annotated[str, Field(min_length=12, max_length=23)]
    exp_month: Annotated[int, Field(ge=1, le=12)]
    exp_year: Annotated[int, Field(ge=2000, le=2100)]
    cvc: Annotated[str, Field(pattern=r"^[0-9]{3,4}$", repr=False)]


class AccountIn(RequestModel):
    number: Annotated[str, Field(pattern=r"^[0-9]{10}$")]


class CheckoutPay(RequestModel):
    rail: Rail
    payment_method_id: str | None = None
    card: CardIn | None = None
    account: AccountIn | None = None
    email: Email | None = None
    phone: Phone | None = None
    name: Annotated[Printable, Field(max_length=200)] | None = None
    save_to_phone: bool = False

    @model_validator(mode="after")
    def _one_instrument(self) -> CheckoutPay:
        given = [x for x in (self.payment_method_id, self.card, self.account) if x is not None]
        if len(given) != 1:
            raise ValueError("card: give exactly one of card, account or paymentMethodId")
        if self.card is not None and self.rail != "card":
            raise ValueError("rail: card details need rail card")
        if self.account is not None and self.rail == "card":
            raise ValueError("rail: an account needs a bank rail")
        return self
