"""Dashboard screens: email templates (07 §9).

The customer templates of 06 §9 with their state (default / overridden / muted) and channel, an editor with the
tags valid for the key, a live preview (the email layout with the published `email` appearance, the text part and
the WhatsApp template's parameters, all with sample data), and the actions save / reset / mute / send test. The
dunning sequence has its own page beside the retry schedule of the recovery settings. Overrides are
`duro.notifications.overrides`'; rendering is `duro.notifications.rendering`'s, as the outbox renders.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from duro.api.responses import json_response
from duro.appearance import service as appearance
from duro.dashboard.pages import fail
from duro.dashboard.screens.appearance_preview import email_headers, sample_values
from duro.dashboard.shell import DashCall, dash, dash_post
from duro.kit.errors import DuroError
from duro.kit.ids import new_id
from duro.notifications import overrides
from duro.notifications.outbox import notify_test
from duro.notifications.rendering import (
    OVERRIDE_CHANNELS,
    TAG,
    email_layout,
    render,
    unknown_tags,
    whatsapp_template,
)
from duro.notifications.templates import CUSTOMER_TEMPLATE_KEYS, TEMPLATES, Template
from duro.settings.service import get_recovery_settings

router = APIRouter(prefix="/dashboard", include_in_schema=False)

DUNNING_KEYS: Final = (
    "dunning_1",
    "dunning_2",
    "dunning_3",
    "dunning_4",
    "payment_action_required",
    "dunning_exhausted",
)
MAX_PREVIEW_TEXT: Final = 10_000


def _template(request: Request, key: str) -> Template:
    if key not in CUSTOMER_TEMPLATE_KEYS:
        raise fail(request, 404, "resource_missing", "No such customer template.")
    return TEMPLATES[key]


def highlight(text: str, tpl: Template) -> list[tuple[str, bool]]:
    """`text` cut into (part, unknown) pieces: merge tags the template does not know are their own pieces, so the
    template marks them (autoescaped like any text)."""
    known = set(tpl.tags)
    out: list[tuple[str, bool]] = []
    pos = 0
    for match in TAG.finditer(text):
        if match.group(1) in known:
            continue
        out.append((text[pos : match.start()], False))
        out.append((match.group(0), True))
        pos = match.end()
    out.append((text[pos:], False))
    return [part for part in out if part[0]]


async def _store_look(call: DashCall) -> tuple[dict[str, Any], str]:
    """The published configuration (what emails are branded with) and the name customers know the store by."""
    config = await call.core(lambda conn: appearance.get_config(conn, call.tenant_id))
    name = config["published"]["general"]["displayName"] or call.session.tenant_name
    return config["published"], name


def _preview(
    tpl: Template, subject: str, body: str, look: dict[str, Any], store: str, call: DashCall
) -> dict[str, Any]:
    values = sample_values(tpl, store, call.runtime.settings.public_url)
    rendered = render(tpl, values, subject=subject, body=body)
    default_text = render(tpl, values).text  # WhatsApp sends the approved template: the shipped text
    wa = whatsapp_template(tpl, values, call.runtime.settings.whatsapp_language)
    return {
        "subject": rendered.subject,
        "text": rendered.text,
        "html": email_layout(
            look, call.session.tenant_name, rendered.text, public_url=call.runtime.settings.public_url
        ),
        "whatsapp": {**wa, "body": default_text},
        "unknownTags": unknown_tags(tpl, subject, body),
    }


def _texts(tpl: Template, override: dict[str, Any] | None) -> tuple[str, str, str]:
    if override is not None and override["enabled"]:
        return override["subject"] or tpl.subject, override["body"] or tpl.body, override["channel"]
    return tpl.subject, tpl.body, override["channel"] if override is not None else tpl.channel


def _rows(keys: tuple[str, ...], found: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for key in keys:
        tpl = TEMPLATES[key]
        override = found.get(key)
        subject, _, _ = _texts(tpl, override)
        rows.append(
            {
                "key": key,
                "subject": subject,
                "state": overrides.state_of(override),
                "channel": overrides.effective_channel(tpl, override),
                "updatedAt": override["updatedAt"] if override else None,
            }
        )
    return rows


@router.get("/email-templates")
async def template_list(request: Request) -> Response:
    call = await dash(request)
    found = await call.core(lambda conn: overrides.list_overrides(conn, call.tenant_id))
    return await call.screen(
        "screens/email_templates/list.html", rows=_rows(CUSTOMER_TEMPLATE_KEYS, found), dunning_keys=DUNNING_KEYS
    )


@router.get("/email-templates/dunning")
async def dunning(request: Request) -> Response:
    call = await dash(request)
    found = await call.core(lambda conn: overrides.list_overrides(conn, call.tenant_id))
    settings = await call.read(get_recovery_settings)
    offsets = settings["retryOffsetsHours"][: settings["maxAttempts"]]
    return await call.screen(
        "screens/email_templates/dunning.html", rows=_rows(DUNNING_KEYS, found), recovery=settings, offsets=offsets
    )


async def _editor(
    call: DashCall,
    tpl: Template,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    override = await call.core(lambda conn: overrides.get_override(conn, call.tenant_id, tpl.key))
    subject, body, channel = _texts(tpl, override)
    if form is not None:
        subject, body, channel = form["subject"], form["body"], form["channel"]
    look, store = await _store_look(call)
    return await call.screen(
        "screens/email_templates/editor.html",
        status,
        tpl=tpl,
        override=override,
        state=overrides.state_of(override),
        subject=subject,
        body=body,
        channel=channel,
        channels=OVERRIDE_CHANNELS,
        errors=errors or {},
        preview=_preview(tpl, subject, body, look, store, call),
        highlighted=highlight(body, tpl),
        member_email=call.session.email,
        in_dunning=tpl.key in DUNNING_KEYS,
    )


@router.get("/email-templates/{key}")
async def editor(key: str, request: Request) -> Response:
    call = await dash(request)
    return await _editor(call, _template(request, key))


def _meta(call: DashCall) -> dict[str, str | None]:
    return {"request_id": call.request_id, "ip": call.ip, "user_agent": call.request.headers.get("user-agent")}


@router.post("/email-templates/{key}")
async def save(key: str, request: Request) -> Response:
    call, form = await dash_post(request, "email_template.update")
    tpl = _template(request, key)
    submitted = {name: str(form.get(name) or "").replace("\r\n", "\n") for name in ("subject", "body", "channel")}
    submitted["subject"] = submitted["subject"].strip()
    try:
        await call.core(
            lambda conn: overrides.save_override(
                conn,
                call.tenant_id,
                tpl.key,
                subject=submitted["subject"],
                body=submitted["body"],
                channel=submitted["channel"],
                actor=call.actor,
                at=call.runtime.clock.now(),
                meta=_meta(call),
            )
        )
    except DuroError as exc:
        return await _editor(call, tpl, form=submitted, errors=overrides.refusal(exc), status=422)
    return call.done(f"/dashboard/email-templates/{tpl.key}", "Template saved: customers get your text from now on.")


@router.post("/email-templates/{key}/reset")
async def reset(key: str, request: Request) -> Response:
    call, _ = await dash_post(request, "email_template.reset")
    tpl = _template(request, key)
    await call.core(
        lambda conn: overrides.reset_override(
            conn, call.tenant_id, tpl.key, actor=call.actor, at=call.runtime.clock.now(), meta=_meta(call)
        )
    )
    return call.done(f"/dashboard/email-templates/{tpl.key}", "Template reset to the default text.")


@router.post("/email-templates/{key}/mute")
async def mute(key: str, request: Request) -> Response:
    call, form = await dash_post(request, "email_template.mute")
    tpl = _template(request, key)
    muted = str(form.get("muted") or "") == "1"
    await call.core(
        lambda conn: overrides.set_muted(
            conn, call.tenant_id, tpl.key, muted, actor=call.actor, at=call.runtime.clock.now(), meta=_meta(call)
        )
    )
    message = "Template muted: these messages are recorded but never sent." if muted else "Template unmuted."
    return call.done(f"/dashboard/email-templates/{tpl.key}", message)


@router.post("/email-templates/{key}/test")
async def send_test(key: str, request: Request) -> Response:
    call, _ = await dash_post(request, "email_template.send_test")
    tpl = _template(request, key)
    _, store = await _store_look(call)
    values = sample_values(tpl, store, call.runtime.settings.public_url)
    at = call.runtime.clock.now()
    await call.write(
        lambda ctx: notify_test(
            ctx, tpl.key, email=call.session.email, values=values, dedup_key=f"test_{new_id('tst')}", at=at
        )
    )
    where = "the dev inbox" if call.mode == "test" else call.session.email
    return call.done(f"/dashboard/email-templates/{tpl.key}", f"Test message sent: see {where}.")


def _preview_texts(request: Request, tpl: Template, override: dict[str, Any] | None) -> tuple[str, str]:
    """The texts to preview: the query's (the editor's unsaved text), else the saved ones."""
    subject, body, _ = _texts(tpl, override)
    q = request.query_params
    return q.get("subject", subject)[:MAX_PREVIEW_TEXT], q.get("body", body)[:MAX_PREVIEW_TEXT]


@router.get("/email-templates/{key}/preview")
async def preview_json(key: str, request: Request) -> Response:
    """The editor script's live preview: subject, text part, WhatsApp parameters and unknown tags (no HTML: the
    sandboxed frame loads `preview.html` with the same query)."""
    call = await dash(request)
    tpl = _template(request, key)
    override = await call.core(lambda conn: overrides.get_override(conn, call.tenant_id, tpl.key))
    subject, body = _preview_texts(request, tpl, override)
    look, store = await _store_look(call)
    found = _preview(tpl, subject, body, look, store, call)
    found.pop("html")
    return json_response(found)


@router.get("/email-templates/{key}/preview.html")
async def preview_html(key: str, request: Request) -> Response:
    """The email's HTML part with sample data, for a sandboxed frame of the editor only."""
    call = await dash(request)
    tpl = _template(request, key)
    override = await call.core(lambda conn: overrides.get_override(conn, call.tenant_id, tpl.key))
    subject, body = _preview_texts(request, tpl, override)
    look, store = await _store_look(call)
    page = _preview(tpl, subject, body, look, store, call)["html"]
    return HTMLResponse(page, headers=email_headers(call.runtime.settings))
