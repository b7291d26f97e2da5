"""Field validators shared by request models: metadata, email, phone, printable text (01 §4)."""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo, field_validator

from duro.kit.jsonenc import to_camel
from duro.kit.money import accepted_currencies
from duro.kit.phone import normalize_phone

_META_KEY = re.compile(r"^[A-Za-z0-9_.\-]{1,40}$")


def _check_metadata(value: dict[str, str]) -> dict[str, str]:
    if len(value) > 50:
        raise ValueError("at most 50 keys")
    for key, item in value.items():
        if not _META_KEY.match(key):
            raise ValueError(f"key {key[:40]!r} must be 1-40 characters of A-Z a-z 0-9 _ . -")
        if len(item) > 500:
            raise ValueError(f"value of {key!r} must be at most 500 characters")
    return value


def check_email(value: str) -> str:
    value = value.strip()
    if len(value) > 254:
        raise ValueError("must be at most 254 characters")
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError("not a valid email address") from exc
    return value.lower()


def _check_phone(value: str) -> str:
    return normalize_phone(value)


def _check_currency(value: str) -> str:
    if value not in accepted_currencies():
        raise ValueError(f"must be one of {', '.join(accepted_currencies())}")
    return value


def check_printable(value: str) -> str:
    if not value.isprintable():
        raise ValueError("must contain printable characters only")
    return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


Metadata = Annotated[dict[str, str], AfterValidator(_check_metadata)]
Email = Annotated[str, AfterValidator(check_email)]
Phone = Annotated[str, AfterValidator(_check_phone)]
CurrencyCode = Annotated[str, AfterValidator(_check_currency)]
Printable = Annotated[str, AfterValidator(check_printable)]


class RequestModel(BaseModel):
    """Strict camelCase request bodies: unknown fields and loose types are 422."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=False, extra="forbid", strict=True, frozen=True
    )

    @field_validator("*", mode="after")
    @classmethod
    def _reject_nul(cls, value: Any) -> Any:
        # PostgreSQL text and jsonb cannot hold U+0000: refuse it as input (422) rather than fail in the database (500).
        if _has_nul(value):
            raise ValueError("must not contain NUL (U+0000) characters")
        return value


class PatchModel(RequestModel):
    """A PATCH body: `null` only for fields documented nullable; `provided()` gives what was sent."""

    NON_NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="after")
    @classmethod
    def _reject_null(cls, value: Any, info: ValidationInfo) -> Any:
        # Field validators run only for values that were sent, so an omitted field is never refused.
        if value is None and info.field_name in cls.NON_NULLABLE:
            raise ValueError("cannot be null")
        return value

    def provided(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}
