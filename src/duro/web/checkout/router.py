"""`/checkout/{token}` (06 §3): the hosted checkout page, also embedded by the inline SDK (`?embed=1&key=…&parent=…`,
06 §4), and its no-JavaScript form post. With JavaScript, `/static/checkout/checkout.js` pays through
`/api/checkout/{token}/pay` instead and updates the page in place."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from duro.checkout import pay as paying
from duro.config import Settings
from duro.kit.errors import DuroError
from duro.runtime import Runtime
from duro.web.checkout import assets
from duro.web.checkout.embed import EmbedRefusal, key_matches, parent_origin
from duro.web.checkout.form import apply_error, body_from_form, parse, same_origin
from duro.web.checkout.page import Checkout, Embed, PageState, context, load, logo_source
from duro.web.checkout.rendering import render

router = APIRouter(include_in_schema=False)


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def error_page(
    settings: Settings,
    status: int,
    code: str,
    title: str,
    message: str,
    *,
    post_to: str | None = None,
) -> Response:
    """An error page. Framed and posting `error {code, message}` only to an allowed parent (`post_to`); every
    other error page refuses framing."""
    ctx = {"status": status, "code": code, "title": title, "message": message, "post_to": post_to}
    return render(settings, "checkout/error.html", ctx, status=status, frame_ancestors=post_to or "'none'")


def _not_found(settings: Settings) -> Response:
    return error_page(settings, 404, "resource_missing", "Checkout not found", "This checkout link is not valid.")


async def _embed(runtime: Runtime, co: Checkout, request: Request) -> Embed | Response | None:
    """None for a plain page; the granted embed; or the 403 page that refuses it (06 §4 rule 3)."""
    query = request.query_params
    if query.get("embed") != "1":
        return None
    allowed = list(co.appearance["overlay"]["allowedOrigins"])
    parent = parent_origin(query.get("parent"), co.mode, allowed)
    if isinstance(parent, EmbedRefusal):
        return error_page(runtime.settings, 403, parent.code, "Cannot be embedded", parent.message)
    key = query.get("key") or ""
    if not await key_matches(runtime, key, co.tenant_id, co.mode):
        message = "This checkout cannot be opened with this key."
        return error_page(runtime.settings, 403, "key_mismatch", "Checkout unavailable", message, post_to=parent)
    return Embed(parent, key)


def _page(
    settings: Settings,
    template: str,
    co: Checkout,
    embed: Embed | None,
    state: PageState | None = None,
    *,
    status: int = 200,
    **extra: Any,
) -> Response:
    _, img_sources = logo_source(co.appearance["general"].get("logo"))
    return render(
        settings,
        template,
        {**context(co, embed, state), **extra},
        status=status,
        frame_ancestors=embed.parent if embed else "'none'",
        img_sources=img_sources,
    )


@router.get("/checkout/theme/{hex6}.css")
async def theme(hex6: str) -> Response:
    found = assets.theme_css(hex6)
    return found if found is not None else Response("not found\n", 404, media_type="text/plain")


@router.get("/js/inline.js")
async def inline_js() -> Response:
    return assets.inline_js()


@router.get("/checkout/{token}")
async def checkout_page(token: str, request: Request) -> Response:
    runtime = _runtime(request)
    co = await load(runtime, token)
    if co is None:
        return _not_found(runtime.settings)
    embed = await _embed(runtime, co, request)
    if isinstance(embed, Response):
        return embed
    if co.view["status"] != "pending":  # completed or expired: the outcome, answered 200
        return _page(runtime.settings, "checkout/terminal.html", co, embed)
    return _page(runtime.settings, "checkout/page.html", co, embed)


@router.post("/checkout/{token}")
async def checkout_form(token: str, request: Request) -> Response:
    """The form post of the page without JavaScript: pay, then the success screen, or the page again with the
    decline and the other rails."""
    runtime = _runtime(request)
    settings = runtime.settings
    co = await load(runtime, token)
    if co is None:
        return _not_found(settings)
    embed = await _embed(runtime, co, request)
    if isinstance(embed, Response):
        return embed
    if not same_origin(settings.public_url, request.headers.get("origin"), request.headers.get("referer")):
        message = "This form was sent from another site. Open the checkout link again."
        return error_page(settings, 403, "cross_origin_post", "Request refused", message)
    if co.view["status"] == "expired":
        return _page(settings, "checkout/terminal.html", co, embed)
    form = await request.form()
    checkout = co.appearance["checkout"]
    body, state = body_from_form(form, checkout["phoneField"], bool(checkout["collectName"]))
    del form  # card details live only in `body` from here on
    model = parse(body, state)
    if model is None:
        return _page(settings, "checkout/page.html", co, embed, state, status=422)
    try:
        answer = await paying.pay(runtime, token, model, None)
    except DuroError as err:
        if err.status == 404:
            return _not_found(settings)
        if err.reason == "checkout_expired":
            return _page(settings, "checkout/terminal.html", await load(runtime, token) or co, embed)
        apply_error(state, err)
        return _page(settings, "checkout/page.html", co, embed, state, status=err.status)
    return _page(settings, "checkout/success.html", co, embed, result=answer.body)
