"""Where uploaded files live (KYC documents, 02 §10): a small protocol with a local-directory backend and an
S3-compatible one (AWS S3, Cloudflare R2, MinIO). Files are never served publicly; callers stream them back through
authenticated routes."""

from __future__ import annotations

from duro.storage.backends import (
    FileStorage,
    InvalidStorageKey,
    LocalStorage,
    S3Storage,
    StoredFileMissing,
    build_storage,
    check_key,
)

__all__ = [
    "FileStorage",
    "InvalidStorageKey",
    "LocalStorage",
    "S3Storage",
    "StoredFileMissing",
    "build_storage",
    "check_key",
]
