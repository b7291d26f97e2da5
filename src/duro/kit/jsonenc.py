"""JSON rendering: camelCase keys, `YYYY-MM-DDTHH:MM:SS.mmmZ` timestamps, compact bytes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson


def format_ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    # Hot: every timestamp of every list item. Rows from the database already carry UTC, so the common path is
    # one isoformat call with its "+00:00" swapped for "Z".
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="milliseconds")[:-6] + "Z"


def to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_ts(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(value: Any) -> bytes:
    """Serialise with our timestamp format. Datetimes go through `_default` (OPT_PASSTHROUGH_DATETIME)."""
    return orjson.dumps(value, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)


def canonical(value: Any) -> bytes:
    """Sorted keys, no insignificant whitespace, UTF-8: the idempotency fingerprint's body form."""
    return orjson.dumps(value, default=_default, option=orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME)


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)
