"""`POST /v1/oauth/token`: OAuth 2.0 client credentials → 60-minute merchant JWT (02 §3).

Field names follow RFC 6749 (snake_case) here and only here.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from starlette.responses import Response

from duro.api.errors import request_id_of
from duro.api.params import errors
from duro.auth.tokens import client_id_mode, client_secret_mode
from duro.credentials.repository import CredentialLookup, OAuthClientRepository
from duro.kit import jsonenc
from duro.kit.crypto import constant_time_equals, sha256_hex
from duro.kit.errors import Detail, DuroError, bad_request, rate_limited, unauthorized, validation
from duro.kit.netaddr import client_ip
from duro.kit.ratelimit import per_minute
from duro.runtime import Runtime

router = APIRouter(prefix="/v1/oauth", tags=["oauth"])

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _invalid_client() -> DuroError:
    return unauthorized("invalid_client", "Client authentication failed")


def _form(body: bytes, content_type: str) -> dict[str, Any]:
    if not body.strip():
        return {}
    if content_type.startswith("application/x-www-form-urlencoded"):
        try:
            return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
        except (UnicodeDecodeError, ValueError) as exc:
            raise bad_request("malformed_json", "The form body could not be parsed") from exc
    try:
        data = jsonenc.loads(body)
    except ValueError as exc:
        raise bad_request("malformed_json", "The body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise bad_request("malformed_json", "The body must be a JSON object")
    return data


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    cid, sep, secret = decoded.partition(":")
    return (cid, secret) if sep else None


@router.post(
    "/token",
    responses={200: {"description": "Access token (RFC 6749 §5.1)"}, **errors(400, 401, 422, 429, 500)},
)
async def issue_token(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    try:
        return await _issue(request, runtime)
    except DuroError as err:
        err.headers = {**NO_STORE, **err.headers}
        return Response(
            jsonenc.dumps(err.envelope(request_id_of(request))),
            err.status,
            media_type="application/json",
            headers=err.headers,
        )


async def _issue(request: Request, runtime: Runtime) -> Response:
    settings = runtime.settings
    ip = client_ip(
        request.client.host if request.client else None,
        request.headers.get("x-forwarded-for"),
        settings.trusted_proxies,
    )
    verdict = await runtime.limiter.hit(per_minute(60), "oauth-ip", ip)
    if not verdict.allowed:
        raise rate_limited(verdict.reset_seconds)
    form = _form(await request.body(), request.headers.get("content-type", ""))
    basic = _basic(request.headers.get("authorization"))
    grant_type = form.get("grant_type")
    client_id = form.get("client_id") or (basic[0] if basic else None)
    client_secret = form.get("client_secret") or (basic[1] if basic else None)
    scope = form.get("scope")
    missing = [
        Detail(name, "required")
        for name, value in (
            ("grant_type", grant_type),
            ("client_id", client_id),
            ("client_secret", client_secret),
        )
        if not value
    ]
    wrong_type = [
        Detail(name, "must be a string")
        for name in ("grant_type", "client_id", "client_secret", "scope")
        if form.get(name) is not None and not isinstance(form.get(name), str)
    ]
    if wrong_type or (missing and any(d.path == "grant_type" for d in missing)):
        raise validation("invalid token request", wrong_type + missing)
    if grant_type != "client_credentials":
        raise bad_request("unsupported_grant_type", "grant_type must be client_credentials")
    if missing:
        raise validation("invalid token request", missing)
    if scope is not None and scope != "*":
        raise validation("invalid token request", [Detail("scope", "must be *")])
    assert isinstance(client_id, str)
    assert isinstance(client_secret, str)
    verdict = await runtime.limiter.hit(per_minute(20), "oauth-client", client_id)
    if not verdict.allowed:
        raise rate_limited(verdict.reset_seconds)
    mode = client_id_mode(client_id)
    if mode is None or client_secret_mode(client_secret) != mode:
        raise _invalid_client()
    async with runtime.db.transaction(mode) as conn:
        row = await CredentialLookup(conn).oauth_client_by_client_id(client_id)
        # Always hash and compare, known client or not, so timing says nothing about which ids exist.
        presented = sha256_hex(client_secret)
        stored = row.secret_hash if row is not None else sha256_hex("")
        if not constant_time_equals(presented, stored) or row is None or row.revoked_at is not None:
            raise _invalid_client()
        now = runtime.clock.now()
        await OAuthClientRepository(conn, row.tenant_id).touch(row.id, now)
    token = runtime.jwt.issue(
        "merchant", row.id, {"tenant": row.tenant_id, "mode": mode, "scope": "*"}, int(now.timestamp())
    )
    body = {"access_token": token, "token_type": "Bearer", "expires_in": 3600, "scope": "*"}
    return Response(jsonenc.dumps(body), 200, media_type="application/json", headers=NO_STORE)
