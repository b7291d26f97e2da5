"""Who is calling: resolved once per request from the credential."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from duro.db.engine import Mode

CredentialKind = Literal["secret_key", "publishable_key", "oauth"]


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: str
    mode: Mode
    kind: CredentialKind
    credential_id: str  # key_… or oac_…
    label: str  # key prefix or OAuth client id, for logs and audit

    @property
    def actor_type(self) -> str:
        return "oauth_client" if self.kind == "oauth" else "api_key"

    @property
    def rate_limit_key(self) -> str:
        return self.credential_id
