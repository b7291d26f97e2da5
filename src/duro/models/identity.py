"""Phone identities and their OTP challenges (06 §6), and the tenants' appearance configuration (07 §4): core
tables, shared by both modes."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, PrimaryKeyConstraint, Table, Text, text
from sqlalchemy.dialects.postgresql import JSONB

from duro.models.base import CORE_SCHEMA, id_column, metadata, tenant_column, ts

customer_identities = Table(
    "customer_identities",
    metadata,
    id_column(),
    Column("phone", Text, nullable=False, unique=True),
    ts("verified_at", nullable=False),
    ts("last_verified_at", nullable=False),
    ts("tokens_valid_after"),
    ts("created_at", nullable=False),
    schema=CORE_SCHEMA,
)

otp_challenges = Table(
    "otp_challenges",
    metadata,
    id_column(),
    Column("phone", Text, nullable=False),
    Column("code_hash", Text, nullable=False),  # HMAC-SHA256(pepper, "{id}:{code}"); the code is never stored
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    ts("expires_at", nullable=False),
    ts("consumed_at"),
    ts("superseded_at"),
    Column("ip", Text),
    ts("created_at", nullable=False),
    # Per-phone limits and "the newest challenge of the phone" (06 §6).
    Index("ix_otp_challenges_phone_created_at", "phone", "created_at"),
    Index("ix_otp_challenges_ip_created_at", "ip", "created_at"),
    schema=CORE_SCHEMA,
)

store_configs = Table(
    "store_configs",
    metadata,
    tenant_column(),
    Column("draft", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("published", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("version", Integer, nullable=False, server_default=text("0")),
    ts("published_at"),
    Column("published_by", Text),
    ts("created_at", nullable=False),
    ts("updated_at", nullable=False),
    PrimaryKeyConstraint("tenant_id"),
    schema=CORE_SCHEMA,
)
