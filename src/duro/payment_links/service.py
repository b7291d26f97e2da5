"""Payment link rules: `planId` fixed at creation, slug unique per tenant + mode, archived plans start none."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from duro.context import RepositoryContext
from duro.db.executor import UniqueViolation
from duro.db.repository import DbRow
from duro.kit.errors import DuroError, conflict, not_found
from duro.kit.ids import new_id
from duro.kit.pagination import PageRequest
from duro.payment_links.repository import PaymentLinkRepository
from duro.payment_links.schemas import PaymentLinkCreate, PaymentLinkUpdate
from duro.payment_links.serializers import payment_link_json
from duro.plans.repository import PlanRepository
from duro.tenants.repository import TenantStore

Render = Callable[[DbRow], dict[str, Any]]


def _duplicate() -> DuroError:
    return conflict("duplicate_slug", "Another payment link already uses this slug")


async def _renderer(ctx: RepositoryContext) -> Render:
    """Rows → JSON with the tenant's current slug in `url` (read once per request, also for a whole page)."""
    tenant = await TenantStore(ctx.conn).get(ctx.tenant_id)
    if tenant is None:  # the principal resolved to this tenant in this request
        raise RuntimeError(f"tenant {ctx.tenant_id} vanished")
    slug: str = tenant.slug
    public_url = ctx.settings.public_url

    def render(row: DbRow) -> dict[str, Any]:
        return payment_link_json(row, public_url=public_url, tenant_slug=slug, mode=ctx.mode)

    return render


async def create_payment_link(ctx: RepositoryContext, body: PaymentLinkCreate) -> dict[str, Any]:
    """Create a link. 404 naming `planId` for an unknown plan, 409 `plan_inactive` for an archived one, 409
    `duplicate_slug` when the slug is taken — decided by the unique index, so concurrent creations with one slug
    yield exactly one link and clean 409s for the rest."""
    plan = await ctx.repo(PlanRepository).get_row(body.plan_id)
    if plan is None:
        raise not_found("No such plan", path="planId")
    if not plan["active"]:
        raise conflict("plan_inactive", "This plan is archived and cannot get new payment links")
    render = await _renderer(ctx)
    now = ctx.clock.now()
    try:
        row = await ctx.repo(PaymentLinkRepository).insert_row(
            {
                "id": new_id("plink"),
                "plan_id": body.plan_id,
                "slug": body.slug,
                "active": body.active,
                "metadata": body.metadata,
                "created_at": now,
                "updated_at": now,
            }
        )
    except UniqueViolation as exc:
        raise _duplicate() from exc
    return render(row)


async def get_payment_link(ctx: RepositoryContext, link_id: str) -> dict[str, Any]:
    row = await ctx.repo(PaymentLinkRepository).get_row(link_id)
    if row is None:
        raise not_found("No such payment link")
    return (await _renderer(ctx))(row)


async def list_payment_links(
    ctx: RepositoryContext, page: PageRequest, active: bool | None, plan_id: str | None
) -> dict[str, Any]:
    if plan_id is not None and await ctx.repo(PlanRepository).get_row(plan_id) is None:
        # An unknown id in the query is 404 naming the parameter (01 §5), not an empty list.
        raise not_found("No such plan", path="planId")
    result = await ctx.repo(PaymentLinkRepository).list_page(page, active=active, plan_id=plan_id)
    return result.map(await _renderer(ctx)).as_json()


async def update_payment_link(ctx: RepositoryContext, link_id: str, body: PaymentLinkUpdate) -> dict[str, Any]:
    """Change `slug`, `active` or `metadata` (replaced whole). Only real changes are written, so a no-op PATCH
    leaves `updatedAt` alone. A slug taken by another link is 409 `duplicate_slug`."""
    repo = ctx.repo(PaymentLinkRepository)
    row = await repo.get_row(link_id, for_update=True)
    if row is None:
        raise not_found("No such payment link")
    changes = {k: v for k, v in body.provided().items() if row[k] != v}
    if changes:
        try:
            updated = await repo.set_fields(link_id, {**changes, "updated_at": ctx.clock.now()})
        except UniqueViolation as exc:
            raise _duplicate() from exc
        assert updated is not None  # locked above
        row = updated
    return (await _renderer(ctx))(row)


async def find_active_link(ctx: RepositoryContext, slug: str) -> DbRow | None:
    """The pay page's lookup (06 §5): the link with `slug` in ctx's tenant + mode when both it and its plan are
    active; None otherwise (unknown slug, inactive link, archived plan — all a 404 page). The row is the
    `payment_links` row; load the plan with `PlanRepository.get_row(row["plan_id"])`. Nothing is locked: the
    checkout that follows re-checks the plan when it starts a subscription."""
    return await ctx.repo(PaymentLinkRepository).active_by_slug(slug)
