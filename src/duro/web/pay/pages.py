"""What the pay page and the store show, read from one mode's schema: the tenant by slug, its published
appearance (06 §8), and active payment links with active plans (06 §5). Also the Continue action, which creates
the link's checkout session. No HTML here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from sqlalchemy import select

from duro.appearance.service import published_for
from duro.checkout.pay import customer_context
from duro.checkout.schemas import CheckoutSessionCreate
from duro.checkout.sessions import create_session
from duro.db.engine import Mode
from duro.db.executor import Connection
from duro.db.repository import DbRow, storable
from duro.models.checkout import payment_links as links
from duro.models.plans import plans
from duro.notifications.rendering import format_amount
from duro.payment_links.service import find_active_link
from duro.plans.repository import PlanRepository
from duro.runtime import Runtime
from duro.tenants.repository import TenantStore

MAX_TENANT_SLUG: Final = 48
MAX_LINK_SLUG: Final = 64
MAX_STORE_ITEMS: Final = 100

# `per month` for a count of 1, else `every 3 months`; biannual is counted in months.
_UNITS: Final = {
    "hour": ("hour", 1),
    "day": ("day", 1),
    "week": ("week", 1),
    "month": ("month", 1),
    "quarter": ("quarter", 1),
    "biannual": ("month", 6),
    "year": ("year", 1),
}


@dataclass(frozen=True, slots=True)
class Brand:
    """The published `general` surface, cascaded (06 §8), as the pages use it."""

    name: str
    color: str  # #RRGGBB
    font: str
    logo_url: str | None
    logo_origin: str | None  # an https logo's origin, allowed in the page's `img-src`


@dataclass(frozen=True, slots=True)
class Offer:
    """A payment link with its plan, ready to print."""

    link_id: str
    slug: str
    plan_name: str
    plan_description: str | None
    price: str
    interval: str
    trial_days: int
    pay_path: str


@dataclass(frozen=True, slots=True)
class Landing:
    tenant_id: str
    brand: Brand
    offer: Offer
    plan_id: str
    metadata: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Store:
    brand: Brand
    heading: str
    description: str | None
    layout: str  # grid | list
    offers: list[Offer]


def interval_label(interval: str, count: int) -> str:
    unit, factor = _UNITS.get(interval, (interval, 1))
    n = count * factor
    return f"per {unit}" if n == 1 else f"every {n} {unit}s"


def pay_path(tenant_slug: str, slug: str, mode: Mode) -> str:
    path = f"/pay/{tenant_slug}/{slug}"
    return f"{path}?mode=test" if mode == "test" else path


def _brand(general: dict[str, Any], tenant_name: str) -> Brand:
    logo = general.get("logo")
    logo_url: str | None = None
    logo_origin: str | None = None
    if isinstance(logo, str):
        if logo.startswith("https://"):
            parts = urlsplit(logo)
            logo_url, logo_origin = logo, f"https://{parts.netloc}".lower()
        elif logo.startswith("/") and not logo.startswith("//"):
            logo_url = logo  # served by Duro itself
        # Otherwise a storage key without a public URL yet: the name alone brands the page.
    return Brand(
        name=general.get("displayName") or tenant_name,
        color=str(general.get("brandColor") or "#0F766E").upper(),
        font=str(general.get("font") or "system"),
        logo_url=logo_url,
        logo_origin=logo_origin,
    )


def _offer(link: Mapping[str, Any], plan: Mapping[str, Any], tenant_slug: str, mode: Mode) -> Offer:
    return Offer(
        link_id=link["id"],
        slug=link["slug"],
        plan_name=plan["name"],
        plan_description=plan["description"],
        price=format_amount(plan["amount"], plan["currency"]),
        interval=interval_label(plan["interval"], plan["interval_count"]),
        trial_days=plan["trial_days"],
        pay_path=pay_path(tenant_slug, link["slug"], mode),
    )


async def _tenant(conn: Connection, tenant_slug: str) -> DbRow | None:
    if len(tenant_slug) > MAX_TENANT_SLUG or not storable(tenant_slug):
        return None
    return await TenantStore(conn).by_slug(tenant_slug)


async def landing(runtime: Runtime, mode: Mode, tenant_slug: str, slug: str) -> Landing | None:
    """The pay page's content; None (a 404 page) for an unknown tenant or link, an inactive link or plan."""
    if len(slug) > MAX_LINK_SLUG:
        return None
    async with runtime.db.reader(mode) as conn:
        tenant = await _tenant(conn, tenant_slug)
        if tenant is None:
            return None
        ctx = customer_context(runtime, conn, tenant["id"], mode)
        link = await find_active_link(ctx, slug)
        if link is None:
            return None
        plan = await ctx.repo(PlanRepository).get_row(link["plan_id"])
        if plan is None or not plan["active"]:
            return None
        appearance = await published_for(conn, tenant["id"])
    return Landing(
        tenant_id=tenant["id"],
        brand=_brand(appearance["general"], tenant["name"]),
        offer=_offer(link, plan, tenant["slug"], mode),
        plan_id=plan["id"],
        metadata=dict(link["metadata"] or {}),
    )


