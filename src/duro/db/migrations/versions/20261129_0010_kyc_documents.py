"""kyc documents

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 18:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("kyc_submitted_at", sa.DateTime(timezone=True), nullable=True), schema="core")
    op.create_table(
        "kyc_documents",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("content_type", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("storage_key", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("uploaded_by", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["core.tenants.id"], name=op.f("fk_kyc_documents_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kyc_documents")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_kyc_documents_storage_key")),
        schema="core",
    )
    op.create_index(
        "ix_kyc_documents_tenant_id_type_created_at",
        "kyc_documents",
        ["tenant_id", "type", "created_at"],
        unique=False,
        schema="core",
    )
    op.create_index(
        "uq_kyc_documents_pending_type",
        "kyc_documents",
        ["tenant_id", "type"],
        unique=True,
        schema="core",
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_kyc_documents_pending_type",
        table_name="kyc_documents",
        schema="core",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index("ix_kyc_documents_tenant_id_type_created_at", table_name="kyc_documents", schema="core")
    op.drop_table("kyc_documents", schema="core")
    op.drop_column("tenants", "kyc_submitted_at", schema="core")
