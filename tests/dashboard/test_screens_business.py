"""Business settings screen (07 §3, 02 §10): owner-only edit with the tenant rules, audited before/after."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from duro.db.engine import Database
from duro.models.core import audit_logs, tenants
from tests.conftest import TenantKeys

PATH = "/dashboard/settings/business"
FORM = {"name": "Acme Nigeria", "slug": "acme-ng", "defaultCurrency": "NGN", "supportEmail": "Help@Acme.NG"}


async def _tenant(db: Database, tenant_id: str) -> Any:
    async with db.core_transaction() as conn:
        return (await conn.execute(select(tenants).where(tenants.c.id == tenant_id))).one()


async def _audits(db: Database, tenant_id: str) -> list[Any]:
    async with db.core_transaction() as conn:
        stmt = select(audit_logs).where(audit_logs.c.tenant_id == tenant_id, audit_logs.c.action == "tenant.updated")
        return list((await conn.execute(stmt)).all())


async def test_owner_sees_the_form_with_current_values(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    page = await dash.get(PATH)
    assert page.status_code == 200
    assert 'data-testid="business-form"' in page.text
    assert 'value="Acme Ltd"' in page.text
    assert f'value="{tenant.slug}"' in page.text
    assert '<option value="NGN" selected>' in page.text


async def test_save_changes_the_tenant_and_audits_the_changed_fields(
    tenant: TenantKeys, dash_as: Any, db: Database
) -> None:
    dash = await dash_as(tenant, "owner")
    before_slug = tenant.slug
    answer = await dash.post(PATH, FORM)
    assert answer.status_code == 303
    assert answer.headers["location"] == PATH
    row = await _tenant(db, tenant.id)
    assert (row.name, row.slug, row.default_currency, row.support_email) == (
        "Acme Nigeria",
        "acme-ng",
        "NGN",
        "help@acme.ng",
    )
    (entry,) = await _audits(db, tenant.id)
    assert (entry.actor_type, entry.actor_id, entry.target_id, entry.mode) == (
        "member",
        dash.member.id,
        tenant.id,
        None,
    )
    # Only the changed fields: the currency was already NGN.
    assert entry.before == {"name": "Acme Ltd", "slug": before_slug, "supportEmail": None}
    assert entry.after == {"name": "Acme Nigeria", "slug": "acme-ng", "supportEmail": "help@acme.ng"}
    page = await dash.get(PATH)
    assert "Business settings saved." in page.text
    assert 'value="Acme Nigeria"' in page.text
    # The layout shows the new name (the session reads it per request).
    assert "Acme Nigeria · Duro" in page.text


async def test_saving_unchanged_values_writes_no_audit(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    dash = await dash_as(tenant, "owner")
    same = {"name": "Acme Ltd", "slug": tenant.slug, "defaultCurrency": "NGN", "supportEmail": ""}
    assert (await dash.post(PATH, same)).status_code == 303
    assert await _audits(db, tenant.id) == []


async def test_validation_errors_are_inline_and_nothing_changes(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    dash = await dash_as(tenant, "owner")
    bad = {"name": "A", "slug": "dashboard", "defaultCurrency": "XYZ", "supportEmail": "not-an-email"}
    answer = await dash.post(PATH, bad)
    assert answer.status_code == 422
    for field in ("name", "slug", "defaultCurrency", "supportEmail"):
        assert f'data-field="{field}"' in answer.text
    assert "must be 2-120 characters" in answer.text
    assert "not reserved" in answer.text
    assert 'value="not-an-email"' in answer.text  # the submitted value is kept
    row = await _tenant(db, tenant.id)
    assert (row.name, row.slug) == ("Acme Ltd", tenant.slug)
    assert await _audits(db, tenant.id) == []


async def test_bad_slug_pattern_is_refused(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    dash = await dash_as(tenant, "owner")
    for slug in ("-acme", "Acme Store", "ab", "a" * 49):
        answer = await dash.post(PATH, {**FORM, "slug": slug})
        assert answer.status_code == 422, slug
        assert 'data-field="slug"' in answer.text
    assert (await _tenant(db, tenant.id)).slug == tenant.slug


async def test_a_taken_slug_is_a_field_error(tenant: TenantKeys, make_tenant: Any, dash_as: Any, db: Database) -> None:
    other = await make_tenant("Other Shop")
    dash = await dash_as(tenant, "owner")
    answer = await dash.post(PATH, {**FORM, "slug": other.slug})
    assert answer.status_code == 422
    assert 'data-field="slug"' in answer.text
    assert "is taken" in answer.text
    assert (await _tenant(db, tenant.id)).name == "Acme Ltd"  # the whole save was refused


async def test_only_tenant_manage_may_save(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    for role in ("admin", "developer", "finance", "read_only"):
        dash = await dash_as(tenant, role)
        page = await dash.get(PATH)
        assert page.status_code == 200
        assert 'data-testid="business-form"' not in page.text
        assert 'data-testid="business-readonly"' in page.text
        refused = await dash.post(PATH, FORM)
        assert refused.status_code == 403, role
    row = await _tenant(db, tenant.id)
    assert row.name == "Acme Ltd"
    assert await _audits(db, tenant.id) == []


async def test_csrf_is_required(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    dash = await dash_as(tenant, "owner")
    refused = await dash.client.post(PATH, data=FORM)
    assert refused.status_code == 403
    assert (await _tenant(db, tenant.id)).name == "Acme Ltd"


async def test_settings_are_the_same_in_live_mode(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    dash = await dash_as(tenant, "owner", mode="live")
    assert (await dash.post(PATH, {**FORM, "defaultCurrency": "USD"})).status_code == 303
    assert (await _tenant(db, tenant.id)).default_currency == "USD"
    (entry,) = await _audits(db, tenant.id)
    assert entry.mode is None
