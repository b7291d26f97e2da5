"""The signed-in dashboard's request object (07 §1): one `DashCall` per screen request carries the session, the
member's permissions and the session's current mode, and runs the same services as `/v1` with a member actor.

Screens stay thin, like the API routers: `call = await dash(request)` for a page (needs `read`),
`call, form = await dash_post(request, "plan.create")` for a form action (CSRF + the action's permission), then
`await call.read(fn)` / `await call.write(fn)` / `await call.charging(prepare)` with a service function taking a
RepositoryContext, and `call.screen("screens/<area>/<name>.html", ...)` (relative to templates/dashboard/)
or `call.done(location, message)` to answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData
from starlette.responses import Response

from duro.api.errors import request_id_of, validation_to_error
from duro.api.unit import Done, NeedsGateway, Refused, Step
from duro.auth.permissions import Permission, has_permission, permission_for_action, permissions_of
from duro.context import Actor, RepositoryContext
from duro.dashboard import flash
from duro.dashboard.pages import check_session_csrf, fail, page, read_form, redirect, request_ip, require_session
from duro.dashboard.sessions import DashboardSession, csrf_token
from duro.db.engine import Mode
from duro.db.executor import Connection
from duro.kit import jsonenc
from duro.kit.errors import DuroError
from duro.kit.pagination import PageRequest
from duro.runtime import Runtime

T = TypeVar("T")
PAGE_SIZE: Final = 20
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class NavItem:
    label: str
    href: str
    section: str
    test_only: bool = False
    permission: Permission = "read"


# The navigation of 07 §3, in order; `section` groups the sidebar. Items are hidden, never the check.
NAV: Final[tuple[NavItem, ...]] = (
    NavItem("Overview", "/dashboard", "Home"),
    NavItem("Plans", "/dashboard/plans", "Catalogue"),
    NavItem("Promo codes", "/dashboard/promo-codes", "Catalogue"),
    NavItem("Payment links", "/dashboard/payment-links", "Catalogue"),
    NavItem("Customers", "/dashboard/customers", "Billing"),
    NavItem("Subscriptions", "/dashboard/subscriptions", "Billing"),
    NavItem("Invoices", "/dashboard/invoices", "Billing"),
    NavItem("Recovery", "/dashboard/recovery", "Billing"),
    NavItem("Test clocks", "/dashboard/test-clocks", "Billing", test_only=True),
    NavItem("API keys", "/dashboard/developers/api-keys", "Developers"),
    NavItem("OAuth clients", "/dashboard/developers/oauth-clients", "Developers"),
    NavItem("Webhooks", "/dashboard/developers/webhooks", "Developers"),
    NavItem("Events", "/dashboard/developers/events", "Developers"),
    NavItem("Dev inbox", "/dashboard/dev/inbox", "Developers"),
    NavItem("Appearance", "/dashboard/appearance/general", "Brand"),
    NavItem("Email templates", "/dashboard/email-templates", "Brand"),
    NavItem("Team", "/dashboard/team", "Settings"),
    NavItem("Audit log", "/dashboard/team/audit", "Settings", permission="member:manage"),
    NavItem("Recovery settings", "/dashboard/settings/recovery", "Settings"),
    NavItem("Business", "/dashboard/settings/business", "Settings"),
    NavItem("KYC", "/dashboard/settings/kyc", "Settings"),
)

# Optional per-request additions to the layout (the KYC cap meter, the appearance badge), registered by the
# modules that own them so the shell imports none of them.
LayoutHook = Callable[["DashCall"], Awaitable[dict[str, Any]]]
_LAYOUT_HOOKS: list[LayoutHook] = []


def add_layout_hook(hook: LayoutHook) -> None:
    if hook not in _LAYOUT_HOOKS:
        _LAYOUT_HOOKS.append(hook)


class DashCall:
    """Everything a dashboard screen needs about its request."""

    def __init__(self, request: Request, session: DashboardSession) -> None:
        self.request = request
        self.runtime: Runtime = request.app.state.runtime
        self.session = session
        self.mode: Mode = "live" if session.current_mode == "live" else "test"
        self.tenant_id = session.tenant_id
        self.actor = Actor("member", session.member_id, session.email)
        self.request_id = request_id_of(request)
        self.ip = request_ip(request)
        self.permissions = permissions_of(session.role)

    # --- permissions ---

    def can(self, permission: Permission) -> bool:
        return has_permission(self.session.role, permission)

    def can_do(self, action: str) -> bool:
        return self.can(permission_for_action(action))

    def require(self, action: str) -> None:
        """The server-side check of a form action; hidden buttons are only a courtesy (07 §1)."""
        permission = permission_for_action(action)
        if not self.can(permission):
            raise fail(
                self.request,
                403,
                "insufficient_permission",
                f"Your role ({self.session.role}) does not have the {permission} permission.",
            )

    # --- the query string of list screens ---

    def page_request(self) -> PageRequest:
        """The API's keyset page (01 §7) after the `cursor` query parameter, 20 rows per page (07 §1)."""
        cursor = self.request.query_params.get("cursor") or None
        return PageRequest(limit=PAGE_SIZE, cursor=cursor if cursor and len(cursor) <= 200 else None)

    def query_choice(self, name: str, allowed: tuple[str, ...]) -> str | None:
        """A filter value, ignored unless it is one the matching /v1 list accepts."""
        value = self.request.query_params.get(name)
        return value if value in allowed else None

    def query_id(self, name: str) -> str | None:
        """An id filter or prefill from the query string (an unknown id simply finds nothing)."""
        value = (self.request.query_params.get(name) or "").strip()
        return value if value and len(value) <= 64 else None

    # --- units of work, same services as /v1 ---

    def context(self, conn: Connection, mode: Mode | None = None) -> RepositoryContext:
        return RepositoryContext(
            conn,
            self.tenant_id,
            mode or self.mode,
            self.runtime.clock,
            self.runtime.settings,
            self.actor,
            self.request_id,
            self.ip,
            self.request.headers.get("user-agent"),
        )

    async def read(self, fn: Callable[[RepositoryContext], Awaitable[T]]) -> T:
        async with self.runtime.db.reader(self.mode) as conn:
            return await fn(self.context(conn))

    async def write(self, fn: Callable[[RepositoryContext], Awaitable[T]]) -> T:
        """One transaction in the current mode; a DuroError rolls it back and reaches the caller."""
        async with self.runtime.db.transaction(self.mode) as conn:
            return await fn(self.context(conn))

    async def core(self, fn: Callable[[Connection], Awaitable[T]]) -> T:
        """One transaction on the core schema (members, invitations, appearance, KYC)."""
        async with self.runtime.db.core_transaction() as conn:
            return await fn(conn)

    async def charging(self, prepare: Callable[[RepositoryContext], Awaitable[Step | Refused]]) -> Any:
        """A write that calls the gateway, in the two transactions of 03 §10 (the same `prepare` the API runs).
        The result body, or the DuroError of a refusal, raised after its effects committed (a decline is kept)."""
        db, mode = self.runtime.db, self.mode
        async with db.transaction(mode) as conn:
            step = await prepare(self.context(conn))
        if isinstance(step, Refused):
            raise step.error
        if isinstance(step, Done):
            return step.result
        gateway = self.runtime.gateway(mode)
        outcome: Any
        if isinstance(step, NeedsGateway):
            outcome = await step.call(gateway)
        else:
            p = step.pending
            outcome = await gateway.charge(p.method, p.amount, p.currency, p.transaction_id, p.at, p.attempt_number)
        async with db.transaction(mode) as conn:
            finished = await step.finish(self.context(conn), outcome)
        if isinstance(finished, Refused):
            raise finished.error
        return finished.result

    # --- answers ---

    @property
    def csrf(self) -> str:
        return csrf_token(self.runtime.settings, self.session.id)

    def nav(self) -> list[tuple[str, list[NavItem]]]:
        sections: dict[str, list[NavItem]] = {}
        for item in NAV:
            if item.test_only and self.mode != "test":
                continue
            if not self.can(item.permission):
                continue
            sections.setdefault(item.section, []).append(item)
        return list(sections.items())

    async def screen(self, template: str, status: int = 200, **context: Any) -> Response:
        """A page inside the signed-in layout: nav, mode switch, test banner, flash message."""
        extras: dict[str, Any] = {}
        for hook in _LAYOUT_HOOKS:
            extras.update(await hook(self))
        message = flash.read(self.runtime.settings, self.request)
        base = {
            "session": self.session,
            "mode": self.mode,
            "csrf_token": self.csrf,
            "nav": self.nav(),
            "current_path": self.request.url.path,
            "can": self.can,
            "can_do": self.can_do,
            "flash": message,
            "request_query": dict(self.request.query_params),
            **extras,
        }
        response = page(self.runtime.settings, template, {**base, **context}, status)
        if message is not None:
            flash.clear(self.runtime.settings, self.request, response)
        return response

    def done(self, location: str, message: str, kind: str = "success") -> Response:
        """303 to `location` with a flash message shown once by the next page."""
        response = redirect(location)
        flash.put(self.runtime.settings, self.request, response, message, kind)
        return response


