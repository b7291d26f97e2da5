"""Promo codes (03 §1.7, §9)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Integer, Table, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB

from duro.models.base import DATA_SCHEMA, id_column, list_index, metadata, tenant_column, ts

promo_codes = Table(
    "promo_codes",
    metadata,
    id_column(),
    tenant_column(),
    Column("code", Text, nullable=False),  # stored upper case; matched case-insensitively by upper-casing input
    Column("discount_type", Text, nullable=False),
    Column("discount_value", BigInteger, nullable=False),
    Column("currency", Text),
    Column("plan_id", Text),
    Column("duration", Text, nullable=False),
    Column("duration_cycles", Integer),
    Column("max_redemptions", Integer),
    Column("redeemed_count", Integer, nullable=False, server_default=text("0")),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    ts("expires_at"),
    Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    ts("created_at", nullable=False),
    ts("updated_at", nullable=False),
    UniqueConstraint("tenant_id", "code"),
    list_index("promo_codes"),
    schema=DATA_SCHEMA,
)
