"""The customer side of a checkout session (06 §3): the hydrate view and the status poll. The token is the only
credential; its prefix picks the one schema read (06 §2). Neither answer exposes `metadata` or merchant-internal
ids beyond the session's own."""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import select

from duro.appearance.service import published_for
from duro.billing.cycles import add_calendar_days
from duro.checkout.completion import redirect_url
from duro.checkout.pay import _by_token, customer_context, enabled_rails
from duro.checkout.serializers import effective_status
from duro.checkout.sessions import session_now
from duro.checkout.tokens import mode_of
from duro.gateway.simulator_rules import ACCOUNT_NUMBERS, CARD_NUMBERS
from duro.kit.errors import not_found
from duro.kit.jsonenc import format_ts
from duro.models.core import tenants
from duro.models.plans import plans
from duro.runtime import Runtime

SURFACES: Final = ("general", "checkout", "overlay")


def test_numbers() -> dict[str, Any]:
    """The simulator numbers listed on test-mode pages (06 §3 test-mode banner)."""
    return {
        "cards": [{"number": n, "behaviour": str(rule)} for n, rule in CARD_NUMBERS.items()],
        "accounts": [{"number": n, "behaviour": str(rule)} for n, rule in ACCOUNT_NUMBERS.items()],
    }


async def view(runtime: Runtime, token: str) -> dict[str, Any]:
    """`GET /api/checkout/{token}` → `checkout_view`."""
    mode = mode_of(token)
    if mode is None:
        raise not_found("No such checkout")
    async with runtime.db.reader(mode) as conn:
        session = (await conn.execute(_by_token(token, lock=False))).first()
        if session is None:
            raise not_found("No such checkout")
        ctx = customer_context(runtime, conn, session["tenant_id"], mode)
        now = await session_now(ctx, session)
        tenant = (
            await conn.execute(select(tenants.c.name, tenants.c.slug).where(tenants.c.id == session["tenant_id"]))
        ).one()
        published = await published_for(conn, session["tenant_id"])  # effective: defaults and `general` cascaded
        plan = None
        if session["plan_id"] is not None:
            plan = (
                await conn.execute(
                    select(plans).where(plans.c.tenant_id == session["tenant_id"], plans.c.id == session["plan_id"])
                )
            ).one()
        rails = await enabled_rails(ctx)
    general = published.get("general") or {}
    trial_days = int(plan["trial_days"]) if plan is not None else 0
    payer = (session["result"] or {}).get("payer", {}) if session["status"] != "completed" else {}
    out: dict[str, Any] = {
        "object": "checkout_view",
        "id": session["id"],
        "status": effective_status(session, now),
        "kind": session["kind"],
        "mode": mode,
        "merchant": {
            "name": general.get("displayName") or tenant["name"],
            "slug": tenant["slug"],
            "logoUrl": general.get("logo"),
        },
        "appearance": {surface: published.get(surface) or {} for surface in SURFACES},
        "plan": None
        if plan is None
        else {
            "id": plan["id"],
            "name": plan["name"],
            "amount": plan["amount"],
            "currency": plan["currency"],
            "interval": plan["interval"],
            "intervalCount": plan["interval_count"],
            "trialDays": trial_days,
        },
        "description": session["description"],
        "subtotal": session["subtotal"],
        "discount": session["discount"],
        "amountDue": session["amount"],
        "trialEnd": format_ts(add_calendar_days(now, trial_days)) if trial_days > 0 else None,
        "currency": session["currency"],
        "rails": rails,
        "customer": {
            "email": payer.get("email") or session["customer_email"],
            "phone": payer.get("phone") or session["customer_phone"],
            "name": payer.get("name"),
        },
        "expiresAt": format_ts(session["expires_at"]),
        "redirectUrl": redirect_url(session["success_url"], session["id"])
        if session["status"] == "completed"
        else None,
    }
    if mode == "test":
        out["testNumbers"] = test_numbers()
    return out


async def status(runtime: Runtime, token: str) -> dict[str, Any]:
    """`GET /api/checkout/{token}/status`."""
    mode = mode_of(token)
    if mode is None:
        raise not_found("No such checkout")
    async with runtime.db.reader(mode) as conn:
        session = (await conn.execute(_by_token(token, lock=False))).first()
        if session is None:
            raise not_found("No such checkout")
        now = await session_now(customer_context(runtime, conn, session["tenant_id"], mode), session)
    completed = session["status"] == "completed"
    return {
        "status": effective_status(session, now),
        "subscriptionId": session["subscription_id"],
        "invoiceId": session["invoice_id"] if completed or session["kind"] == "invoice" else None,
        "redirectUrl": redirect_url(session["success_url"], session["id"]) if completed else None,
        "lastPaymentError": session["last_payment_error"],
    }
