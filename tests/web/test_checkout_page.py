"""The hosted checkout page (06 §3): what it shows for each kind, branding from the published appearance (07 §4),
the no-JavaScript form flow, terminal and missing sessions, and the HTML security headers (01 §6)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from duro.app import create_app
from tests.checkout.harness import GOOD, GOOD_ACCOUNT, NSF, plan, session
from tests.conftest import make_settings
from tests.http_assertions import ok
from tests.invoices.harness import incomplete_subscription
from tests.web.harness import assert_html_headers, card_form, post_form, publish


async def _subscription(client: Any, tenant: Any, **body: Any) -> dict[str, Any]:
    p = await plan(client, tenant)
    return ok(await session(client, tenant, planId=p["id"], **body), 201)  # type: ignore[no-any-return]


def _rail_order(html: str) -> list[str]:
    return re.findall(r'name="rail" value="([a-z_]+)"', html)


async def test_subscription_page_is_branded_with_the_published_appearance(client: Any, tenant: Any, db: Any) -> None:
    await publish(
        db,
        tenant.id,
        general={"displayName": "Acme Studio", "brandColor": "#aa3300"},
        checkout={
            "rails": ["transfer", "card"],
            "collectName": True,
            "phoneField": "required",
            "headline": "Join the studio",
            "submitLabel": "Subscribe",
            "footerNote": "Cancel any time <b>really</b>",
            "termsUrl": "https://acme.example/terms",
        },
    )
    s = await _subscription(client, tenant, customerEmail="ada@example.com", cancelUrl="https://acme.example/back")
    r = await client.get(f"/checkout/{s['token']}")
    assert r.status_code == 200
    assert_html_headers(r)
    assert r.headers["cache-control"] == "no-store"
    assert "strict-transport-security" not in r.headers  # public_url is http in tests
    html = r.text
    for text in ("Acme Studio", "Join the studio", "Pro Monthly", "NGN 5,000.00 / month", "Due today", "Subscribe"):
        assert text in html, text
    assert "Test mode" in html
    assert "4242424242424242" in html
    assert "0000000051" in html  # the account numbers too
    assert "Pay with your saved Duro payment method — enter your phone" in html
    assert _rail_order(html) == ["transfer", "card"]  # configured order, only the enabled rails
    assert 'id="rail-transfer" checked' in html
    assert 'name="name"' in html
    assert re.search(r'id="phone" name="phone"[^>]* required', html)
    assert 'name="save_to_phone"' in html
    assert 'value="ada@example.com"' in html  # prefill
    assert "Cancel any time &lt;b&gt;really&lt;/b&gt;" in html  # autoescaped
    assert 'href="https://acme.example/terms"' in html
    assert f'href="https://acme.example/back?session_id={s["id"]}"' in html
    assert 'href="/checkout/theme/AA3300.css"' in html
    assert 'src="/static/checkout/checkout.js"' in html
    assert 'aria-live="assertive"' in html
    for field_id in ("card-number", "card-exp-month", "card-exp-year", "card-cvc", "account-number", "email"):
        assert f'<label for="{field_id}">' in html, field_id
    assert "metadata" not in html


async def test_defaults_hide_name_and_show_every_rail(client: Any, tenant: Any) -> None:
    s = await _subscription(client, tenant)
    html = (await client.get(f"/checkout/{s['token']}")).text
    assert _rail_order(html) == ["card", "ussd", "transfer", "virtual_account", "direct_debit"]
    assert 'name="name"' not in html
    assert re.search(r'id="phone" name="phone"[^>]*>', html)
    assert not re.search(r'id="phone" name="phone"[^>]* required', html)
    assert ">Pay NGN 5,000.00</button>" in html


async def test_hidden_phone_field(client: Any, tenant: Any, db: Any) -> None:
    await publish(db, tenant.id, checkout={"phoneField": "hidden"})
    s = await _subscription(client, tenant)
    html = (await client.get(f"/checkout/{s['token']}")).text
    assert 'name="phone"' not in html
    assert 'name="save_to_phone"' not in html


async def test_trial_page_shows_zero_and_the_trial_end(client: Any, tenant: Any) -> None:
    p = await plan(client, tenant, trialDays=7)
    s = ok(await session(client, tenant, planId=p["id"]), 201)
    view = ok(await client.get(f"/api/checkout/{s['token']}"))
    r = await client.get(f"/checkout/{s['token']}")
    assert r.status_code == 200
    html = r.text
    from duro.web.checkout.rendering import long_date

    end = long_date(view["trialEnd"])
    assert re.match(r"^\d{1,2} [A-Z][a-z]+ \d{4}$", end)
    assert f"7 days, ends {end}" in html
    assert re.search(r"<dt>Subtotal</dt><dd>NGN 0.00</dd>", html)
    assert re.search(r"<dt>Due today</dt><dd>NGN 0.00</dd>", html)
    assert f"Your trial ends on {end}" in html
    assert ">Pay</button>" in html  # nothing due: no amount on the button


async def test_payment_and_discount_lines(client: Any, tenant: Any) -> None:
    one_off = ok(await session(client, tenant, amount=250000, description="Consulting, 2 hours"), 201)
    html = (await client.get(f"/checkout/{one_off['token']}")).text
    assert "Consulting, 2 hours" in html
    assert re.search(r"<dt>Due today</dt><dd>NGN 2,500.00</dd>", html)
    assert "<dt>Price</dt>" not in html  # no plan
    assert "<dt>Discount</dt>" not in html


async def test_invoice_page(client: Any, tenant: Any) -> None:
    sub = await incomplete_subscription(client, tenant)
    invoice = ok(await client.get(f"/v1/invoices/{sub['latestInvoiceId']}", headers=tenant.auth()))
    url = invoice["hostedPaymentUrl"]
    assert url.startswith("http://localhost:8000/checkout/cs_test_")
    r = await client.get(url.removeprefix("http://localhost:8000"))
    assert r.status_code == 200
    assert_html_headers(r)
    assert "Invoice payment" in r.text
    assert re.search(r"<dt>Due today</dt><dd>NGN 5,000.00</dd>", r.text)


async def test_live_page_has_no_test_banner(client: Any, tenant: Any) -> None:
    p = await plan(client, tenant, "live")
    s = ok(await session(client, tenant, "live", planId=p["id"]), 201)
    r = await client.get(f"/checkout/{s['token']}")
    assert r.status_code == 200
    assert "Test mode" not in r.text
    assert "4242424242424242" not in r.text


async def test_no_js_decline_then_another_rail_then_success(client: Any, tenant: Any) -> None:
    s = await _subscription(client, tenant, successUrl="https://acme.example/thanks?x=1")
    declined = await post_form(client, s["token"], card_form(NSF, email="ada@example.com", name="Ada"))
    assert declined.status_code == 402
    assert_html_headers(declined)
    html = declined.text
    assert "Payment declined" in html
    assert "insufficient funds" in html
    assert "Try another way" in html
    for rail, label in (("ussd", "USSD"), ("transfer", "Bank transfer"), ("direct_debit", "Direct debit")):
        assert f'<label for="rail-{rail}" class="link">{label}</label>' in html
    assert '<label for="rail-card" class="link">' not in html
    assert 'id="rail-ussd" checked' in html  # the first other rail is selected
    assert 'value="ada@example.com"' in html  # contact details are kept...
    assert NSF not in re.sub(r"<code>\d+</code>", "", html)  # ...card numbers are not (only in the test banner)
    assert "autofocus" in html

    done = await post_form(client, s["token"], {"rail": "ussd", "account_number": GOOD_ACCOUNT, "email": "ada@x.io"})
    assert done.status_code == 200
    assert_html_headers(done)
    redirect = f"https://acme.example/thanks?x=1&amp;session_id={s['id']}"
    assert f'<meta http-equiv="refresh" content="3;url={redirect}">' in done.text
    assert "Payment complete" in done.text
    got = ok(await client.get(f"/v1/checkout/sessions/{s['id']}", headers=tenant.auth()))
    assert got["status"] == "completed"

    again = await client.get(f"/checkout/{s['token']}")  # completed: the terminal page, 200
    assert again.status_code == 200
    assert_html_headers(again)
    assert "This checkout is complete" in again.text
    assert 'name="rail"' not in again.text
    assert "http-equiv" not in again.text


async def test_success_without_redirect_url_has_no_refresh(client: Any, tenant: Any) -> None:
    s = await _subscription(client, tenant)
    done = await post_form(client, s["token"], card_form(GOOD, email="ada@example.com"))
    assert done.status_code == 200
    assert "Payment complete" in done.text
    assert "http-equiv" not in done.text


async def test_form_post_needs_our_origin(client: Any, tenant: Any, db: Any) -> None:
    s = await _subscription(client, tenant)
    form = card_form(GOOD, email="ada@example.com")
    for origin in (None, "https://evil.example", "null"):
        r = await post_form(client, s["token"], form, origin=origin)
        assert r.status_code == 403, origin
        assert_html_headers(r)
        assert "cross_origin_post" in r.text
    referer_only = await client.post(
        f"/checkout/{s['token']}", data=form, headers={"Referer": f"http://localhost:8000/checkout/{s['token']}"}
    )
    assert referer_only.status_code == 200
    assert "Payment complete" in referer_only.text


async def test_form_validation_errors_are_shown_on_their_fields(client: Any, tenant: Any) -> None:
    s = await _subscription(client, tenant)
    r = await post_form(client, s["token"], card_form(GOOD, card_cvc="12x", email="ada@example.com"))
    assert r.status_code == 422
    assert "Enter the 3 or 4 digit security code." in r.text
    assert re.search(r'id="card-cvc"[^>]*aria-invalid="true" aria-describedby="card-cvc-error"', r.text)
    assert '<a href="#card-cvc">' in r.text
    assert "12x" not in r.text  # input is never echoed

    unknown = await post_form(client, s["token"], card_form("4111111111111111", email="ada@example.com"))
    assert unknown.status_code == 422
    assert "Use one of the test numbers listed above." in unknown.text
    expired = await post_form(client, s["token"], card_form(GOOD, card_exp_year="2001", email="ada@example.com"))
    assert expired.status_code == 422
    assert "This card has expired." in expired.text
    nobody = await post_form(client, s["token"], card_form(GOOD))
    assert nobody.status_code == 422
    assert "Give an email or a phone." in nobody.text


async def test_required_phone_is_enforced_by_the_form(client: Any, tenant: Any, db: Any) -> None:
    await publish(db, tenant.id, checkout={"phoneField": "required"})
    s = await _subscription(client, tenant)
    r = await post_form(client, s["token"], card_form(GOOD, email="ada@example.com"))
    assert r.status_code == 422
    assert "Enter your phone number." in r.text
    got = ok(await client.get(f"/v1/checkout/sessions/{s['id']}", headers=tenant.auth()))
    assert got["status"] == "pending"


async def test_expired_session_renders_terminal_page(client: Any, tenant: Any) -> None:
    s = await _subscription(client, tenant, cancelUrl="https://acme.example/back")
    ok(await client.post(f"/v1/checkout/sessions/{s['id']}/expire", headers=tenant.auth()))
    r = await client.get(f"/checkout/{s['token']}")
    assert r.status_code == 200
    assert_html_headers(r)
    assert "This checkout has expired" in r.text
    assert f"https://acme.example/back?session_id={s['id']}" in r.text
    assert 'name="rail"' not in r.text
    posted = await post_form(client, s["token"], card_form(GOOD, email="a@example.com"))
    assert posted.status_code == 200
    assert "This checkout has expired" in posted.text


@pytest.mark.parametrize(
    "token", ["cs_test_" + "A" * 32, "cs_live_" + "A" * 32, "cs_other_abc", "nothing", "cs_test_short"]
)
async def test_unknown_token_is_a_404_page(client: Any, token: str) -> None:
    r = await client.get(f"/checkout/{token}")
    assert r.status_code == 404
    assert_html_headers(r)
    assert "Checkout not found" in r.text
    assert (await post_form(client, token, card_form(GOOD))).status_code == 404


async def test_other_mode_token_is_not_found(client: Any, tenant: Any) -> None:
    s = await _subscription(client, tenant)
    live = "cs_live_" + s["token"].removeprefix("cs_test_")
    assert (await client.get(f"/checkout/{live}")).status_code == 404


async def test_hsts_when_the_public_url_is_https(db: Any, tenant: Any) -> None:
    app = create_app(make_settings(public_url="https://pay.duro.example"), db=db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://pay.duro.example") as c:
        p = ok(
            await c.post("/v1/plans", json={"name": "P", "amount": 1000, "interval": "month"}, headers=tenant.auth()),
            201,
        )
        s = ok(await session(c, tenant, planId=p["id"]), 201)
        r = await c.get(f"/checkout/{s['token']}")
        assert r.status_code == 200
        assert r.headers["strict-transport-security"].startswith("max-age=")
        missing = await c.get("/checkout/nothing")
        assert "strict-transport-security" in missing.headers
        done = await post_form(c, s["token"], card_form(GOOD, email="a@example.com"), origin="https://pay.duro.example")
        assert done.status_code == 200
    await app.state.runtime.close()
