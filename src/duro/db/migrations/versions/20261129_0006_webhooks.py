"""webhooks

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 13:27:57.509492
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DATA_SCHEMAS = ("sandbox", "live")


def upgrade() -> None:
    for schema in DATA_SCHEMAS:
        op.create_table(
            "webhook_attempts",
            sa.Column("id", sa.Text(), nullable=False),
            sa.Column("tenant_id", sa.Text(), nullable=False),
            sa.Column("delivery_id", sa.Text(), nullable=False),
            sa.Column("endpoint_id", sa.Text(), nullable=False),
            sa.Column("attempt_number", sa.Integer(), nullable=False),
            sa.Column("trigger", sa.Text(), nullable=False),
            sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("duration_ms", sa.Integer(), nullable=False),
            sa.Column("request_headers", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
            sa.Column("response_status", sa.Integer(), nullable=True),
            sa.Column("response_body", sa.Text(), nullable=True),
            sa.Column("error", sa.Text(), nullable=True),
            sa.Column("error_message", sa.Text(), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(
                ["tenant_id"],
                ["core.tenants.id"],
                name=op.f("fk_webhook_attempts_tenant_id_tenants"),
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
            sa.UniqueConstraint(
                "tenant_id",
                "delivery_id",
                "attempt_number",
                name=op.f("uq_webhook_attempts_tenant_id_delivery_id_attempt_number"),
            ),
            schema=schema,
        )
        op.create_index(
            "ix_webhook_attempts_tenant_id_endpoint_id_started_at",
            "webhook_attempts",
            ["tenant_id", "endpoint_id", "started_at"],
            unique=False,
            schema=schema,
        )
        op.create_table(
            "webhook_deliveries",
            sa.Column("id", sa.Text(), nullable=False),
            sa.Column("tenant_id", sa.Text(), nullable=False),
            sa.Column("event_id", sa.Text(), nullable=False),
            sa.Column("endpoint_id", sa.Text(), nullable=False),
            sa.Column("event_type", sa.Text(), nullable=False),
            sa.Column("status", sa.Text(), nullable=False),
            sa.Column("attempt_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
            sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
            sa.Column("replay_queued", sa.Boolean(), server_default=sa.text("false"), nullable=False),
            sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("last_status_code", sa.Integer(), nullable=True),
            sa.Column("last_error", sa.Text(), nullable=True),
            sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(
                ["tenant_id"],
                ["core.tenants.id"],
                name=op.f("fk_webhook_deliveries_tenant_id_tenants"),
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
            sa.UniqueConstraint(
                "tenant_id",
                "event_id",
                "endpoint_id",
                name=op.f("uq_webhook_deliveries_tenant_id_event_id_endpoint_id"),
            ),
            schema=schema,
        )
        op.create_index(
            "ix_webhook_deliveries_due",
            "webhook_deliveries",
            ["next_attempt_at"],
            unique=False,
            schema=schema,
            postgresql_where=sa.text("status = 'pending' OR replay_queued"),
        )
        op.create_index(
            "ix_webhook_deliveries_tenant_id_created_at_id",
            "webhook_deliveries",
            ["tenant_id", "created_at", "id"],
            unique=False,
            schema=schema,
        )
        op.create_index(
            "ix_webhook_deliveries_tenant_id_endpoint_id",
            "webhook_deliveries",
            ["tenant_id", "endpoint_id", "created_at", "id"],
            unique=False,
            schema=schema,
        )
        op.create_table(
            "webhook_endpoints",
            sa.Column("id", sa.Text(), nullable=False),
            sa.Column("tenant_id", sa.Text(), nullable=False),
            sa.Column("url", sa.Text(), nullable=False),
            sa.Column("description", sa.Text(), nullable=True),
            sa.Column(
                "enabled_events",
                postgresql.JSONB(astext_type=sa.Text()),
                server_default=sa.text("'[]'::jsonb"),
                nullable=False,
            ),
            sa.Column("status", sa.Text(), nullable=False),
            sa.Column("disabled_reason", sa.Text(), nullable=True),
            sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
            sa.Column("secret_ciphertext", sa.Text(), nullable=False),
            sa.Column("secret_last4", sa.Text(), nullable=False),
            sa.Column("secret_rotated_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("previous_secret_ciphertext", sa.Text(), nullable=True),
            sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(
                ["tenant_id"],
                ["core.tenants.id"],
                name=op.f("fk_webhook_endpoints_tenant_id_tenants"),
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
            schema=schema,
        )
        op.create_index(
            "ix_webhook_endpoints_tenant_id_created_at_id",
            "webhook_endpoints",
            ["tenant_id", "created_at", "id"],
            unique=False,
            schema=schema,
        )


def downgrade() -> None:
    for schema in DATA_SCHEMAS:
        op.drop_index("ix_webhook_endpoints_tenant_id_created_at_id", table_name="webhook_endpoints", schema=schema)
        op.drop_table("webhook_endpoints", schema=schema)
        op.drop_index("ix_webhook_deliveries_tenant_id_endpoint_id", table_name="webhook_deliveries", schema=schema)
        op.drop_index("ix_webhook_deliveries_tenant_id_created_at_id", table_name="webhook_deliveries", schema=schema)
        op.drop_index(
            "ix_webhook_deliveries_due",
            table_name="webhook_deliveries",
            schema=schema,
            postgresql_where=sa.text("status = 'pending' OR replay_queued"),
        )
        op.drop_table("webhook_deliveries", schema=schema)
        op.drop_index(
            "ix_webhook_attempts_tenant_id_endpoint_id_started_at", table_name="webhook_attempts", schema=schema
        )
        op.drop_table("webhook_attempts", schema=schema)
