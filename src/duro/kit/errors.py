"""Errors are types: each business condition carries its HTTP status, `code` and `reason` (01 §5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CODE_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    402: "payment_failed",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
}


@dataclass(frozen=True, slots=True)
class Detail:
    path: str
    issue: str

    def as_json(self) -> dict[str, str]:
        return {"path": self.path, "issue": self.issue}


@dataclass
class DuroError(Exception):
    """Base of every expected failure; rendered by one handler into the envelope."""

    status: int
    message: str
    reason: str | None = None
    details: list[Detail] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    payment: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        Exception.__init__(self, self.message)

    @property
    def code(self) -> str:
        return CODE_BY_STATUS[self.status]

    def envelope(self, request_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "reason": self.reason,
            "details": [d.as_json() for d in self.details],
        }
        if self.payment is not None:
            body["payment"] = self.payment
        body["requestId"] = request_id
        return {"error": body}


def bad_request(reason: str, message: str) -> DuroError:
    return DuroError(400, message, reason)


def unauthorized(reason: str, message: str) -> DuroError:
    return DuroError(401, message, reason)


def forbidden(reason: str, message: str) -> DuroError:
    return DuroError(403, message, reason)


def not_found(message: str = "No such resource", *, path: str | None = None) -> DuroError:
    details = [Detail(path, "no such object in this tenant and mode")] if path else []
    return DuroError(404, message, "resource_missing", details)


def conflict(reason: str, message: str, details: list[Detail] | None = None) -> DuroError:
    return DuroError(409, message, reason, details or [])


def validation(message: str, details: list[Detail], reason: str | None = None) -> DuroError:
    return DuroError(422, message, reason, details)


def invalid_field(path: str, issue: str, reason: str | None = None) -> DuroError:
    return DuroError(422, f"{path}: {issue}", reason, [Detail(path, issue)])


def rate_limited(retry_after: int) -> DuroError:
    retry_after = max(1, retry_after)
    return DuroError(429, "Too many requests", "rate_limited", headers={"Retry-After": str(retry_after)})


def internal_error() -> DuroError:
    return DuroError(500, "An internal error occurred. Nothing was committed.", "internal_error")
