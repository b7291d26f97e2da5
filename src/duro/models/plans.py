"""Plans (03 §1.1)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Integer, Table, Text, text
from sqlalchemy.dialects.postgresql import JSONB

from duro.models.base import DATA_SCHEMA, id_column, list_index, metadata, tenant_column, ts

plans = Table(
    "plans",
    metadata,
    id_column(),
    tenant_column(),
    Column("name", Text, nullable=False),
    Column("description", Text),
    Column("amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("interval", Text, nullable=False),
    Column("interval_count", Integer, nullable=False),
    Column("trial_days", Integer, nullable=False),
    Column("max_cycles", Integer),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    ts("created_at", nullable=False),
    ts("updated_at", nullable=False),
    list_index("plans"),
    schema=DATA_SCHEMA,
)
