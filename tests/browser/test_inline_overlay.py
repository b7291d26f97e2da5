"""The inline overlay (06 §4) in headless Chromium: a merchant page on `http://localhost:<port>` — another origin
than Duro's `http://127.0.0.1:<port>` — loads `{duro}/js/inline.js` and calls `DuroCheckout.open`; the card is
typed inside the Duro iframe, the payment completes, `onSuccess` fires in the merchant page with the completed
result, then the overlay closes itself and `onClose` fires. The merchant verifies server-side.

Screenshots: `<pytest basetemp>/test-output/<test name>/NN-<step>.png` (see tests/browser/conftest.py).
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

from playwright.async_api import Page, expect

from tests.browser.support import SUCCESS_CARD, MerchantFactory, MerchantSite, Shots
from tests.cli.process import ServerProcess

SHOP = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shop</title>
<script src="{duro}/js/inline.js"></script></head>
<body>
<h1>Merchant shop</h1>
<button type="button" id="subscribe">Subscribe</button>
<button type="button" id="mismatch">Wrong key</button>
<script>
window.__events = [];
function options(key) {{
  return {{
    key: key,
    token: {token},
    onSuccess: function (r) {{ window.__events.push("success"); window.__result = r; }},
    onClose: function () {{ window.__events.push("close"); }},
    onError: function (e) {{ window.__events.push("error:" + e.code); }}
  }};
}}
document.getElementById("subscribe").addEventListener("click", function () {{ DuroCheckout.open(options({key})); }});
document.getElementById("mismatch").addEventListener("click", function () {{ DuroCheckout.open(options({live})); }});
</script>
</body></html>
"""


async def test_overlay_from_a_merchant_page_completes_and_fires_on_success(
    page: Page, duro: ServerProcess, make_merchant: MerchantFactory, merchant_site: MerchantSite, shots: Shots
) -> None:
    merchant = await make_merchant("Yaba Streaming")
    plan = await merchant.plan("Family Screen", 300_000)
    session = await merchant.checkout_session(plan["id"], customerEmail="chidi@example.com")
    merchant_site.pages["/shop"] = SHOP.format(
        duro=duro.base_url,
        token=json.dumps(session["token"]),
        key=json.dumps(merchant.publishable),
        live=json.dumps("pk_live_" + merchant.publishable.removeprefix("pk_test_")),
    )
    assert not merchant_site.origin.startswith(duro.base_url)

    await page.goto(f"{merchant_site.origin}/shop")
    await expect(page.get_by_role("heading", name="Merchant shop")).to_be_visible()

    # A key of the other mode is refused by the SDK before anything opens.
    await page.get_by_role("button", name="Wrong key").click()
    assert await page.evaluate("window.__events") == ["error:mode_mismatch"]
    await expect(page.locator("iframe")).to_have_count(0)

    await page.get_by_role("button", name="Subscribe").click()
    dialog = page.get_by_role("dialog", name="Checkout")
    await expect(dialog).to_be_visible()
    src = await page.locator("iframe").get_attribute("src")
    assert src is not None
    parts = urlsplit(src)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{duro.base_url}/checkout/{session['token']}"
    assert parse_qs(parts.query) == {"embed": ["1"], "key": [merchant.publishable], "parent": [merchant_site.origin]}

    frame = page.frame_locator("iframe[title='Secure checkout']")
    await expect(frame.get_by_role("heading", name="Family Screen")).to_be_visible()
    await shots.take(page, "overlay-open")
    await frame.get_by_label("Card number").fill(SUCCESS_CARD)
    await frame.get_by_label("Expiry month").fill("12")
    await frame.get_by_label("Expiry year").fill("2034")
    await frame.get_by_label("Security code").fill("123")
    await frame.get_by_role("button", name=re.compile(r"^Pay\b")).click()

    await page.wait_for_function("window.__result && window.__result.status === 'completed'", timeout=15_000)
    await expect(frame.get_by_role("heading", name="Payment complete")).to_be_visible()
    await shots.take(page, "overlay-success")
    result = await page.evaluate("window.__result")
    assert result["sessionId"] == session["id"]
    assert result["subscriptionId"], result
    # Card data never reached the merchant's document (the iframe's content is not part of it).
    assert SUCCESS_CARD not in await page.content()

    # After success the frame closes the overlay (2 s, or "Done"): onClose, overlay gone, onSuccess fired once.
    await page.wait_for_function("window.__events.includes('close')", timeout=10_000)
    await expect(page.locator("iframe")).to_have_count(0)
    assert await page.evaluate("window.__events") == ["error:mode_mismatch", "success", "close"]
    await shots.take(page, "overlay-closed")

    done = await merchant.call("GET", f"/v1/checkout/sessions/{session['id']}", 200)
    assert done["status"] == "completed"
    assert done["subscriptionId"] == result["subscriptionId"]
    sub = await merchant.call("GET", f"/v1/subscriptions/{done['subscriptionId']}", 200)
    assert (sub["status"], sub["planId"]) == ("active", plan["id"])
