"""Webhook endpoints, deliveries and delivery attempts (05 §5–7), per mode.

One delivery per (event, endpoint) under a unique constraint: fan-out can run twice, or in two workers, and still
create exactly one. Signing secrets are stored encrypted (AES-GCM under a key derived from `DURO_SECRET_KEY`):
unlike API keys they must be read back to sign every attempt.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, Table, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB

from duro.models.base import DATA_SCHEMA, id_column, list_index, metadata, tenant_column, ts

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    id_column(),
    tenant_column(),
    Column("url", Text, nullable=False),
    Column("description", Text),
    Column("enabled_events", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("status", Text, nullable=False),  # enabled | disabled
    Column("disabled_reason", Text),  # manual | gone | failing
    ts("failing_since"),
    Column("secret_ciphertext", Text, nullable=False),
    Column("secret_last4", Text, nullable=False),
    ts("secret_rotated_at"),
    Column("previous_secret_ciphertext", Text),
    ts("previous_secret_expires_at"),
    ts("created_at", nullable=False),
    ts("updated_at", nullable=False),
    list_index("webhook_endpoints"),
    schema=DATA_SCHEMA,
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    id_column(),
    tenant_column(),
    Column("event_id", Text, nullable=False),
    Column("endpoint_id", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("status", Text, nullable=False),  # pending | delivered | failed
    Column("attempt_count", Integer, nullable=False, server_default=text("0")),
    ts("next_attempt_at"),
    ts("lease_until"),
    # "Replay failed since" (05 §6): a failed delivery queued for one replay attempt by the webhooks loop.
    Column("replay_queued", Boolean, nullable=False, server_default=text("false")),
    ts("last_attempt_at"),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    ts("delivered_at"),
    ts("created_at", nullable=False),
    ts("updated_at", nullable=False),
    UniqueConstraint("tenant_id", "event_id", "endpoint_id"),
    list_index("webhook_deliveries"),
    Index("ix_webhook_deliveries_tenant_id_endpoint_id", "tenant_id", "endpoint_id", "created_at", "id"),
    # The delivery loop scans due deliveries of all tenants of a mode.
    Index(
        "ix_webhook_deliveries_due",
        "next_attempt_at",
        postgresql_where=text("status = 'pending' OR replay_queued"),
    ),
    schema=DATA_SCHEMA,
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    id_column(),
    tenant_column(),
    Column("delivery_id", Text, nullable=False),
    Column("endpoint_id", Text, nullable=False),
    Column("attempt_number", Integer, nullable=False),
    Column("trigger", Text, nullable=False),  # automatic | replay
    ts("started_at", nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("request_headers", JSONB, nullable=False),
    Column("response_status", Integer),
    Column("response_body", Text),
    Column("error", Text),
    Column("error_message", Text),
    ts("created_at", nullable=False),
    UniqueConstraint("tenant_id", "delivery_id", "attempt_number"),
    # Replays are limited per endpoint and minute (05 §6).
    Index("ix_webhook_attempts_tenant_id_endpoint_id_started_at", "tenant_id", "endpoint_id", "started_at"),
    schema=DATA_SCHEMA,
)
