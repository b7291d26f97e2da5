"""Process-wide services shared by every request: settings, database, clock, credentials, limits."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from duro.auth.principal import Principal
from duro.auth.resolve import CredentialResolver
from duro.config import Settings
from duro.credentials.repository import ApiKeyRepository, OAuthClientRepository
from duro.db.engine import Database, Mode
from duro.gateway.protocol import ChargeGateway
from duro.gateway.simulator import SimulatorGateway
from duro.kit.clock import Clock, SystemClock, monotonic
from duro.kit.jwt import JwtCodec, build_keys
from duro.kit.ratelimit import RateLimiter
from duro.storage import FileStorage, build_storage

log = logging.getLogger(__name__)

LAST_USED_THROTTLE_SECONDS = 60.0


@dataclass
class UsageRecorder:
    """Writes `lastUsedAt` after the response, at most once per 60 s per credential; failures are ignored."""

    db: Database
    clock: Clock
    _last: dict[str, float] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def record(self, principal: Principal) -> None:
        now = monotonic()
        last = self._last.get(principal.credential_id)
        if last is not None and now - last < LAST_USED_THROTTLE_SECONDS:
            return
        self._last[principal.credential_id] = now
        task = asyncio.get_running_loop().create_task(self._write(principal))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, principal: Principal) -> None:
        try:
            at = self.clock.now()
            async with self.db.transaction(principal.mode) as conn:
                if principal.kind == "oauth":
                    await OAuthClientRepository(conn, principal.tenant_id).touch(principal.credential_id, at)
                else:
                    await ApiKeyRepository(conn, principal.tenant_id).touch(
                        principal.credential_id, at, at - timedelta(seconds=LAST_USED_THROTTLE_SECONDS)
                    )
        except Exception:  # never block or fail a request over bookkeeping
            log.warning("could not record lastUsedAt", exc_info=True)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


class Runtime:
    def __init__(self, settings: Settings, db: Database, clock: Clock | None = None) -> None:
        self.settings = settings
        self.db = db
        self.clock: Clock = clock or SystemClock()
        self.jwt = JwtCodec(
            build_keys(settings.root_secret, settings.jwt_alg, settings.jwt_private_key_file),
            settings.public_url,
        )
        self.resolver = CredentialResolver(db, self.jwt, self.clock)
        self.limiter = RateLimiter(settings.redis_url)
        self.usage = UsageRecorder(db, self.clock)
        self._gateways: dict[Mode, ChargeGateway] = {}
        self._storage: FileStorage | None = None

    @property
    def storage(self) -> FileStorage:
        """The file store of `DURO_STORAGE_BACKEND`, built on first use (KYC documents, 02 §10)."""
        if self._storage is None:
            self._storage = build_storage(self.settings)
        return self._storage

    @storage.setter
    def storage(self, value: FileStorage) -> None:
        self._storage = value

    def gateway(self, mode: Mode) -> ChargeGateway:
        """The charge gateway of `mode`: the deterministic simulator in both modes in this release (03 §2)."""
        found = self._gateways.get(mode)
        if found is None:
            found = self._gateways[mode] = SimulatorGateway(
                self.db, mode, self.clock, latency_seconds=self.settings.simulator_latency_ms / 1000
            )
        return found

    async def close(self) -> None:
        from duro.kit.egress import close_connections  # kept-alive webhook connections (05 §8 pools)

        await self.usage.drain()
        await close_connections()
