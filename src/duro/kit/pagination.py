"""Keyset pagination (01 §7): `createdAt desc, id desc`, cursor = id of the last item of a page."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
U = TypeVar("U")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    has_more: bool
    next_cursor: str | None

    def map(self, fn: Callable[[T], U]) -> Page[U]:
        return Page([fn(i) for i in self.items], self.has_more, self.next_cursor)

    def as_json(self: Page[dict[str, Any]]) -> dict[str, Any]:
        return {
            "object": "list",
            "items": list(self.items),
            "nextCursor": self.next_cursor,
            "hasMore": self.has_more,
        }


def page_from_rows(rows: Sequence[T], limit: int, id_of: Callable[[T], str]) -> Page[T]:
    """Rows were fetched with `limit + 1`; the extra row only says that there is more."""
    has_more = len(rows) > limit
    items = rows[:limit]
    return Page(items, has_more, id_of(items[-1]) if has_more and items else None)
