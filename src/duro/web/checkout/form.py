"""The no-JavaScript checkout form post: request origin check, form fields → `CheckoutPay`, and errors →
messages a customer can act on.

**CSRF decision: an Origin check, not a double-submit cookie.** The page is also rendered inside a third-party
iframe (the inline SDK), where browsers increasingly drop third-party cookies, so a cookie-based token would break
the embedded no-JS path; the SDK also promises "no cookies". Every current browser sends `Origin` on a POST form
submission, so the post is accepted only when `Origin` (or, if a privacy setting stripped it, the `Referer`'s
origin) is Duro's own public origin; a missing or foreign origin is 403. There is no ambient authority to abuse
either way — the checkout token in the URL is the only credential and no cookie is read — so the check only stops
other sites from driving a customer's checkout through their browser.

Card and account numbers are read from the form into the pay model and nowhere else: they are not logged, not put
back into a re-rendered form, and validation messages never echo input values.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlsplit

from pydantic import ValidationError
from starlette.datastructures import FormData

from duro.checkout.schemas import CheckoutPay
from duro.kit.errors import DuroError
from duro.web.checkout.page import PageState

# Form field ids (also the element ids in the template) by API field path.
FIELD_IDS: Final = {
    "card.number": "card-number",
    "card.expMonth": "card-exp-month",
    "card.expYear": "card-exp-year",
    "card.cvc": "card-cvc",
    "account.number": "account-number",
    "email": "email",
    "phone": "phone",
    "name": "name",
    "saveToPhone": "save-to-phone",
    "rail": "rails",
}
MESSAGES: Final = {
    "card.number": "Enter a valid card number.",
    "card.expMonth": "Enter the expiry month (1-12).",
    "card.expYear": "Enter the expiry year (four digits).",
    "card.cvc": "Enter the 3 or 4 digit security code.",
    "account.number": "Enter the 10-digit account number.",
    "email": "Enter a valid email address.",
    "phone": "Enter a valid phone number.",
    "name": "Enter your name (at most 200 characters).",
    "rail": "Choose a way to pay.",
}
REASON_MESSAGES: Final = {
    "unknown_test_number": "Use one of the test numbers listed above.",
    "invalid_expiry": "This card has expired.",
    "identity_required": "To save this method to your phone, verify your phone first.",
}
SECRET_FIELDS: Final = frozenset({"card_number", "card_cvc", "account_number"})


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(public_url: str, origin: str | None, referer: str | None) -> bool:
    """The request comes from a page of Duro's public origin (see the module docstring)."""
    own = _origin(public_url)
    sent = origin if origin and origin != "null" else None
    return own is not None and (_origin(sent) or _origin(referer)) == own


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _month_or_year(value: str) -> int | str:
    # Strict models want ints; anything else is handed on as text so it fails validation on its own field.
    return int(value) if value.isdigit() and len(value) <= 4 else value


def body_from_form(form: FormData, phone_field: str, collect_name: bool) -> tuple[dict[str, Any], PageState]:
    """The pay body (camelCase, as the API takes it) and the page state to re-render with on failure."""
    rail = _text(form, "rail")
    state = PageState(rail=rail or None)
    body: dict[str, Any] = {"rail": rail}
    if rail == "card":
        year = _text(form, "card_exp_year")
        if len(year) == 2 and year.isdigit():
            year = "20" + year
        body["card"] = {
            "number": "".join(_text(form, "card_number").split()).replace("-", ""),
            "expMonth": _month_or_year(_text(form, "card_exp_month")),
            "expYear": _month_or_year(year),
            "cvc": _text(form, "card_cvc"),
        }
    else:
        body["account"] = {"number": "".join(_text(form, "account_number").split())}
    for name in ("email", "phone", "name"):
        value = _text(form, name)
        if value and (name != "phone" or phone_field != "hidden") and (name != "name" or collect_name):
            body[name] = value
            state.values[name] = value
    if phone_field == "required" and "phone" not in body:
        add_error(state, "phone", "Enter your phone number.")
    if form.get("save_to_phone") is not None:
        body["saveToPhone"] = True
        state.values["save_to_phone"] = "1"
    return body, state


def add_error(state: PageState, path: str, message: str) -> None:
    field_id = FIELD_IDS.get(path)
    if (field_id is not None and field_id in state.field_errors) or (field_id, message) in state.summary:
        return
    state.summary.append((field_id, message))
    if field_id is not None:
        state.field_errors[field_id] = message


def parse(body: dict[str, Any], state: PageState) -> CheckoutPay | None:
    """The validated pay model, or None with the errors added to `state`. Messages come from our own table, never
    from pydantic's text (which could quote the input)."""
    try:
        model = CheckoutPay.model_validate(body)
    except ValidationError as exc:
        for error in exc.errors(include_input=False, include_url=False):
            path = ".".join(str(p) for p in error["loc"])
            if path in MESSAGES:
                add_error(state, path, MESSAGES[path])
            else:
                add_error(state, "", "Check your payment details and try again.")
        return None
    return model if not state.summary else None


def apply_error(state: PageState, err: DuroError) -> None:
    """A refused pay, as messages on the page; a decline also offers the other rails ("try another way")."""
    if err.status == 402:
        state.declined = True
        state.suggested_rails = list((err.payment or {}).get("suggestedRails") or [])
        add_error(state, "", err.message)
        return
    if err.reason in REASON_MESSAGES:
        add_error(state, err.details[0].path if err.details else "", REASON_MESSAGES[err.reason])
    elif err.details:
        for detail in err.details:
            add_error(state, detail.path, detail.issue[:1].upper() + detail.issue[1:] + ".")
    else:
        add_error(state, "", err.message)
