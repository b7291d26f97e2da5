"""Dashboard appearance builder (07 §4): draft by form and by JSON, per-field errors with nothing saved, publish
and discard with their audit entries, the unpublished badge, the draft preview and the permission checks."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from duro.appearance import service
from duro.db.engine import Database
from duro.models.core import audit_logs
from tests.checkout.harness import plan, session
from tests.conftest import TenantKeys
from tests.dashboard.conftest import audit_actions


async def _config(db: Database, tenant_id: str) -> dict[str, Any]:
    async with db.core_transaction() as conn:
        return await service.get_config(conn, tenant_id)


async def _patch(dash: Any, surface: str, body: Any, **headers: str) -> Any:
    return await dash.client.patch(
        f"/dashboard/appearance/{surface}",
        json=body,
        headers={"X-CSRF-Token": dash.csrf, "X-Requested-With": "fetch", **headers},
    )


async def test_every_surface_renders_its_tab_and_editor(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    for surface, field in (
        ("general", "brandColor"),
        ("store", "linkIds"),
        ("checkout", "submitLabel"),
        ("overlay", "allowedOrigins"),
        ("portal", "permissions.cancelMode"),
        ("email", "replyTo"),
    ):
        page = await dash.get(f"/dashboard/appearance/{surface}")
        assert page.status_code == 200, page.text
        assert f'name="{field}"' in page.text
        assert f'src="/dashboard/appearance/{surface}/preview"' in page.text
        assert 'data-testid="changed-' not in page.text
        preview = await dash.get(f"/dashboard/appearance/{surface}/preview")
        assert preview.status_code == 200, preview.text
        assert "frame-ancestors 'self'" in preview.headers["content-security-policy"]
    assert (await dash.get("/dashboard/appearance/nope")).status_code == 404
    assert (await dash.get("/dashboard/appearance")).headers["location"] == "/dashboard/appearance/general"


async def test_form_saves_the_draft_and_badges_show(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    dash = await dash_as(tenant, "developer")
    assert 'data-testid="unpublished-badge"' not in (await dash.get("/dashboard")).text
    answer = await dash.post(
        "/dashboard/appearance/checkout",
        {"rails": "transfer\ncard", "phoneField": "required", "submitLabel": "Subscribe", "headline": ""},
    )
    assert answer.status_code == 303, answer.text
    draft = (await _config(db, tenant.id))["draft"]["checkout"]
    assert draft["rails"] == ["transfer", "card"]
    assert draft["submitLabel"] == "Subscribe"
    assert draft["collectName"] is False
    page = await dash.get("/dashboard/appearance/general")
    assert 'data-testid="unpublished-badge"' in page.text
    assert 'data-testid="changed-checkout"' in page.text
    assert 'data-testid="changed-general"' not in page.text
    preview = await dash.get("/dashboard/appearance/checkout/preview")
    assert "Subscribe" in preview.text
    assert preview.text.index('value="transfer"') < preview.text.index('value="card"')


async def test_form_errors_are_inline_and_nothing_is_saved(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    dash = await dash_as(tenant, "owner")
    answer = await dash.post(
        "/dashboard/appearance/checkout", {"rails": "", "termsUrl": "http://x.example", "submitLabel": "Go"}
    )
    assert answer.status_code == 422
    assert 'data-field="rails"' in answer.text
    assert "must name at least one rail" in answer.text
    assert 'data-field="termsUrl"' in answer.text
    assert "must be an https URL" in answer.text
    assert (await _config(db, tenant.id))["hasUnpublishedChanges"] is False


async def test_json_patch_merges_and_reports_details(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    dash = await dash_as(tenant, "owner")
    first = await _patch(dash, "portal", {"heading": "Your plans", "permissions": {"pauseSubscription": True}})
    assert first.status_code == 200, first.text
    second = await _patch(dash, "portal", {"permissions": {"cancelMode": "immediate"}, "heading": None})
    body = second.json()
    assert body["draft"]["portal"]["permissions"]["pauseSubscription"] is True  # objects merged
    assert body["draft"]["portal"]["permissions"]["cancelMode"] == "immediate"
    assert body["draft"]["portal"]["heading"] is None  # null restores the default
    assert body["changedSurfaces"] == ["portal"]
    bad = await _patch(dash, "general", {"brandColor": "red", "font": "comic", "displayName": "Fine"})
    assert bad.status_code == 422
    paths = {d["path"] for d in bad.json()["error"]["details"]}
    assert paths == {"brandColor", "font"}
    assert (await _config(db, tenant.id))["draft"]["general"]["displayName"] is None  # nothing saved
    no_csrf = await dash.client.patch("/dashboard/appearance/general", json={"displayName": "X"})
    assert no_csrf.status_code == 403


async def test_publish_bumps_the_version_and_the_checkout_shows_it(
    tenant: TenantKeys, dash_as: Any, db: Database
) -> None:
    dash = await dash_as(tenant, "owner")
    await _patch(dash, "checkout", {"headline": "Join the club"})
    p = await plan(dash.client, tenant)
    token = (await session(dash.client, tenant, planId=p["id"])).json()["token"]
    before = await dash.client.get(f"/checkout/{token}")
    assert "Join the club" not in before.text  # hosted pages read only the published configuration
    answer = await dash.post("/dashboard/appearance/publish", {"surface": "checkout"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard/appearance/checkout"
    config = await _config(db, tenant.id)
    assert config["version"] == 1
    assert config["hasUnpublishedChanges"] is False
    assert "Join the club" in (await dash.client.get(f"/checkout/{token}")).text
    assert 'data-testid="unpublished-badge"' not in (await dash.get("/dashboard")).text
    async with db.core_transaction() as conn:
        row = (
            await conn.execute(
                select(audit_logs.c.before, audit_logs.c.after).where(
                    audit_logs.c.tenant_id == tenant.id, audit_logs.c.action == "appearance.published"
                )
            )
        ).one()
    assert row.after["checkout"] == {"headline": "Join the club"}
    assert row.after["version"] == 1


async def test_discard_restores_the_published_configuration(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    dash = await dash_as(tenant, "admin")
    await _patch(dash, "email", {"senderName": "Acme billing"})
    assert "Acme billing" in (await dash.get("/dashboard/appearance/email/preview")).text
    answer = await dash.post("/dashboard/appearance/discard", {"surface": "email"})
    assert answer.status_code == 303
    config = await _config(db, tenant.id)
    assert config["draft"]["email"]["senderName"] is None
    assert config["hasUnpublishedChanges"] is False
    assert "appearance.discarded" in await audit_actions(db, tenant.id)


async def test_email_preview_is_locked_down(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "read_only")
    preview = await dash.get("/dashboard/appearance/email/preview")
    csp = preview.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "script-src" not in csp
    page = await dash.get("/dashboard/appearance/email")
    assert 'sandbox=""' in page.text
    dash.client.cookies.clear()
    assert (await dash.get("/dashboard/appearance/email/preview")).status_code == 303  # members only


async def test_roles_without_appearance_manage_get_403(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    owner = await dash_as(tenant, "owner")
    await _patch(owner, "general", {"displayName": "Draft name"})
    finance = await dash_as(tenant, "finance")
    page = await finance.get("/dashboard/appearance/general")
    assert page.status_code == 200
    assert 'action="/dashboard/appearance/publish"' not in page.text
    assert "Save draft" not in page.text
    assert (await finance.post("/dashboard/appearance/publish")).status_code == 403
    assert (await finance.post("/dashboard/appearance/discard")).status_code == 403
    assert (await finance.post("/dashboard/appearance/general", {"displayName": "X"})).status_code == 403
    assert (await _patch(finance, "general", {"displayName": "X"})).status_code == 403
    config = await _config(db, tenant.id)
    assert config["version"] == 0
    assert config["draft"]["general"]["displayName"] == "Draft name"
