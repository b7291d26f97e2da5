"""foundation

Revision ID: 0001
Revises:
Create Date: 2026-11-29 10:29:00.571548
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DATA_SCHEMAS = ("sandbox", "live")


def upgrade() -> None:
    for schema in DATA_SCHEMAS:
        op.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    op.create_table(
        "tenants",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("slug", sa.Text(), nullable=False),
        sa.Column("default_currency", sa.Text(), server_default=sa.text("'NGN'"), nullable=False),
        sa.Column("support_email", sa.Text(), nullable=True),
        sa.Column("tier", sa.Text(), server_default=sa.text("'unverified'"), nullable=False),
        sa.Column("kyc_status", sa.Text(), server_default=sa.text("'not_submitted'"), nullable=False),
        sa.Column("live_gross_volume", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("slug", name=op.f("uq_tenants_slug")),
        schema="core",
    )
    op.create_table(
        "audit_logs",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_type", sa.Text(), nullable=False),
        sa.Column("actor_id", sa.Text(), nullable=True),
        sa.Column("actor_label", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("target_type", sa.Text(), nullable=True),
        sa.Column("target_id", sa.Text(), nullable=True),
        sa.Column("mode", sa.Text(), nullable=True),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("ip", sa.Text(), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["core.tenants.id"], name=op.f("fk_audit_logs_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_logs")),
        schema="core",
    )
    op.create_index(
        "ix_audit_logs_tenant_id_at_id", "audit_logs", ["tenant_id", "at", "id"], unique=False, schema="core"
    )
    op.create_table(
        "members",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("totp_secret_enc", sa.LargeBinary(), nullable=True),
        sa.Column("totp_last_used_step", sa.BigInteger(), nullable=True),
        sa.Column("totp_enabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["core.tenants.id"], name=op.f("fk_members_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members")),
        sa.UniqueConstraint("email", name=op.f("uq_members_email")),
        schema="core",
    )
    op.create_index(
        "ix_members_tenant_id_created_at_id", "members", ["tenant_id", "created_at", "id"], unique=False, schema="core"
    )
    for schema in DATA_SCHEMAS:
        op.create_table(
            "api_keys",
            sa.Column("id", sa.Text(), nullable=False),
            sa.Column("tenant_id", sa.Text(), nullable=False),
            sa.Column("kind", sa.Text(), nullable=False),
            sa.Column("name", sa.Text(), nullable=False),
            sa.Column("key_hash", sa.Text(), nullable=False),
            sa.Column("prefix", sa.Text(), nullable=False),
            sa.Column("last4", sa.Text(), nullable=False),
            sa.Column("created_by", sa.Text(), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
            sa.ForeignKeyConstraint(
                ["tenant_id"], ["core.tenants.id"], name=op.f("fk_api_keys_tenant_id_tenants"), ondelete="CASCADE"
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
            sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
            schema=schema,
        )
        op.create_index(
            "ix_api_keys_tenant_id_created_at_id",
            "api_keys",
            ["tenant_id", "created_at", "id"],
            unique=False,
            schema=schema,
        )
        op.create_table(
            "customers",
            sa.Column("id", sa.Text(), nullable=False),
            sa.Column("tenant_id", sa.Text(), nullable=False),
            sa.Column("email", sa.Text(), nullable=True),
            sa.Column("phone", sa.Text(), nullable=True),
            sa.Column("name", sa.Text(), nullable=True),
            sa.Column("merchant_ref", sa.Text(), nullable=True),
            sa.Column(
                "metadata",
                postgresql.JSONB(astext_type=sa.Text()),
                server_default=sa.text("'{}'::jsonb"),
                nullable=False,
            ),
            sa.Column("blacklisted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
            sa.Column("blacklist_reason", sa.Text(), nullable=True),
            sa.Column("blacklisted_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("identity_id", sa.Text(), nullable=True),
            sa.Column("default_payment_method_id", sa.Text(), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(
                ["tenant_id"], ["core.tenants.id"], name=op.f("fk_customers_tenant_id_tenants"), ondelete="CASCADE"
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
            sa.UniqueConstraint("tenant_id", "merchant_ref", name=op.f("uq_customers_tenant_id_merchant_ref")),
            schema=schema,
        )
        op.create_index(
            "ix_customers_tenant_id_created_at_id",
            "customers",
            ["tenant_id", "created_at", "id"],
            unique=False,
            schema=schema,
        )
        op.create_index(
            "ix_customers_tenant_id_email", "customers", ["tenant_id", "email"], unique=False, schema=schema
        )
        op.create_index(
            "ix_customers_tenant_id_phone", "customers", ["tenant_id", "phone"], unique=False, schema=schema
        )
        op.create_table(
            "events",
            sa.Column("id", sa.Text(), nullable=False),
            sa.Column("tenant_id", sa.Text(), nullable=False),
            sa.Column("type", sa.Text(), nullable=False),
            sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
            sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(
                ["tenant_id"], ["core.tenants.id"], name=op.f("fk_events_tenant_id_tenants"), ondelete="CASCADE"
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
            schema=schema,
        )
        op.create_index(
            "ix_events_tenant_id_created_at_id",
            "events",
            ["tenant_id", "created_at", "id"],
            unique=False,
            schema=schema,
        )
        op.create_index(
            "ix_events_tenant_id_type_created_at_id",
            "events",
            ["tenant_id", "type", "created_at", "id"],
            unique=False,
            schema=schema,
        )
        op.create_index(
            "ix_events_undispatched",
            "events",
            ["created_at"],
            unique=False,
            schema=schema,
            postgresql_where=sa.text("dispatched_at IS NULL"),
        )
        op.create_table(
            "idempotency_keys",
            sa.Column("tenant_id", sa.Text(), nullable=False),
            sa.Column("key", sa.Text(), nullable=False),
            sa.Column("fingerprint", sa.Text(), nullable=False),
            sa.Column("state", sa.Text(), nullable=False),
            sa.Column("request_id", sa.Text(), nullable=False),
            sa.Column("response_status", sa.Integer(), nullable=True),
            sa.Column("response_body", sa.LargeBinary(), nullable=True),
            sa.Column("recovery_point", sa.Text(), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(
                ["tenant_id"],
                ["core.tenants.id"],
                name=op.f("fk_idempotency_keys_tenant_id_tenants"),
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint("tenant_id", "key", name=op.f("pk_idempotency_keys")),
            schema=schema,
        )
        op.create_index(
            "ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"], unique=False, schema=schema
        )
        op.create_table(
            "oauth_clients",
            sa.Column("id", sa.Text(), nullable=False),
            sa.Column("tenant_id", sa.Text(), nullable=False),
            sa.Column("client_id", sa.Text(), nullable=False),
            sa.Column("name", sa.Text(), nullable=False),
            sa.Column("secret_hash", sa.Text(), nullable=False),
            sa.Column("secret_last4", sa.Text(), nullable=False),
            sa.Column("created_by", sa.Text(), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
            sa.ForeignKeyConstraint(
                ["tenant_id"], ["core.tenants.id"], name=op.f("fk_oauth_clients_tenant_id_tenants"), ondelete="CASCADE"
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_clients")),
            sa.UniqueConstraint("client_id", name=op.f("uq_oauth_clients_client_id")),
            schema=schema,
        )
        op.create_index(
            "ix_oauth_clients_tenant_id_created_at_id",
            "oauth_clients",
            ["tenant_id", "created_at", "id"],
            unique=False,
            schema=schema,
        )
        op.create_table(
            "plans",
            sa.Column("id", sa.Text(), nullable=False),
            sa.Column("tenant_id", sa.Text(), nullable=False),
            sa.Column("name", sa.Text(), nullable=False),
            sa.Column("description", sa.Text(), nullable=True),
            sa.Column("amount", sa.BigInteger(), nullable=False),
            sa.Column("currency", sa.Text(), nullable=False),
            sa.Column("interval", sa.Text(), nullable=False),
            sa.Column("interval_count", sa.Integer(), nullable=False),
            sa.Column("trial_days", sa.Integer(), nullable=False),
            sa.Column("max_cycles", sa.Integer(), nullable=True),
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
                ["tenant_id"], ["core.tenants.id"], name=op.f("fk_plans_tenant_id_tenants"), ondelete="CASCADE"
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
            schema=schema,
        )
        op.create_index(
            "ix_plans_tenant_id_created_at_id", "plans", ["tenant_id", "created_at", "id"], unique=False, schema=schema
        )


def downgrade() -> None:
    # The data schemas go whole; `core` stays because it holds alembic's version table.
    for schema in DATA_SCHEMAS:
        op.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    op.drop_table("audit_logs", schema="core")
    op.drop_table("members", schema="core")
    op.drop_table("tenants", schema="core")