async def start_checkout(runtime: Runtime, mode: Mode, tenant_slug: str, slug: str) -> str | None:
    """The Continue action: a `subscription`-kind session for the link's plan with the link's id and metadata
    (06 §5); returns its token, or None when the link is not (or no longer) payable. `create_session` re-checks
    the plan inside the transaction, so an archive racing this request is a 409 `plan_inactive` DuroError."""
    if len(slug) > MAX_LINK_SLUG:
        return None
    async with runtime.db.transaction(mode) as conn:
        tenant = await _tenant(conn, tenant_slug)
        if tenant is None:
            return None
        ctx = customer_context(runtime, conn, tenant["id"], mode)
        link = await find_active_link(ctx, slug)
        if link is None:
            return None
        body = CheckoutSessionCreate.model_validate({"planId": link["plan_id"], "metadata": link["metadata"] or {}})
        session = await create_session(ctx, body, publishable=False, payment_link_id=link["id"])
    token: str = session["token"]
    return token


async def _active_offers(conn: Connection, tenant_id: str, link_ids: list[str]) -> list[tuple[DbRow, dict[str, Any]]]:
    stmt = (
        select(links, *[c.label(f"plan_{c.name}") for c in plans.c])
        .join(plans, (plans.c.tenant_id == links.c.tenant_id) & (plans.c.id == links.c.plan_id))
        .where(
            links.c.tenant_id == tenant_id,
            plans.c.tenant_id == tenant_id,
            links.c.active.is_(True),
            plans.c.active.is_(True),
        )
    )
    if link_ids:
        stmt = stmt.where(links.c.id.in_(link_ids))
    stmt = stmt.order_by(links.c.created_at.desc(), links.c.id.desc()).limit(MAX_STORE_ITEMS)
    rows = (await conn.execute(stmt)).all()
    out = []
    for row in rows:
        plan = {c.name: row[f"plan_{c.name}"] for c in plans.c}
        out.append((row, plan))
    return out


async def store(runtime: Runtime, mode: Mode, tenant_slug: str) -> Store | None:
    """The store page's content per the published `store` surface (07 §4); None (a 404 page) for an unknown
    tenant or a disabled store. `linkIds` fixes the order (ids that are not active in this mode are skipped —
    the configuration is shared by both modes); empty lists every active link, newest first."""
    async with runtime.db.reader(mode) as conn:
        tenant = await _tenant(conn, tenant_slug)
        if tenant is None:
            return None
        appearance = await published_for(conn, tenant["id"])
        surface = appearance["store"]
        if not surface.get("enabled"):
            return None
        link_ids = [str(i) for i in surface.get("linkIds") or []]
        found = await _active_offers(conn, tenant["id"], link_ids)
    if link_ids:
        position = {link_id: n for n, link_id in enumerate(link_ids)}
        found.sort(key=lambda pair: position[pair[0]["id"]])
    brand = _brand(appearance["general"], tenant["name"])
    return Store(
        brand=brand,
        heading=surface.get("heading") or brand.name,
        description=surface.get("description"),
        layout="list" if surface.get("layout") == "list" else "grid",
        offers=[_offer(link, plan, tenant["slug"], mode) for link, plan in found],
    )
