"""KYC documents (02 §10): core table, one row per uploaded file; the file itself lives in the storage backend."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, Table, Text, text

from duro.models.base import CORE_SCHEMA, id_column, metadata, tenant_column, ts

kyc_documents = Table(
    "kyc_documents",
    metadata,
    id_column(),  # kyc_…
    tenant_column(),
    Column("type", Text, nullable=False),  # cac | memart | status_report
    Column("file_name", Text, nullable=False),  # sanitised, ≤ 200
    Column("content_type", Text, nullable=False),  # decided by magic bytes: application/pdf | image/png | image/jpeg
    Column("size_bytes", Integer, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("storage_key", Text, nullable=False, unique=True),  # kyc/{tenantId}/{kycId}
    Column("status", Text, nullable=False),  # pending | approved | rejected | superseded
    Column("review_note", Text),
    ts("reviewed_at"),
    Column("uploaded_by", Text),  # mem_… (no FK: the entry outlives a removed member)
    ts("created_at", nullable=False),
    Index("ix_kyc_documents_tenant_id_type_created_at", "tenant_id", "type", "created_at"),
    # At most one pending document per type: a new upload supersedes the previous one (02 §10).
    Index(
        "uq_kyc_documents_pending_type",
        "tenant_id",
        "type",
        unique=True,
        postgresql_where=text("status = 'pending'"),
    ),
    schema=CORE_SCHEMA,
)
