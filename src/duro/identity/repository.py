"""All SQL of the identity domain (06 §6).

`core.customer_identities` and `core.otp_challenges` belong to no tenant. Identity-owned payment methods live in each
mode's `payment_methods` with `tenant_id` NULL: every statement on them filters on the identity id instead and
carries the `/* unscoped: … */` marker the tenancy guard accepts. Only an identity id taken from a verified identity
token is ever passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert

from duro.db.executor import Connection
from duro.db.repository import DbRow, storable
from duro.models.billing import subscriptions
from duro.models.identity import customer_identities as idn
from duro.models.identity import otp_challenges as otp
from duro.models.payment_methods import payment_methods as pm
from duro.payment_methods.repository import IDENTITY_OWNED, TERMINAL_SUBSCRIPTION_STATUSES

# A subscription of any tenant of the mode may use an identity's method (03 §1.3).
ANY_TENANT: Final = "/* unscoped: identity-owned method in use at any tenant */"


class IdentityRepository:
    """`core.customer_identities` and `core.otp_challenges`."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # --- OTP challenges ---

    async def lock_phone(self, phone: str) -> None:
        """Serialise OTP requests and verifications of one phone (transaction-scoped advisory lock), so the
        per-phone limits counted from rows hold under concurrency and across processes."""
        await self.conn.execute(select(func.pg_advisory_xact_lock(func.hashtextextended("otp:" + phone, 0))))

    async def recent_challenges(self, phone: str, since: datetime) -> list[datetime]:
        """Creation instants of the phone's challenges created after `since`, oldest first."""
        stmt = select(otp.c.created_at).where(otp.c.phone == phone, otp.c.created_at > since).order_by(otp.c.created_at)
        return [r["created_at"] for r in (await self.conn.execute(stmt)).all()]

    async def supersede_open(self, phone: str, at: datetime) -> None:
        stmt = (
            update(otp)
            .where(otp.c.phone == phone, otp.c.consumed_at.is_(None), otp.c.superseded_at.is_(None))
            .values(superseded_at=at)
        )
        await self.conn.execute(stmt)

    async def insert_challenge(self, values: Mapping[str, Any]) -> None:
        await self.conn.execute(insert(otp).values(dict(values)))

    async def newest_challenge(self, phone: str) -> DbRow | None:
        stmt = (
            select(otp)
            .where(otp.c.phone == phone)
            .order_by(otp.c.created_at.desc(), otp.c.id.desc())
            .limit(1)
            .with_for_update()
        )
        row: DbRow | None = (await self.conn.execute(stmt)).first()
        return row

    async def count_attempt(self, challenge_id: str) -> int | None:
        """One more wrong attempt, atomically; the new count, or None when the challenge is already locked."""
        stmt = (
            update(otp)
            .where(otp.c.id == challenge_id, otp.c.attempts < 5)
            .values(attempts=otp.c.attempts + 1)
            .returning(otp.c.attempts)
        )
        row = (await self.conn.execute(stmt)).first()
        return None if row is None else int(row["attempts"])

    async def consume(self, challenge_id: str, at: datetime) -> bool:
        """Mark the challenge used, only while it is still open (not consumed, superseded, locked or expired)."""
        stmt = (
            update(otp)
            .where(
                otp.c.id == challenge_id,
                otp.c.consumed_at.is_(None),
                otp.c.superseded_at.is_(None),
                otp.c.attempts < 5,
                otp.c.expires_at > at,
            )
            .values(consumed_at=at)
            .returning(otp.c.id)
        )
        return (await self.conn.execute(stmt)).first() is not None

    # --- identities ---

    async def upsert_verified(self, identity_id: str, phone: str, at: datetime) -> DbRow:
        """The identity of `phone`, created on its first verification (`verifiedAt`), `lastVerifiedAt` = `at`."""
        stmt = (
            insert(idn)
            .values(id=identity_id, phone=phone, verified_at=at, last_verified_at=at, created_at=at)
            .on_conflict_do_update(index_elements=[idn.c.phone], set_={"last_verified_at": at})
            .returning(idn)
        )
        row: DbRow = (await self.conn.execute(stmt)).one()
        return row

    async def get(self, identity_id: str, *, for_update: bool = False) -> DbRow | None:
        if not storable(identity_id):
            return None
        stmt = select(idn).where(idn.c.id == identity_id)
        if for_update:
            stmt = stmt.with_for_update()
        row: DbRow | None = (await self.conn.execute(stmt)).first()
        return row

    async def revoke_tokens(self, identity_id: str, at: datetime) -> None:
        await self.conn.execute(update(idn).where(idn.c.id == identity_id).values(tokens_valid_after=at))


class IdentityMethodRepository:
    """Identity-owned payment methods of one mode (the connection's schema)."""

    def __init__(self, conn: Connection, identity_id: str) -> None:
        self.conn = conn
        self.identity_id = identity_id

    def _own(self) -> Any:
        return (pm.c.tenant_id.is_(None), pm.c.identity_id == self.identity_id, pm.c.status == "active")

    async def list(self, limit: int) -> list[DbRow]:
        """Attached (not pending) methods, disabled ones included, newest first."""
        stmt = (
            select(pm)
            .where(*self._own())
            .order_by(pm.c.created_at.desc(), pm.c.id.desc())
            .limit(limit)
            .prefix_with(IDENTITY_OWNED)
        )
        return list((await self.conn.execute(stmt)).all())

    async def count(self) -> int:
        stmt = select(func.count()).select_from(pm).where(*self._own()).prefix_with(IDENTITY_OWNED)
        return int((await self.conn.execute(stmt)).scalar() or 0)

    async def by_fingerprint(self, fingerprint: str) -> DbRow | None:
        stmt = select(pm).where(*self._own(), pm.c.fingerprint == fingerprint).prefix_with(IDENTITY_OWNED)
        row: DbRow | None = (await self.conn.execute(stmt)).first()
        return row

    async def insert_if_new(self, values: Mapping[str, Any]) -> DbRow | None:
        """None when the identity already has this fingerprint (the partial unique index decides)."""
        stmt = (
            insert(pm)
            .values({**values, "tenant_id": None, "customer_id": None, "identity_id": self.identity_id})
            .on_conflict_do_nothing(
                index_elements=[pm.c.identity_id, pm.c.fingerprint],
                index_where=(pm.c.identity_id.is_not(None)) & (pm.c.status == "active"),
            )
            .returning(pm)
            .prefix_with(IDENTITY_OWNED)
        )
        row: DbRow | None = (await self.conn.execute(stmt)).first()
        return row

    async def get_for_update(self, pm_id: str) -> DbRow | None:
        if not storable(pm_id):
            return None
        stmt = select(pm).where(pm.c.id == pm_id, *self._own()).with_for_update().prefix_with(IDENTITY_OWNED)
        row: DbRow | None = (await self.conn.execute(stmt)).first()
        return row

    async def used_by_live_subscription(self, pm_id: str) -> bool:
        """True when a non-terminal subscription of any tenant of this mode charges the method."""
        s = subscriptions
        stmt = select(
            exists().where(s.c.payment_method_id == pm_id, s.c.status.not_in(TERMINAL_SUBSCRIPTION_STATUSES))
        ).prefix_with(ANY_TENANT)
        return bool((await self.conn.execute(stmt)).scalar())

    async def delete(self, pm_id: str) -> None:
        await self.conn.execute(delete(pm).where(pm.c.id == pm_id, *self._own()).prefix_with(IDENTITY_OWNED))
