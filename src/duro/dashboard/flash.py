"""One-shot flash messages after a dashboard write (07 §1): a short, HMAC-signed cookie set on the 303 and cleared
by the page that shows it. Signed so another site cannot plant text that reads as ours."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from fastapi import Request
from starlette.responses import Response

from duro.config import Settings
from duro.dashboard.sessions import cookie_secure
from duro.kit.crypto import constant_time_equals, derive_key, hmac_sha256

COOKIE = "duro_flash"
KINDS = frozenset({"success", "error", "info"})
MAX_TEXT = 500


@dataclass(frozen=True, slots=True)
class Flash:
    message: str
    kind: str


def _sign(settings: Settings, payload: str) -> str:
    mac = hmac_sha256(derive_key(settings.root_secret, "dashboard-flash"), payload)
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def put(settings: Settings, request: Request, response: Response, message: str, kind: str = "success") -> None:
    body = json.dumps({"m": message[:MAX_TEXT], "k": kind if kind in KINDS else "info"}, separators=(",", ":"))
    payload = base64.urlsafe_b64encode(body.encode()).rstrip(b"=").decode()
    response.set_cookie(
        COOKIE,
        f"{payload}.{_sign(settings, payload)}",
        httponly=True,
        secure=cookie_secure(settings),
        samesite="lax",
        path="/dashboard",
        max_age=120,
    )


def read(settings: Settings, request: Request) -> Flash | None:
    raw = request.cookies.get(COOKIE)
    if not raw or "." not in raw or len(raw) > 2048:
        return None
    payload, mac = raw.rsplit(".", 1)
    if not constant_time_equals(mac, _sign(settings, payload)):
        return None
    try:
        body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return Flash(str(body["m"]), str(body["k"]))
    except (ValueError, KeyError, TypeError):
        return None


def clear(settings: Settings, request: Request, response: Response) -> None:
    response.delete_cookie(COOKIE, path="/dashboard", httponly=True, secure=cookie_secure(settings), samesite="lax")
