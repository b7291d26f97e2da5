"""KYC use cases (02 §10): upload, submit, approve, reject, and the views the dashboard and staff console show.

Each change runs in one core transaction holding the tenant row lock, writes its audit entry and platform
notification in that transaction, and returns the API-style (camelCase) representation. An upload stores the file
first and the row second: a failed transaction deletes the file again, so no row ever points at a missing file.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from duro.audit.service import record_core
from duro.context import Actor
from duro.db.engine import Database
from duro.db.executor import Connection
from duro.db.repository import DbRow
from duro.kit.clock import Clock
from duro.kit.errors import Detail, DuroError, conflict, not_found
from duro.kit.ids import new_id
from duro.kit.jsonenc import format_ts
from duro.kyc.repository import KycStore, StaffKycQueries
from duro.kyc.rules import DOCUMENT_TYPES, UNVERIFIED_CAP, check_file, check_note, sanitise_file_name
from duro.notifications.outbox import notify_platform
from duro.storage import FileStorage

log = logging.getLogger(__name__)

STAFF_ACTOR = Actor("staff", None, "staff")


@dataclass(frozen=True, slots=True)
class Origin:
    """Who asked, for the audit entry."""

    actor: Actor
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


# --- representations ---


def document_json(row: DbRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "tenantId": row.tenant_id,
        "type": row.type,
        "fileName": row.file_name,
        "contentType": row.content_type,
        "sizeBytes": row.size_bytes,
        "sha256": row.sha256,
        "status": row.status,
        "reviewNote": row.review_note,
        "reviewedAt": format_ts(row.reviewed_at),
        "uploadedBy": row.uploaded_by,
        "createdAt": format_ts(row.created_at),
    }


def tenant_json(row: DbRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "slug": row.slug,
        "defaultCurrency": row.default_currency,
        "supportEmail": row.support_email,
        "tier": row.tier,
        "kycStatus": row.kyc_status,
        "liveGrossVolume": row.live_gross_volume,
        "verifiedAt": format_ts(row.verified_at),
        "kycSubmittedAt": format_ts(row.kyc_submitted_at),
        "createdAt": format_ts(row.created_at),
    }


def overview_json(tenant: DbRow, documents: dict[str, DbRow]) -> dict[str, Any]:
    """The tenant's KYC state: tier, status, the current document of each type, whether it can submit."""
    return {
        **tenant_json(tenant),
        "cap": UNVERIFIED_CAP,
        "documents": {t: document_json(documents[t]) if t in documents else None for t in DOCUMENT_TYPES},
        "canSubmit": can_submit(tenant, documents),
    }


def can_submit(tenant: DbRow, documents: dict[str, DbRow]) -> bool:
    if tenant.kyc_status in ("pending", "approved"):
        return False
    return all(t in documents and documents[t].status == "pending" for t in DOCUMENT_TYPES)


# --- merchant side ---


async def kyc_overview(conn: Connection, tenant_id: str) -> dict[str, Any]:
    store = KycStore(conn, tenant_id)
    tenant = await store.tenant()
    if tenant is None:
        raise not_found("No such tenant")
    return overview_json(tenant, await store.current_documents())


def _refuse_if_final(tenant: DbRow) -> None:
    if tenant.kyc_status == "approved" or tenant.tier == "verified":
        raise conflict("kyc_already_approved", "This business is already verified; approval is final.")


