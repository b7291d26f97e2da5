"""The events outbox (05 §2): written in the same transaction as the change it describes."""

from __future__ import annotations

from sqlalchemy import Column, Index, Table, Text, text
from sqlalchemy.dialects.postgresql import JSONB

from duro.models.base import DATA_SCHEMA, id_column, list_index, metadata, tenant_column, ts

events = Table(
    "events",
    metadata,
    id_column(),
    tenant_column(),
    Column("type", Text, nullable=False),
    Column("data", JSONB, nullable=False),
    ts("dispatched_at"),
    ts("created_at", nullable=False),
    list_index("events"),
    Index("ix_events_tenant_id_type_created_at_id", "tenant_id", "type", "created_at", "id"),
    # Fan-out scans undispatched events across tenants; keep that scan tiny.
    Index("ix_events_undispatched", "created_at", postgresql_where=text("dispatched_at IS NULL")),
    schema=DATA_SCHEMA,
)
