"""Request and response models of /v1/customers."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from duro.kit.validation import Email, Metadata, PatchModel, Phone, Printable, RequestModel

Name = Annotated[str, Field(max_length=200)]
MerchantRef = Annotated[Printable, Field(min_length=1, max_length=100)]


class CustomerCreate(RequestModel):
    email: Email | None = None
    phone: Phone | None = None
    name: Name | None = None
    merchant_ref: MerchantRef | None = None
    metadata: Metadata = Field(default_factory=dict)


class CustomerUpdate(PatchModel):
    NON_NULLABLE = frozenset({"metadata"})

    email: Email | None = None
    phone: Phone | None = None
    name: Name | None = None
    merchant_ref: MerchantRef | None = None
    metadata: Metadata | None = None
    default_payment_method_id: str | None = None


class BlacklistRequest(RequestModel):
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class CustomerOut(BaseModel):
    """Documentation shape of a customer (responses are rendered by `customer_json`)."""

    object: Literal["customer"]
    id: str
    email: str | None
    phone: str | None
    name: str | None
    merchantRef: str | None  # noqa: N815
    metadata: dict[str, str]
    blacklisted: bool
    blacklistReason: str | None  # noqa: N815
    blacklistedAt: str | None  # noqa: N815
    identityId: str | None  # noqa: N815
    defaultPaymentMethodId: str | None  # noqa: N815
    createdAt: str  # noqa: N815
    updatedAt: str  # noqa: N815
