"""Rendering of notification texts (06 §9): value formats, merge-tag substitution, the HTML email layout, the
WhatsApp template payload and the limits of tenant overrides. Pure functions, no I/O.

**Substitution** is one `re.sub` pass over the merchant's text: an inserted value is never scanned again, so a
customer named `{{portal_link}}` stays literally that. Merchant text is never evaluated as a template language.
The HTML part is built from the rendered plain text by escaping all of it (the merchant's words and the inserted
values alike) and then linking URLs, which is what "values HTML-escaped in the HTML part" needs and also keeps a
merchant's `<script>` from reaching an inbox as markup.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from duro.appearance.surfaces import LOGO_PATH, effective
from duro.kit.errors import Detail
from duro.notifications.templates import OverrideChannel, Template

TAG = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
URL = re.compile(r"https?://[^\s<>\"']+")
_URL_TRAILING = ".,;:!?)]}'\""

SUBJECT_MAX = 200
BODY_MAX = 10_000
OVERRIDE_CHANNELS: tuple[OverrideChannel, ...] = ("email", "whatsapp", "both")

DEFAULT_BRAND_COLOR = "#111827"  # platform mail; customer mail uses the published `email` surface (07 §4)
CUSTOMER_NAME_FALLBACK = "there"

# All configured currencies have 2 minor digits (01 §4); an unknown code is shown before the amount.
CURRENCY_SYMBOLS = {
    "NGN": "₦",
    "USD": "$",
    "GBP": "£",
    "EUR": "€",
    "GHS": "GH₵",
    "KES": "KSh",
    "ZAR": "R",
}
MINOR_DIGITS = 2

# Customer-facing wording of a failure category (04 §1) for `{{reason}}`.
FAILURE_REASONS = {
    "insufficient_funds": "your bank reported insufficient funds",
    "expired_card": "your card has expired",
    "card_not_supported": "your card does not support this payment",
    "no_payment_method": "there is no payment method on file",
    "do_not_honor": "your bank declined the payment",
    "stolen_card": "your bank declined the payment",
    "processor_error": "the payment processor had a temporary problem",
    "timeout": "the payment processor did not answer in time",
    "kyc_required": "the payment could not be processed yet",
}
DEFAULT_FAILURE_REASON = "the payment was declined"


# --- formats ---


def format_amount(amount: int, currency: str) -> str:
    """`500000, "NGN"` → `₦5,000.00` (currency symbol, thousands separators, 2 decimals)."""
    sign = "-" if amount < 0 else ""
    major, minor = divmod(abs(amount), 10**MINOR_DIGITS)
    symbol = CURRENCY_SYMBOLS.get(currency.upper())
    prefix = symbol if symbol is not None else f"{currency.upper()} "
    return f"{sign}{prefix}{major:,}.{minor:0{MINOR_DIGITS}d}"


def format_date(value: datetime | None) -> str:
    """`28 Feb 2025`, day not zero-padded (`5 Feb 2025`), in UTC; empty for none."""
    if value is None:
        return ""
    v = value.astimezone(UTC)
    return f"{v.day} {v:%b %Y}"


def format_datetime(value: datetime | None) -> str:
    """`28 Mar 2025, 09:00 UTC`; empty for none (e.g. `next_attempt` when no retry is scheduled)."""
    if value is None:
        return ""
    v = value.astimezone(UTC)
    return f"{v.day} {v:%b %Y, %H:%M} UTC"


def customer_name(name: str | None) -> str:
    cleaned = (name or "").strip()
    return cleaned or CUSTOMER_NAME_FALLBACK


def failure_reason(category_or_code: str | None) -> str:
    if not category_or_code:
        return DEFAULT_FAILURE_REASON
    return FAILURE_REASONS.get(category_or_code, DEFAULT_FAILURE_REASON)


# --- substitution ---


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace known tags in one pass; unknown tags stay verbatim; inserted values are never re-scanned."""

    def repl(match: re.Match[str]) -> str:
        found = values.get(match.group(1))
        return match.group(0) if found is None else found

    return TAG.sub(repl, text)


