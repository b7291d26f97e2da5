"""JSON shape of a payment link (03 §1.7)."""

from __future__ import annotations

from typing import Any

from duro.db.engine import Mode
from duro.db.repository import DbRow
from duro.kit.jsonenc import format_ts


def link_url(public_url: str, tenant_slug: str, slug: str, mode: Mode) -> str:
    """The pay page of a link. Live is the bare URL; test adds `?mode=test` (06 §5)."""
    url = f"{public_url}/pay/{tenant_slug}/{slug}"
    return f"{url}?mode=test" if mode == "test" else url


def payment_link_json(row: DbRow, *, public_url: str, tenant_slug: str, mode: Mode) -> dict[str, Any]:
    return {
        "object": "payment_link",
        "id": row["id"],
        "planId": row["plan_id"],
        "slug": row["slug"],
        "active": row["active"],
        "url": link_url(public_url, tenant_slug, row["slug"], mode),
        "metadata": row["metadata"],
        "createdAt": format_ts(row["created_at"]),
        "updatedAt": format_ts(row["updated_at"]),
    }
