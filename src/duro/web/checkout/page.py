"""What a checkout page shows: the session's customer view (`checkout.public.view`, the same JSON the hydrate
API answers), the tenant's effective published appearance, and the page state (embed, form values, errors)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from sqlalchemy import select

from duro.appearance.service import published_for
from duro.appearance.surfaces import LOGO_PATH
from duro.checkout import public
from duro.checkout.completion import redirect_url
from duro.checkout.tokens import mode_of
from duro.db.engine import Mode
from duro.models.checkout import checkout_sessions as cs
from duro.runtime import Runtime
from duro.web.checkout.rendering import RAIL_LABELS


@dataclass(frozen=True, slots=True)
class Checkout:
    token: str
    tenant_id: str
    mode: Mode
    cancel_url: str | None
    view: dict[str, Any]
    appearance: dict[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Embed:
    """A granted embed: the checked parent origin and the key the frame was opened with."""

    parent: str
    key: str


@dataclass
class PageState:
    """What the form post adds to a page: the submitted non-secret values and the errors to show. Card and
    account numbers are never put back into the form."""

    rail: str | None = None
    values: dict[str, str] = field(default_factory=dict)
    summary: list[tuple[str | None, str]] = field(default_factory=list)  # (field id or None, message)
    field_errors: dict[str, str] = field(default_factory=dict)
    declined: bool = False
    suggested_rails: list[str] = field(default_factory=list)


async def load(runtime: Runtime, token: str) -> Checkout | None:
    """The session behind `token` with its tenant's published appearance, or None (→ 404 page)."""
    mode = mode_of(token)
    if mode is None:
        return None
    async with runtime.db.reader(mode) as conn:
        row = (
            await conn.execute(
                select(cs.c.tenant_id, cs.c.id, cs.c.cancel_url)
                .where(cs.c.token == token)
                .prefix_with("/* unscoped: the checkout token is the credential */")
            )
        ).first()
        if row is None:
            return None
        appearance = await published_for(conn, row["tenant_id"])
    view = await public.view(runtime, token)
    return Checkout(token, row["tenant_id"], mode, redirect_url(row["cancel_url"], row["id"]), view, appearance)


def logo_source(logo: Any) -> tuple[str | None, tuple[str, ...]]:
    """The logo's `src` and the extra origin to allow in `img-src`: an uploaded logo is a same-origin path
    (`/assets/logos/…`, covered by `'self'`), an absolute https logo needs its origin. Anything else is not shown."""
    if isinstance(logo, str) and LOGO_PATH.fullmatch(logo):
        return logo, ()
    if not isinstance(logo, str) or not logo.startswith("https://"):
        return None, ()
    parts = urlsplit(logo)
    return logo, (f"https://{parts.netloc}",)


def action_url(token: str, embed: Embed | None) -> str:
    if embed is None:
        return f"/checkout/{token}"
    return f"/checkout/{token}?" + urlencode({"embed": "1", "key": embed.key, "parent": embed.parent})


def context(co: Checkout, embed: Embed | None, state: PageState | None = None) -> dict[str, Any]:
    """The template context shared by the checkout templates."""
    view = co.view
    state = state or PageState()
    look = co.appearance["overlay" if embed else "checkout"]
    general = co.appearance["general"]
    checkout = co.appearance["checkout"]
    rails: list[str] = list(view["rails"])
    selected = state.rail if state.rail in rails else None
    if state.declined and state.suggested_rails:
        selected = next((r for r in state.suggested_rails if r in rails), selected)
    logo, _ = logo_source(general.get("logo"))
    values = {
        "email": view["customer"]["email"] or "",
        "phone": view["customer"]["phone"] or "",
        "name": view["customer"]["name"] or "",
        **state.values,
    }
    return {
        "token": co.token,
        "view": view,
        "mode": co.mode,
        "merchant_name": general.get("displayName") or view["merchant"]["name"],
        "logo": logo,
        "brand_hex": str(look.get("brandColor") or general["brandColor"]).lstrip("#").upper(),
        "theme": look.get("theme", "light") if embed else "light",
        "font": general.get("font", "system"),
        "checkout": checkout,
        "show_identity_bar": bool(co.appearance["overlay"]["showIdentityBar"]) if embed else True,
        "rails": rails,
        "rail_labels": RAIL_LABELS,
        "selected_rail": selected or (rails[0] if rails else None),
        "bank_rails": [r for r in rails if r != "card"],
        "values": values,
        "state": state,
        "embed": embed,
        "action": action_url(co.token, embed),
        "cancel_url": co.cancel_url,
    }
