"""Dashboard accounts (02 §4–8): sessions, invitations, password resets, 2FA recovery codes; staff sessions and
worker heartbeats (01 §2). Core tables: members belong to one tenant, the mode is a session's descriptive state."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, Table, Text, text
from sqlalchemy.dialects.postgresql import JSONB

from duro.models.base import CORE_SCHEMA, id_column, metadata, tenant_column, ts

_MEMBER_FK = f"{CORE_SCHEMA}.members.id"

sessions = Table(
    "sessions",
    metadata,
    id_column(),
    Column("token_hash", Text, nullable=False, unique=True),  # sha256 of the cookie value; never the token
    Column("member_id", Text, ForeignKey(_MEMBER_FK, ondelete="CASCADE"), nullable=False),
    tenant_column(),
    Column("state", Text, nullable=False),  # pending_2fa | enrolment_required | active
    Column("current_mode", Text, nullable=False, server_default=text("'test'")),
    Column("failed_2fa", Integer, nullable=False, server_default=text("0")),  # 5 wrong codes end the session
    ts("created_at", nullable=False),
    ts("last_seen_at", nullable=False),
    ts("idle_expires_at", nullable=False),
    ts("absolute_expires_at", nullable=False),
    Column("ip", Text),
    Column("user_agent", Text),
    Index("ix_sessions_member_id", "member_id"),
    Index("ix_sessions_absolute_expires_at", "absolute_expires_at"),
    schema=CORE_SCHEMA,
)

invitations = Table(
    "invitations",
    metadata,
    id_column(),
    tenant_column(),
    Column("email", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("token_hash", Text, nullable=False, unique=True),
    Column("invited_by", Text),
    ts("expires_at", nullable=False),
    ts("accepted_at"),
    ts("revoked_at"),
    ts("created_at", nullable=False),
    Index("ix_invitations_tenant_id_created_at", "tenant_id", "created_at"),
    schema=CORE_SCHEMA,
)

password_resets = Table(
    "password_resets",
    metadata,
    id_column(),
    Column("member_id", Text, ForeignKey(_MEMBER_FK, ondelete="CASCADE"), nullable=False),
    Column("token_hash", Text, nullable=False, unique=True),
    ts("expires_at", nullable=False),
    ts("used_at"),
    ts("created_at", nullable=False),
    schema=CORE_SCHEMA,
)

recovery_codes = Table(
    "recovery_codes",
    metadata,
    id_column(),
    Column("member_id", Text, ForeignKey(_MEMBER_FK, ondelete="CASCADE"), nullable=False),
    Column("code_hmac", Text, nullable=False),
    ts("used_at"),
    ts("created_at", nullable=False),
    Index("ix_recovery_codes_member_id", "member_id"),
    schema=CORE_SCHEMA,
)

staff_sessions = Table(
    "staff_sessions",
    metadata,
    id_column(),
    Column("token_hash", Text, nullable=False, unique=True),
    ts("created_at", nullable=False),
    ts("last_seen_at", nullable=False),
    ts("idle_expires_at", nullable=False),
    ts("absolute_expires_at", nullable=False),
    Column("ip", Text),
    schema=CORE_SCHEMA,
)

worker_heartbeats = Table(
    "worker_heartbeats",
    metadata,
    Column("id", Text, primary_key=True),
    Column("host", Text, nullable=False),
    Column("pid", Text, nullable=False),
    Column("loops", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    ts("started_at", nullable=False),
    ts("last_seen_at", nullable=False),
    schema=CORE_SCHEMA,
)
