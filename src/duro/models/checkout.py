"""Checkout sessions and payment links (06 §2, §5; 03 §1.7), per mode."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Table, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB

from duro.models.base import DATA_SCHEMA, id_column, list_index, metadata, money, tenant_column, ts

payment_links = Table(
    "payment_links",
    metadata,
    id_column(),
    tenant_column(),
    Column("plan_id", Text, nullable=False),
    Column("slug", Text, nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    ts("created_at", nullable=False),
    ts("updated_at", nullable=False),
    UniqueConstraint("tenant_id", "slug"),
    list_index("payment_links"),
    schema=DATA_SCHEMA,
)

checkout_sessions = Table(
    "checkout_sessions",
    metadata,
    id_column(),
    tenant_column(),
    # The customer-facing handle (`cs_test_…`/`cs_live_…`): its prefix alone selects the schema (06 §2).
    Column("token", Text, nullable=False),
    Column("status", Text, nullable=False),  # pending | completed | expired
    Column("kind", Text, nullable=False),  # subscription | payment | invoice
    Column("plan_id", Text),
    Column("invoice_id", Text),
    Column("description", Text),
    money("subtotal", zero=True),
    money("discount", zero=True),
    money("amount", zero=True),
    Column("currency", Text, nullable=False),
    Column("customer_id", Text),
    Column("customer_email", Text),
    Column("customer_phone", Text),
    Column("promo_code", Text),
    Column("payment_link_id", Text),
    Column("success_url", Text),
    Column("cancel_url", Text),
    Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("subscription_id", Text),
    Column("transaction_id", Text),
    Column("last_payment_error", JSONB),
    Column("result", JSONB),  # the completion answer, replayed by a second pay (06 §3 step 2)
    Column("test_clock_id", Text),
    ts("expires_at", nullable=False),
    ts("completed_at"),
    ts("created_at", nullable=False),
    ts("updated_at", nullable=False),
    UniqueConstraint("token"),
    list_index("checkout_sessions"),
    Index("ix_checkout_sessions_tenant_id_invoice_id", "tenant_id", "invoice_id"),
    # Maintenance marks pending sessions past their expiry (all tenants of a mode).
    Index("ix_checkout_sessions_pending", "expires_at", postgresql_where=text("status = 'pending'")),
    schema=DATA_SCHEMA,
)
