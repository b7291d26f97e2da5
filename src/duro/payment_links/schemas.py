"""Request and response models of /v1/payment-links."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from duro.kit.validation import Metadata, PatchModel, RequestModel

# Lower-case words joined by single hyphens (03 §1.7). Not normalised: `Pro` is refused, not lower-cased, so the
# slug a merchant sends is exactly the one in the URL.
SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
Slug = Annotated[str, Field(min_length=1, max_length=64, pattern=SLUG_PATTERN)]


class PaymentLinkCreate(RequestModel):
    plan_id: Annotated[str, Field(min_length=1, max_length=64)]
    slug: Slug
    active: bool = True
    metadata: Metadata = Field(default_factory=dict)


class PaymentLinkUpdate(PatchModel):
    """`planId` is immutable: it is not a field here, so sending it is 422 "unknown or read-only field"."""

    NON_NULLABLE = frozenset({"slug", "active", "metadata"})

    slug: Slug | None = None
    active: bool | None = None
    metadata: Metadata | None = None


class PaymentLinkOut(BaseModel):
    """Documentation shape of a payment link (responses are rendered by `payment_link_json`)."""

    object: Literal["payment_link"]
    id: str
    planId: str  # noqa: N815
    slug: str
    active: bool
    url: str = Field(description="`{DURO_PUBLIC_URL}/pay/{tenantSlug}/{slug}`, plus `?mode=test` in test mode")
    metadata: dict[str, str]
    createdAt: str  # noqa: N815
    updatedAt: str  # noqa: N815
