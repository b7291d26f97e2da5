"""Templates and rendering (06 §9): shipped defaults, value formats, single-pass substitution, the HTML layout,
the WhatsApp payload and override limits. Pure: no database."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from duro.notifications.rendering import (
    TAG,
    customer_name,
    email_html,
    format_amount,
    format_date,
    format_datetime,
    render,
    substitute,
    validate_override,
    whatsapp_request,
    whatsapp_template,
)
from duro.notifications.templates import CUSTOMER_TEMPLATE_KEYS, PLATFORM_TEMPLATE_KEYS, TEMPLATES, template

SPEC_TAGS = {
    "receipt": ("store_name", "customer_name", "amount", "plan_name", "invoice_id", "period_end", "portal_link"),
    "renewal_reminder": ("store_name", "customer_name", "amount", "plan_name", "period_end", "portal_link"),
    **{
        f"dunning_{n}": (
            "store_name",
            "customer_name",
            "amount",
            "plan_name",
            "invoice_id",
            "next_attempt",
            "reason",
            "attempt_number",
            "update_link",
        )
        for n in (1, 2, 3, 4)
    },
    "payment_action_required": ("store_name", "customer_name", "amount", "plan_name", "reason", "update_link"),
    "payment_recovered": ("store_name", "customer_name", "amount", "plan_name", "invoice_id"),
    "dunning_exhausted": ("store_name", "customer_name", "amount", "plan_name", "update_link"),
    "subscription_canceled": ("store_name", "customer_name", "plan_name", "period_end"),
    "card_expiring": ("store_name", "customer_name", "plan_name", "period_end", "update_link"),
    "otp": ("code",),
    "welcome": ("tenant_name", "invite_link"),
    "member_invite": ("tenant_name", "invite_link"),
    "password_reset": ("tenant_name", "reset_link"),
    "kyc_submitted": ("tenant_name", "note"),
    "kyc_approved": ("tenant_name", "note"),
    "kyc_rejected": ("tenant_name", "note"),
    "webhook_endpoint_disabled": ("tenant_name", "endpoint_url", "reason"),
}


def test_every_spec_key_with_its_tags_audience_and_channel() -> None:
    assert set(TEMPLATES) == set(SPEC_TAGS)
    for key, tags in SPEC_TAGS.items():
        assert TEMPLATES[key].tags == tags, key
    assert set(CUSTOMER_TEMPLATE_KEYS) == {
        "receipt",
        "renewal_reminder",
        "dunning_1",
        "dunning_2",
        "dunning_3",
        "dunning_4",
        "payment_action_required",
        "payment_recovered",
        "dunning_exhausted",
        "subscription_canceled",
        "card_expiring",
    }
    assert template("otp").channel == "whatsapp"
    assert all(TEMPLATES[k].channel == "email" for k in TEMPLATES if k != "otp")
    assert not any(TEMPLATES[k].overridable for k in PLATFORM_TEMPLATE_KEYS)


def test_every_default_uses_every_tag_of_its_row_and_no_other() -> None:
    for key, tpl in TEMPLATES.items():
        used = set(TAG.findall(tpl.subject)) | set(TAG.findall(tpl.body))
        assert used == set(tpl.tags), (key, set(tpl.tags) ^ used)
        values = {tag: f"<{tag.upper()}>" for tag in tpl.tags}
        out = render(tpl, values)
        combined = out.subject + "\n" + out.text
        for tag in tpl.tags:
            assert f"<{tag.upper()}>" in combined, (key, tag)
        assert "{{" not in combined, key
        assert len(tpl.subject) <= 200
        assert "\n" not in tpl.subject


def test_amount_format() -> None:
    assert format_amount(500000, "NGN") == "₦5,000.00"
    assert format_amount(5, "NGN") == "₦0.05"
    assert format_amount(123456789, "USD") == "$1,234,567.89"
    assert format_amount(100, "GBP") == "£1.00"
    assert format_amount(99, "EUR") == "€0.99"
    assert format_amount(250000, "GHS") == "GH₵2,500.00"
    assert format_amount(250000, "KES") == "KSh2,500.00"
    assert format_amount(250000, "ZAR") == "R2,500.00"
    assert format_amount(-1050, "NGN") == "-₦10.50"
    assert format_amount(1050, "XOF") == "XOF 10.50"


def test_date_formats() -> None:
    assert format_date(datetime(2025, 2, 28, 23, 59, tzinfo=UTC)) == "28 Feb 2025"
    assert format_date(datetime(2025, 2, 5, tzinfo=UTC)) == "5 Feb 2025"
    assert format_date(None) == ""
    assert format_datetime(datetime(2025, 3, 28, 9, 0, tzinfo=UTC)) == "28 Mar 2025, 09:00 UTC"
    assert format_datetime(datetime(2025, 3, 5, 17, 7, tzinfo=UTC)) == "5 Mar 2025, 17:07 UTC"
    assert format_datetime(None) == ""


def test_customer_name_fallback() -> None:
    assert customer_name(None) == "there"
    assert customer_name("  ") == "there"
    assert customer_name(" Ada ") == "Ada"


def test_substitution_spacing_unknown_tags_and_non_tags() -> None:
    text = "Hi {{customer_name}}, {{ store_name }}, {{unknown_tag}}, {{Amount}}, {{ amount}}, {amount}"
    out = substitute(text, {"customer_name": "Ada", "store_name": "Acme", "amount": "₦1.00"})
    assert out == "Hi Ada, Acme, {{unknown_tag}}, {{Amount}}, ₦1.00, {amount}"


@given(
    value=st.text(alphabet=st.sampled_from(list("{}_ab x")), max_size=30).map(lambda s: s + "{{store_name}}"),
    prefix=st.text(max_size=20),
)
def test_substitution_is_non_recursive(value: str, prefix: str) -> None:
    # Whatever a value contains — even a known tag — it comes out exactly as given, never expanded.
    text = prefix.replace("{", "(") + "{{customer_name}}|{{store_name}}"
    out = substitute(text, {"customer_name": value, "store_name": "STORE"})
    assert out == prefix.replace("{", "(") + value + "|STORE"


@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), st.text(max_size=20), min_size=3))
def test_values_with_tags_are_inserted_verbatim(values: dict[str, str]) -> None:
    values = {k: v + "{{" + k + "}}" for k, v in values.items()}
    assert substitute("{{a}}{{b}}{{c}}", values) == values["a"] + values["b"] + values["c"]


def test_html_escapes_values_and_links_urls() -> None:
    tpl = template("receipt")
    values = {
        "store_name": "Acme & Co",
        "customer_name": "<script>alert(1)</script>",
        "amount": "₦5,000.00",
        "plan_name": 'Pro "Gold"',
        "invoice_id": "inv_1",
        "period_end": "28 Feb 2025",
        "portal_link": "https://pay.example.com/portal?mode=test&x=1",
    }
    out = render(tpl, values)
    page = email_html(out.text, header=values["store_name"], footer="footer text")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Pro &quot;Gold&quot;" in page
    assert "Acme &amp; Co" in page  # header
    assert (
        '<a href="https://pay.example.com/portal?mode=test&amp;x=1" style="color:inherit">'
        "https://pay.example.com/portal?mode=test&amp;x=1</a>"
    ) in page
    # One <p> per blank-line paragraph of the text.
    assert page.count("<p ") == len([p for p in re.split(r"\n\s*\n", out.text) if p.strip()])
    assert "footer text" in page
    assert page.startswith("<!DOCTYPE html>")


def test_url_trailing_punctuation_is_not_linked() -> None:
    page = email_html("See https://example.com/a.", header="S")
    assert '<a href="https://example.com/a" ' in page
    assert "</a>." in page


def test_whatsapp_payload_and_request() -> None:
    tpl = template("payment_recovered")
    values = {"store_name": "Acme", "customer_name": "Ada", "amount": "₦5.00", "plan_name": "Pro", "invoice_id": "i"}
    stored = whatsapp_template(tpl, values, "en")
    assert stored == {
        "name": "duro_payment_recovered",
        "language": "en",
        "params": ["Acme", "Ada", "₦5.00", "Pro", "i"],
    }
    assert whatsapp_request("+234 801 234 5678", stored) == {
        "messaging_product": "whatsapp",
        "to": "2348012345678",
        "type": "template",
        "template": {
            "name": "duro_payment_recovered",
            "language": {"code": "en"},
            "components": [
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": v} for v in ["Acme", "Ada", "₦5.00", "Pro", "i"]],
                }
            ],
        },
    }
    stored_otp = whatsapp_template(template("otp"), {"code": "123456"}, "en", "duro_otp")
    otp = whatsapp_request("+2348012345678", stored_otp, otp=True)
    assert otp["template"]["name"] == "duro_otp"
    assert otp["template"]["components"] == [
        {"type": "body", "parameters": [{"type": "text", "text": "123456"}]},
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "123456"}]},
    ]


def test_override_validation() -> None:
    tpl = template("receipt")
    errors, unknown = validate_override(tpl, subject="Thanks {{customer_name}}", body="Paid {{amount}} {{bogus}}")
    assert errors == []
    assert unknown == ["bogus"]
    errors, _ = validate_override(tpl, subject="x" * 201, body="y" * 10_001, channel="sms")
    assert {(e.path, e.issue) for e in errors} == {
        ("subject", "must be at most 200 characters"),
        ("body", "must be at most 10000 characters"),
        ("channel", "must be one of email, whatsapp, both"),
    }
    errors, _ = validate_override(tpl, subject="x" * 200, body="y" * 10_000, channel="both")
    assert errors == []
    errors, _ = validate_override(tpl, subject="two\nlines", body="ok")
    assert [e.path for e in errors] == ["subject"]
    errors, _ = validate_override(template("otp"), subject=None, body="{{code}}")
    assert [e.path for e in errors] == ["templateKey"]
