"""KYC service on real PostgreSQL and real local storage: uploads, supersede, submit, approve, reject, with their
audit entries and platform notifications."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from duro.config import Settings
from duro.context import Actor
from duro.db.engine import Database
from duro.kit.clock import FrozenClock
from duro.kit.errors import DuroError
from duro.kyc import service
from duro.models.core import audit_logs, members, tenants
from duro.models.kyc import kyc_documents
from duro.models.notifications import platform_notifications
from duro.storage import LocalStorage
from tests.conftest import TenantKeys
from tests.kyc.files import EXE, JPEG, PDF, PNG

NOW = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def storage(settings: Settings) -> LocalStorage:
    return LocalStorage(settings.effective_storage_dir)


async def owner_origin(db: Database, tenant: TenantKeys) -> service.Origin:
    async with db.core_transaction() as conn:
        row = (await conn.execute(select(members.c.id, members.c.email).where(members.c.tenant_id == tenant.id))).one()
    return service.Origin(Actor("member", row.id, row.email), "203.0.113.9", "pytest", "req_1")


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


STAFF = service.Origin(service.STAFF_ACTOR, "198.51.100.7", "staff-ua", "req_2")


async def upload(db: Database, storage: LocalStorage, clock: FrozenClock, tenant: TenantKeys, doc_type: str,
                 data: bytes = PDF, name: str = "doc.pdf") -> dict[str, Any]:  # fmt: skip
    origin = await owner_origin(db, tenant)
    return await service.upload_document(
        db, storage, clock, tenant.id, doc_type, file_name=name, data=data, origin=origin
    )


async def upload_all(db: Database, storage: LocalStorage, clock: FrozenClock, tenant: TenantKeys) -> None:
    for t, data in (("cac", PDF), ("memart", PNG), ("status_report", JPEG)):
        await upload(db, storage, clock, tenant, t, data)


async def rows(db: Database, stmt: Any) -> list[Any]:
    async with db.core_transaction() as conn:
        return list((await conn.execute(stmt)).all())


async def tenant_row(db: Database, tenant_id: str) -> Any:
    return (await rows(db, select(tenants).where(tenants.c.id == tenant_id)))[0]


async def audits(db: Database, tenant_id: str, prefix: str = "kyc.") -> list[Any]:
    stmt = select(audit_logs).where(audit_logs.c.tenant_id == tenant_id).order_by(audit_logs.c.at, audit_logs.c.id)
    return [r for r in await rows(db, stmt) if r.action.startswith(prefix)]


async def notices(db: Database, tenant_id: str) -> list[Any]:
    pn = platform_notifications
    stmt = select(pn).where(pn.c.tenant_id == tenant_id, pn.c.template_key.like("kyc_%")).order_by(pn.c.created_at)
    return await rows(db, stmt)


async def test_upload_stores_file_by_magic_bytes(
    db: Database, storage: LocalStorage, clock: FrozenClock, tenant: TenantKeys
) -> None:
    doc = await upload(db, storage, clock, tenant, "cac", PNG, "scan.pdf")
    assert doc["contentType"] == "image/png"
    assert doc["fileName"] == "scan.png"
    assert doc["sizeBytes"] == len(PNG)
    assert doc["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert doc["status"] == "pending"
    assert doc["id"].startswith("kyc_")
    row = (await rows(db, select(kyc_documents)))[0]
    assert row.storage_key == f"kyc/{tenant.id}/{doc['id']}"
    assert await storage.get(row.storage_key) == PNG
    [entry] = await audits(db, tenant.id)
    assert (entry.action, entry.actor_type, entry.target_id) == ("kyc.document_uploaded", "member", doc["id"])
    assert entry.after["contentType"] == "image/png"


async def test_refused_files_store_nothing(
    db: Database, storage: LocalStorage, clock: FrozenClock, tenant: TenantKeys, settings: Settings
) -> None:
    for data in (EXE, b"", PDF + b"\x00" * (10 * 1024 * 1024)):
        with pytest.raises(DuroError) as caught:
            await upload(db, storage, clock, tenant, "cac", data)
        assert caught.value.status == 422
    with pytest.raises(DuroError) as unknown:
        await upload(db, storage, clock, tenant, "passport", PDF)
    assert unknown.value.status == 404
    assert await rows(db, select(kyc_documents)) == []
    assert stored_files(settings.effective_storage_dir) == []


async def test_new_upload_supersedes_pending_one(
    db: Database, storage: LocalStorage, clock: FrozenClock, tenant: TenantKeys
) -> None:
    first = await upload(db, storage, clock, tenant, "cac", PDF, "one.pdf")
    second = await upload(db, storage, clock, tenant, "cac", JPEG, "two.jpg")
    await upload(db, storage, clock, tenant, "memart", PDF)
    statuses = {r.id: r.status for r in await rows(db, select(kyc_documents))}
    assert statuses[first["id"]] == "superseded"
    assert statuses[second["id"]] == "pending"
    async with db.core_transaction() as conn:
        overview = await service.kyc_overview(conn, tenant.id)
    assert overview["documents"]["cac"]["id"] == second["id"]
    assert overview["documents"]["memart"]["status"] == "pending"
    assert overview["documents"]["status_report"] is None
    assert overview["canSubmit"] is False


async def test_submit_needs_all_three(
    db: Database, storage: LocalStorage, clock: FrozenClock, tenant: TenantKeys
) -> None:
    origin = await owner_origin(db, tenant)
    await upload(db, storage, clock, tenant, "cac")
    await upload(db, storage, clock, tenant, "memart")
    with pytest.raises(DuroError) as caught:
        async with db.core_transaction() as conn:
            await service.submit(conn, clock, tenant.id, origin)
    assert (caught.value.status, caught.value.reason) == (409, "kyc_incomplete")
    assert [d.path for d in caught.value.details] == ["status_report"]
    assert (await tenant_row(db, tenant.id)).kyc_status == "not_submitted"
    assert await notices(db, tenant.id) == []


async def test_submit_approve(db: Database, storage: LocalStorage, clock: FrozenClock, tenant: TenantKeys) -> None:
    origin = await owner_origin(db, tenant)
    await upload_all(db, storage, clock, tenant)
    async with db.core_transaction() as conn:
        body = await service.submit(conn, clock, tenant.id, origin)
    assert body["kycStatus"] == "pending"
    assert body["kycSubmittedAt"] == "2025-05-01T09:00:00.000Z"
    with pytest.raises(DuroError) as again:
        async with db.core_transaction() as conn:
            await service.submit(conn, clock, tenant.id, origin)
    assert again.value.reason == "kyc_already_submitted"
    async with db.core_transaction() as conn:
        queue = await service.pending_queue(conn)
    assert [q["id"] for q in queue] == [tenant.id]
    assert queue[0]["ownerEmail"] == tenant.owner_email

    clock.advance(timedelta(seconds=3600))
    async with db.core_transaction() as conn:
        approved = await service.approve(conn, clock, tenant.id, STAFF)
    assert (approved["tier"], approved["kycStatus"]) == ("verified", "approved")
    assert approved["verifiedAt"] == "2025-05-01T10:00:00.000Z"
    assert {d["status"] for d in approved["documents"].values()} == {"approved"}
    row = await tenant_row(db, tenant.id)
    assert (row.tier, row.kyc_status, row.verified_at) == ("verified", "approved", clock.now())

    actions = [(a.action, a.actor_type, a.actor_label) for a in await audits(db, tenant.id)]
    assert actions[-2:] == [("kyc.submitted", "member", tenant.owner_email), ("kyc.approved", "staff", "staff")]
    sent = await notices(db, tenant.id)
    assert [(n.template_key, n.recipient) for n in sent] == [
        ("kyc_submitted", tenant.owner_email),
        ("kyc_approved", tenant.owner_email),
    ]

    # Approval is final: no more uploads, submissions or reviews.
    with pytest.raises(DuroError) as final:
        await upload(db, storage, clock, tenant, "cac")
    assert (final.value.status, final.value.reason) == (409, "kyc_already_approved")
    for act in (
        lambda conn: service.approve(conn, clock, tenant.id, STAFF),
        lambda conn: service.reject(conn, clock, tenant.id, "late", STAFF),
    ):
        with pytest.raises(DuroError) as closed:
            async with db.core_transaction() as conn:
                await act(conn)
        assert closed.value.reason == "kyc_already_approved"


async def test_reject_then_resubmit(
    db: Database, storage: LocalStorage, clock: FrozenClock, tenant: TenantKeys
) -> None:
    origin = await owner_origin(db, tenant)
    await upload_all(db, storage, clock, tenant)
    async with db.core_transaction() as conn:
        await service.submit(conn, clock, tenant.id, origin)
    for bad in ("", "x" * 1001):
        with pytest.raises(DuroError) as caught:
            async with db.core_transaction() as conn:
                await service.reject(conn, clock, tenant.id, bad, STAFF)
        assert caught.value.status == 422
    assert (await tenant_row(db, tenant.id)).kyc_status == "pending"

    async with db.core_transaction() as conn:
        rejected = await service.reject(conn, clock, tenant.id, "The CAC scan is unreadable.", STAFF)
    assert (rejected["tier"], rejected["kycStatus"]) == ("unverified", "rejected")
    assert {d["status"] for d in rejected["documents"].values()} == {"rejected"}
    assert rejected["documents"]["cac"]["reviewNote"] == "The CAC scan is unreadable."
    assert rejected["canSubmit"] is False
    [*_, entry] = await audits(db, tenant.id)
    assert (entry.action, entry.actor_type, entry.after["reviewNote"]) == (
        "kyc.rejected",
        "staff",
        "The CAC scan is unreadable.",
    )
    last = (await notices(db, tenant.id))[-1]
    assert last.template_key == "kyc_rejected"
    assert "The CAC scan is unreadable." in last.body_text

    # The owner uploads again and resubmits.
    await upload_all(db, storage, clock, tenant)
    async with db.core_transaction() as conn:
        again = await service.submit(conn, clock, tenant.id, origin)
    assert again["kycStatus"] == "pending"
    assert {d["status"] for d in again["documents"].values()} == {"pending"}


async def test_review_needs_a_submission(db: Database, clock: FrozenClock, tenant: TenantKeys) -> None:
    with pytest.raises(DuroError) as caught:
        async with db.core_transaction() as conn:
            await service.approve(conn, clock, tenant.id, STAFF)
    assert (caught.value.status, caught.value.reason) == (409, "kyc_not_pending")
    with pytest.raises(DuroError) as missing:
        async with db.core_transaction() as conn:
            await service.approve(conn, clock, "ten_nope", STAFF)
    assert missing.value.status == 404


async def test_queue_oldest_submission_first_and_search(
    db: Database, storage: LocalStorage, clock: FrozenClock, make_tenant: Any
) -> None:
    first = await make_tenant("Zebra Foods")
    second = await make_tenant("Alpha Stores")
    for t in (second, first):  # the second tenant submits first
        await upload_all(db, storage, clock, t)
        async with db.core_transaction() as conn:
            await service.submit(conn, clock, t.id, await owner_origin(db, t))
        clock.advance(timedelta(seconds=60))
    async with db.core_transaction() as conn:
        assert [q["id"] for q in await service.pending_queue(conn)] == [second.id, first.id]
        assert [t["id"] for t in await service.search_tenants(conn, "zebra")] == [first.id]
        assert [t["id"] for t in await service.search_tenants(conn, second.owner_email)] == [second.id]
        assert [t["id"] for t in await service.search_tenants(conn, first.slug)] == [first.id]
        assert await service.search_tenants(conn, "%") == []
        assert await service.search_tenants(conn, "  ") == []
