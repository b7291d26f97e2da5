"""Stored responses for `Idempotency-Key` (01 §8)."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, LargeBinary, PrimaryKeyConstraint, Table, Text

from duro.models.base import DATA_SCHEMA, metadata, tenant_column, ts

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    tenant_column(),
    Column("key", Text, nullable=False),
    Column("fingerprint", Text, nullable=False),
    Column("state", Text, nullable=False),  # in_progress | completed
    Column("request_id", Text, nullable=False),
    Column("response_status", Integer),
    Column("response_body", LargeBinary),
    Column("recovery_point", Text),
    ts("created_at", nullable=False),
    ts("started_at", nullable=False),
    ts("expires_at", nullable=False),
    PrimaryKeyConstraint("tenant_id", "key"),
    Index("ix_idempotency_keys_expires_at", "expires_at"),
    schema=DATA_SCHEMA,
)
