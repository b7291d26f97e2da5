"""Dashboard KYC screen: page, uploads (magic bytes, size cap, supersede), submit, RBAC, CSRF, the live cap meter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from duro.config import Settings
from duro.db.engine import Database
from duro.models.core import audit_logs, tenants
from duro.models.kyc import kyc_documents
from duro.models.notifications import platform_notifications
from tests.conftest import TenantKeys, make_settings
from tests.kyc.files import EXE, JPEG, PDF, PNG

PAGE = "/dashboard/settings/kyc"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(storage_dir=tmp_path / "uploads")


async def upload(dash: Any, doc_type: str, data: bytes, name: str = "doc.pdf", **extra: Any) -> Any:
    return await dash.client.post(
        f"{PAGE}/{doc_type}",
        data={"csrf_token": dash.csrf, **extra.pop("data", {})},
        files={"file": (name, data, "application/pdf")},
        **extra,
    )


async def documents(db: Database, tenant_id: str) -> list[Any]:
    async with db.core_transaction() as conn:
        stmt = select(kyc_documents).where(kyc_documents.c.tenant_id == tenant_id).order_by(kyc_documents.c.created_at)
        return list((await conn.execute(stmt)).all())


async def kyc_status(db: Database, tenant_id: str) -> str:
    async with db.core_transaction() as conn:
        return str((await conn.execute(select(tenants.c.kyc_status).where(tenants.c.id == tenant_id))).scalar_one())


async def test_page_renders_empty_slots(dash_as: Any, tenant: TenantKeys) -> None:
    dash = await dash_as(tenant, "owner")
    page = await dash.get(PAGE)
    assert page.status_code == 200
    for t in ("cac", "memart", "status_report"):
        assert f'data-testid="kyc-slot-{t}"' in page.text
        assert f'action="{PAGE}/{t}"' in page.text
    assert "Not uploaded yet." in page.text
    assert 'data-testid="kyc-submit" disabled' in page.text
    assert 'data-testid="kyc-cap"' in page.text
    assert "₦1,000,000.00" in page.text


async def test_upload_png_named_pdf_is_stored_as_png(dash_as: Any, tenant: TenantKeys, db: Database) -> None:
    dash = await dash_as(tenant, "owner")
    response = await upload(dash, "cac", PNG, "certificate.pdf")
    assert response.status_code == 303
    assert response.headers["location"] == PAGE
    [doc] = await documents(db, tenant.id)
    assert (doc.type, doc.content_type, doc.file_name, doc.status) == ("cac", "image/png", "certificate.png", "pending")
    assert doc.uploaded_by == dash.member.id
    page = await dash.get(PAGE)
    assert "certificate.png" in page.text
    assert "uploaded." in page.text  # the flash message
    async with db.core_transaction() as conn:
        actions = (await conn.execute(select(audit_logs.c.action).where(audit_logs.c.tenant_id == tenant.id))).all()
    assert "kyc.document_uploaded" in [a.action for a in actions]


async def test_exe_is_refused_with_inline_error(dash_as: Any, tenant: TenantKeys, db: Database) -> None:
    dash = await dash_as(tenant, "owner")
    response = await upload(dash, "memart", EXE, "memart.pdf")
    assert response.status_code == 422
    assert "must be a PDF, PNG or JPEG file" in response.text
    assert await documents(db, tenant.id) == []


async def test_size_limit(dash_as: Any, tenant: TenantKeys, db: Database) -> None:
    dash = await dash_as(tenant, "owner")
    over = PDF + b"\x00" * (10 * 1024 * 1024 - len(PDF) + 1)
    response = await upload(dash, "cac", over)
    assert response.status_code == 422
    assert "must be at most 10 MiB" in response.text
    way_over = PDF + b"\x00" * (11 * 1024 * 1024)
    response = await upload(dash, "cac", way_over)
    assert response.status_code == 422
    assert "must be at most 10 MiB" in response.text
    assert await documents(db, tenant.id) == []
    exact = PDF + b"\x00" * (10 * 1024 * 1024 - len(PDF))
    assert (await upload(dash, "cac", exact)).status_code == 303
    assert [d.size_bytes for d in await documents(db, tenant.id)] == [10 * 1024 * 1024]


async def test_lying_content_length_is_cut_off(dash_as: Any, tenant: TenantKeys, db: Database) -> None:
    dash = await dash_as(tenant, "owner")
    boundary = "xyz"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{dash.csrf}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + PDF
        + b"\x00" * (11 * 1024 * 1024)
        + f"\r\n--{boundary}--\r\n".encode()
    )

    async def stream() -> Any:
        for i in range(0, len(body), 1 << 20):
            yield body[i : i + (1 << 20)]

    response = await dash.client.post(
        f"{PAGE}/cac",
        content=stream(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "Transfer-Encoding": "chunked"},
    )
    assert response.status_code == 422
    assert await documents(db, tenant.id) == []


async def test_supersede_and_submit(dash_as: Any, tenant: TenantKeys, db: Database) -> None:
    dash = await dash_as(tenant, "owner")
    assert (await upload(dash, "cac", PDF, "old.pdf")).status_code == 303
    assert (await upload(dash, "cac", JPEG, "new.jpg")).status_code == 303
    assert [(d.file_name, d.status) for d in await documents(db, tenant.id)] == [
        ("old.pdf", "superseded"),
        ("new.jpg", "pending"),
    ]
    early = await dash.post(f"{PAGE}/submit")
    assert early.status_code == 409
    assert "Upload all three documents" in early.text
    assert await kyc_status(db, tenant.id) == "not_submitted"

    await upload(dash, "memart", PDF)
    await upload(dash, "status_report", PNG, "report.png")
    page = await dash.get(PAGE)
    assert 'data-testid="kyc-submit">' in page.text  # enabled now
    submitted = await dash.post(f"{PAGE}/submit")
    assert submitted.status_code == 303
    assert await kyc_status(db, tenant.id) == "pending"
    async with db.core_transaction() as conn:
        sent = (
            await conn.execute(
                select(platform_notifications.c.template_key, platform_notifications.c.recipient).where(
                    platform_notifications.c.tenant_id == tenant.id,
                    platform_notifications.c.template_key == "kyc_submitted",
                )
            )
        ).all()
    assert [(s.template_key, s.recipient) for s in sent] == [("kyc_submitted", tenant.owner_email)]
    page = await dash.get(PAGE)
    assert "waiting for review" in page.text
    assert 'data-testid="kyc-submit"' not in page.text


async def test_admin_lacks_tenant_manage(dash_as: Any, tenant: TenantKeys, db: Database) -> None:
    admin = await dash_as(tenant, "admin")
    page = await admin.get(PAGE)
    assert page.status_code == 200
    assert f'action="{PAGE}/cac"' not in page.text  # no upload form
    assert 'data-testid="kyc-submit"' not in page.text
    response = await upload(admin, "cac", PDF)
    assert response.status_code == 403
    assert (await admin.post(f"{PAGE}/submit")).status_code == 403
    assert await documents(db, tenant.id) == []


async def test_csrf_required(dash_as: Any, tenant: TenantKeys, db: Database) -> None:
    dash = await dash_as(tenant, "owner")
    response = await dash.client.post(f"{PAGE}/cac", data={}, files={"file": ("a.pdf", PDF, "application/pdf")})
    assert response.status_code == 403
    wrong = await dash.client.post(
        f"{PAGE}/cac", data={"csrf_token": "nope"}, files={"file": ("a.pdf", PDF, "application/pdf")}
    )
    assert wrong.status_code == 403
    assert (await dash.client.post(f"{PAGE}/submit", data={})).status_code == 403
    assert await documents(db, tenant.id) == []


async def test_unknown_type_and_missing_file(dash_as: Any, tenant: TenantKeys, db: Database) -> None:
    dash = await dash_as(tenant, "owner")
    assert (await upload(dash, "passport", PDF)).status_code == 404
    missing = await dash.client.post(f"{PAGE}/cac", data={"csrf_token": dash.csrf}, files={"other": ("x", b"y")})
    assert missing.status_code == 422
    assert "choose a file" in missing.text
    assert await documents(db, tenant.id) == []


async def test_live_meter_shown_until_verified(dash_as: Any, tenant: TenantKeys, db: Database) -> None:
    async with db.core_transaction() as conn:
        await conn.execute(update(tenants).where(tenants.c.id == tenant.id).values(live_gross_volume=2_500_000))
    live = await dash_as(tenant, "finance", mode="live")
    page = await live.get("/dashboard/settings/kyc")
    assert 'data-testid="kyc-meter"' in page.text
    assert "₦25,000.00 of the ₦1,000,000.00" in page.text
    test = await dash_as(tenant, "finance")
    assert 'data-testid="kyc-meter"' not in (await test.get(PAGE)).text
    async with db.core_transaction() as conn:
        await conn.execute(
            update(tenants).where(tenants.c.id == tenant.id).values(tier="verified", kyc_status="approved")
        )
    page = await live.get(PAGE)
    assert 'data-testid="kyc-meter"' not in page.text
    assert 'data-testid="kyc-cap"' not in page.text
    assert "Approval is final" in page.text