async def upload_document(
    db: Database,
    storage: FileStorage,
    clock: Clock,
    tenant_id: str,
    doc_type: str,
    *,
    file_name: str | None,
    data: bytes,
    origin: Origin,
) -> dict[str, Any]:
    """Store one document of `doc_type` (content type by magic bytes, ≤ 10 MiB) and make it the current one,
    superseding a previous pending upload of that type. Audited `kyc.document_uploaded`."""
    if doc_type not in DOCUMENT_TYPES:
        raise not_found("No such document type")
    content_type = check_file(data)
    async with db.core_transaction() as conn:  # fail fast before storing anything
        tenant = await KycStore(conn, tenant_id).tenant()
        if tenant is None:
            raise not_found("No such tenant")
        _refuse_if_final(tenant)
    kyc_id = new_id("kyc")
    key = f"kyc/{tenant_id}/{kyc_id}"
    await storage.put(key, data, content_type)
    try:
        async with db.core_transaction() as conn:
            store = KycStore(conn, tenant_id)
            tenant = await store.tenant(for_update=True)
            if tenant is None:
                raise not_found("No such tenant")
            _refuse_if_final(tenant)
            superseded = await store.supersede_pending(doc_type)
            now = clock.now()
            row = await store.insert(
                {
                    "id": kyc_id,
                    "type": doc_type,
                    "file_name": sanitise_file_name(file_name, content_type, doc_type),
                    "content_type": content_type,
                    "size_bytes": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "storage_key": key,
                    "status": "pending",
                    "uploaded_by": origin.actor.id,
                    "created_at": now,
                }
            )
            await _audit(
                conn,
                tenant_id,
                "kyc.document_uploaded",
                origin,
                now,
                target=("kyc_document", kyc_id),
                after={
                    "type": doc_type,
                    "fileName": row.file_name,
                    "contentType": content_type,
                    "sizeBytes": len(data),
                    "sha256": row.sha256,
                    **({"superseded": superseded} if superseded else {}),
                },
            )
            return document_json(row)
    except BaseException:
        try:
            await storage.delete(key)
        except Exception:  # the row was not written; a stray file is harmless and logged
            log.warning("could not delete the file of a failed KYC upload", exc_info=True)
        raise


async def submit(conn: Connection, clock: Clock, tenant_id: str, origin: Origin) -> dict[str, Any]:
    """With a pending document of every type: `kycStatus = pending`, the staff queue, `kyc_submitted` to the
    owner. Audited `kyc.submitted`."""
    store = KycStore(conn, tenant_id)
    tenant = await store.tenant(for_update=True)
    if tenant is None:
        raise not_found("No such tenant")
    _refuse_if_final(tenant)
    if tenant.kyc_status == "pending":
        raise conflict("kyc_already_submitted", "The documents are already waiting for review.")
    documents = await store.current_documents()
    missing = [t for t in DOCUMENT_TYPES if t not in documents or documents[t].status != "pending"]
    if missing:
        raise conflict(
            "kyc_incomplete",
            "Upload all three documents before submitting.",
            [Detail(t, "upload this document first") for t in missing],
        )
    now = clock.now()
    await store.update_tenant({"kyc_status": "pending", "kyc_submitted_at": now, "updated_at": now})
    await _audit(
        conn,
        tenant_id,
        "kyc.submitted",
        origin,
        now,
        target=("tenant", tenant_id),
        before={"kycStatus": tenant.kyc_status},
        after={"kycStatus": "pending", "documents": [documents[t].id for t in DOCUMENT_TYPES]},
    )
    await _notify(
        store,
        tenant,
        "kyc_submitted",
        "We'll email you when the review is done.",
        f"kyc_submitted:{format_ts(now)}",
        now,
    )
    return overview_json(await _tenant(store), await store.current_documents())


# --- staff side ---


async def _pending_review(store: KycStore) -> tuple[DbRow, dict[str, DbRow]]:
    tenant = await store.tenant(for_update=True)
    if tenant is None:
        raise not_found("No such tenant")
    _refuse_if_final(tenant)
    if tenant.kyc_status != "pending":
        raise conflict("kyc_not_pending", "This business has no submission waiting for review.")
    return tenant, await store.current_documents()


async def approve(conn: Connection, clock: Clock, tenant_id: str, origin: Origin) -> dict[str, Any]:
    """Current documents approved, `tier = verified`, `kycStatus = approved`, `verifiedAt`; `kyc_approved` to the
    owner. Final. Audited `kyc.approved` (actor staff)."""
    store = KycStore(conn, tenant_id)
    tenant, documents = await _pending_review(store)
    now = clock.now()
    ids = [d.id for d in documents.values() if d.status == "pending"]
    await store.review(ids, "approved", None, now)
    await store.update_tenant({"tier": "verified", "kyc_status": "approved", "verified_at": now, "updated_at": now})
    await _audit(
        conn,
        tenant_id,
        "kyc.approved",
        origin,
        now,
        target=("tenant", tenant_id),
        before={"tier": tenant.tier, "kycStatus": tenant.kyc_status},
        after={"tier": "verified", "kycStatus": "approved", "verifiedAt": format_ts(now), "documents": ids},
    )
    await _notify(store, tenant, "kyc_approved", "Live charges are no longer capped.", "kyc_approved", now)
    return overview_json(await _tenant(store), await store.current_documents())


