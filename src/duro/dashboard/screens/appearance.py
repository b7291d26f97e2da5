"""Dashboard screens: the appearance builder (07 §4).

Six tabs over one configuration shared by both modes (`core.store_configs`): an editor form per surface, a JSON
`PATCH` for the editor's script, publish and discard. Every rule — field validation, the deep merge, the diff of
the audit entry — is `duro.appearance`'s, which the CLI runs too; this module only turns a form into a partial
surface object and renders. The preview pane is an iframe of `/{surface}/preview`, which renders the real hosted
templates with the DRAFT (see `appearance_preview`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from fastapi import APIRouter, Request
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from duro.api.responses import error_response, json_response
from duro.appearance import logos, service
from duro.appearance.surfaces import FONTS, LANGUAGES, OBJECT_FIELDS, SURFACES
from duro.dashboard.pages import check_session_csrf, fail, redirect, require_session
from duro.dashboard.screens.appearance_preview import render_preview
from duro.dashboard.shell import DashCall, add_layout_hook, dash, dash_json, dash_post, field_errors, text
from duro.gateway.protocol import RAILS
from duro.kit import uploads
from duro.kit.errors import DuroError, invalid_field

router = APIRouter(prefix="/dashboard", include_in_schema=False)

TAB_LABELS: Final = {
    "general": "General",
    "store": "Store",
    "checkout": "Checkout",
    "overlay": "Overlay",
    "portal": "Portal",
    "email": "Email",
}


@dataclass(frozen=True, slots=True)
class UiField:
    """How the editor shows a field. Display only: what a value may be is `duro.appearance.surfaces`'."""

    name: str
    label: str
    kind: str  # text | multiline | color | select | checkbox | lines
    options: tuple[str, ...] = ()
    hint: str | None = None


_INHERIT = "#RRGGBB; blank = the General colour"
UI_FIELDS: Final[dict[str, tuple[UiField, ...]]] = {
    "general": (
        UiField("displayName", "Display name", "text", hint="Blank = your business name"),
        UiField("brandColor", "Brand colour", "color", hint="#RRGGBB"),
        UiField("font", "Font", "select", FONTS),
        UiField("language", "Language", "select", LANGUAGES),
    ),
    "store": (
        UiField("enabled", "Store page enabled", "checkbox"),
        UiField("heading", "Heading", "text"),
        UiField("description", "Description", "multiline"),
        UiField("linkIds", "Payment links (one id per line, in order)", "lines", hint="Empty = every active link"),
        UiField("layout", "Layout", "select", ("grid", "list")),
    ),
    "checkout": (
        UiField("rails", "Payment rails (one per line, in order)", "lines", hint=", ".join(RAILS)),
        UiField("collectName", "Ask for the customer's name", "checkbox"),
        UiField("phoneField", "Phone field", "select", ("required", "optional", "hidden")),
        UiField("headline", "Headline", "text"),
        UiField("submitLabel", "Pay button label", "text", hint="Blank = Pay"),
        UiField("footerNote", "Footer note", "multiline", hint="At most 300 characters"),
        UiField("termsUrl", "Terms URL", "text", hint="https only"),
        UiField("brandColor", "Brand colour", "color", hint=_INHERIT),
    ),
    "overlay": (
        UiField("theme", "Theme", "select", ("light", "dark")),
        UiField("showIdentityBar", "Show the phone sign-in bar", "checkbox"),
        UiField("allowedOrigins", "Allowed origins (one per line)", "lines", hint="Empty = any site may embed"),
        UiField("brandColor", "Brand colour", "color", hint=_INHERIT),
    ),
    "portal": (
        UiField("heading", "Heading", "text"),
        UiField("supportUrl", "Support URL", "text", hint="https only"),
        UiField("brandColor", "Brand colour", "color", hint=_INHERIT),
        UiField("permissions.cancelSubscription", "Customers may cancel", "checkbox"),
        UiField("permissions.cancelMode", "Cancellation takes effect", "select", ("period_end", "immediate")),
        UiField("permissions.pauseSubscription", "Customers may pause", "checkbox"),
        UiField("permissions.updatePaymentMethod", "Customers may update the payment method", "checkbox"),
        UiField("permissions.retryPayment", "Customers may retry a failed payment", "checkbox"),
        UiField("permissions.viewInvoices", "Customers may view invoices", "checkbox"),
    ),
    "email": (
        UiField("senderName", "Sender name", "text", hint="Blank = your display name"),
        UiField("replyTo", "Reply-to address", "text"),
        UiField("headerText", "Header text", "multiline"),
        UiField("footerText", "Footer text", "multiline"),
        UiField("showLogo", "Show the logo", "checkbox"),
        UiField("brandColor", "Brand colour", "color", hint=_INHERIT),
    ),
}


