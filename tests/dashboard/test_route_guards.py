"""Every dashboard write is guarded (02 §7, 07 §1), checked over the routes the app really serves — not over a list
kept by hand, so a new form action without a guard fails here.

- Each state-changing route, sent with a valid CSRF token by each of the five roles, answers 403
  `insufficient_permission` for exactly the roles lacking ONE permission of the table in `duro.auth.permissions`.
- `read_only` can change nothing but its own account, session and mode.
- Without the CSRF token every one of them is refused with 403 `csrf_failed` and nothing runs.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI

from duro.auth.permissions import PERMISSIONS, ROLE_PERMISSIONS, ROLES
from tests.conftest import TenantKeys

# Reached before a session exists (their own pre-session CSRF, tested in test_login/test_signup/team tests).
PRE_SESSION = re.compile(r"^/dashboard/(login|signup|password/.*|invite/\{token\})$")
# The member's own account, session and view: an active session and CSRF, no permission (02 §4-§5, 07 §10).
SELF_SERVICE = re.compile(r"^/dashboard/(logout|mode|2fa/.*|account(/.*)?)$")
# Filled into path parameters: real-looking values so that validation of the parameter never answers first.
PARAMS = {"surface": "general", "key": "dunning_1", "doc_type": "cac"}


def _leaf_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, full path) of every non-GET route under /dashboard. A route's own `path` carries its router's
    prefix; a router included into another one (a screen module's sub-router) carries the including router's
    prefix in its include context."""
    found: set[tuple[str, str]] = set()

    def walk(routes: list[Any], outer: str) -> None:
        for route in routes:
            nested = getattr(route, "original_router", None)
            if nested is not None:
                walk(nested.routes, outer + route.include_context.prefix)
                continue
            path = outer + getattr(route, "path", "")
            for method in getattr(route, "methods", None) or ():
                if method not in ("GET", "HEAD") and path.startswith("/dashboard"):
                    found.add((method, path))

    walk(list(app.router.routes), "")
    return sorted(found)


def _guarded(app: FastAPI) -> list[tuple[str, str]]:
    return [(m, p) for m, p in _leaf_routes(app) if not PRE_SESSION.match(p) and not SELF_SERVICE.match(p)]


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PARAMS.get(m.group(1), f"zz_{m.group(1)}"), path)


async def _send(dash: Any, method: str, path: str, *, csrf: bool = True) -> Any:
    headers = {"X-Requested-With": "fetch"}
    if csrf:
        headers["X-CSRF-Token"] = dash.csrf
    if method == "PATCH":
        return await dash.client.patch(_url(path), json={}, headers=headers)
    data = {"csrf_token": dash.csrf} if csrf else {}
    if path.endswith(("/kyc/{doc_type}", "/appearance/logo")):  # uploads: the token travels in the multipart form
        files = {"file": ("doc.pdf", b"%PDF-1.4 test", "application/pdf")}
        return await dash.client.post(_url(path), data=data, files=files, headers=headers)
    return await dash.client.request(method, _url(path), data=data, headers=headers)


def _refused_for_permission(response: Any) -> bool:
    if response.status_code != 403:
        return False
    return bool(response.json()["error"]["reason"] == "insufficient_permission")


async def test_the_app_has_the_write_routes_we_expect_to_check(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    routes = _guarded(dash.client._transport.app)  # type: ignore[attr-defined]
    assert len(routes) >= 50, routes  # every screen area of 07 §3 has its form actions here
    paths = {p for _, p in routes}
    for expected in (
        "/dashboard/plans",
        "/dashboard/invoices/{invoice_id}/refund",
        "/dashboard/developers/api-keys",
        "/dashboard/team/invite",
        "/dashboard/appearance/publish",
        "/dashboard/settings/kyc/submit",
        "/dashboard/settings/recovery",  # sub-routers too
        "/dashboard/developers/webhooks/{endpoint_id}/deliveries/{delivery_id}/replay",
    ):
        assert expected in paths


async def test_every_write_route_is_guarded_by_one_permission_of_the_table(tenant: TenantKeys, dash_as: Any) -> None:
    members = {role: await dash_as(tenant, role) for role in ROLES}
    app = members["owner"].client._transport.app
    problems: list[str] = []
    for method, path in _guarded(app):
        refused = {role for role, dash in members.items() if _refused_for_permission(await _send(dash, method, path))}
        allowed = set(ROLES) - refused
        matching = [p for p in PERMISSIONS if allowed == {r for r in ROLES if p in ROLE_PERMISSIONS[r]}]
        if not matching or matching == ["read"]:
            problems.append(f"{method} {path}: allowed for {sorted(allowed)}")
    assert not problems, "\n".join(problems)


async def test_read_only_changes_nothing_anywhere(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "read_only")
    for method, path in _guarded(dash.client._transport.app):
        answer = await _send(dash, method, path)
        assert _refused_for_permission(answer), f"{method} {path} answered {answer.status_code} to read_only"


async def test_every_session_write_needs_the_csrf_token(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    app = dash.client._transport.app
    for method, path in _leaf_routes(app):
        if PRE_SESSION.match(path) or path.startswith("/dashboard/2fa/"):
            continue  # 2FA forms belong to sessions in other states; their CSRF is tested in test_twofactor
        answer = await _send(dash, method, path, csrf=False)
        assert answer.status_code == 403, f"{method} {path} answered {answer.status_code} without CSRF"
        assert answer.json()["error"]["reason"] == "csrf_failed", f"{method} {path}"
