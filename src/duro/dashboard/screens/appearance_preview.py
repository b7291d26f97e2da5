"""The appearance builder's preview pane (07 §4): the real hosted templates (checkout page, overlay, store, email
layout) rendered with a configuration the caller chooses — the editor passes the DRAFT — and sample data, so a
merchant sees a change before publishing it. The portal is drawn by `portal.js` over the JSON API in production,
so its preview is a static card built from the same stylesheet.

Every answer may be framed by the dashboard only (`frame-ancestors 'self'`); the email preview additionally runs
under a policy that allows nothing but its own inline styles (mail layouts need them) and is shown in a sandboxed
iframe.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from starlette.responses import HTMLResponse, Response

from duro.appearance.surfaces import effective
from duro.config import Settings
from duro.gateway.protocol import RAILS
from duro.notifications.rendering import email_layout, format_amount, render
from duro.notifications.templates import Template, template
from duro.web.checkout.page import Checkout, Embed, context, logo_source
from duro.web.checkout.rendering import render as render_checkout
from duro.web.checkout.security import html_headers
from duro.web.pay import rendering as pay_rendering
from duro.web.pay.pages import Brand, Offer, Store

FRAME_SELF: Final = "'self'"
# Mail HTML carries inline styles only; nothing else may load or run inside the sandboxed frame. Images: an https
# logo, or an uploaded one under the public URL (the dashboard's own origin).
EMAIL_CSP: Final = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; base-uri 'none'; "
    "form-action 'none'; "
    "frame-ancestors 'self'"
)
SAMPLE_CUSTOMER: Final = "Ada Obi"
SAMPLE_EMAIL: Final = "ada@example.com"
SAMPLE_PLAN: Final = "Pro monthly"


def email_headers(settings: Settings) -> dict[str, str]:
    headers = html_headers(settings, frame_ancestors=FRAME_SELF)
    headers["Content-Security-Policy"] = EMAIL_CSP
    return headers


def sample_values(tpl: Template, store_name: str, public_url: str) -> dict[str, str]:
    """A value for every merge tag of `tpl`, in the formats of 06 §9."""
    values = {
        "store_name": store_name,
        "customer_name": SAMPLE_CUSTOMER,
        "amount": format_amount(500000, "NGN"),
        "plan_name": SAMPLE_PLAN,
        "invoice_id": "inv_01JSAMPLE00000000000000000",
        "period_end": "28 Feb 2025",
        "next_attempt": "3 Mar 2025, 09:00 UTC",
        "reason": "your bank reported insufficient funds",
        "attempt_number": "2",
        "portal_link": f"{public_url}/portal",
        "update_link": f"{public_url}/portal",
    }
    return {tag: values.get(tag, f"sample {tag.replace('_', ' ')}") for tag in tpl.tags}


def _sample_checkout(config: Mapping[str, Any] | None, tenant_name: str, mode: str) -> Checkout:
    look = effective(config, tenant_name)
    amount = 500000
    view: dict[str, Any] = {
        "kind": "subscription",
        "rails": [r for r in look["checkout"]["rails"] if r in RAILS],
        "customer": {"email": SAMPLE_EMAIL, "phone": "", "name": SAMPLE_CUSTOMER},
        "plan": {
            "name": SAMPLE_PLAN,
            "amount": amount,
            "currency": "NGN",
            "interval": "month",
            "intervalCount": 1,
            "trialDays": 0,
        },
        "trialEnd": None,
        "subtotal": amount,
        "discount": 0,
        "amountDue": amount,
        "currency": "NGN",
        "description": None,
        "merchant": {"name": tenant_name},
    }
    return Checkout("preview", "preview", "test" if mode == "test" else "live", None, view, look)


def _checkout(
    settings: Settings, config: Mapping[str, Any] | None, tenant_name: str, mode: str, overlay: bool
) -> Response:
    co = _sample_checkout(config, tenant_name, mode)
    embed = Embed(parent="https://example.com", key="pk_test_preview") if overlay else None
    page = context(co, embed)
    page["action"] = "#"  # a preview never posts a payment
    _, img = logo_source(co.appearance["general"].get("logo"))
    return render_checkout(settings, "checkout/page.html", page, frame_ancestors=FRAME_SELF, img_sources=img)


def _brand(look: Mapping[str, Any], tenant_name: str, surface: str) -> Brand:
    general = look["general"]
    logo = general.get("logo")
    logo_url, logo_origin = logo_source(logo)
    return Brand(
        name=general.get("displayName") or tenant_name,
        color=str(look[surface].get("brandColor") or general["brandColor"]).upper(),
        font=str(general.get("font") or "system"),
        logo_url=logo_url,
        logo_origin=logo_origin[0] if logo_origin else None,
    )


def _store(settings: Settings, config: Mapping[str, Any] | None, tenant_name: str, mode: str) -> Response:
    look = effective(config, tenant_name)
    surface = look["store"]
    brand = _brand(look, tenant_name, "store")
    offers = [
        Offer(
            "plink_sample1", "starter", "Starter", "For small teams", format_amount(250000, "NGN"), "per month", 0, "#"
        ),
        Offer(
            "plink_sample2",
            "pro",
            SAMPLE_PLAN,
            "Everything in Starter, and more",
            format_amount(500000, "NGN"),
            "per month",
            14,
            "#",
        ),
    ]
    store = Store(
        brand=brand,
        heading=surface.get("heading") or brand.name,
        description=surface.get("description"),
        layout="list" if surface.get("layout") == "list" else "grid",
        offers=offers,
    )
    body = pay_rendering.render("store.html", brand=brand, mode=mode, store=store)
    images = (brand.logo_origin,) if brand.logo_origin else ()
    return HTMLResponse(body, headers=html_headers(settings, frame_ancestors=FRAME_SELF, img_sources=images))


def _portal(settings: Settings, config: Mapping[str, Any] | None, tenant_name: str) -> Response:
    look = effective(config, tenant_name)
    portal = look["portal"]
    brand = _brand(look, tenant_name, "portal")
    perms = portal["permissions"]
    page = {
        "brand": brand,
        "hex6": brand.color.lstrip("#"),
        "heading": portal.get("heading") or brand.name,
        "support_url": portal.get("supportUrl"),
        "permissions": perms,
        "plan": SAMPLE_PLAN,
        "amount": format_amount(500000, "NGN"),
    }
    return render_checkout(
        settings, "dashboard/screens/appearance/preview_portal.html", page, frame_ancestors=FRAME_SELF
    )


def _email(settings: Settings, config: Mapping[str, Any] | None, tenant_name: str, public_url: str) -> Response:
    tpl = template("receipt")
    name = effective(config, tenant_name)["general"].get("displayName") or tenant_name
    rendered = render(tpl, sample_values(tpl, name, public_url))
    html = email_layout(config, tenant_name, rendered.text, public_url=public_url)
    return HTMLResponse(html, headers=email_headers(settings))


def render_preview(
    settings: Settings, surface: str, config: Mapping[str, Any] | None, tenant_name: str, mode: str
) -> Response:
    """The preview page of `surface` for `config` (a resolved or stored configuration)."""
    if surface == "store":
        return _store(settings, config, tenant_name, mode)
    if surface == "portal":
        return _portal(settings, config, tenant_name)
    if surface == "email":
        return _email(settings, config, tenant_name, settings.public_url)
    return _checkout(settings, config, tenant_name, mode, overlay=surface == "overlay")
