"""Runs one portal action as a unit of work: authorisation and the action in one transaction, and for an action
that charges (retry-payment, a resume that renews at once) the gateway call between two transactions, as
`ApiCall.run_charging` does for /v1 (the portal has no Idempotency-Key: a crashed charge is finished by the
maintenance loop from its `pending` transaction)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from duro.api.unit import Done, NeedsCharge, NeedsGateway, Refused
from duro.context import Actor, RepositoryContext
from duro.db.engine import Mode
from duro.db.executor import Connection
from duro.identity.auth import Identity
from duro.kit.errors import DuroError
from duro.portal.service import Outcome, Target, authorize, current
from duro.runtime import Runtime

Work = Callable[[RepositoryContext, Target], Awaitable[Outcome]]


def masked(phone: str) -> str:
    """`+234******5678`: the audit label of a customer (02 §9)."""
    return phone[:4] + "*" * max(len(phone) - 8, 0) + phone[-4:] if len(phone) > 8 else "*" * len(phone)


@dataclass(frozen=True, slots=True)
class PortalCall:
    """Who is asking and where: built by the router for each request."""

    runtime: Runtime
    identity: Identity
    mode: Mode
    request_id: str | None
    ip: str | None
    user_agent: str | None

    def context(self, conn: Connection, tenant_id: str) -> RepositoryContext:
        actor = Actor("customer", self.identity.id, masked(self.identity.phone))
        return RepositoryContext(
            conn,
            tenant_id,
            self.mode,
            self.runtime.clock,
            self.runtime.settings,
            actor,
            self.request_id,
            self.ip,
            self.user_agent,
        )

    async def read(
        self, sub_id: str, permission: str, work: Callable[[RepositoryContext, Target], Awaitable[Any]]
    ) -> Any:
        async with self.runtime.db.reader(self.mode) as conn:
            target = await authorize(conn, self.identity, sub_id, permission)
            return await work(self.context(conn, target.tenant_id), target)

    async def act(self, sub_id: str, permission: str, work: Work) -> dict[str, Any]:
        """Authorise, run `work`, answer the subscription in the portal shape. A `Refused` step (a decline) keeps
        its effects — the failed transaction, the `subscription_payment_failed` event — and then raises."""
        db, mode = self.runtime.db, self.mode
        refused: DuroError | None = None
        async with db.transaction(mode) as conn:
            target = await authorize(conn, self.identity, sub_id, permission)
            ctx = self.context(conn, target.tenant_id)
            step = await work(ctx, target)
            if step is None or isinstance(step, Done):
                return await current(ctx, sub_id)
            if isinstance(step, Refused):
                refused = step.error
            elif isinstance(step, NeedsGateway):  # no portal action refunds
                raise TypeError("the portal has no non-charge gateway step")
        if refused is not None:
            raise refused
        assert isinstance(step, NeedsCharge)
        p = step.pending
        outcome = await self.runtime.gateway(mode).charge(
            p.method, p.amount, p.currency, p.transaction_id, p.at, p.attempt_number
        )
        async with db.transaction(mode) as conn:
            ctx = self.context(conn, target.tenant_id)
            finished = await step.finish(ctx, outcome)
            if isinstance(finished, Done):
                return await current(ctx, sub_id)
            refused = finished.error
        raise refused
