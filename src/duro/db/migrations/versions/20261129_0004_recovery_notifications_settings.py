"""recovery notifications settings

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 12:59:30.265650
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DATA_SCHEMAS = ("sandbox", "live")


def upgrade() -> None:
    op.create_table(
        "email_templates",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("template_key", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("channel", sa.Text(), server_default=sa.text("'email'"), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("muted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["core.tenants.id"], name=op.f("fk_email_templates_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "template_key", name=op.f("pk_email_templates")),
        schema="core",
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=True),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("template_key", sa.Text(), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=True),
        sa.Column("whatsapp_template", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("provider", sa.Text(), nullable=True),
        sa.Column("provider_message_id", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("dedup_key", sa.Text(), nullable=False),
        sa.Column(
            "related", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["core.tenants.id"], name=op.f("fk_notifications_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("dedup_key", "channel", name=op.f("uq_notifications_dedup_key_channel")),
        schema="core",
    )
    op.create_index(
        "ix_notifications_pending",
        "notifications",
        ["next_attempt_at"],
        unique=False,
        schema="core",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_notifications_tenant_id_created_at_id",
        "notifications",
        ["tenant_id", "created_at", "id"],
        unique=False,
        schema="core",
    )
    op.create_index(
        "ix_notifications_sending",
        "notifications",
        ["lease_until"],
        unique=False,
        schema="core",
        postgresql_where=sa.text("status = 'sending'"),
    )
    for schema in DATA_SCHEMAS:
        op.create_table(
            "metrics_snapshots",
            sa.Column("tenant_id", sa.Text(), nullable=False),
            sa.Column("day", sa.Date(), nullable=False),
            sa.Column(
                "mrr", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
            ),
            sa.Column("active_subscriptions", sa.Integer(), nullable=False),
            sa.Column("trialing", sa.Integer(), nullable=False),
            sa.Column("past_due", sa.Integer(), nullable=False),
            sa.Column("paused", sa.Integer(), nullable=False),
            sa.Column("unpaid", sa.Integer(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(
                ["tenant_id"],
                ["core.tenants.id"],
                name=op.f("fk_metrics_snapshots_tenant_id_tenants"),
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint("tenant_id", "day", name=op.f("pk_metrics_snapshots")),
            schema=schema,
        )
        op.create_table(
            "notifications",
            sa.Column("id", sa.Text(), nullable=False),
            sa.Column("tenant_id", sa.Text(), nullable=False),
            sa.Column("channel", sa.Text(), nullable=False),
            sa.Column("template_key", sa.Text(), nullable=False),
            sa.Column("recipient", sa.Text(), nullable=False),
            sa.Column("subject", sa.Text(), nullable=True),
            sa.Column("body_text", sa.Text(), nullable=False),
            sa.Column("body_html", sa.Text(), nullable=True),
            sa.Column("whatsapp_template", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
            sa.Column("status", sa.Text(), nullable=False),
            sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
            sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
            sa.Column("provider", sa.Text(), nullable=True),
            sa.Column("provider_message_id", sa.Text(), nullable=True),
            sa.Column("error", sa.Text(), nullable=True),
            sa.Column("dedup_key", sa.Text(), nullable=False),
            sa.Column(
                "related",
                postgresql.JSONB(astext_type=sa.Text()),
                server_default=sa.text("'{}'::jsonb"),
                nullable=False,
            ),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("customer_id", sa.Text(), nullable=True),
            sa.Column("subscription_id", sa.Text(), nullable=True),
            sa.Column("invoice_id", sa.Text(), nullable=True),
            sa.Column("schedule_id", sa.Text(), nullable=True),
            sa.ForeignKeyConstraint(
                ["tenant_id"], ["core.tenants.id"], name=op.f("fk_notifications_tenant_id_tenants"), ondelete="CASCADE"
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
            sa.UniqueConstraint(
                "tenant_id", "dedup_key", "channel", name=op.f("uq_notifications_tenant_id_dedup_key_channel")
            ),
            schema=schema,
        )
        op.create_index(
            "ix_notifications_pending",
            "notifications",
            ["next_attempt_at"],
            unique=False,
            schema=schema,
            postgresql_where=sa.text("status = 'pending'"),
        )
        op.create_index(
            "ix_notifications_tenant_id_created_at_id",
            "notifications",
            ["tenant_id", "created_at", "id"],
            unique=False,
            schema=schema,
        )
        op.create_index(
            "ix_notifications_tenant_id_customer_id",
            "notifications",
            ["tenant_id", "customer_id", "created_at", "id"],
            unique=False,
            schema=schema,
        )
        op.create_index(
            "ix_notifications_tenant_id_invoice_id",
            "notifications",
            ["tenant_id", "invoice_id", "created_at", "id"],
            unique=False,
            schema=schema,
        )
        op.create_index(
            "ix_notifications_tenant_id_subscription_id",
            "notifications",
            ["tenant_id", "subscription_id", "created_at", "id"],
            unique=False,
            schema=schema,
        )
        op.create_table(
            "store_settings",
            sa.Column("tenant_id", sa.Text(), nullable=False),
            sa.Column("dunning_enabled", sa.Boolean(), nullable=False),
            sa.Column("max_attempts", sa.Integer(), nullable=False),
            sa.Column("retry_offsets_hours", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
            sa.Column("payday_aware", sa.Boolean(), nullable=False),
            sa.Column("dunning_escalation_days", sa.Integer(), nullable=False),
            sa.Column("dunning_escalation", sa.Text(), nullable=False),
            sa.Column("renewal_reminders", sa.Boolean(), nullable=False),
            sa.Column("renewal_reminder_days", sa.Integer(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(
                ["tenant_id"], ["core.tenants.id"], name=op.f("fk_store_settings_tenant_id_tenants"), ondelete="CASCADE"
            ),
            sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_store_settings")),
            schema=schema,
        )
        op.add_column(
            "dunning_schedules",
            sa.Column("dunning_messages_sent", sa.Integer(), server_default=sa.text("0"), nullable=False),
            schema=schema,
        )
        op.add_column(
            "dunning_schedules", sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=True), schema=schema
        )
        op.create_index(
            "ix_dunning_schedules_escalation",
            "dunning_schedules",
            ["escalation_at"],
            unique=False,
            schema=schema,
            postgresql_where=sa.text("state IN ('scheduled', 'awaiting_customer') AND test_clock_id IS NULL"),
        )
        op.create_index(
            "ix_dunning_schedules_in_flight",
            "dunning_schedules",
            ["lease_until"],
            unique=False,
            schema=schema,
            postgresql_where=sa.text("state = 'in_flight'"),
        )
        op.create_index(
            "ix_dunning_schedules_tenant_id_customer_id",
            "dunning_schedules",
            ["tenant_id", "customer_id", "created_at", "id"],
            unique=False,
            schema=schema,
        )
        op.create_index(
            "ix_dunning_schedules_tenant_id_subscription_id",
            "dunning_schedules",
            ["tenant_id", "subscription_id", "created_at", "id"],
            unique=False,
            schema=schema,
        )
        op.create_index(
            "ix_notifications_sending",
            "notifications",
            ["lease_until"],
            unique=False,
            schema=schema,
            postgresql_where=sa.text("status = 'sending'"),
        )


def downgrade() -> None:
    op.drop_index("ix_notifications_sending", table_name="notifications", schema="core")
    for schema in DATA_SCHEMAS:
        op.drop_index("ix_notifications_sending", table_name="notifications", schema=schema)
        op.drop_index("ix_dunning_schedules_tenant_id_subscription_id", table_name="dunning_schedules", schema=schema)
        op.drop_index("ix_dunning_schedules_tenant_id_customer_id", table_name="dunning_schedules", schema=schema)
        op.drop_index(
            "ix_dunning_schedules_in_flight",
            table_name="dunning_schedules",
            schema=schema,
            postgresql_where=sa.text("state = 'in_flight'"),
        )
        op.drop_index(
            "ix_dunning_schedules_escalation",
            table_name="dunning_schedules",
            schema=schema,
            postgresql_where=sa.text("state IN ('scheduled', 'awaiting_customer') AND test_clock_id IS NULL"),
        )
        op.drop_column("dunning_schedules", "last_message_at", schema=schema)
        op.drop_column("dunning_schedules", "dunning_messages_sent", schema=schema)
        op.drop_table("store_settings", schema=schema)
        op.drop_index("ix_notifications_tenant_id_subscription_id", table_name="notifications", schema=schema)
        op.drop_index("ix_notifications_tenant_id_invoice_id", table_name="notifications", schema=schema)
        op.drop_index("ix_notifications_tenant_id_customer_id", table_name="notifications", schema=schema)
        op.drop_index("ix_notifications_tenant_id_created_at_id", table_name="notifications", schema=schema)
        op.drop_index(
            "ix_notifications_pending",
            table_name="notifications",
            schema=schema,
            postgresql_where=sa.text("status = 'pending'"),
        )
        op.drop_table("notifications", schema=schema)
        op.drop_table("metrics_snapshots", schema=schema)
    op.drop_index("ix_notifications_tenant_id_created_at_id", table_name="notifications", schema="core")
    op.drop_index(
        "ix_notifications_pending",
        table_name="notifications",
        schema="core",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_table("notifications", schema="core")
    op.drop_table("email_templates", schema="core")
