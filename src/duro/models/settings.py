"""Per-tenant, per-mode store settings (04 §6) and the daily metrics snapshots (04 §7)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Date, Integer, PrimaryKeyConstraint, Table, Text, text
from sqlalchemy.dialects.postgresql import JSONB

from duro.models.base import DATA_SCHEMA, metadata, tenant_column, ts

# One row per tenant; a tenant without a row uses the spec defaults (the row is written on the first PATCH).
store_settings = Table(
    "store_settings",
    metadata,
    tenant_column(),
    Column("dunning_enabled", Boolean, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("retry_offsets_hours", JSONB, nullable=False),
    Column("payday_aware", Boolean, nullable=False),
    Column("dunning_escalation_days", Integer, nullable=False),
    Column("dunning_escalation", Text, nullable=False),
    Column("renewal_reminders", Boolean, nullable=False),
    Column("renewal_reminder_days", Integer, nullable=False),
    ts("created_at", nullable=False),
    ts("updated_at", nullable=False),
    PrimaryKeyConstraint("tenant_id"),
    schema=DATA_SCHEMA,
)

metrics_snapshots = Table(
    "metrics_snapshots",
    metadata,
    tenant_column(),
    Column("day", Date, nullable=False),
    Column("mrr", JSONB, nullable=False, server_default=text("'{}'::jsonb")),  # currency → minor units
    Column("active_subscriptions", Integer, nullable=False),
    Column("trialing", Integer, nullable=False),
    Column("past_due", Integer, nullable=False),
    Column("paused", Integer, nullable=False),
    Column("unpaid", Integer, nullable=False),
    ts("created_at", nullable=False),
    PrimaryKeyConstraint("tenant_id", "day"),
    schema=DATA_SCHEMA,
)
