"""The HTML customer portal `GET /portal[?mode=…]` (06 §7): one static shell; `static/portal/portal.js` does the
rest over the JSON API (phone → OTP → verify, token in `sessionStorage`, subscriptions per merchant, actions,
payment methods, invoices).

The shell carries no per-visitor data and no inline script or style, so the policy is self only (01 §6). Merchant
logos are shown only when served by Duro itself (a same-origin path); any other logo falls back to the merchant's
initial rather than widening `img-src`.
"""

from __future__ import annotations

from html import escape
from typing import Final

from starlette.responses import HTMLResponse

from duro.config import Settings
from duro.db.engine import Mode
from duro.gateway.simulator_rules import ACCOUNT_NUMBERS, CARD_NUMBERS

HSTS: Final = "max-age=63072000; includeSubDomains"
CSP: Final = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    )
)


def security_headers(settings: Settings) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "strict-origin-when-cross-origin",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
    }
    if settings.public_url.lower().startswith("https://"):
        headers["Strict-Transport-Security"] = HSTS
    return headers


def _test_numbers() -> str:
    rows = [
        f"<li><code>{escape(n)}</code> card: {escape(r.value.replace('_', ' '))}</li>" for n, r in CARD_NUMBERS.items()
    ]
    rows += [
        f"<li><code>{escape(n)}</code> bank account: {escape(r.value.replace('_', ' '))}</li>"
        for n, r in ACCOUNT_NUMBERS.items()
    ]
    return "\n          ".join(rows)


_PAGE: Final = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Your subscriptions</title>
  <link rel="stylesheet" href="/static/portal/portal.css">
  <script src="/static/portal/portal.js" defer></script>
</head>
<body data-mode="{mode}">
  <header class="top">
    <h1>Your subscriptions</h1>
    <div class="modes" role="group" aria-label="Mode">
      <button type="button" class="mode" data-mode-choice="live" aria-pressed="false">Live</button>
      <button type="button" class="mode" data-mode-choice="test" aria-pressed="false">Test</button>
    </div>
    <button type="button" id="logout" class="link" hidden>Sign out</button>
  </header>
  <main>
    <p id="notice" role="status" aria-live="polite"></p>

    <section id="signin" aria-labelledby="signin-title">
      <h2 id="signin-title">Sign in with your phone</h2>
      <form id="phone-form">
        <label for="phone">Phone number</label>
        <input id="phone" name="phone" type="tel" autocomplete="tel" required>
        <button type="submit">Send code on WhatsApp</button>
      </form>
      <form id="code-form" hidden>
        <label for="code">6-digit code</label>
        <input id="code" name="code" inputmode="numeric" pattern="[0-9]{{6}}" maxlength="6"
               autocomplete="one-time-code" required>
        <button type="submit">Verify</button>
        <button type="button" id="change-phone" class="link">Use another number</button>
      </form>
    </section>

    <section id="account" hidden>
      <div id="merchants" aria-live="polite"></div>

      <section class="card" aria-labelledby="methods-title">
        <h2 id="methods-title">Your payment methods</h2>
        <ul id="methods"></ul>
        <form id="method-form">
          <fieldset>
            <legend>Add a card</legend>
            <label for="card-number">Card number</label>
            <input id="card-number" name="number" inputmode="numeric" autocomplete="cc-number" required>
            <label for="exp-month">Expiry month</label>
            <input id="exp-month" name="expMonth" inputmode="numeric" maxlength="2" placeholder="MM" required>
            <label for="exp-year">Expiry year</label>
            <input id="exp-year" name="expYear" inputmode="numeric" maxlength="4" placeholder="YYYY" required>
            <button type="submit">Add card</button>
          </fieldset>
        </form>
        <details id="test-numbers" class="test-only">
          <summary>Simulator test numbers (test mode)</summary>
          <ul>
          {numbers}
          </ul>
        </details>
      </section>
    </section>
  </main>
</body>
</html>
"""


def render(settings: Settings, mode: str) -> HTMLResponse:
    shown: Mode = "test" if mode == "test" else "live"
    html = _PAGE.format(mode=shown, numbers=_test_numbers())
    return HTMLResponse(html, headers=security_headers(settings))