async def reject(conn: Connection, clock: Clock, tenant_id: str, note: object, origin: Origin) -> dict[str, Any]:
    """Current documents rejected with the note (1-1000 characters), `kycStatus = rejected`; `kyc_rejected` with
    the note to the owner, who uploads again. Audited `kyc.rejected` (actor staff)."""
    cleaned = check_note(note)
    store = KycStore(conn, tenant_id)
    tenant, documents = await _pending_review(store)
    now = clock.now()
    ids = [d.id for d in documents.values() if d.status == "pending"]
    await store.review(ids, "rejected", cleaned, now)
    await store.update_tenant({"kyc_status": "rejected", "updated_at": now})
    await _audit(
        conn,
        tenant_id,
        "kyc.rejected",
        origin,
        now,
        target=("tenant", tenant_id),
        before={"kycStatus": tenant.kyc_status},
        after={"kycStatus": "rejected", "reviewNote": cleaned, "documents": ids},
    )
    await _notify(store, tenant, "kyc_rejected", cleaned, f"kyc_rejected:{format_ts(now)}", now)
    return overview_json(await _tenant(store), await store.current_documents())


async def staff_tenant(conn: Connection, tenant_id: str) -> dict[str, Any]:
    """The staff view of a tenant: summary with the owner's email and the current documents."""
    row = await StaffKycQueries(conn).tenant(tenant_id)
    if row is None:
        raise not_found("No such tenant")
    documents = await KycStore(conn, row.id).current_documents()
    return {**overview_json(row, documents), "ownerEmail": row.owner_email}


async def pending_queue(conn: Connection) -> list[dict[str, Any]]:
    return [{**tenant_json(r), "ownerEmail": r.owner_email} for r in await StaffKycQueries(conn).pending()]


async def search_tenants(conn: Connection, query: str) -> list[dict[str, Any]]:
    query = query.strip()[:200]
    if not query:
        return []
    return [{**tenant_json(r), "ownerEmail": r.owner_email} for r in await StaffKycQueries(conn).search(query)]


async def document_file(conn: Connection, storage: FileStorage, kyc_id: str) -> tuple[DbRow, bytes]:
    """A document's row and bytes for the staff download; the bytes must still match the recorded sha256."""
    row = await StaffKycQueries(conn).document(kyc_id)
    if row is None:
        raise not_found("No such document")
    data = await storage.get(row.storage_key)
    if hashlib.sha256(data).hexdigest() != row.sha256:
        raise DuroError(500, "The stored file does not match its checksum.", "file_corrupted")
    return row, data


# --- shared ---


async def _tenant(store: KycStore) -> DbRow:
    tenant = await store.tenant()
    assert tenant is not None  # locked by this transaction
    return tenant


async def _audit(
    conn: Connection,
    tenant_id: str,
    action: str,
    origin: Origin,
    at: datetime,
    *,
    target: tuple[str, str],
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    await record_core(
        conn,
        tenant_id,
        action,
        at=at,
        actor=origin.actor,
        target_type=target[0],
        target_id=target[1],
        before=before,
        after=after,
        ip=origin.ip,
        user_agent=origin.user_agent,
        request_id=origin.request_id,
    )


async def _notify(store: KycStore, tenant: DbRow, template_key: str, note: str, dedup: str, at: datetime) -> None:
    for email in await store.owner_emails():
        await notify_platform(
            store.conn,
            template_key,
            recipient=email,
            channel="email",
            values={"tenant_name": tenant.name, "note": note},
            dedup_key=f"{dedup}:{tenant.id}:{email}",
            tenant_id=tenant.id,
            at=at,
        )
