"""Jinja2 environment of the hosted pages (autoescaped) and the filters the checkout templates use."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

from duro.config import Settings
from duro.web.checkout.security import html_headers

WEB_DIR: Final = Path(__file__).resolve().parents[1]
TEMPLATES_DIR: Final = WEB_DIR / "templates"
STATIC_DIR: Final = WEB_DIR / "static"

RAIL_LABELS: Final = {
    "card": "Card",
    "ussd": "USSD",
    "transfer": "Bank transfer",
    "virtual_account": "Virtual account",
    "direct_debit": "Direct debit",
}

# How the simulator numbers behave, as the test-mode banner says it (03 §2).
BEHAVIOURS: Final = {
    "payday": "declined outside the payday window",
    "flaky": "processor error on odd attempts",
    "timeout": "gateway timeout",
}


def behaviour_label(rule: str) -> str:
    return BEHAVIOURS.get(rule, rule.replace("_", " "))


def money(amount: int | None, currency: str | None) -> str:
    """Minor units as `NGN 5,000.00` (every accepted currency has two decimals)."""
    value = amount or 0
    sign = "-" if value < 0 else ""
    major, minor = divmod(abs(value), 100)
    return f"{currency or ''} {sign}{major:,}.{minor:02d}".strip()


# 07 §1: dashboard amounts carry the currency's symbol; an unknown code is written out.
CURRENCY_SYMBOLS: Final = {"NGN": "₦", "USD": "$", "GBP": "£", "EUR": "€", "GHS": "GH₵", "KES": "KSh ", "ZAR": "R"}


def amount(value: int | None, currency: str | None) -> str:
    """Minor units as `₦5,000.00` / `-$12.50`; `XYZ 1.00` for a currency without a known symbol."""
    minor = value or 0
    sign = "-" if minor < 0 else ""
    major, cents = divmod(abs(minor), 100)
    code = (currency or "").upper()
    symbol = CURRENCY_SYMBOLS.get(code, f"{code} " if code else "")
    return f"{sign}{symbol}{major:,}.{cents:02d}"


def long_date(stamp: str | None) -> str:
    if not stamp:
        return ""
    at = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return f"{at.day} {at:%B %Y}"


def interval_text(interval: str, count: int) -> str:
    return f"{interval}" if count == 1 else f"{count} {interval}s"


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(("html",), default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = money
    env.filters["amount"] = amount
    env.filters["long_date"] = long_date
    env.filters["behaviour"] = behaviour_label
    env.filters["rail_label"] = lambda rail: RAIL_LABELS.get(rail, rail)
    env.globals["interval_text"] = interval_text
    return env


def render(
    settings: Settings,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    frame_ancestors: str = "'none'",
    img_sources: tuple[str, ...] = (),
) -> HTMLResponse:
    html = environment().get_template(template).render(**context)
    headers = html_headers(settings, frame_ancestors=frame_ancestors, img_sources=img_sources)
    return HTMLResponse(html, status, headers=headers)
