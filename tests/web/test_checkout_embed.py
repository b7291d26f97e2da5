"""The embedded checkout (06 §4 rule 3): the key and parent checks that decide whether a frame is granted, what an
error page may post, and the assets the inline SDK and the page load."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from tests.checkout.harness import GOOD, plan, session
from tests.http_assertions import ok
from tests.web.harness import assert_html_headers, card_form, post_form, publish

SHOP = "https://shop.example"


async def _token(client: Any, tenant: Any, mode: str = "test") -> str:
    p = await plan(client, tenant, mode)
    return str(
        ok(await session(client, tenant, mode, planId=p["id"], successUrl="https://shop.example/ok"), 201)["token"]
    )


def _embed(key: str, parent: str | None = SHOP) -> str:
    params = {"embed": "1", "key": key}
    if parent is not None:
        params["parent"] = parent
    return "?" + urlencode(params)


def _refused_without_post(r: Any, code: str) -> None:
    """A 403 page that cannot be framed and posts nothing (no parent is given to the script)."""
    assert r.status_code == 403
    assert_html_headers(r, "'none'")
    assert f'data-error-code="{code}"' in r.text
    assert "data-parent" not in r.text


async def test_good_key_and_https_parent_grant_the_frame(client: Any, tenant: Any, db: Any) -> None:
    await publish(db, tenant.id, overlay={"theme": "dark", "brandColor": "#112233", "showIdentityBar": False})
    token = await _token(client, tenant)
    r = await client.get(f"/checkout/{token}{_embed(tenant.test_publishable)}")
    assert r.status_code == 200, r.text
    assert_html_headers(r, SHOP)
    assert "x-frame-options" not in r.headers
    html = r.text
    assert f'data-embed="1" data-parent="{SHOP}"' in html
    assert 'class="theme-dark' in html  # overlay surface in embed mode
    assert 'href="/checkout/theme/112233.css"' in html
    assert "Pay with your saved Duro payment method" not in html  # overlay.showIdentityBar false
    assert 'data-action="close"' in html
    action = re.search(r'<form method="post" action="([^"]+)"', html)
    assert action is not None
    assert "embed=1" in action.group(1)
    assert "parent=https%3A%2F%2Fshop.example" in action.group(1)

    # The no-JS post keeps the embed: success shows "Done", never redirects the frame.
    done = await post_form(
        client, token, card_form(GOOD, email="ada@example.com"), query=_embed(tenant.test_publishable)
    )
    assert done.status_code == 200
    assert_html_headers(done, SHOP)
    assert 'data-action="done"' in done.text
    assert "http-equiv" not in done.text
    assert 'data-page="success"' in done.text


async def test_plain_page_is_never_framed(client: Any, tenant: Any) -> None:
    token = await _token(client, tenant)
    r = await client.get(f"/checkout/{token}")
    assert_html_headers(r, "'none'")
    assert r.headers["x-frame-options"] == "DENY"
    assert "data-parent" not in r.text
    assert 'data-action="close"' not in r.text
    # parent/key without embed=1 change nothing.
    r2 = await client.get(f"/checkout/{token}?key={tenant.test_publishable}&parent={SHOP}")
    assert_html_headers(r2, "'none'")


async def test_wrong_key_is_key_mismatch_and_posts_only_to_an_allowed_parent(
    client: Any, tenant: Any, make_tenant: Any, revoke_key: Any
) -> None:
    other = await make_tenant("Other Ltd")
    token = await _token(client, tenant)
    for key in (
        other.test_publishable,  # another tenant's key
        tenant.live_publishable,  # the other mode's key
        tenant.test_secret,  # not a publishable key
        "pk_test_" + "x" * 43,  # not a key at all
        "",
    ):
        r = await client.get(f"/checkout/{token}{_embed(key)}")
        assert r.status_code == 403, key
        assert_html_headers(r, SHOP)  # shown inside the frame...
        assert 'data-error-code="key_mismatch"' in r.text
        assert f'data-parent="{SHOP}"' in r.text  # ...and posted to the (allowed) parent only
        assert 'name="rail"' not in r.text
    await revoke_key(tenant, "test", "publishable")
    revoked = await client.get(f"/checkout/{token}{_embed(tenant.test_publishable)}")
    assert revoked.status_code == 403
    assert 'data-error-code="key_mismatch"' in revoked.text
    # A bad key and a bad parent: nothing is framed or posted.
    both = await client.get(f"/checkout/{token}{_embed(other.test_publishable, 'http://evil.example')}")
    _refused_without_post(both, "origin_not_allowed")


async def test_live_session_with_live_key(client: Any, tenant: Any) -> None:
    token = await _token(client, tenant, "live")
    good = await client.get(f"/checkout/{token}{_embed(tenant.live_publishable)}")
    assert good.status_code == 200
    assert_html_headers(good, SHOP)
    test_key = await client.get(f"/checkout/{token}{_embed(tenant.test_publishable)}")
    assert test_key.status_code == 403
    assert 'data-error-code="key_mismatch"' in test_key.text


async def test_parent_rules_by_mode(client: Any, tenant: Any) -> None:
    test_token = await _token(client, tenant)
    live_token = await _token(client, tenant, "live")
    for parent in ("http://localhost:3000", "http://127.0.0.1", "http://127.0.0.1:8080"):
        r = await client.get(f"/checkout/{test_token}{_embed(tenant.test_publishable, parent)}")
        assert r.status_code == 200, parent
        assert_html_headers(r, parent)
    for parent in ("http://localhost:3000", "http://127.0.0.1"):
        _refused_without_post(
            await client.get(f"/checkout/{live_token}{_embed(tenant.live_publishable, parent)}"), "origin_not_allowed"
        )
    for parent in (
        None,
        "http://shop.example",  # plain http is never allowed off loopback
        "https://shop.example/path",
        "https://shop.example; script-src *",
        "https://a.example,https://b.example",
        "javascript:alert(1)",
        "*",
        "null",
    ):
        _refused_without_post(
            await client.get(f"/checkout/{test_token}{_embed(tenant.test_publishable, parent)}"), "origin_not_allowed"
        )


async def test_allowed_origins_restrict_the_parent(client: Any, tenant: Any, db: Any) -> None:
    await publish(db, tenant.id, overlay={"allowedOrigins": ["https://shop.example", "https://app.shop.example:8443"]})
    token = await _token(client, tenant)
    for parent in (SHOP, "https://SHOP.example:443", "https://app.shop.example:8443"):
        r = await client.get(f"/checkout/{token}{_embed(tenant.test_publishable, parent)}")
        assert r.status_code == 200, parent
    granted = await client.get(f"/checkout/{token}{_embed(tenant.test_publishable, 'https://SHOP.example:443')}")
    assert_html_headers(granted, SHOP)  # normalised
    for parent in ("https://evil.example", "https://app.shop.example", "http://localhost:3000"):
        _refused_without_post(
            await client.get(f"/checkout/{token}{_embed(tenant.test_publishable, parent)}"), "origin_not_allowed"
        )
    # A disallowed parent wins over a bad key: nothing is posted.
    _refused_without_post(
        await client.get(f"/checkout/{token}{_embed('pk_test_nope', 'https://evil.example')}"), "origin_not_allowed"
    )
    # The form post is refused the same way.
    posted = await post_form(
        client,
        token,
        card_form(GOOD, email="a@example.com"),
        query=_embed(tenant.test_publishable, "https://evil.example"),
    )
    _refused_without_post(posted, "origin_not_allowed")


async def test_terminal_pages_in_embed_mode(client: Any, tenant: Any) -> None:
    token = await _token(client, tenant)
    ok(await client.post(f"/api/checkout/{token}/pay", json={**_card_json(), "email": "a@example.com"}))
    r = await client.get(f"/checkout/{token}{_embed(tenant.test_publishable)}")
    assert r.status_code == 200
    assert_html_headers(r, SHOP)
    assert "This checkout is complete" in r.text
    assert "https://shop.example/ok" not in r.text  # no redirect link inside the frame
    assert 'data-action="done"' in r.text


def _card_json() -> dict[str, Any]:
    return {"rail": "card", "card": {"number": GOOD, "expMonth": 12, "expYear": 2099, "cvc": "123"}}


async def test_inline_js_is_served_small_and_strict(client: Any) -> None:
    r = await client.get("/js/inline.js")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/javascript; charset=utf-8"
    assert r.headers["cache-control"] == "public, max-age=300"
    assert r.headers["x-content-type-options"] == "nosniff"
    js = r.text
    assert len(r.content) < 6 * 1024
    assert "w.DuroCheckout = {" in js
    assert not re.search(r"postMessage\([^)]*,\s*['\"]\*['\"]\s*\)", js)
    assert "document.cookie" not in js
    assert "d.cookie" not in js
    assert "d.currentScript" in js  # the Duro origin is the script's own
    for code in ("invalid_key", "invalid_token", "mode_mismatch", "already_open"):
        assert code in js
    assert "?embed=1&key=" in js
    assert "e.origin !== origin" in js
    assert "e.source !== frame.contentWindow" in js
    assert 'm.source !== "duro-checkout"' in js
    assert "m.version !== 1" in js


async def test_page_assets(client: Any) -> None:
    js = await client.get("/static/checkout/checkout.js")
    assert js.status_code == 200
    assert js.headers["content-type"] == "application/javascript; charset=utf-8"
    assert js.headers["x-content-type-options"] == "nosniff"
    assert not re.search(r"postMessage\([^)]*,\s*['\"]\*['\"]\s*\)", js.text)
    assert "event.source !== window.parent || event.origin !== parentOrigin" in js.text
    css = await client.get("/static/checkout/checkout.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    theme = await client.get("/checkout/theme/aa3300.css")
    assert theme.status_code == 200
    assert theme.headers["content-type"].startswith("text/css")
    assert "--brand: #AA3300" in theme.text
    assert "immutable" in theme.headers["cache-control"]
    for bad in ("zz3300", "AA33", "AA3300;x", "AA3300AA"):
        assert (await client.get(f"/checkout/theme/{bad}.css")).status_code == 404, bad
