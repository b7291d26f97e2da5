"""The identity bar of the hosted checkout page (06 §3): the markup the script drives to sign a customer in with
phone + WhatsApp code and offer the saved methods, with accessible labels; hidden in embed mode when the published
`overlay.showIdentityBar` is false. The pay API behind it is covered by tests/checkout/test_pay_with_identity.py;
the whole flow in a browser by tests/browser/test_checkout_identity.py."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from tests.checkout.harness import plan, session
from tests.http_assertions import ok
from tests.web.harness import assert_html_headers, publish

SHOP = "https://shop.example"


async def _token(client: Any, tenant: Any) -> str:
    p = await plan(client, tenant)
    return str(ok(await session(client, tenant, planId=p["id"], customerPhone="+2348012345678"), 201)["token"])


def _embed(tenant: Any) -> str:
    return "?" + urlencode({"embed": "1", "key": tenant.test_publishable, "parent": SHOP})


def _label_for(html: str, field_id: str) -> str:
    found = re.search(rf'<label for="{field_id}">([^<]+)</label>', html)
    assert found is not None, f"no label for #{field_id}"
    return found.group(1)


async def test_page_has_the_identity_bar_with_accessible_controls(client: Any, tenant: Any) -> None:
    token = await _token(client, tenant)
    r = await client.get(f"/checkout/{token}")
    assert r.status_code == 200
    csp = assert_html_headers(r)
    assert "connect-src 'self'" in csp  # /identity/* and the pay API are same-origin
    html = r.text

    bar = re.search(r'<section class="identity-bar" id="identity-bar"([^>]*)>(.*?)</section>', html, re.DOTALL)
    assert bar is not None
    attrs, inner = bar.groups()
    assert 'aria-labelledby="identity-title"' in attrs
    assert 'data-mode="test"' in attrs
    assert re.search(r'id="identity-title">Pay with your saved Duro payment method — enter your phone<', inner)
    # Phone, then code: labelled inputs whose messages are announced politely.
    assert _label_for(inner, "identity-phone") == "Phone number"
    assert re.search(r'<input id="identity-phone" type="tel" autocomplete="tel"[^>]*value="\+2348012345678"', inner)
    assert _label_for(inner, "identity-code") == "6-digit code"
    assert re.search(r'<input id="identity-code" inputmode="numeric" autocomplete="one-time-code" maxlength="6"', inner)
    for field_id in ("identity-phone", "identity-code"):
        assert re.search(rf'id="{field_id}"[^>]*aria-describedby="identity-message"', inner), field_id
    assert re.search(r'<p id="identity-message"[^>]*role="status" aria-live="polite">', inner)
    assert ">Send code on WhatsApp</button>" in inner
    assert ">Verify</button>" in inner
    # Without the script nothing of the sign-in shows (it cannot work), and nothing posts: only the pay form does.
    assert re.search(r'<form id="identity-phone-form"[^>]* hidden>', inner)
    assert re.search(r'<form id="identity-code-form"[^>]* hidden>', inner)
    assert re.search(r'<p id="identity-signed-in" hidden>', inner)
    assert len(re.findall(r"<form [^>]*method=", html)) == 1

    # The saved methods are a labelled choice inside the pay form, above the rails.
    saved = html.index('<fieldset class="saved" id="saved-methods" hidden>')
    assert html.index('id="pay-form"') < saved < html.index('<fieldset class="rails"')
    assert "<legend>Your saved payment methods</legend>" in html
    assert _label_for(html, "save-to-phone").startswith("Save to my phone")
    assert re.search(r'<p class="hint" id="save-to-phone-hint" hidden>Sign in with your phone above', html)


async def test_embed_shows_the_bar_unless_the_overlay_hides_it(client: Any, tenant: Any, db: Any) -> None:
    token = await _token(client, tenant)
    shown = await client.get(f"/checkout/{token}{_embed(tenant)}")
    assert shown.status_code == 200, shown.text
    assert 'id="identity-bar"' in shown.text  # overlay.showIdentityBar defaults to true
    assert 'id="saved-methods"' in shown.text

    await publish(db, tenant.id, overlay={"showIdentityBar": False})
    hidden = await client.get(f"/checkout/{token}{_embed(tenant)}")
    assert hidden.status_code == 200, hidden.text
    assert_html_headers(hidden, SHOP)
    for absent in ("identity-bar", "identity-phone", "identity-code", "identity-message", "saved-methods"):
        assert f'id="{absent}"' not in hidden.text, absent
    assert "Pay with your saved Duro payment method" not in hidden.text

    # The overlay setting is for embeds only: the hosted page keeps the bar.
    plain = await client.get(f"/checkout/{token}")
    assert 'id="identity-bar"' in plain.text
