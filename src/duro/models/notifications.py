"""Notification outboxes and template overrides (06 §9).

Customer billing messages live in each mode's `notifications` table (written in the same transaction as the change
that causes them); platform messages (OTP, invites, resets, KYC, endpoint alerts) in `core.notifications`. Both have
the same columns. One row per (dedup key, channel): an override with channel `both` queues an email and a WhatsApp
message under one dedup key, and a replayed cause finds its row already there.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Column, Index, Integer, PrimaryKeyConstraint, Table, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB

from duro.models.base import CORE_SCHEMA, DATA_SCHEMA, id_column, list_index, metadata, tenant_column, ts


def _message_columns() -> list[Any]:
    return [
        Column("channel", Text, nullable=False),  # email | whatsapp
        Column("template_key", Text, nullable=False),
        Column("recipient", Text, nullable=False),
        Column("subject", Text),
        Column("body_text", Text, nullable=False),
        Column("body_html", Text),
        Column("whatsapp_template", JSONB),  # {name, language, params}
        # pending | sending | sent | failed | captured | suppressed
        Column("status", Text, nullable=False),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        ts("next_attempt_at"),
        ts("lease_until"),
        Column("provider", Text),
        Column("provider_message_id", Text),
        Column("error", Text),
        Column("dedup_key", Text, nullable=False),
        Column("related", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        ts("created_at", nullable=False),
        ts("sent_at"),
        ts("updated_at", nullable=False),
    ]


notifications = Table(
    "notifications",
    metadata,
    id_column(),
    tenant_column(),
    *_message_columns(),
    # Filter columns of /v1/notifications (06 §10), copied out of `related`.
    Column("customer_id", Text),
    Column("subscription_id", Text),
    Column("invoice_id", Text),
    Column("schedule_id", Text),
    UniqueConstraint("tenant_id", "dedup_key", "channel"),
    list_index("notifications"),
    Index("ix_notifications_tenant_id_customer_id", "tenant_id", "customer_id", "created_at", "id"),
    Index("ix_notifications_tenant_id_subscription_id", "tenant_id", "subscription_id", "created_at", "id"),
    Index("ix_notifications_tenant_id_invoice_id", "tenant_id", "invoice_id", "created_at", "id"),
    # The notifications loop scans pending rows of all tenants of a mode.
    Index("ix_notifications_pending", "next_attempt_at", postgresql_where=text("status = 'pending'")),
    # Expired `sending` leases are reclaimed by the notifications loop.
    Index("ix_notifications_sending", "lease_until", postgresql_where=text("status = 'sending'")),
    schema=DATA_SCHEMA,
)

platform_notifications = Table(
    "notifications",
    metadata,
    id_column(),
    tenant_column(nullable=True),  # OTP messages belong to a phone identity, not a tenant
    *_message_columns(),
    UniqueConstraint("dedup_key", "channel"),
    Index("ix_notifications_tenant_id_created_at_id", "tenant_id", "created_at", "id"),
    Index("ix_notifications_pending", "next_attempt_at", postgresql_where=text("status = 'pending'")),
    Index("ix_notifications_sending", "lease_until", postgresql_where=text("status = 'sending'")),
    schema=CORE_SCHEMA,
)

email_templates = Table(
    "email_templates",
    metadata,
    tenant_column(),
    Column("template_key", Text, nullable=False),
    Column("subject", Text),
    Column("body", Text),
    Column("channel", Text, nullable=False, server_default=text("'email'")),  # email | whatsapp | both
    Column("enabled", Boolean, nullable=False, server_default=text("false")),
    Column("muted", Boolean, nullable=False, server_default=text("false")),
    Column("updated_by", Text),
    ts("updated_at", nullable=False),
    PrimaryKeyConstraint("tenant_id", "template_key"),
    schema=CORE_SCHEMA,
)
