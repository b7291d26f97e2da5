"""The unit of work of a /v1 call: idempotency claim, one transaction, stored response (01 §8).

Routers stay thin: they parse, then hand `ApiCall.run` a service function taking a RepositoryContext.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from starlette.responses import Response

from duro.api.errors import request_id_of
from duro.api.responses import JSON
from duro.auth.principal import Principal
from duro.context import Actor, RepositoryContext
from duro.idempotency import store
from duro.kit import jsonenc
from duro.kit.errors import DuroError, bad_request, internal_error, unauthorized
from duro.runtime import Runtime

log = logging.getLogger(__name__)

Handler = Callable[[RepositoryContext], Awaitable[Any]]


def _check_key(raw: str) -> str:
    if not 1 <= len(raw) <= 255 or any(not 0x20 <= ord(c) <= 0x7E for c in raw):
        raise bad_request("invalid_idempotency_key", "Idempotency-Key must be 1-255 printable ASCII characters")
    return raw


class ApiCall:
    """Everything a /v1 route needs about its request; built by the `api_call` dependency."""

    def __init__(self, request: Request, runtime: Runtime, principal: Principal) -> None:
        self.request = request
        self.runtime = runtime
        self.principal = principal
        self.request_id = request_id_of(request)
        self.actor = Actor(principal.actor_type, principal.credential_id, principal.label)

    def context(self, conn: Any) -> RepositoryContext:
        return RepositoryContext(
            conn,
            self.principal.tenant_id,
            self.principal.mode,
            self.runtime.clock,
            self.runtime.settings,
            self.actor,
            self.request_id,
        )

    async def read(self, handler: Handler) -> Response:
        """A read: one short transaction, no idempotency."""
        async with self.runtime.db.reader(self.principal.mode) as conn:
            result = await handler(self.context(conn))
        return Response(jsonenc.dumps(result), 200, media_type=JSON)

    async def run(self, handler: Handler, status: int = 200) -> Response:
        """A write: honours `Idempotency-Key` and commits effects and stored response together."""
        raw_key = self.request.headers.get("idempotency-key")
        if raw_key is None:
            async with self.runtime.db.transaction(self.principal.mode) as conn:
                result = await handler(self.context(conn))
            return Response(jsonenc.dumps(result), status, media_type=JSON)

        key = _check_key(raw_key)
        body = await self.request.body()
        try:
            # Routes without a body model never parsed it, so this may be the first look at the bytes.
            canonical = jsonenc.canonical(jsonenc.loads(body)) if body.strip() else b""
        except ValueError as exc:
            raise bad_request("malformed_json", "The body is not valid JSON") from exc
        fp = store.fingerprint(self.request.method, self.request.url.path, self.request.url.query, canonical)
        db, mode, tenant = self.runtime.db, self.principal.mode, self.principal.tenant_id
        claim = await store.claim(db, mode, tenant, key, fp, self.request_id, self.runtime.clock.now())
        if isinstance(claim, store.Replay):
            return Response(
                claim.body,
                claim.status,
                media_type=JSON,
                headers={"Idempotent-Replayed": "true", "Original-Request-Id": claim.original_request_id},
            )
        try:
            async with db.transaction(mode) as conn:
                result = await handler(self.context(conn))
                payload = jsonenc.dumps(result)
                await store.complete(conn, tenant, key, status, payload)
            return Response(payload, status, media_type=JSON)
        except DuroError as err:
            payload = jsonenc.dumps(err.envelope(self.request_id))
            await store.store_error(db, mode, tenant, key, err.status, payload)
            return Response(payload, err.status, media_type=JSON, headers=err.headers)
        except Exception:
            log.exception("handler failed; storing the 500 for this Idempotency-Key")
            payload = jsonenc.dumps(internal_error().envelope(self.request_id))
            await store.store_error(db, mode, tenant, key, 500, payload)
            return Response(payload, 500, media_type=JSON)


async def api_call(request: Request) -> ApiCall:
    # `async` on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread hop per request.
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):  # only reachable if a route is mounted outside the middleware
        raise unauthorized("missing_credential", "No credential was sent")
    runtime: Runtime = request.app.state.runtime
    return ApiCall(request, runtime, principal)
