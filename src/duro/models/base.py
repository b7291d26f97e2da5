"""Shared metadata, naming convention and column helpers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, Index, MetaData, Text, text

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

CORE_SCHEMA = "core"
# Placeholder schema of every data table; never exists in the database.
DATA_SCHEMA = "tenant"
MODE_SCHEMAS = {"test": "sandbox", "live": "live"}


def ts(name: str, *, nullable: bool = True) -> Column[Any]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


def id_column() -> Column[Any]:
    return Column("id", Text, primary_key=True)


def tenant_column(*, nullable: bool = False) -> Column[Any]:
    return Column("tenant_id", Text, ForeignKey(f"{CORE_SCHEMA}.tenants.id", ondelete="CASCADE"), nullable=nullable)


def money(name: str, *, nullable: bool = False, zero: bool = False) -> Column[Any]:
    """A BIGINT amount of minor units; `zero` gives it a server default of 0 (running totals, balances)."""
    return Column(name, BigInteger, nullable=nullable, server_default=text("0") if zero else None)


def list_index(table_name: str) -> Index:
    """The keyset pagination index every list uses: (tenant_id, created_at, id)."""
    return Index(f"ix_{table_name}_tenant_id_created_at_id", "tenant_id", "created_at", "id")
