"""Machine credentials of one mode: API keys and OAuth clients (hashes only)."""

from __future__ import annotations

from sqlalchemy import Column, Table, Text

from duro.models.base import DATA_SCHEMA, id_column, list_index, metadata, tenant_column, ts

api_keys = Table(
    "api_keys",
    metadata,
    id_column(),
    tenant_column(),
    Column("kind", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("key_hash", Text, nullable=False, unique=True),
    Column("prefix", Text, nullable=False),
    Column("last4", Text, nullable=False),
    Column("created_by", Text),
    ts("created_at", nullable=False),
    ts("last_used_at"),
    ts("revoked_at"),
    list_index("api_keys"),
    schema=DATA_SCHEMA,
)

oauth_clients = Table(
    "oauth_clients",
    metadata,
    id_column(),
    tenant_column(),
    Column("client_id", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("secret_hash", Text, nullable=False),
    Column("secret_last4", Text, nullable=False),
    Column("created_by", Text),
    ts("created_at", nullable=False),
    ts("last_used_at"),
    ts("revoked_at"),
    list_index("oauth_clients"),
    schema=DATA_SCHEMA,
)