def tags_in(text: str) -> list[str]:
    """Tag names used in `text`, in order of first use."""
    seen: dict[str, None] = {}
    for match in TAG.finditer(text):
        seen.setdefault(match.group(1), None)
    return list(seen)


def unknown_tags(tpl: Template, *texts: str | None) -> list[str]:
    """Tags of `texts` that `tpl` does not know (the editor flags them; rendering leaves them verbatim)."""
    known = set(tpl.tags)
    out: dict[str, None] = {}
    for text in texts:
        for name in tags_in(text or ""):
            if name not in known:
                out.setdefault(name, None)
    return list(out)


# --- HTML ---


def _link(text: str) -> str:
    """Escape plain text and turn its http(s) URLs into links."""
    out: list[str] = []
    pos = 0
    for match in URL.finditer(text):
        url = match.group(0).rstrip(_URL_TRAILING)
        start, end = match.start(), match.start() + len(url)
        out.append(html.escape(text[pos:start]))
        safe = html.escape(url)
        out.append(f'<a href="{safe}" style="color:inherit">{safe}</a>')
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out)


def body_html(text: str) -> str:
    """Blank-line paragraphs → `<p>`, single newlines → `<br>`, URLs linked, everything escaped."""
    paragraphs = [p.strip("\n") for p in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n"))]
    return "\n".join(
        f'<p style="margin:0 0 16px 0">{"<br>".join(_link(line) for line in p.split(chr(10)))}</p>'
        for p in paragraphs
        if p.strip()
    )


def email_html(
    body_text: str,
    *,
    header: str,
    brand_color: str = DEFAULT_BRAND_COLOR,
    footer: str = "",
    logo_url: str | None = None,
) -> str:
    """The email layout around a rendered body: a header band in the brand colour with the logo (when given) and
    the store name, the body, a small footer. Inline styles only (mail clients drop `<style>`)."""
    color = brand_color if re.fullmatch(r"#[0-9A-Fa-f]{6}", brand_color) else DEFAULT_BRAND_COLOR
    name = html.escape(header)
    foot = html.escape(footer)
    logo = ""
    if logo_url:
        logo = (
            f'<img src="{html.escape(logo_url)}" alt="" height="40" '
            'style="display:block;height:40px;max-width:200px;margin:0 0 8px 0;border:0">'
        )
    return (
        "<!DOCTYPE html>\n"
        '<html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{name}</title></head>\n"
        '<body style="margin:0;padding:0;background:#f4f4f5;font-family:Helvetica,Arial,sans-serif;color:#111827">\n'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f4f4f5">'
        '<tr><td align="center" style="padding:24px 12px">\n'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        'style="max-width:560px;background:#ffffff;border-radius:8px;overflow:hidden">\n'
        f'<tr><td style="background:{color};color:#ffffff;padding:20px 24px;font-size:18px;font-weight:bold">'
        f"{logo}{name}</td></tr>\n"
        f'<tr><td style="padding:24px;font-size:15px;line-height:1.5">\n{body_html(body_text)}\n</td></tr>\n'
        f'<tr><td style="padding:16px 24px;font-size:12px;color:#6b7280;border-top:1px solid #e5e7eb">{foot}'
        "</td></tr>\n"
        "</table>\n</td></tr></table>\n</body></html>\n"
    )


def default_footer(store_name: str) -> str:
    return f"You are receiving this email because you have a subscription with {store_name}."


def email_logo_url(logo: Any, public_url: str) -> str | None:
    """An absolute URL for a mail client: an uploaded logo's same-origin path under `public_url`, or an https URL
    as is; None for anything else (a mail client cannot resolve a relative path)."""
    if not isinstance(logo, str):
        return None
    if LOGO_PATH.fullmatch(logo):
        return public_url.rstrip("/") + logo
    return logo if logo.startswith("https://") else None


def sender_name(look: Mapping[str, Any], tenant_name: str) -> str:
    """Who a customer email is from (header band, and the From display name): `email.senderName`, else the
    display name, else the tenant's name."""
    return str(look["email"].get("senderName") or look["general"].get("displayName") or tenant_name)


def email_layout(config: Mapping[str, Any] | None, tenant_name: str, body_text: str, *, public_url: str) -> str:
    """The HTML part of a customer email with a configuration's `email` surface (cascaded from `general`, 06 §8):
    the header band shows the logo (when `showLogo`) and the sender name in the brand colour, the header text opens
    the body, the footer text closes it. Sent and captured mail passes the PUBLISHED configuration; the dashboard's
    preview passes the draft. `config` may be stored (sparse) or already effective."""
    look = effective(config, tenant_name)
    surface = look["email"]
    name = sender_name(look, tenant_name)
    header_text = surface.get("headerText")
    body = f"{header_text}\n\n{body_text}" if header_text else body_text
    footer = surface.get("footerText") or default_footer(name)
    logo = email_logo_url(surface.get("logo"), public_url) if surface.get("showLogo") else None
    return email_html(body, header=name, brand_color=str(surface.get("brandColor") or ""), footer=footer, logo_url=logo)


# --- whole messages ---


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str


def render(
    tpl: Template, values: Mapping[str, str], *, subject: str | None = None, body: str | None = None
) -> Rendered:
    """Subject and plain text of `tpl` (or of an override's `subject`/`body`) with `values` merged in."""
    return Rendered(
        substitute(tpl.subject if subject is None else subject, values),
        substitute(tpl.body if body is None else body, values),
    )


def whatsapp_template(
    tpl: Template, values: Mapping[str, str], language: str, name: str | None = None
) -> dict[str, Any]:
    """`{name: "duro_{key}", language, params}`: the approved template's body parameters in merge-tag order."""
    return {
        "name": name or f"duro_{tpl.key}",
        "language": language,
        "params": [values.get(tag, "") for tag in tpl.tags],
    }


def whatsapp_request(to: str, stored: Mapping[str, Any], *, otp: bool = False) -> dict[str, Any]:
    """The Cloud API body of 06 §9 for a stored `whatsappTemplate`: body parameters in order, and for the OTP
    authentication template also the copy-code button parameter."""
    params: Sequence[str] = stored.get("params") or []
    components: list[dict[str, Any]] = [
        {"type": "body", "parameters": [{"type": "text", "text": str(p)} for p in params]}
    ]
    if otp:
        code = str(params[0]) if params else ""
        components.append(
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": code}]}
        )
    return {
        "messaging_product": "whatsapp",
        "to": "".join(ch for ch in to if ch.isdigit()),
        "type": "template",
        "template": {"name": stored["name"], "language": {"code": stored["language"]}, "components": components},
    }


# --- overrides ---


def validate_override(
    tpl: Template, *, subject: str | None, body: str | None, channel: str = "email"
) -> tuple[list[Detail], list[str]]:
    """Check a tenant override before it is stored (the dashboard's template editor, 07 §9).

    Returns `(errors, unknown_tags)`: errors are 422 details (`subject` ≤ 200 characters on one line, `body`
    ≤ 10,000, `channel` one of email/whatsapp/both, only customer templates are overridable); unknown tags are not
    errors — they render verbatim — but the editor shows them."""
    errors: list[Detail] = []
    if not tpl.overridable:
        errors.append(Detail("templateKey", "platform templates cannot be overridden"))
    if channel not in OVERRIDE_CHANNELS:
        errors.append(Detail("channel", "must be one of email, whatsapp, both"))
    if subject is not None:
        if len(subject) > SUBJECT_MAX:
            errors.append(Detail("subject", f"must be at most {SUBJECT_MAX} characters"))
        if not subject.strip():
            errors.append(Detail("subject", "must not be blank"))
        if any(c in subject for c in "\r\n") or not subject.isprintable():
            errors.append(Detail("subject", "must be one line of printable characters"))
    if body is not None:
        if len(body) > BODY_MAX:
            errors.append(Detail("body", f"must be at most {BODY_MAX} characters"))
        if not body.strip():
            errors.append(Detail("body", "must not be blank"))
        if any(not (c.isprintable() or c in "\n\r\t") for c in body):
            errors.append(Detail("body", "must be plain text (no control characters)"))
    return errors, unknown_tags(tpl, subject, body)
