"""RepositoryContext: what a service gets for one unit of work — one transaction, one tenant, one mode."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from duro.config import Settings
from duro.db.engine import Mode
from duro.db.executor import Connection
from duro.db.repository import TenantRepository
from duro.kit.clock import Clock

R = TypeVar("R", bound=TenantRepository)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change, for events and the audit log."""

    type: str  # member | api_key | oauth_client | customer | staff | system
    id: str | None
    label: str


@dataclass(frozen=True, slots=True)
class RequestMeta:
    """Where a request came from, for session rows and audit entries written outside a RepositoryContext (the
    dashboard's account and team work on `core`, webhook replays that open their own transactions). The CLI has
    none: every field is optional."""

    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


@dataclass
class RepositoryContext:
    conn: Connection
    tenant_id: str
    mode: Mode
    clock: Clock
    settings: Settings
    actor: Actor
    request_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    _repos: dict[type[Any], Any] = field(default_factory=dict, repr=False)

    def repo(self, cls: type[R]) -> R:
        """The repository of `cls` for this tenant, created once per unit of work."""
        found = self._repos.get(cls)
        if found is None:
            found = cls(self.conn, self.tenant_id)
            self._repos[cls] = found
        return found

    @property
    def livemode(self) -> bool:
        return self.mode == "live"
