"""promo codes and payment methods

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 11:24:43.800680
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DATA_SCHEMAS = ("sandbox", "live")


def upgrade() -> None:
    for schema in DATA_SCHEMAS:
        op.create_table(
            "sim_charges",
            sa.Column("reference", sa.Text(), nullable=False),
            sa.Column("kind", sa.Text(), nullable=False),
            sa.Column("outcome", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("reference", name=op.f("pk_sim_charges")),
            schema=schema,
        )
        op.create_table(
            "payment_methods",
            sa.Column("id", sa.Text(), nullable=False),
            sa.Column("tenant_id", sa.Text(), nullable=True),
            sa.Column("customer_id", sa.Text(), nullable=True),
            sa.Column("identity_id", sa.Text(), nullable=True),
            sa.Column("checkout_session_id", sa.Text(), nullable=True),
            sa.Column("status", sa.Text(), server_default=sa.text("'active'"), nullable=False),
            sa.Column("rail", sa.Text(), nullable=False),
            sa.Column("brand", sa.Text(), nullable=True),
            sa.Column("last4", sa.Text(), nullable=False),
            sa.Column("exp_month", sa.Integer(), nullable=True),
            sa.Column("exp_year", sa.Integer(), nullable=True),
            sa.Column("bank_name", sa.Text(), nullable=True),
            sa.Column("gateway_token", sa.Text(), nullable=False),
            sa.Column("fingerprint", sa.Text(), nullable=False),
            sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(
                ["tenant_id"],
                ["core.tenants.id"],
                name=op.f("fk_payment_methods_tenant_id_tenants"),
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_methods")),
            schema=schema,
        )
        op.create_index(
            "ix_payment_methods_identity_id",
            "payment_methods",
            ["identity_id", "created_at"],
            unique=False,
            schema=schema,
        )
        op.create_index(
            "ix_payment_methods_tenant_id_customer_id",
            "payment_methods",
            ["tenant_id", "customer_id", "created_at"],
            unique=False,
            schema=schema,
        )
        op.create_index(
            "uq_payment_methods_customer_fingerprint",
            "payment_methods",
            ["tenant_id", "customer_id", "fingerprint"],
            unique=True,
            schema=schema,
            postgresql_where=sa.text("customer_id IS NOT NULL AND status = 'active'"),
        )
        op.create_index(
            "uq_payment_methods_identity_fingerprint",
            "payment_methods",
            ["identity_id", "fingerprint"],
            unique=True,
            schema=schema,
            postgresql_where=sa.text("identity_id IS NOT NULL AND status = 'active'"),
        )
        op.create_table(
            "promo_codes",
            sa.Column("id", sa.Text(), nullable=False),
            sa.Column("tenant_id", sa.Text(), nullable=False),
            sa.Column("code", sa.Text(), nullable=False),
            sa.Column("discount_type", sa.Text(), nullable=False),
            sa.Column("discount_value", sa.BigInteger(), nullable=False),
            sa.Column("currency", sa.Text(), nullable=True),
            sa.Column("plan_id", sa.Text(), nullable=True),
            sa.Column("duration", sa.Text(), nullable=False),
            sa.Column("duration_cycles", sa.Integer(), nullable=True),
            sa.Column("max_redemptions", sa.Integer(), nullable=True),
            sa.Column("redeemed_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
            sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
            sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column(
                "metadata",
                postgresql.JSONB(astext_type=sa.Text()),
                server_default=sa.text("'{}'::jsonb"),
                nullable=False,
            ),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(
                ["tenant_id"], ["core.tenants.id"], name=op.f("fk_promo_codes_tenant_id_tenants"), ondelete="CASCADE"
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_promo_codes")),
            sa.UniqueConstraint("tenant_id", "code", name=op.f("uq_promo_codes_tenant_id_code")),
            schema=schema,
        )
        op.create_index(
            "ix_promo_codes_tenant_id_created_at_id",
            "promo_codes",
            ["tenant_id", "created_at", "id"],
            unique=False,
            schema=schema,
        )


def downgrade() -> None:
    for schema in DATA_SCHEMAS:
        op.drop_table("promo_codes", schema=schema)
        op.drop_table("payment_methods", schema=schema)
        op.drop_table("sim_charges", schema=schema)
