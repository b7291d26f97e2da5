"""billing core

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 11:26:34.360662
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DATA_SCHEMAS = ("sandbox", "live")


def upgrade() -> None:
    for schema in DATA_SCHEMAS:
        op.create_table(
            "dunning_schedules",
            sa.Column("id", sa.Text(), nullable=False),
            sa.Column("tenant_id", sa.Text(), nullable=False),
            sa.Column("invoice_id", sa.Text(), nullable=False),
            sa.Column("subscription_id", sa.Text(), nullable=False),
            sa.Column("customer_id", sa.Text(), nullable=False),
            sa.Column("state", sa.Text(), nullable=False),
            sa.Column("amount", sa.BigInteger(), nullable=False),
            sa.Column("currency", sa.Text(), nullable=False),
            sa.Column("attempts_made", sa.Integer(), server_default=sa.text("0"), nullable=False),
            sa.Column("max_attempts", sa.Integer(), nullable=True),
            sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
            sa.Column("payment_method_id", sa.Text(), nullable=True),
            sa.Column("rail", sa.Text(), nullable=True),
            sa.Column("last_failure_code", sa.Text(), nullable=True),
            sa.Column("last_failure_category", sa.Text(), nullable=True),
            sa.Column("last_action", sa.Text(), nullable=True),
            sa.Column("last_reason", sa.Text(), nullable=True),
            sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("escalation_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("recovered_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("exhausted_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("exhaust_reason", sa.Text(), nullable=True),
            sa.Column("canceled_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column(
                "decisions",
                postgresql.JSONB(astext_type=sa.Text()),
                server_default=sa.text("'[]'::jsonb"),
                nullable=False,
            ),
            sa.Column("test_clock_id", sa.Text(), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(
                ["tenant_id"],
                ["core.tenants.id"],
                name=op.f("fk_dunning_schedules_tenant_id_tenants"),
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_dunning_schedules")),
            sa.UniqueConstraint("tenant_id", "invoice_id", name=op.f("uq_dunning_schedules_tenant_id_invoice_id")),
            schema=schema,
        )
        op.create_index(
            "ix_dunning_schedules_due",
            "dunning_schedules",
            ["next_attempt_at"],
            unique=False,
            schema=schema,
            postgresql_where=sa.text("state = 'scheduled' AND test_clock_id IS NULL"),
        )
        op.create_index(
            "ix_dunning_schedules_tenant_id_created_at_id",
            "dunning_schedules",
            ["tenant_id", "created_at", "id"],
            unique=False,
            schema=schema,
        )
        op.create_table(
            "invoices",
            sa.Column("id", sa.Text(), nullable=False),
            sa.Column("tenant_id", sa.Text(), nullable=False),
            sa.Column("customer_id", sa.Text(), nullable=False),
            sa.Column("subscription_id", sa.Text(), nullable=True),
            sa.Column("kind", sa.Text(), nullable=False),
            sa.Column("status", sa.Text(), nullable=False),
            sa.Column("currency", sa.Text(), nullable=False),
            sa.Column("subtotal", sa.BigInteger(), nullable=False),
            sa.Column("discount", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
            sa.Column("credit_applied", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
            sa.Column("amount", sa.BigInteger(), nullable=False),
            sa.Column("amount_paid", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
            sa.Column("amount_refunded", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
            sa.Column("lines", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
            sa.Column("period_start", sa.DateTime(timezone=True), nullable=True),
            sa.Column("period_end", sa.DateTime(timezone=True), nullable=True),
            sa.Column("promo_code_id", sa.Text(), nullable=True),
            sa.Column("dunning_schedule_id", sa.Text(), nullable=True),
            sa.Column("idempotency_key", sa.Text(), nullable=True),
            sa.Column("hosted_payment_url", sa.Text(), nullable=True),
            sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("uncollectible_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(
                ["tenant_id"], ["core.tenants.id"], name=op.f("fk_invoices_tenant_id_tenants"), ondelete="CASCADE"
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
            sa.UniqueConstraint("tenant_id", "idempotency_key", name=op.f("uq_invoices_tenant_id_idempotency_key")),
            schema=schema,
        )
        op.create_index(
            "ix_invoices_tenant_id_created_at_id",
            "invoices",
            ["tenant_id", "created_at", "id"],
            unique=False,
            schema=schema,
        )
        op.create_index(
            "ix_invoices_tenant_id_customer_id",
            "invoices",
            ["tenant_id", "customer_id", "created_at", "id"],
            unique=False,
            schema=schema,
        )
        op.create_index(
            "ix_invoices_tenant_id_subscription_id",
            "invoices",
            ["tenant_id", "subscription_id", "created_at", "id"],
            unique=False,
            schema=schema,
        )
        op.create_table(
            "refunds",
            sa.Column("id", sa.Text(), nullable=False),
            sa.Column("tenant_id", sa.Text(), nullable=False),
            sa.Column("invoice_id", sa.Text(), nullable=False),
            sa.Column("transaction_id", sa.Text(), nullable=False),
            sa.Column("amount", sa.BigInteger(), nullable=False),
            sa.Column("currency", sa.Text(), nullable=False),
            sa.Column("reason", sa.Text(), nullable=False),
            sa.Column("status", sa.Text(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(
                ["tenant_id"], ["core.tenants.id"], name=op.f("fk_refunds_tenant_id_tenants"), ondelete="CASCADE"
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
            schema=schema,
        )
        op.create_index(
            "ix_refunds_tenant_id_created_at_id",
            "refunds",
            ["tenant_id", "created_at", "id"],
            unique=False,
            schema=schema,
        )
        op.create_index(
            "ix_refunds_tenant_id_invoice_id",
            "refunds",
            ["tenant_id", "invoice_id", "created_at", "id"],
            unique=False,
            schema=schema,
        )
        op.create_table(
            "subscriptions",
            sa.Column("id", sa.Text(), nullable=False),
            sa.Column("tenant_id", sa.Text(), nullable=False),
            sa.Column("customer_id", sa.Text(), nullable=False),
            sa.Column("plan_id", sa.Text(), nullable=False),
            sa.Column("status", sa.Text(), nullable=False),
            sa.Column("current_period_start", sa.DateTime(timezone=True), nullable=False),
            sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=False),
            sa.Column("billing_anchor", sa.DateTime(timezone=True), nullable=False),
            sa.Column("trial_start", sa.DateTime(timezone=True), nullable=True),
            sa.Column("trial_end", sa.DateTime(timezone=True), nullable=True),
            sa.Column("cycles_completed", sa.Integer(), server_default=sa.text("0"), nullable=False),
            sa.Column("cancel_at_period_end", sa.Boolean(), server_default=sa.text("false"), nullable=False),
            sa.Column("cancel_requested_by", sa.Text(), nullable=True),
            sa.Column("cancel_reason", sa.Text(), nullable=True),
            sa.Column("canceled_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("ended_reason", sa.Text(), nullable=True),
            sa.Column("scheduled_plan_id", sa.Text(), nullable=True),
            sa.Column("balance", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
            sa.Column("pending_charge", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
            sa.Column("payment_method_id", sa.Text(), nullable=True),
            sa.Column("promo_code_id", sa.Text(), nullable=True),
            sa.Column("discount_cycles_remaining", sa.Integer(), nullable=True),
            sa.Column("latest_invoice_id", sa.Text(), nullable=True),
            sa.Column("test_clock_id", sa.Text(), nullable=True),
            sa.Column("incomplete_expires_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column(
                "metadata",
                postgresql.JSONB(astext_type=sa.Text()),
                server_default=sa.text("'{}'::jsonb"),
                nullable=False,
            ),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(
                ["tenant_id"], ["core.tenants.id"], name=op.f("fk_subscriptions_tenant_id_tenants"), ondelete="CASCADE"
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
            schema=schema,
        )
        op.create_index(
            "ix_subscriptions_due",
            "subscriptions",
            ["current_period_end"],
            unique=False,
            schema=schema,
            postgresql_where=sa.text("status IN ('active', 'trialing') AND test_clock_id IS NULL"),
        )
        op.create_index(
            "ix_subscriptions_incomplete",
            "subscriptions",
            ["incomplete_expires_at"],
            unique=False,
            schema=schema,
            postgresql_where=sa.text("status = 'incomplete' AND test_clock_id IS NULL"),
        )
        op.create_index(
            "ix_subscriptions_tenant_id_created_at_id",
            "subscriptions",
            ["tenant_id", "created_at", "id"],
            unique=False,
            schema=schema,
        )
        op.create_index(
            "ix_subscriptions_tenant_id_customer_id",
            "subscriptions",
            ["tenant_id", "customer_id", "created_at", "id"],
            unique=False,
            schema=schema,
        )
        op.create_index(
            "ix_subscriptions_tenant_id_test_clock_id",
            "subscriptions",
            ["tenant_id", "test_clock_id"],
            unique=False,
            schema=schema,
        )
        op.create_table(
            "test_clocks",
            sa.Column("id", sa.Text(), nullable=False),
            sa.Column("tenant_id", sa.Text(), nullable=False),
            sa.Column("name", sa.Text(), nullable=True),
            sa.Column("frozen_time", sa.DateTime(timezone=True), nullable=False),
            sa.Column("status", sa.Text(), server_default=sa.text("'ready'"), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(
                ["tenant_id"], ["core.tenants.id"], name=op.f("fk_test_clocks_tenant_id_tenants"), ondelete="CASCADE"
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_test_clocks")),
            schema=schema,
        )
        op.create_index(
            "ix_test_clocks_tenant_id_created_at_id",
            "test_clocks",
            ["tenant_id", "created_at", "id"],
            unique=False,
            schema=schema,
        )
        op.create_table(
            "transactions",
            sa.Column("id", sa.Text(), nullable=False),
            sa.Column("tenant_id", sa.Text(), nullable=False),
            sa.Column("invoice_id", sa.Text(), nullable=True),
            sa.Column("checkout_session_id", sa.Text(), nullable=True),
            sa.Column("subscription_id", sa.Text(), nullable=True),
            sa.Column("customer_id", sa.Text(), nullable=True),
            sa.Column("payment_method_id", sa.Text(), nullable=True),
            sa.Column("rail", sa.Text(), nullable=True),
            sa.Column("status", sa.Text(), nullable=False),
            sa.Column("amount", sa.BigInteger(), nullable=False),
            sa.Column("currency", sa.Text(), nullable=False),
            sa.Column("source", sa.Text(), nullable=False),
            sa.Column("attempt_number", sa.Integer(), nullable=False),
            sa.Column("failure_code", sa.Text(), nullable=True),
            sa.Column("failure_category", sa.Text(), nullable=True),
            sa.Column("decline_code", sa.Text(), nullable=True),
            sa.Column("failure_message", sa.Text(), nullable=True),
            sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(
                ["tenant_id"], ["core.tenants.id"], name=op.f("fk_transactions_tenant_id_tenants"), ondelete="CASCADE"
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_transactions")),
            schema=schema,
        )
        op.create_index(
            "ix_transactions_pending",
            "transactions",
            ["created_at"],
            unique=False,
            schema=schema,
            postgresql_where=sa.text("status = 'pending'"),
        )
        op.create_index(
            "ix_transactions_tenant_id_created_at_id",
            "transactions",
            ["tenant_id", "created_at", "id"],
            unique=False,
            schema=schema,
        )
        op.create_index(
            "ix_transactions_tenant_id_customer_id",
            "transactions",
            ["tenant_id", "customer_id", "created_at", "id"],
            unique=False,
            schema=schema,
        )
        op.create_index(
            "ix_transactions_tenant_id_invoice_id",
            "transactions",
            ["tenant_id", "invoice_id", "created_at", "id"],
            unique=False,
            schema=schema,
        )
        op.create_index(
            "ix_transactions_tenant_id_subscription_id",
            "transactions",
            ["tenant_id", "subscription_id", "created_at", "id"],
            unique=False,
            schema=schema,
        )
        op.create_index(
            "uq_transactions_one_live_charge",
            "transactions",
            ["invoice_id"],
            unique=True,
            schema=schema,
            postgresql_where=sa.text("status IN ('pending', 'succeeded') AND invoice_id IS NOT NULL"),
        )


def downgrade() -> None:
    for schema in DATA_SCHEMAS:
        for table in ("dunning_schedules", "refunds", "transactions", "invoices", "subscriptions", "test_clocks"):
            op.drop_table(table, schema=schema)
