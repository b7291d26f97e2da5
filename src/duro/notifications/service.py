"""Reading the customer billing messages of the credential's mode (06 §10). Platform messages
(`core.notifications`) are never read here."""

from __future__ import annotations

from typing import Any

from duro.context import RepositoryContext
from duro.kit.errors import not_found
from duro.kit.pagination import PageRequest
from duro.notifications.repository import NotificationRepository
from duro.notifications.serializers import notification_json


async def get_notification(ctx: RepositoryContext, notification_id: str) -> dict[str, Any]:
    row = await ctx.repo(NotificationRepository).get_row(notification_id)
    if row is None:
        raise not_found("No such notification")
    return notification_json(row)


async def list_notifications(ctx: RepositoryContext, page: PageRequest, **filters: str | None) -> dict[str, Any]:
    """Newest first; suppressed (muted) messages included with status `suppressed`."""
    result = await ctx.repo(NotificationRepository).list_page(page, **filters)
    return result.map(notification_json).as_json()