def _surface_or_404(request: Request, surface: str) -> str:
    if surface not in SURFACES:
        raise fail(request, 404, "resource_missing", "No such appearance surface.")
    return surface


def _form_value(form: FormData, f: UiField) -> Any:
    """One field of the editor's form as the JSON value the API would take: blank text is `null` (= restore the
    default), a checkbox is a boolean, a textarea of lines is a list (empty lines dropped)."""
    if f.kind == "checkbox":
        return text(form, f.name) in ("on", "true", "1")
    raw = form.get(f.name)
    value = raw if isinstance(raw, str) else ""
    if f.kind == "lines":
        return [line.strip() for line in value.splitlines() if line.strip()]
    if f.kind == "multiline":
        return value.replace("\r\n", "\n") if value.strip() else None
    return value.strip() or None


def partial_from_form(surface: str, form: FormData) -> dict[str, Any]:
    """The editor form → a partial surface object (every field of the surface; nested objects by dotted name)."""
    out: dict[str, Any] = {}
    for f in UI_FIELDS[surface]:
        value = _form_value(form, f)
        head, dot, key = f.name.partition(".")
        if dot and (surface, head) in OBJECT_FIELDS:
            out.setdefault(head, {})[key] = value
        else:
            out[f.name] = value
    return out


def _field_values(surface_values: dict[str, Any]) -> dict[str, Any]:
    """The draft of one surface keyed like the form (nested objects flattened to dotted names)."""
    out: dict[str, Any] = {}
    for name, value in surface_values.items():
        if isinstance(value, dict):
            out.update({f"{name}.{k}": v for k, v in value.items()})
        elif isinstance(value, list):
            out[name] = "\n".join(str(v) for v in value)
        else:
            out[name] = value
    return out


