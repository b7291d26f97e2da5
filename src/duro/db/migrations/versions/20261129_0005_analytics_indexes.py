"""analytics indexes

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 18:00:00.000000

Indexes for the analytics aggregates (04 §7): failed charges per tenant by creation time, a tenant's open dunning
schedules, and recovered / exhausted schedules per tenant by the instant they ended.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DATA_SCHEMAS = ("sandbox", "live")


def upgrade() -> None:
    for schema in DATA_SCHEMAS:
        op.create_index(
            "ix_transactions_failed",
            "transactions",
            ["tenant_id", "created_at"],
            unique=False,
            schema=schema,
            postgresql_where=sa.text("status = 'failed'"),
        )
        op.create_index(
            "ix_dunning_schedules_tenant_id_state_currency",
            "dunning_schedules",
            ["tenant_id", "state", "currency"],
            unique=False,
            schema=schema,
        )
        op.create_index(
            "ix_dunning_schedules_recovered",
            "dunning_schedules",
            ["tenant_id", "recovered_at"],
            unique=False,
            schema=schema,
            postgresql_where=sa.text("state = 'recovered'"),
        )
        op.create_index(
            "ix_dunning_schedules_exhausted",
            "dunning_schedules",
            ["tenant_id", "exhausted_at"],
            unique=False,
            schema=schema,
            postgresql_where=sa.text("state = 'exhausted'"),
        )


def downgrade() -> None:
    for schema in DATA_SCHEMAS:
        op.drop_index("ix_dunning_schedules_exhausted", table_name="dunning_schedules", schema=schema)
        op.drop_index("ix_dunning_schedules_recovered", table_name="dunning_schedules", schema=schema)
        op.drop_index("ix_dunning_schedules_tenant_id_state_currency", table_name="dunning_schedules", schema=schema)
        op.drop_index("ix_transactions_failed", table_name="transactions", schema=schema)