async def dash(request: Request) -> DashCall:
    """A dashboard page: an active session (02 §2) and the `read` permission every role has."""
    session = await require_session(request)
    call = DashCall(request, session)
    if not call.can("read"):
        raise fail(request, 403, "insufficient_permission", "Your role cannot view the dashboard.")
    return call


async def dash_post(request: Request, action: str) -> tuple[DashCall, FormData]:
    """A form action: active session, CSRF (02 §4), then the action's permission (02 §7)."""
    session = await require_session(request)
    form = await read_form(request)
    check_session_csrf(request, form, session)
    call = DashCall(request, session)
    call.require(action)
    return call, form


async def dash_json(request: Request, action: str) -> tuple[DashCall, Any]:
    """A `fetch` write with a JSON body and the CSRF token in `X-CSRF-Token` (07 §1, §4)."""
    session = await require_session(request)
    check_session_csrf(request, None, session)
    call = DashCall(request, session)
    call.require(action)
    raw = await request.body()
    if len(raw) > 64 * 1024:
        raise fail(request, 400, "payload_too_large", "The body is too large.")
    try:
        return call, jsonenc.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise fail(request, 400, "malformed_json", "The body is not valid JSON") from exc


# --- forms ---


def parse(model: type[M], data: dict[str, Any]) -> M:
    """Validate form data with the API's own request model; errors carry the API's `details` (07 §1)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e.get("loc", ()))} for e in exc.errors()]
        raise validation_to_error(RequestValidationError(errors)) from exc


def field_errors(exc: DuroError) -> dict[str, str]:
    """`details` as {path: issue} for inline errors; the message alone goes under `_form`."""
    found = {d.path: d.issue for d in exc.details}
    if not found:
        found["_form"] = exc.message
    return found


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def optional(form: FormData, name: str) -> str | None:
    return text(form, name) or None


def integer(form: FormData, name: str) -> int | str | None:
    """An int, or the raw text (so the model reports the API's error), or None when blank."""
    raw = text(form, name)
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        return raw


def major_to_minor(raw: str) -> int | str | None:
    """`5000` or `5,000.50` (major units, as merchants type them) → minor units; the raw text when unparsable."""
    cleaned = raw.replace(",", "").strip()
    if not cleaned:
        return None
    whole, _, frac = cleaned.partition(".")
    if not whole.lstrip("-").isdigit() or (frac and (not frac.isdigit() or len(frac) > 2)):
        return raw
    return int(whole) * 100 + (int(frac.ljust(2, "0")) if frac else 0) * (-1 if whole.startswith("-") else 1)


def checked(form: FormData, name: str) -> bool:
    return text(form, name) in ("on", "true", "1", "yes")


def many(form: FormData, name: str) -> list[str]:
    return [v.strip() for v in form.getlist(name) if isinstance(v, str) and v.strip()]


def metadata_from(form: FormData, name: str = "metadata") -> dict[str, str] | str | None:
    """`key=value` lines → a metadata object; the raw text on a malformed line (the model rejects it)."""
    raw = form.get(name)
    if not isinstance(raw, str) or not raw.strip():
        return None
    out: dict[str, str] = {}
    for line in raw.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep:
            return raw
        out[key.strip()] = value.strip()
    return out


def keep(values: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Drop the unset (None) fields so the model sees what the API would have received."""
    return {k: v for k, v in values if v is not None}


__all__ = [
    "NAV",
    "PAGE_SIZE",
    "DashCall",
    "NavItem",
    "add_layout_hook",
    "checked",
    "dash",
    "dash_json",
    "dash_post",
    "field_errors",
    "integer",
    "keep",
    "major_to_minor",
    "many",
    "metadata_from",
    "optional",
    "parse",
    "text",
]
