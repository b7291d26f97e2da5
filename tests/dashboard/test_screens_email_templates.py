"""Dashboard email templates (07 §9): list with states, editor with tags and preview, save / reset / mute / send
test, unknown merge tags refused, the dunning page with the retry schedule, and permissions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from duro.db.engine import Database
from duro.models.notifications import email_templates
from duro.notifications.templates import CUSTOMER_TEMPLATE_KEYS
from tests.conftest import TenantKeys
from tests.dashboard.conftest import audit_actions

EDITOR = "/dashboard/email-templates/receipt"


async def _override(db: Database, tenant_id: str, key: str = "receipt") -> Any:
    async with db.core_transaction() as conn:
        stmt = select(email_templates).where(
            email_templates.c.tenant_id == tenant_id, email_templates.c.template_key == key
        )
        return (await conn.execute(stmt)).first()


async def test_list_shows_every_customer_template_as_default(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "read_only")
    page = await dash.get("/dashboard/email-templates")
    assert page.status_code == 200
    for key in CUSTOMER_TEMPLATE_KEYS:
        assert f'data-testid="state-{key}">default<' in page.text
    assert "otp" not in page.text  # platform templates are not editable


async def test_editor_shows_tags_and_the_sample_preview(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "developer")
    page = await dash.get(EDITOR)
    assert page.status_code == 200
    assert 'data-tag="portal_link"' in page.text
    assert 'data-tag="update_link"' not in page.text  # not a tag of the receipt
    assert "Ada Obi" in page.text  # sample data in the text part
    assert 'sandbox=""' in page.text
    assert "duro_receipt" in page.text  # the WhatsApp template name and its parameters
    html = await dash.get(f"{EDITOR}/preview.html")
    assert html.status_code == 200
    assert "default-src 'none'" in html.headers["content-security-policy"]
    assert "Ada Obi" in html.text
    assert (await dash.get("/dashboard/email-templates/otp")).status_code == 404


async def test_live_preview_flags_unknown_tags(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    found = await dash.get(f"{EDITOR}/preview", params={"subject": "Hi {{customer_name}}", "body": "Use {{coupon}}"})
    body = found.json()
    assert body["subject"] == "Hi Ada Obi"
    assert body["unknownTags"] == ["coupon"]
    assert body["text"] == "Use {{coupon}}"  # unknown tags stay verbatim
    html = await dash.get(f"{EDITOR}/preview.html", params={"body": "<script>x</script> {{amount}}"})
    assert "<script>" not in html.text
    assert "₦5,000.00" in html.text


async def test_save_enables_the_override_and_is_audited(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    dash = await dash_as(tenant, "owner")
    answer = await dash.post(
        EDITOR, {"subject": "Thanks, {{customer_name}}", "body": "Paid {{amount}}.\n\nBye", "channel": "both"}
    )
    assert answer.status_code == 303, answer.text
    row = await _override(db, tenant.id)
    assert row.enabled is True
    assert row.channel == "both"
    assert row.subject == "Thanks, {{customer_name}}"
    assert "email_template.updated" in await audit_actions(db, tenant.id)
    listing = await dash.get("/dashboard/email-templates")
    assert 'data-testid="state-receipt">overridden<' in listing.text
    assert "Thanks, {{customer_name}}" in listing.text
    assert "Thanks, Ada Obi" in (await dash.get(EDITOR)).text


async def test_unknown_merge_tag_is_refused_and_nothing_saved(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    dash = await dash_as(tenant, "owner")
    answer = await dash.post(EDITOR, {"subject": "", "body": "Use {{coupon}} now", "channel": "email"})
    assert answer.status_code == 422
    assert "unknown merge tag {{coupon}}" in answer.text
    assert 'data-field="subject"' in answer.text
    assert '<mark class="unknown-tag">{{coupon}}</mark>' in answer.text
    assert await _override(db, tenant.id) is None
    bad_channel = await dash.post(EDITOR, {"subject": "S", "body": "B", "channel": "pigeon"})
    assert bad_channel.status_code == 422
    assert await _override(db, tenant.id) is None


async def test_reset_deletes_the_override(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    dash = await dash_as(tenant, "admin")
    await dash.post(EDITOR, {"subject": "S {{store_name}}", "body": "B", "channel": "email"})
    answer = await dash.post(f"{EDITOR}/reset")
    assert answer.status_code == 303
    assert await _override(db, tenant.id) is None
    assert "email_template.reset" in await audit_actions(db, tenant.id)
    assert 'data-testid="state">default<' in (await dash.get(EDITOR)).text


async def test_mute_and_unmute(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    dash = await dash_as(tenant, "developer")
    assert (await dash.post("/dashboard/email-templates/dunning_2/mute", {"muted": "1"})).status_code == 303
    row = await _override(db, tenant.id, "dunning_2")
    assert row.muted is True
    assert row.enabled is False
    listing = await dash.get("/dashboard/email-templates/dunning")
    assert 'data-testid="state-dunning_2">muted<' in listing.text
    assert (await dash.post("/dashboard/email-templates/dunning_2/mute", {"muted": "0"})).status_code == 303
    assert (await _override(db, tenant.id, "dunning_2")).muted is False
    assert 'data-testid="state">default<' in (await dash.get("/dashboard/email-templates/dunning_2")).text


async def test_dunning_page_groups_the_sequence_beside_the_retry_schedule(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "finance")
    page = await dash.get("/dashboard/email-templates/dunning")
    assert page.status_code == 200
    for key in ("dunning_1", "dunning_4", "payment_action_required", "dunning_exhausted"):
        assert f'data-key="{key}"' in page.text
    assert 'data-key="receipt"' not in page.text
    assert 'data-testid="retry-schedule"' in page.text
    assert "Attempt 5: 168 h after the failure" in page.text


async def test_send_test_lands_in_the_dev_inbox(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    await dash.post(EDITOR, {"subject": "Custom {{plan_name}}", "body": "Hello {{customer_name}}", "channel": "email"})
    answer = await dash.post(f"{EDITOR}/test")
    assert answer.status_code == 303
    inbox = (await dash.get("/dashboard/dev/inbox.json")).json()
    [entry] = inbox["items"]
    assert entry["templateKey"] == "receipt"
    assert entry["recipient"] == dash.member.email
    assert entry["mode"] == "test"
    assert entry["status"] == "captured"
    assert entry["subject"] == "Custom Pro monthly"


async def test_roles_without_appearance_manage_cannot_change_templates(
    tenant: TenantKeys, dash_as: Any, db: Database
) -> None:
    finance = await dash_as(tenant, "finance")
    page = await finance.get(EDITOR)
    assert page.status_code == 200
    assert f'action="{EDITOR}/reset"' not in page.text
    assert f'action="{EDITOR}/test"' not in page.text
    assert f'action="{EDITOR}/mute"' not in page.text
    assert ">Save</button>" not in page.text
    for path, data in (
        (EDITOR, {"subject": "S", "body": "B", "channel": "email"}),
        (f"{EDITOR}/mute", {"muted": "1"}),
        (f"{EDITOR}/reset", {}),
        (f"{EDITOR}/test", {}),
    ):
        assert (await finance.post(path, data)).status_code == 403
    assert await _override(db, tenant.id) is None
    assert (await finance.get("/dashboard/dev/inbox.json")).json()["items"] == []
    owner = await dash_as(tenant, "owner")
    no_csrf = await owner.client.post(EDITOR, data={"subject": "S", "body": "B", "channel": "email"})
    assert no_csrf.status_code == 403
    assert await _override(db, tenant.id) is None
