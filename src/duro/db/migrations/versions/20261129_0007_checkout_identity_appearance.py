"""checkout identity appearance

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 13:52:25.109718
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DATA_SCHEMAS = ("sandbox", "live")


def upgrade() -> None:
    op.create_table(
        "customer_identities",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_verified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tokens_valid_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_identities")),
        sa.UniqueConstraint("phone", name=op.f("uq_customer_identities_phone")),
        schema="core",
    )
    op.create_table(
        "otp_challenges",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("code_hash", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ip", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_otp_challenges")),
        schema="core",
    )
    op.create_index(
        "ix_otp_challenges_ip_created_at", "otp_challenges", ["ip", "created_at"], unique=False, schema="core"
    )
    op.create_index(
        "ix_otp_challenges_phone_created_at", "otp_challenges", ["phone", "created_at"], unique=False, schema="core"
    )
    op.create_table(
        "store_configs",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column(
            "draft", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column(
            "published", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("version", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_by", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["core.tenants.id"], name=op.f("fk_store_configs_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_store_configs")),
        schema="core",
    )
    for schema in DATA_SCHEMAS:
        op.create_table(
            "checkout_sessions",
            sa.Column("id", sa.Text(), nullable=False),
            sa.Column("tenant_id", sa.Text(), nullable=False),
            sa.Column("token", sa.Text(), nullable=False),
            sa.Column("status", sa.Text(), nullable=False),
            sa.Column("kind", sa.Text(), nullable=False),
            sa.Column("plan_id", sa.Text(), nullable=True),
            sa.Column("invoice_id", sa.Text(), nullable=True),
            sa.Column("description", sa.Text(), nullable=True),
            sa.Column("subtotal", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
            sa.Column("discount", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
            sa.Column("amount", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
            sa.Column("currency", sa.Text(), nullable=False),
            sa.Column("customer_id", sa.Text(), nullable=True),
            sa.Column("customer_email", sa.Text(), nullable=True),
            sa.Column("customer_phone", sa.Text(), nullable=True),
            sa.Column("promo_code", sa.Text(), nullable=True),
            sa.Column("payment_link_id", sa.Text(), nullable=True),
            sa.Column("success_url", sa.Text(), nullable=True),
            sa.Column("cancel_url", sa.Text(), nullable=True),
            sa.Column(
                "metadata",
                postgresql.JSONB(astext_type=sa.Text()),
                server_default=sa.text("'{}'::jsonb"),
                nullable=False,
            ),
            sa.Column("subscription_id", sa.Text(), nullable=True),
            sa.Column("transaction_id", sa.Text(), nullable=True),
            sa.Column("last_payment_error", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
            sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
            sa.Column("test_clock_id", sa.Text(), nullable=True),
            sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(
                ["tenant_id"],
                ["core.tenants.id"],
                name=op.f("fk_checkout_sessions_tenant_id_tenants"),
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_checkout_sessions")),
            sa.UniqueConstraint("token", name=op.f("uq_checkout_sessions_token")),
            schema=schema,
        )
        op.create_index(
            "ix_checkout_sessions_pending",
            "checkout_sessions",
            ["expires_at"],
            unique=False,
            schema=schema,
            postgresql_where=sa.text("status = 'pending'"),
        )
        op.create_index(
            "ix_checkout_sessions_tenant_id_created_at_id",
            "checkout_sessions",
            ["tenant_id", "created_at", "id"],
            unique=False,
            schema=schema,
        )
        op.create_index(
            "ix_checkout_sessions_tenant_id_invoice_id",
            "checkout_sessions",
            ["tenant_id", "invoice_id"],
            unique=False,
            schema=schema,
        )
        op.create_table(
            "payment_links",
            sa.Column("id", sa.Text(), nullable=False),
            sa.Column("tenant_id", sa.Text(), nullable=False),
            sa.Column("plan_id", sa.Text(), nullable=False),
            sa.Column("slug", sa.Text(), nullable=False),
            sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
            sa.Column(
                "metadata",
                postgresql.JSONB(astext_type=sa.Text()),
                server_default=sa.text("'{}'::jsonb"),
                nullable=False,
            ),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(
                ["tenant_id"], ["core.tenants.id"], name=op.f("fk_payment_links_tenant_id_tenants"), ondelete="CASCADE"
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_links")),
            sa.UniqueConstraint("tenant_id", "slug", name=op.f("uq_payment_links_tenant_id_slug")),
            schema=schema,
        )
        op.create_index(
            "ix_payment_links_tenant_id_created_at_id",
            "payment_links",
            ["tenant_id", "created_at", "id"],
            unique=False,
            schema=schema,
        )


def downgrade() -> None:
    for schema in DATA_SCHEMAS:
        op.drop_index("ix_payment_links_tenant_id_created_at_id", table_name="payment_links", schema=schema)
        op.drop_table("payment_links", schema=schema)
        op.drop_index("ix_checkout_sessions_tenant_id_invoice_id", table_name="checkout_sessions", schema=schema)
        op.drop_index("ix_checkout_sessions_tenant_id_created_at_id", table_name="checkout_sessions", schema=schema)
        op.drop_index(
            "ix_checkout_sessions_pending",
            table_name="checkout_sessions",
            schema=schema,
            postgresql_where=sa.text("status = 'pending'"),
        )
        op.drop_table("checkout_sessions", schema=schema)
    op.drop_table("store_configs", schema="core")
    op.drop_index("ix_otp_challenges_phone_created_at", table_name="otp_challenges", schema="core")
    op.drop_index("ix_otp_challenges_ip_created_at", table_name="otp_challenges", schema="core")
    op.drop_table("otp_challenges", schema="core")
    op.drop_table("customer_identities", schema="core")
