"""HTTP endpoints of /identity (06 §6). Thin: limits, parse, one transaction, shape the response.

`otp` and `verify` take no credential and count every request towards their per-IP limit before anything else,
so the body is parsed here (after the limit) rather than by FastAPI (before it). The other routes need an identity
token (`auth.require_identity`); a merchant key on them is 401 `wrong_credential_kind`.
"""

from __future__ import annotations

from typing import TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from limits import RateLimitItem
from pydantic import BaseModel, ValidationError
from starlette.background import BackgroundTask
from starlette.responses import Response

from duro.api.errors import validation_to_error
from duro.api.params import ListEnvelope, errors, ok
from duro.api.responses import json_response
from duro.db.engine import Mode
from duro.identity import service
from duro.identity.auth import Identity, require_identity
from duro.identity.delivery import send_platform_now
from duro.identity.schemas import (
    Deleted,
    IdentityPaymentMethodCreate,
    Me,
    ModeParam,
    OtpRequest,
    OtpSent,
    Verified,
    VerifyRequest,
)
from duro.identity.tokens import issue_identity_token
from duro.kit.errors import bad_request, not_found, rate_limited
from duro.kit.jsonenc import format_ts
from duro.kit.netaddr import client_ip
from duro.kit.ratelimit import per
from duro.payment_methods.schemas import PaymentMethodOut
from duro.runtime import Runtime

router = APIRouter(prefix="/identity", tags=["identity"])

M = TypeVar("M", bound=BaseModel)

MAX_BODY = 1024 * 1024
OTP_PER_IP = per("20/15 minutes")
VERIFY_PER_IP = per("30/15 minutes")
NO_STORE = {"Cache-Control": "no-store"}
MODE_QUERY = Query("live", description="`test` or `live` (default): identity-owned methods are per mode")
IDENTITY_ERRORS = errors(400, 401, 422, 429, 500)


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def request_ip(request: Request, runtime: Runtime) -> str:
    """The client IP of 01 §9: the socket peer, or behind `DURO_TRUSTED_PROXIES` the right-most untrusted
    `X-Forwarded-For` hop."""
    peer = request.client.host if request.client else None
    return client_ip(peer, request.headers.get("x-forwarded-for"), runtime.settings.trusted_proxies)


async def read_body(request: Request, model: type[M]) -> M:
    """Parse a JSON object body into `model` with the errors of 01 §5 (400 malformed/unsupported/too large,
    422 with details naming the fields)."""
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise bad_request("payload_too_large", "The body is larger than 1 MiB")
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if raw.strip() and ctype != "application/json":
        raise bad_request("unsupported_media_type", "Send the body as application/json")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        located = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise validation_to_error(RequestValidationError(located)) from None


async def _limit_ip(runtime: Runtime, item: RateLimitItem, scope: str, ip: str) -> None:
    verdict = await runtime.limiter.hit(item, scope, ip)
    if not verdict.allowed:
        raise rate_limited(verdict.reset_seconds)


@router.post("/otp", status_code=202, responses={**ok(OtpSent, 202, "Code sent (or queued)"), **IDENTITY_ERRORS})
async def request_otp(request: Request) -> Response:
    """Send a 6-digit code to the phone over WhatsApp. 202 for every valid phone, whether or not an identity
    exists or delivery succeeds."""
    runtime = _runtime(request)
    ip = request_ip(request, runtime)
    await _limit_ip(runtime, OTP_PER_IP, "identity-otp-ip", ip)
    body = await read_body(request, OtpRequest)
    phone = service.normalized_phone(body.phone)
    async with runtime.db.core_transaction() as conn:
        queued = await service.request_otp(conn, runtime.settings, phone=phone, ip=ip, now=runtime.clock.now())
    response = json_response(queued.body, 202)
    if queued.notification_id is not None:
        # After the commit and after the answer: the caller never waits on (or learns about) delivery.
        response.background = BackgroundTask(send_platform_now, runtime, queued.notification_id)
    return response


@router.post("/verify", responses={**ok(Verified), **IDENTITY_ERRORS})
async def verify_otp(request: Request) -> Response:
    """Exchange the code for a 60-minute identity token. Every failure is 401 `invalid_code`."""
    runtime = _runtime(request)
    await _limit_ip(runtime, VERIFY_PER_IP, "identity-verify-ip", request_ip(request, runtime))
    body = await read_body(request, VerifyRequest)
    phone = service.normalized_phone(body.phone)
    now = runtime.clock.now()
    # Committed before answering, failures included: a wrong code's attempt must stick.
    async with runtime.db.core_transaction() as conn:
        identity = await service.verify_otp(conn, runtime.settings, phone=phone, code=body.code, now=now)
    if identity is None:
        raise service.invalid_code()
    issued = issue_identity_token(runtime.jwt, identity["id"], identity["phone"], now)
    out = {
        "token": issued.token,
        "expiresAt": format_ts(issued.expires_at),
        "identity": service.identity_json(identity),
    }
    return json_response(out, headers=NO_STORE)


@router.get("/me", responses={**ok(Me), **IDENTITY_ERRORS})
async def identity_me(
    request: Request, mode: ModeParam = MODE_QUERY, identity: Identity = Depends(require_identity)
) -> Response:
    runtime = _runtime(request)
    async with runtime.db.reader(mode) as conn:
        methods = await service.list_methods(conn, identity)
    return json_response({"identity": service.identity_json(identity), "paymentMethods": methods})


@router.get("/payment-methods", responses={**ok(ListEnvelope), **IDENTITY_ERRORS})
async def list_identity_payment_methods(
    request: Request, mode: ModeParam = MODE_QUERY, identity: Identity = Depends(require_identity)
) -> Response:
    runtime = _runtime(request)
    async with runtime.db.reader(mode) as conn:
        items = await service.list_methods(conn, identity)
    return json_response({"object": "list", "items": items, "nextCursor": None, "hasMore": False})


@router.post(
    "/payment-methods",
    status_code=201,
    responses={
        **ok(PaymentMethodOut, 201, "Created"),
        **ok(PaymentMethodOut, 200, "The identity already has this number on this rail"),
        **errors(400, 401, 409, 422, 429, 500),
    },
)
async def add_identity_payment_method(
    request: Request, mode: ModeParam = MODE_QUERY, identity: Identity = Depends(require_identity)
) -> Response:
    runtime = _runtime(request)
    body = await read_body(request, IdentityPaymentMethodCreate)
    async with runtime.db.transaction(mode) as conn:
        method, created = await service.add_method(conn, identity, body, runtime.clock.now())
    return json_response(method, 201 if created else 200)


@router.delete("/payment-methods/{mode}/{pm_id}", responses={**ok(Deleted), **errors(401, 404, 409, 429, 500)})
async def delete_identity_payment_method(
    request: Request, mode: str, pm_id: str, identity: Identity = Depends(require_identity)
) -> Response:
    if mode not in ("test", "live"):
        raise not_found("No such payment method")
    mode_: Mode = "test" if mode == "test" else "live"
    runtime = _runtime(request)
    async with runtime.db.transaction(mode_) as conn:
        out = await service.delete_method(conn, identity, pm_id)
    return json_response(out)


@router.post("/logout", status_code=204, responses={204: {"description": "Signed out everywhere"}, **IDENTITY_ERRORS})
async def identity_logout(request: Request, identity: Identity = Depends(require_identity)) -> Response:
    """Every token of the identity issued before now is refused from now on."""
    runtime = _runtime(request)
    async with runtime.db.core_transaction() as conn:
        await service.logout(conn, identity, runtime.clock.now())
    return Response(status_code=204)
