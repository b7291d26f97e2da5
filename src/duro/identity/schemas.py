"""Request and response models of /identity (06 §6)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from duro.kit.validation import RequestModel
from duro.payment_methods.schemas import PaymentMethodCreate

ModeParam = Literal["test", "live"]


class OtpRequest(RequestModel):
    # Normalised by the service (so an invalid phone is a 422 that still counted towards the per-IP limit).
    phone: Annotated[str, Field(min_length=1, max_length=64)]


class VerifyRequest(RequestModel):
    phone: Annotated[str, Field(min_length=1, max_length=64)]
    # Any string up to 32 characters is an attempt (a wrong one counts); the real code is 6 digits.
    code: Annotated[str, Field(min_length=1, max_length=32)]


class IdentityPaymentMethodCreate(PaymentMethodCreate):
    """`{testCard: {number, expMonth, expYear}}` or `{rail, testAccount}` (03 §13.2 forms). An identity has no
    default method, so `setDefault` is refused."""

    @model_validator(mode="after")
    def _no_default(self) -> IdentityPaymentMethodCreate:
        if self.set_default is not None:
            raise ValueError("setDefault: unknown or read-only field")
        return self


class OtpSent(BaseModel):
    expiresAt: str  # noqa: N815
    resendAfter: str  # noqa: N815


class IdentityOut(BaseModel):
    object: Literal["identity"]
    id: str
    phone: str
    verifiedAt: str  # noqa: N815
    lastVerifiedAt: str  # noqa: N815
    createdAt: str  # noqa: N815


class Verified(BaseModel):
    token: str
    expiresAt: str  # noqa: N815
    identity: IdentityOut


class Me(BaseModel):
    identity: IdentityOut
    paymentMethods: list[dict[str, object]]  # noqa: N815


class Deleted(BaseModel):
    id: str
    deleted: Literal[True]
