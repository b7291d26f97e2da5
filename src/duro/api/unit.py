"""The unit of work of a /v1 call: idempotency claim, one transaction, stored response (01 §8).

Routers stay thin: they parse, then hand `ApiCall.run` a service function taking a RepositoryContext.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.responses import Response

from duro.api.errors import request_id_of
from duro.api.responses import JSON
from duro.auth.principal import Principal
from duro.charges.service import PendingCharge
from duro.context import Actor, RepositoryContext
from duro.db.executor import Connection
from duro.gateway.protocol import ChargeGateway, ChargeOutcome
from duro.idempotency import store
from duro.kit import jsonenc
from duro.kit.errors import DuroError, bad_request, internal_error, unauthorized
from duro.runtime import Runtime

log = logging.getLogger(__name__)

Handler = Callable[[RepositoryContext], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Answer:
    """A handler result whose HTTP status the service decides, e.g. 201 for a new payment method but 200 for the
    existing one (03 §1.3). `ApiCall.run` stores and replays that status with the body."""

    body: Any
    status: int


def _unwrap(result: Any, status: int) -> tuple[Any, int]:
    return (result.body, result.status) if isinstance(result, Answer) else (result, status)


@dataclass(frozen=True)
class Done:
    """A unit of work that finished: `result` is the response body."""

    result: Any


@dataclass(frozen=True)
class Refused:
    """Effects are committed (e.g. the failed transaction is kept) but the call answers with an error (a 402)."""

    error: DuroError


@dataclass(frozen=True)
class NeedsCharge:
    """First step done; the gateway must be called, then `finish` runs in a second transaction."""

    pending: PendingCharge
    recovery_point: str
    finish: Callable[[RepositoryContext, ChargeOutcome], Awaitable[Done | Refused]]


@dataclass(frozen=True)
class NeedsGateway:
    """Like `NeedsCharge` for any other gateway call (a refund): `call` runs with no transaction open and its
    result is handed to `finish` in the second transaction."""

    call: Callable[[ChargeGateway], Awaitable[Any]]
    recovery_point: str
    finish: Callable[[RepositoryContext, Any], Awaitable[Done | Refused]]


Step = Done | NeedsCharge | NeedsGateway
Prepare = Callable[[RepositoryContext], Awaitable[Step | Refused]]
Resume = Callable[[RepositoryContext, str], Awaitable[Step | Refused]]


def _check_key(raw: str) -> str:
    if not 1 <= len(raw) <= 255 or any(not 0x20 <= ord(c) <= 0x7E for c in raw):
        raise bad_request("invalid_idempotency_key", "Idempotency-Key must be 1-255 printable ASCII characters")
    return raw


@dataclass(frozen=True)
class _Claim:
    key: str
    recovery_point: str | None


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

    async def _claim(self, raw_key: str) -> _Claim | Response:
        """Claim `Idempotency-Key` for this request (01 §8), or the stored answer to replay."""
        async with self.runtime.db.connection(self.principal.mode) as conn:
            return await self._claim_on(conn, raw_key)

    async def _claim_on(self, conn: Connection, raw_key: str) -> _Claim | Response:
        """`_claim` on a connection the caller holds outside any transaction (the claim commits on its own)."""
        key = _check_key(raw_key)
        body = await self.request.body()
        try:
            # Routes without a body model never parsed it, so this may be the first look at the bytes.
            canonical = jsonenc.canonical(jsonenc.loads(body)) if body.strip() else b""
        except ValueError as exc:
            raise bad_request("malformed_json", "The body is not valid JSON") from exc
        fp = store.fingerprint(self.request.method, self.request.url.path, self.request.url.query, canonical)
        tenant = self.principal.tenant_id
        claim = await store.claim_on(conn, tenant, key, fp, self.request_id, self.runtime.clock.now())
        if isinstance(claim, store.Replay):
            return Response(
                claim.body,
                claim.status,
                media_type=JSON,
                headers={"Idempotent-Replayed": "true", "Original-Request-Id": claim.original_request_id},
            )
        return _Claim(key, claim.recovery_point)

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
                result, status = _unwrap(await handler(self.context(conn)), status)
            return Response(jsonenc.dumps(result), status, media_type=JSON)

        db, mode, tenant = self.runtime.db, self.principal.mode, self.principal.tenant_id
        # One pool checkout for the claim (committed on its own first) and the business transaction after it.
        async with db.connection(mode) as conn:
            claimed = await self._claim_on(conn, raw_key)
            if isinstance(claimed, Response):
                return claimed
            key = claimed.key
            try:
                async with conn.transaction():
                    result, status = _unwrap(await handler(self.context(conn)), status)
                    payload = jsonenc.dumps(result)
                    await store.complete(conn, tenant, key, status, payload)
                return Response(payload, status, media_type=JSON)
            except DuroError as err:
                failed: DuroError | None = err
            except Exception:
                log.exception("handler failed; storing the 500 for this Idempotency-Key")
                failed = None
        # The error is stored on a fresh checkout, after this one is back: the connection may be what failed, and
        # holding it while waiting for another could starve the pool.
        if failed is not None:
            payload = jsonenc.dumps(failed.envelope(self.request_id))
            await store.store_answer(db, mode, tenant, key, failed.status, payload)
            return Response(payload, failed.status, media_type=JSON, headers=failed.headers)
        payload = jsonenc.dumps(internal_error().envelope(self.request_id))
        await store.store_answer(db, mode, tenant, key, 500, payload)
        return Response(payload, 500, media_type=JSON)

    async def run_charging(self, prepare: Prepare, resume: Resume, status: int = 200) -> Response:
        """A write that calls the gateway: two transactions around the call (01 §8 rule 6, 03 §10).

        The first transaction stores the created resource's id on the idempotency row (`recoveryPoint`); a retry
        that takes over a crashed attempt calls `resume` with it instead of `prepare`, so the request is never
        executed twice: the pending charge is finished with the same gateway reference and the resource's current
        state is answered.
        """
        db, mode, tenant = self.runtime.db, self.principal.mode, self.principal.tenant_id
        raw_key = self.request.headers.get("idempotency-key")
        key: str | None = None
        first: Handler = prepare
        if raw_key is not None:
            claimed = await self._claim(raw_key)
            if isinstance(claimed, Response):
                return claimed
            key = claimed.key
            if claimed.recovery_point is not None:
                point = claimed.recovery_point

                async def first(ctx: RepositoryContext) -> Step | Refused:
                    return await resume(ctx, point)

        try:
            async with db.transaction(mode) as conn:
                step = await first(self.context(conn))
                if isinstance(step, Refused):  # refused without a gateway call; its effects commit
                    err = step.error
                    payload = jsonenc.dumps(err.envelope(self.request_id))
                    if key is not None:
                        await store.complete(conn, tenant, key, err.status, payload)
                    return Response(payload, err.status, media_type=JSON, headers=err.headers)
                if isinstance(step, Done):
                    payload = jsonenc.dumps(step.result)
                    if key is not None:
                        await store.complete(conn, tenant, key, status, payload)
                    return Response(payload, status, media_type=JSON)
                if key is not None:
                    await store.set_recovery_point(conn, tenant, key, step.recovery_point)
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
                    err = finished.error
                    payload = jsonenc.dumps(err.envelope(self.request_id))
                    if key is not None:
                        await store.complete(conn, tenant, key, err.status, payload)
                    return Response(payload, err.status, media_type=JSON, headers=err.headers)
                payload = jsonenc.dumps(finished.result)
                if key is not None:
                    await store.complete(conn, tenant, key, status, payload)
            return Response(payload, status, media_type=JSON)
        except DuroError as err:
            payload = jsonenc.dumps(err.envelope(self.request_id))
            if key is not None:
                await store.store_answer(db, mode, tenant, key, err.status, payload)
            return Response(payload, err.status, media_type=JSON, headers=err.headers)
        except Exception:
            log.exception("charging handler failed")
            payload = jsonenc.dumps(internal_error().envelope(self.request_id))
            if key is not None:
                await store.store_answer(db, mode, tenant, key, 500, payload)
            return Response(payload, 500, media_type=JSON)

    async def run_units(self, work: Callable[[], Awaitable[Any]], status: int = 200) -> Response:
        """A write made of several units of work, each committing on its own (a test-clock advance). The
        idempotency key is claimed first and the answer stored afterwards in its own transaction."""
        db, mode, tenant = self.runtime.db, self.principal.mode, self.principal.tenant_id
        raw_key = self.request.headers.get("idempotency-key")
        key: str | None = None
        if raw_key is not None:
            claimed = await self._claim(raw_key)
            if isinstance(claimed, Response):
                return claimed
            key = claimed.key
        try:
            result = await work()
        except DuroError as err:
            payload = jsonenc.dumps(err.envelope(self.request_id))
            if key is not None:
                await store.store_answer(db, mode, tenant, key, err.status, payload)
            return Response(payload, err.status, media_type=JSON, headers=err.headers)
        payload = jsonenc.dumps(result)
        if key is not None:
            await store.store_answer(db, mode, tenant, key, status, payload)
        return Response(payload, status, media_type=JSON)


async def api_call(request: Request) -> ApiCall:
    # `async` on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread hop per request.
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):  # only reachable if a route is mounted outside the middleware
        raise unauthorized("missing_credential", "No credential was sent")
    runtime: Runtime = request.app.state.runtime
    return ApiCall(request, runtime, principal)
