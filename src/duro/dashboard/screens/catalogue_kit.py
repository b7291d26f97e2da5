"""Small helpers shared by the catalogue and customer screens: list paging, page-friendly errors, form values."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

from sqlalchemy import select
from starlette.datastructures import FormData

from duro.context import RepositoryContext
from duro.dashboard.pages import fail
from duro.dashboard.shell import DashCall, field_errors, integer, major_to_minor, text
from duro.kit.errors import DuroError
from duro.kit.pagination import PageRequest
from duro.models.plans import plans
from duro.plans import service as plan_service

T = TypeVar("T")


def page_request(call: DashCall) -> PageRequest:
    return call.page_request()


def bool_filter(raw: str | None) -> bool | None:
    """`active=true|false` as the /v1 lists take it; anything else means "no filter"."""
    return {"true": True, "false": False}.get(raw or "")


async def load(call: DashCall, fn: Callable[[RepositoryContext], Awaitable[T]]) -> T:
    """A read whose DuroError (unknown id, bad cursor) becomes the dashboard's error page, not the API envelope."""
    try:
        return await call.read(fn)
    except DuroError as exc:
        raise fail(call.request, exc.status, exc.reason or exc.code, exc.message) from exc


def inline_errors(
    exc: DuroError, folds: Mapping[str, str] | None = None, reasons: Mapping[str, str] | None = None
) -> dict[str, str]:
    """`field_errors`, with nested paths (`metadata.key`, `testCard.number`) shown next to the form field that
    holds them; the first issue per field wins. `reasons` puts a detail-less conflict (`duplicate_slug`) next to
    the field it is about."""
    if not exc.details and exc.reason and reasons and exc.reason in reasons:
        return {reasons[exc.reason]: exc.message}
    out: dict[str, str] = {}
    for path, issue in field_errors(exc).items():
        name = (folds or {}).get(path, path.split(".")[0])
        out.setdefault(name, issue if name == path or name == "_form" else f"{path}: {issue}")
    return out


async def plan_names(ctx: RepositoryContext, plan_ids: Iterable[str | None]) -> dict[str, str]:
    """Names of the plans a page of promo codes or links refers to, in one query."""
    ids = sorted({i for i in plan_ids if i})
    if not ids:
        return {}
    stmt = select(plans.c.id, plans.c.name).where(plans.c.tenant_id == ctx.tenant_id, plans.c.id.in_(ids))
    return {str(r[0]): str(r[1]) for r in (await ctx.conn.execute(stmt)).all()}


async def active_plans(ctx: RepositoryContext) -> list[dict[str, Any]]:
    """Plans a new promo code or payment link may name (the newest 100 active ones, for a select)."""
    page = await plan_service.list_plans(ctx, PageRequest(limit=100), True)
    items: list[dict[str, Any]] = page["items"]
    return items


def metadata_text(metadata: Mapping[str, Any] | None) -> str:
    """A metadata object as the `key=value` lines the forms take (the inverse of `metadata_from`)."""
    return "\n".join(f"{k}={v}" for k, v in (metadata or {}).items())


def amount_field(form: FormData, name: str) -> int | str | None:
    return major_to_minor(text(form, name))


def minor_to_major(amount: int | None) -> str:
    """Minor units back to the "5000.00" a merchant typed (edit forms re-show stored amounts)."""
    if amount is None:
        return ""
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 100)
    return f"{sign}{whole}.{frac:02d}"


def timestamp_field(form: FormData, name: str) -> str | None:
    """A `datetime-local` value is read as UTC (the form says so): `2025-04-01T12:00` → `2025-04-01T12:00:00Z`,
    so the API model (which refuses naive times) accepts it. Values with an offset pass unchanged."""
    raw = text(form, name)
    if not raw:
        return None
    has_zone = raw.endswith(("Z", "z")) or (len(raw) > 10 and ("+" in raw[10:] or "-" in raw[10:]))
    if has_zone:
        return raw
    return raw + (":00Z" if raw.count(":") == 1 else "Z")


def local_input(stamp: str | None) -> str:
    """An API timestamp (`2025-04-01T12:00:00.000Z`) as a `datetime-local` value in UTC."""
    return stamp[:16] if stamp else ""


__all__ = [
    "active_plans",
    "amount_field",
    "bool_filter",
    "inline_errors",
    "integer",
    "load",
    "local_input",
    "metadata_text",
    "minor_to_major",
    "page_request",
    "plan_names",
    "timestamp_field",
]
