"""Customers (03 §1.2)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Table, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB

from duro.models.base import DATA_SCHEMA, id_column, list_index, metadata, tenant_column, ts

customers = Table(
    "customers",
    metadata,
    id_column(),
    tenant_column(),
    Column("email", Text),
    Column("phone", Text),
    Column("name", Text),
    Column("merchant_ref", Text),
    Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("blacklisted", Boolean, nullable=False, server_default=text("false")),
    Column("blacklist_reason", Text),
    ts("blacklisted_at"),
    Column("identity_id", Text),
    Column("default_payment_method_id", Text),
    ts("created_at", nullable=False),
    ts("updated_at", nullable=False),
    UniqueConstraint("tenant_id", "merchant_ref"),
    Index("ix_customers_tenant_id_email", "tenant_id", "email"),
    Index("ix_customers_tenant_id_phone", "tenant_id", "phone"),
    # The portal finds a person's customers across every tenant of a mode by phone or identity link (06 §7).
    Index("ix_customers_phone", "phone", postgresql_where=text("phone IS NOT NULL")),
    Index("ix_customers_identity_id", "identity_id", postgresql_where=text("identity_id IS NOT NULL")),
    list_index("customers"),
    schema=DATA_SCHEMA,
)
