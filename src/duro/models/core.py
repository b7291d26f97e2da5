"""Tables of the `core` schema: tenants, members and the audit log."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, LargeBinary, Table, Text, text
from sqlalchemy.dialects.postgresql import JSONB

from duro.models.base import CORE_SCHEMA, id_column, metadata, ts

tenants = Table(
    "tenants",
    metadata,
    id_column(),
    Column("name", Text, nullable=False),
    Column("slug", Text, nullable=False, unique=True),
    Column("default_currency", Text, nullable=False, server_default=text("'NGN'")),
    Column("support_email", Text),
    Column("tier", Text, nullable=False, server_default=text("'unverified'")),
    Column("kyc_status", Text, nullable=False, server_default=text("'not_submitted'")),
    Column("live_gross_volume", BigInteger, nullable=False, server_default=text("0")),
    ts("verified_at"),
    ts("kyc_submitted_at"),  # the staff queue's order: oldest submission first (07 §14)
    ts("created_at", nullable=False),
    ts("updated_at", nullable=False),
    schema=CORE_SCHEMA,
)

members = Table(
    "members",
    metadata,
    id_column(),
    Column("tenant_id", Text, ForeignKey(f"{CORE_SCHEMA}.tenants.id", ondelete="CASCADE"), nullable=False),
    Column("email", Text, nullable=False, unique=True),
    Column("name", Text),
    Column("password_hash", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("totp_secret_enc", LargeBinary),
    Column("totp_last_used_step", BigInteger),
    ts("totp_enabled_at"),
    ts("created_at", nullable=False),
    ts("updated_at", nullable=False),
    Index("ix_members_tenant_id_created_at_id", "tenant_id", "created_at", "id"),
    schema=CORE_SCHEMA,
)

audit_logs = Table(
    "audit_logs",
    metadata,
    id_column(),
    Column("tenant_id", Text, ForeignKey(f"{CORE_SCHEMA}.tenants.id", ondelete="CASCADE"), nullable=False),
    ts("at", nullable=False),
    Column("actor_type", Text, nullable=False),
    Column("actor_id", Text),
    Column("actor_label", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("target_type", Text),
    Column("target_id", Text),
    Column("mode", Text),
    Column("before", JSONB),
    Column("after", JSONB),
    Column("ip", Text),
    Column("user_agent", Text),
    Column("request_id", Text),
    Index("ix_audit_logs_tenant_id_at_id", "tenant_id", "at", "id"),
    schema=CORE_SCHEMA,
)
