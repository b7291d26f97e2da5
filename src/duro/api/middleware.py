"""Pure ASGI middleware (cheap on the hot path).

`RequestIdMiddleware` (outermost) gives every response an `X-Request-Id` and logs one line per request.
`MerchantApiMiddleware` guards /v1 in the order the spec fixes (01 §8): authentication → rate limit →
authorisation (publishable keys) → body limits; only then does the route parse and validate the body.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from limits import RateLimitItem
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from duro.api.responses import error_response
from duro.auth.principal import Principal
from duro.kit.clock import monotonic
from duro.kit.errors import DuroError, bad_request, forbidden, internal_error, rate_limited
from duro.kit.ids import new_id
from duro.kit.logs import request_context
from duro.kit.ratelimit import per_second
from duro.runtime import Runtime

log = logging.getLogger("duro.http")

MAX_BODY = 1024 * 1024
# The only /v1 operation a publishable key may call (01 §5, 02 §2).
PUBLISHABLE_ALLOWED = {("POST", "/v1/checkout/sessions")}
# /v1 paths that authenticate differently (OAuth client credentials in the body).
UNAUTHENTICATED = {"/v1/oauth/token"}
BODY_METHODS = {"POST", "PATCH", "PUT", "DELETE"}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_id("req")
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        ctx: dict[str, Any] = {"requestId": request_id}
        client_rid = _header(scope, b"x-request-id")
        if client_rid:
            ctx["clientRequestId"] = client_rid[:200]
        token = request_context.set(ctx)
        started = monotonic()
        status_holder = [500]
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                status_holder[0] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error")
            if not response_started:
                await error_response(internal_error(), request_id)(scope, receive, send_with_id)
        finally:
            if log.isEnabledFor(logging.INFO):  # the access line is off at WARNING: skip building it
                principal: Principal | None = state.get("principal")
                fields = {
                    "method": scope["method"],
                    "route": scope["path"],
                    "status": status_holder[0],
                    "latencyMs": round((monotonic() - started) * 1000, 2),
                }
                if principal is not None:
                    fields.update(tenant=principal.tenant_id, mode=principal.mode, credentialId=principal.credential_id)
                log.info("request", extra={"fields": fields})
            request_context.reset(token)


class MerchantApiMiddleware:
    def __init__(self, app: ASGIApp, runtime_getter: Callable[[], Runtime]) -> None:
        self.app = app
        self._runtime = runtime_getter
        self._items: dict[int, RateLimitItem] = {}

    @property
    def runtime(self) -> Runtime:
        return self._runtime()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (path == "/v1" or path.startswith("/v1/")):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        request_id: str = state.get("request_id") or new_id("req")
        method: str = scope["method"]
        extra_headers: dict[str, str] = {}
        try:
            if path in UNAUTHENTICATED:
                principal = None
            else:
                principal = await self.runtime.resolver.resolve(_header(scope, b"authorization"))
                state["principal"] = principal
                ctx = request_context.get()
                if ctx is not None:
                    ctx.update(tenant=principal.tenant_id, mode=principal.mode, credentialId=principal.credential_id)
                verdict = await self.runtime.limiter.hit(self._limit(principal), "v1", principal.rate_limit_key)
                extra_headers = verdict.headers()
                if not verdict.allowed:
                    raise rate_limited(verdict.reset_seconds)
                if principal.kind == "publishable_key" and (method, path) not in PUBLISHABLE_ALLOWED:
                    raise forbidden("publishable_key_not_allowed", "Publishable keys may only create checkout sessions")
            if method in BODY_METHODS:
                receive = await self._buffer_body(scope, receive)
        except DuroError as err:
            err.headers = {**extra_headers, **err.headers}
            await error_response(err, request_id)(scope, receive, send)
            return

        if principal is not None:
            self.runtime.usage.record(principal)

        response_started = False

        async def send_with_limits(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                if extra_headers:
                    message["headers"] = [
                        *message.get("headers", []),
                        *((k.lower().encode(), v.encode()) for k, v in extra_headers.items()),
                    ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_limits)
        except Exception:
            if response_started:
                raise
            # Render the 500 here rather than in RequestIdMiddleware so it keeps the RateLimit-* headers
            # every /v1 answer carries (01 §9).
            log.exception("unhandled error")
            await error_response(internal_error(), request_id)(scope, receive, send_with_limits)

    def _limit(self, principal: Principal) -> Any:
        s = self.runtime.settings
        amount = s.rate_limit_live if principal.mode == "live" else s.rate_limit_test
        item = self._items.get(amount)
        if item is None:  # one item per limit, not one per request (a settings change gets its own)
            item = self._items[amount] = per_second(amount)
        return item

    async def _buffer_body(self, scope: Scope, receive: Receive) -> Receive:
        """Read the whole body (≤ 1 MiB) up front, check its type, and replay it to the route."""
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
            raise bad_request("payload_too_large", "The body is larger than 1 MiB")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY:
                raise bad_request("payload_too_large", "The body is larger than 1 MiB")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body.strip():
            ctype = (_header(scope, b"content-type") or "").split(";", 1)[0].strip().lower()
            allowed = {"application/json"}
            if scope["path"] in UNAUTHENTICATED:
                allowed.add("application/x-www-form-urlencoded")
            if ctype not in allowed:
                raise bad_request("unsupported_media_type", "Send the body as application/json")
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay
