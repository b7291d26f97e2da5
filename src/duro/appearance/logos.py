"""Uploaded logos (07 §4 `general.logo`): PNG, JPEG or WebP of at most 1 MiB, checked by magic bytes, stored through
the storage backend under a content-addressed key and served publicly by Duro itself.

Key `logos/{tenantId}/{sha256}.{ext}`, public path `/assets/logos/{tenantId}/{sha256}.{ext}`: the same bytes always
have the same path, so the path can be cached forever and re-uploading a file is a no-op for storage. The public
route serves a key only while the tenant's draft or published `general.logo` names it, so the route is never a way
to read arbitrary storage (KYC documents live in the same backend) nor a file the merchant replaced long ago.
Replaced files stay in storage: the published configuration may still point at one while the draft moves on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Final

from duro.appearance import service
from duro.appearance.repository import StoreConfigStore
from duro.appearance.surfaces import LOGO_PATH
from duro.db.engine import Database
from duro.db.executor import Connection
from duro.kit import uploads
from duro.kit.clock import Clock
from duro.kit.errors import DuroError, invalid_field
from duro.storage import FileStorage, StoredFileMissing

MAX_LOGO_BYTES: Final = 1024 * 1024
ACCEPTED: Final = (uploads.PNG, uploads.JPEG, uploads.WEBP)
CONTENT_TYPES: Final = {uploads.EXTENSIONS[t].lstrip("."): t for t in ACCEPTED}  # png, jpg, webp


def logo_too_large() -> DuroError:
    return invalid_field("file", "must be at most 1 MiB", "file_too_large")


def check_logo(data: bytes) -> str:
    """The content type of an acceptable logo, else a 422 on `file`. SVG (text, no signature) and GIF are
    refused like any other kind."""
    if not data:
        raise invalid_field("file", "choose an image to upload", "file_missing")
    if len(data) > MAX_LOGO_BYTES:
        raise logo_too_large()
    content_type = uploads.sniff_allowed(data, ACCEPTED)
    if content_type is None:
        raise invalid_field("file", "must be a PNG, JPEG or WebP image (SVG is not accepted)", "unsupported_file_type")
    return content_type


def public_path(tenant_id: str, file_name: str) -> str:
    return f"/assets/logos/{tenant_id}/{file_name}"


def storage_key(tenant_id: str, file_name: str) -> str:
    return f"logos/{tenant_id}/{file_name}"


async def upload_logo(db: Database, storage: FileStorage, clock: Clock, tenant_id: str, data: bytes) -> dict[str, Any]:
    """Store `data` as the tenant's logo and point the DRAFT's `general.logo` at it (publish shows it on hosted
    pages); returns `service.get_config`'s view. A refused file changes nothing and stores nothing."""
    content_type = check_logo(data)
    file_name = hashlib.sha256(data).hexdigest() + uploads.EXTENSIONS[content_type]
    async with db.core_transaction() as conn:  # an unknown tenant fails before anything is stored
        await service.get_config(conn, tenant_id)
    # Stored first, referenced second: a failed transaction leaves at most an unreferenced file, never served.
    await storage.put(storage_key(tenant_id, file_name), data, content_type)
    async with db.core_transaction() as conn:
        return await service.set_draft(
            conn, tenant_id, "general", {"logo": public_path(tenant_id, file_name)}, clock=clock
        )


async def remove_logo(conn: Connection, tenant_id: str, clock: Clock) -> dict[str, Any]:
    """The draft without a logo (`general.logo` null); the file stays for a published configuration using it."""
    return await service.set_draft(conn, tenant_id, "general", {"logo": None}, clock=clock)


@dataclass(frozen=True, slots=True)
class Logo:
    data: bytes
    content_type: str


def _referenced(stored: Any, path: str) -> bool:
    general = stored.get("general") if isinstance(stored, dict) else None
    return isinstance(general, dict) and general.get("logo") == path


async def read_logo(db: Database, storage: FileStorage, tenant_id: str, file_name: str) -> Logo | None:
    """The logo at `/assets/logos/{tenant_id}/{file_name}` when the tenant's draft or published configuration
    references it (one statement), else None."""
    path = public_path(tenant_id, file_name)
    if not LOGO_PATH.fullmatch(path):
        return None
    async with db.core_transaction() as conn:
        row = await StoreConfigStore(conn).get(tenant_id)
    if row is None or not (_referenced(row["draft"], path) or _referenced(row["published"], path)):
        return None
    try:
        data = await storage.get(storage_key(tenant_id, file_name))
    except StoredFileMissing:
        return None
    return Logo(data, CONTENT_TYPES[file_name.rsplit(".", 1)[1]])
