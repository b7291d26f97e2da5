"""Payment methods (03 §1.3) and the gateway simulator's ledger (03 §2).

A method is owned by a customer (tenant_id + customer_id) or by a phone identity (identity_id only, tenant_id
null: usable at every tenant of that mode whose customer is linked to the identity).
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, Table, Text, text
from sqlalchemy.dialects.postgresql import JSONB

from duro.models.base import DATA_SCHEMA, id_column, metadata, tenant_column, ts

payment_methods = Table(
    "payment_methods",
    metadata,
    id_column(),
    tenant_column(nullable=True),
    Column("customer_id", Text),
    Column("identity_id", Text),
    Column("checkout_session_id", Text),
    Column("status", Text, nullable=False, server_default=text("'active'")),  # active | pending
    Column("rail", Text, nullable=False),
    Column("brand", Text),
    Column("last4", Text, nullable=False),
    Column("exp_month", Integer),
    Column("exp_year", Integer),
    Column("bank_name", Text),
    Column("gateway_token", Text, nullable=False),
    Column("fingerprint", Text, nullable=False),
    ts("disabled_at"),
    ts("created_at", nullable=False),
    ts("updated_at", nullable=False),
    Index("ix_payment_methods_tenant_id_customer_id", "tenant_id", "customer_id", "created_at"),
    Index("ix_payment_methods_identity_id", "identity_id", "created_at"),
    # One method per number per owner (§1.3): saving it again returns the existing one.
    Index(
        "uq_payment_methods_customer_fingerprint",
        "tenant_id",
        "customer_id",
        "fingerprint",
        unique=True,
        postgresql_where=text("customer_id IS NOT NULL AND status = 'active'"),
    ),
    Index(
        "uq_payment_methods_identity_fingerprint",
        "identity_id",
        "fingerprint",
        unique=True,
        postgresql_where=text("identity_id IS NOT NULL AND status = 'active'"),
    ),
    schema=DATA_SCHEMA,
)

sim_charges = Table(
    "sim_charges",
    metadata,
    Column("reference", Text, primary_key=True),  # the transaction or refund id sent as the idempotency key
    Column("kind", Text, nullable=False),  # charge | refund
    Column("outcome", JSONB, nullable=False),
    ts("created_at", nullable=False),
    schema=DATA_SCHEMA,
)
