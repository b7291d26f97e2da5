"""portal customer indexes

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 14:22:53.572497
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DATA_SCHEMAS = ("sandbox", "live")


def upgrade() -> None:
    for schema in DATA_SCHEMAS:
        op.create_index(
            "ix_customers_identity_id",
            "customers",
            ["identity_id"],
            unique=False,
            schema=schema,
            postgresql_where=sa.text("identity_id IS NOT NULL"),
        )
        op.create_index(
            "ix_customers_phone",
            "customers",
            ["phone"],
            unique=False,
            schema=schema,
            postgresql_where=sa.text("phone IS NOT NULL"),
        )


def downgrade() -> None:
    for schema in DATA_SCHEMAS:
        op.drop_index(
            "ix_customers_phone", table_name="customers", schema=schema, postgresql_where=sa.text("phone IS NOT NULL")
        )
        op.drop_index(
            "ix_customers_identity_id",
            table_name="customers",
            schema=schema,
            postgresql_where=sa.text("identity_id IS NOT NULL"),
        )