async def _editor(
    call: DashCall,
    surface: str,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    logo_errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    view = await call.core(lambda conn: service.get_config(conn, call.tenant_id))
    return await call.screen(
        "screens/appearance/editor.html",
        status,
        surface=surface,
        surfaces=SURFACES,
        tab_labels=TAB_LABELS,
        fields=UI_FIELDS[surface],
        config=view,
        values=values if values is not None else _field_values(view["draft"][surface]),
        errors=errors or {},
        changed=set(view["changedSurfaces"]),
        logo_errors=logo_errors or {},
    )


@router.get("/appearance")
async def appearance_home(request: Request) -> Response:
    await dash(request)
    return redirect("/dashboard/appearance/general")


@router.post("/appearance/publish")
async def publish(request: Request) -> Response:
    call, form = await dash_post(request, "appearance.publish")
    back = _back(form)
    view = await call.core(
        lambda conn: service.publish(
            conn,
            call.tenant_id,
            actor=call.actor,
            clock=call.runtime.clock,
            request_id=call.request_id,
            ip=call.ip,
            user_agent=request.headers.get("user-agent"),
        )
    )
    return call.done(back, f"Published version {view['version']}: hosted pages show it now.")


@router.post("/appearance/discard")
async def discard(request: Request) -> Response:
    call, form = await dash_post(request, "appearance.discard")
    back = _back(form)
    view = await call.core(
        lambda conn: service.discard(
            conn,
            call.tenant_id,
            actor=call.actor,
            clock=call.runtime.clock,
            request_id=call.request_id,
            ip=call.ip,
            user_agent=request.headers.get("user-agent"),
        )
    )
    return call.done(back, f"Draft discarded: back to version {view['version']}.")


# One logo (≤ 1 MiB) plus the multipart overhead; the shell's 64 KiB form reader is too small for it.
MAX_LOGO_BODY: Final = logos.MAX_LOGO_BYTES + uploads.MULTIPART_OVERHEAD
GENERAL: Final = "/dashboard/appearance/general"


@router.post("/appearance/logo")
async def upload_logo(request: Request) -> Response:
    """A PNG/JPEG/WebP logo into the draft's `general.logo` (07 §4). The permission is checked before the body is
    read, so a member who may not edit never costs a 1 MiB read; CSRF is checked on the parsed form before any
    change."""
    session = await require_session(request)
    call = DashCall(request, session)
    call.require("appearance.update_draft")
    try:
        form = await uploads.read_multipart(request, MAX_LOGO_BODY)
    except uploads.BodyTooLarge:  # nothing was stored or changed
        return await _editor(call, "general", logo_errors=field_errors(logos.logo_too_large()), status=422)
    except uploads.NotMultipart as exc:
        raise fail(request, 400, "unsupported_media_type", "Upload the logo with a multipart form.") from exc
    except uploads.MalformedMultipart as exc:
        raise fail(request, 400, "malformed_form", exc.message) from exc
    try:
        check_session_csrf(request, form, session)
        upload = form.get("file")
        try:
            if not isinstance(upload, UploadFile):
                raise invalid_field("file", "choose an image to upload", "file_missing")
            data = await upload.read(logos.MAX_LOGO_BYTES + 1)
            await logos.upload_logo(call.runtime.db, call.runtime.storage, call.runtime.clock, call.tenant_id, data)
        except DuroError as exc:
            return await _editor(call, "general", logo_errors=field_errors(exc), status=exc.status)
    finally:
        await form.close()
    return call.done(GENERAL, "Logo added to the draft. Publish to show it on your hosted pages.")


@router.post("/appearance/logo/remove")
async def remove_logo(request: Request) -> Response:
    call, _ = await dash_post(request, "appearance.update_draft")
    await call.core(lambda conn: logos.remove_logo(conn, call.tenant_id, call.runtime.clock))
    return call.done(GENERAL, "Logo removed from the draft. Publish to remove it from your hosted pages.")


def _back(form: FormData) -> str:
    surface = text(form, "surface")
    return f"/dashboard/appearance/{surface if surface in SURFACES else 'general'}"


@router.get("/appearance/{surface}")
async def editor(surface: str, request: Request) -> Response:
    call = await dash(request)
    return await _editor(call, _surface_or_404(request, surface))


@router.post("/appearance/{surface}")
async def save_form(surface: str, request: Request) -> Response:
    call, form = await dash_post(request, "appearance.update_draft")
    surface = _surface_or_404(request, surface)
    partial = partial_from_form(surface, form)
    try:
        await call.core(
            lambda conn: service.set_draft(conn, call.tenant_id, surface, partial, clock=call.runtime.clock)
        )
    except DuroError as exc:
        submitted = {f.name: form.get(f.name) for f in UI_FIELDS[surface]}
        for f in UI_FIELDS[surface]:
            if f.kind == "checkbox":
                submitted[f.name] = _form_value(form, f)
        return await _editor(call, surface, values=submitted, errors=field_errors(exc), status=422)
    return call.done(f"/dashboard/appearance/{surface}", "Draft saved. Publish to show it on your hosted pages.")


@router.patch("/appearance/{surface}")
async def save_json(surface: str, request: Request) -> Response:
    """The editor's script (and any `fetch` caller): a partial surface object; the configuration view back, or the
    API's 422 with every field's `details` (nothing saved)."""
    call, body = await dash_json(request, "appearance.update_draft")
    try:
        view = await call.core(
            lambda conn: service.set_draft(conn, call.tenant_id, surface, body, clock=call.runtime.clock)
        )
    except DuroError as exc:
        return error_response(exc, call.request_id)
    return json_response(view)


@router.get("/appearance/{surface}/preview")
async def preview(surface: str, request: Request) -> Response:
    """The hosted page of `surface` rendered with the draft and sample data, framed by the editor only."""
    call = await dash(request)
    surface = _surface_or_404(request, surface)
    view = await call.core(lambda conn: service.get_config(conn, call.tenant_id))
    return render_preview(call.runtime.settings, surface, view["draft"], call.session.tenant_name, call.mode)


async def unpublished_badge(call: DashCall) -> dict[str, Any]:
    """The layout's "Unpublished changes" badge on the Appearance nav item (07 §4)."""
    view = await call.core(lambda conn: service.get_config(conn, call.tenant_id))
    return {"appearance_unpublished": bool(view["hasUnpublishedChanges"])}


add_layout_hook(unpublished_badge)
