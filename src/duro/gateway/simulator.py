"""The deterministic gateway simulator (03 §2) with its idempotency ledger, `sim_charges`.

The ledger plays the processor's side of the wire: it is written in its own short transaction, never in the
caller's, because a real processor keeps a charge even when our transaction rolls back. Each call is keyed by
`reference` (the transaction or refund id). A recorded reference answers its recorded outcome without a new
decision; a new one is decided by `simulator_rules` and inserted `ON CONFLICT (reference) DO NOTHING`, and the
caller gets whatever row is recorded — so two concurrent calls with one reference always agree, and crash
recovery that repeats a call learns what happened instead of charging twice (03 §10).

`sim_charges` has no tenant column: references are globally unique ids, and the simulator, like a processor,
knows nothing of tenants.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import orjson
from sqlalchemy import any_, bindparam, select
from sqlalchemy.dialects.postgresql import insert

from duro.db.bulk import unnest_params, unnest_rows
from duro.db.engine import Database, Mode
from duro.gateway.protocol import ChargeMethod, ChargeOutcome, RefundOutcome
from duro.gateway.simulator_rules import Behaviour, decide, lookup
from duro.kit.clock import Clock, SystemClock
from duro.kit.jsonenc import format_ts
from duro.models.payment_methods import sim_charges

TOKEN_PREFIX: Final = "sim:"

# `charge_many`'s ledger write: one fixed-shape multi-row insert (db/bulk.py), whatever the batch size.
_LEDGER_COLUMNS = ["reference", "outcome"]
_RECORD_MANY = (
    insert(sim_charges)
    .from_select(
        [*_LEDGER_COLUMNS, "kind", "created_at"], unnest_rows(sim_charges, _LEDGER_COLUMNS, ["kind", "created_at"])
    )
    .on_conflict_do_nothing(index_elements=[sim_charges.c.reference])
    .returning(sim_charges.c.reference)
)
_RECORDED_MANY = select(sim_charges).where(sim_charges.c.reference == any_(bindparam("refs")))


def behaviour_of(method: ChargeMethod) -> Behaviour:
    """The simulator behaviour behind a stored token (`sim:<number>`; a bare number is accepted too).

    Methods are only saved with known test numbers, so an unknown token means corrupt data: it raises rather
    than inventing an outcome that would be recorded as if a processor had answered."""
    number = method.gateway_token.removeprefix(TOKEN_PREFIX)
    behaviour = lookup(method.rail, number)
    if behaviour is None:
        raise ValueError(f"gateway token of {method.payment_method_id or 'a method'} is not a simulator number")
    return behaviour


def _charge_entry(
    method: ChargeMethod, amount: int, currency: str, at: datetime, attempt_number: int
) -> dict[str, Any]:
    """Decide a new charge and describe it for the ledger: the outcome plus the request it answered."""
    if amount <= 0:
        raise ValueError("a charge moves a positive amount; zero-amount invoices are paid without one")
    outcome = decide(behaviour_of(method), at, attempt_number)
    request = {
        "paymentMethodId": method.payment_method_id,
        "rail": method.rail,
        "amount": amount,
        "currency": currency,
        "at": format_ts(at),
        "attemptNumber": attempt_number,
    }
    return {**outcome.to_json(), **request}


class SimulatorGateway:
    """`ChargeGateway` for both modes in this release; one instance per mode (its ledger lives in that mode's
    schema)."""

    def __init__(self, db: Database, mode: Mode, clock: Clock | None = None, latency_seconds: float = 0.0) -> None:
        self.db = db
        self.mode = mode
        self.clock: Clock = clock or SystemClock()
        self.latency_seconds = latency_seconds

    async def _network(self) -> None:
        """Stand-in for the processor's round trip (DURO_SIMULATOR_LATENCY_MS); outcomes never depend on it."""
        if self.latency_seconds > 0:
            await asyncio.sleep(self.latency_seconds)

    async def charge(
        self,
        method: ChargeMethod,
        amount: int,
        currency: str,
        reference: str,
        at: datetime,
        attempt_number: int,
    ) -> ChargeOutcome:
        if not reference:
            raise ValueError("a charge needs its reference")
        await self._network()
        recorded = await self.recorded(reference, "charge")
        if recorded is not None:
            return ChargeOutcome.from_json(recorded)
        entry = _charge_entry(method, amount, currency, at, attempt_number)
        return ChargeOutcome.from_json(await self._record(reference, "charge", entry))

    async def charge_many(
        self, requests: Sequence[tuple[ChargeMethod, int, str, str, datetime, int]]
    ) -> list[ChargeOutcome]:
        """`charge` for many references at once: every new reference is decided and recorded with one
        `INSERT … ON CONFLICT (reference) DO NOTHING`, then the recorded outcome of every reference is read back,
        so a reference recorded before (or concurrently) answers its recorded outcome, as with `charge`."""
        if not requests:
            return []
        await self._network()
        references: list[str] = []
        entries: dict[str, dict[str, Any]] = {}
        rows: list[tuple[str, str]] = []
        for method, amount, currency, reference, at, attempt_number in requests:
            if not reference:
                raise ValueError("a charge needs its reference")
            entry = _charge_entry(method, amount, currency, at, attempt_number)
            references.append(reference)
            entries[reference] = entry
            rows.append((reference, orjson.dumps(entry).decode()))
        params = unnest_params(rows, _LEDGER_COLUMNS, {"kind": "charge", "created_at": self.clock.now()})
        async with self.db.transaction(self.mode) as conn:
            # Only the references come back: an inserted row holds exactly the entry decided here.
            inserted = {row["reference"] for row in (await conn.execute(_RECORD_MANY, params)).all()}
            outcomes = {ref: entries[ref] for ref in inserted}
            missing = [ref for ref in references if ref not in inserted]
            if missing:
                # Recorded before, or by a concurrent call that won: the insert waited for it to commit, so this
                # fresh statement sees its row. Our own decision is discarded, never reported.
                for row in (await conn.execute(_RECORDED_MANY, {"refs": missing})).all():
                    outcomes[row["reference"]] = _checked(row, "charge")
        return [ChargeOutcome.from_json(outcomes[ref]) for ref in references]

    async def refund(self, transaction_reference: str, amount: int, reference: str) -> RefundOutcome:
        """Refunds always succeed in the simulator (03 §2); recorded like charges, so a repeat is answered from
        the ledger."""
        if amount <= 0:
            raise ValueError("a refund moves a positive amount")
        if not reference:
            raise ValueError("a refund needs its reference")
        recorded = await self.recorded(reference, "refund")
        if recorded is not None:
            return RefundOutcome.from_json(recorded)
        outcome = RefundOutcome(True)
        request = {"transactionReference": transaction_reference, "amount": amount}
        return RefundOutcome.from_json(await self._record(reference, "refund", {**outcome.to_json(), **request}))

    async def recorded(self, reference: str, kind: str) -> dict[str, Any] | None:
        """The ledger record of `reference` (outcome plus what was asked), or None if it was never called."""
        async with self.db.reader(self.mode) as conn:
            row = (await conn.execute(select(sim_charges).where(sim_charges.c.reference == reference))).first()
        return None if row is None else _checked(row, kind)

    async def _record(self, reference: str, kind: str, record: dict[str, Any]) -> dict[str, Any]:
        t = sim_charges
        async with self.db.transaction(self.mode) as conn:
            stmt = (
                insert(t)
                .values(reference=reference, kind=kind, outcome=record, created_at=self.clock.now())
                .on_conflict_do_nothing(index_elements=[t.c.reference])
                .returning(t)
            )
            row = (await conn.execute(stmt)).first()
            if row is None:
                # A concurrent call with this reference won: the insert waited for it to commit, so this fresh
                # statement sees its row. Answer that one; our own decision is discarded, never reported.
                row = (await conn.execute(select(t).where(t.c.reference == reference))).one()
        return _checked(row, kind)


def _checked(row: Any, kind: str) -> dict[str, Any]:
    if row["kind"] != kind:
        raise ValueError(f"reference {row['reference']} was used for a {row['kind']}, not a {kind}")
    outcome: dict[str, Any] = row["outcome"]
    return outcome
