"""Request models of the invoice actions (03 §11, §13.4)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from duro.kit.validation import RequestModel

Id = Annotated[str, Field(min_length=1, max_length=64)]


class PayRequest(RequestModel):
    """`POST /v1/invoices/{id}/pay`. An omitted body means `{}`: charge the subscription's method, else the
    customer's default."""

    payment_method_id: Id | None = None


class RefundRequest(RequestModel):
    """`POST /v1/invoices/{id}/refund`. `amount` defaults to the refundable remainder; a given amount below 1 is a
    plain field error, one above the remainder is `refund_exceeds_remaining` (checked against the invoice)."""

    amount: Annotated[int, Field(ge=1, le=1_000_000_000_000)] | None = None
    reason: Annotated[str, Field(min_length=1, max_length=500)]
