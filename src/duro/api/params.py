"""Shared query parameters and OpenAPI error documentation for /v1 routes."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Query
from pydantic import BaseModel, Field

from duro.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, PageRequest


async def page_params(
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page (1-100)"),
    cursor: str | None = Query(None, max_length=200, description="`nextCursor` of the previous page"),
) -> PageRequest:
    # `async` on purpose: a plain `def` dependency would run in FastAPI's thread pool on every list request.
    return PageRequest(limit=limit, cursor=cursor)


class ErrorDetail(BaseModel):
    path: str
    issue: str


class PaymentInfo(BaseModel):
    transactionId: str  # noqa: N815
    failureCode: str  # noqa: N815
    declineCode: str | None  # noqa: N815
    suggestedRails: list[str]  # noqa: N815


class ErrorBody(BaseModel):
    code: Literal[
        "bad_request",
        "unauthorized",
        "payment_failed",
        "forbidden",
        "not_found",
        "conflict",
        "validation_error",
        "rate_limited",
        "internal_error",
    ]
    message: str
    reason: str | None
    details: list[ErrorDetail]
    payment: PaymentInfo | None = Field(default=None, description="Only on 402")
    requestId: str  # noqa: N815


class ErrorEnvelope(BaseModel):
    error: ErrorBody


class ListEnvelope(BaseModel):
    object: Literal["list"]
    items: list[dict[str, Any]]
    nextCursor: str | None  # noqa: N815
    hasMore: bool  # noqa: N815


_DESCRIPTIONS = {
    400: "Malformed request (JSON, content type, Idempotency-Key, cursor)",
    401: "Missing, invalid, revoked or expired credential",
    402: "A charge was declined",
    403: "Credential not allowed to do this",
    404: "No such resource in this tenant and mode",
    409: "State or uniqueness conflict (also idempotency_in_progress)",
    422: "Invalid input (also idempotency_key_reused)",
    429: "Rate limited; see Retry-After",
    500: "Internal error; nothing was committed",
}

READ_ERRORS = (400, 401, 403, 404, 422, 429, 500)
WRITE_ERRORS = (400, 401, 403, 404, 409, 422, 429, 500)


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": ErrorEnvelope, "description": _DESCRIPTIONS[s]} for s in statuses}


def ok(model: type[BaseModel], status: int = 200, description: str = "Success") -> dict[int | str, dict[str, Any]]:
    return {status: {"model": model, "description": description}}
