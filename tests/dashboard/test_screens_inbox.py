"""Dashboard dev inbox (07 §11): both modes' captured messages and the team's platform messages, newest first,
HTML and JSON with the same entries, filters, pagination, the message page with its sandboxed HTML, isolation."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from duro.db.engine import Database
from duro.models.notifications import notifications
from duro.notifications.outbox import notify_platform
from tests.conftest import TenantKeys
from tests.dashboard.conftest import NOW

INBOX = "/dashboard/dev/inbox"
_ROW = re.compile(r'<tr data-id="([^"]+)">')


async def _send_test(dash: Any, key: str = "receipt") -> None:
    answer = await dash.post(f"/dashboard/email-templates/{key}/test")
    assert answer.status_code == 303, answer.text


async def _platform(db: Database, tenant_id: str | None, key: str, recipient: str, n: int = 0, **values: str) -> str:
    channel = "whatsapp" if key == "otp" else "email"
    found = await notify_platform(
        db,
        key,
        recipient=recipient,
        channel=channel,
        values={"tenant_name": "Acme", "invite_link": "https://x.example/i", "reset_link": "https://x/r", **values},
        dedup_key=f"{key}:{recipient}:{n}",
        tenant_id=tenant_id,
        at=NOW + timedelta(minutes=n),
        capture=True,
    )
    assert found is not None
    return found


async def test_empty_inbox_says_what_to_do(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "read_only")
    page = await dash.get(INBOX)
    assert page.status_code == 200
    assert "No captured messages yet" in page.text
    assert (await dash.get(f"{INBOX}.json")).json() == {
        "object": "list",
        "items": [],
        "nextCursor": None,
        "hasMore": False,
    }


async def test_json_and_html_list_the_same_entries_of_both_modes(
    tenant: TenantKeys, dash_as: Any, db: Database
) -> None:
    owner = await dash_as(tenant, "owner")
    await _send_test(owner, "receipt")
    live = await dash_as(tenant, "developer", mode="live")
    await _send_test(live, "dunning_1")  # live: pending until the console provider captures it
    async with db.transaction("live") as conn:
        await conn.execute(update(notifications).where(notifications.c.tenant_id == tenant.id).values(status="sent"))
    assert [e["mode"] for e in (await owner.get(f"{INBOX}.json")).json()["items"]] == ["test"]  # a real send is not
    async with db.transaction("live") as conn:
        await conn.execute(
            update(notifications).where(notifications.c.tenant_id == tenant.id).values(status="captured")
        )
    invite = await _platform(db, tenant.id, "member_invite", "new@example.com", 5)
    body = (await owner.get(f"{INBOX}.json")).json()
    assert sorted(str(e["mode"]) for e in body["items"]) == ["None", "live", "test"]
    assert body["items"][0]["id"] == invite  # newest first (the invite is 5 minutes later)
    assert {e["templateKey"] for e in body["items"]} == {"receipt", "dunning_1", "member_invite"}
    html = await live.get(INBOX)  # the same entries whatever the session's mode
    assert _ROW.findall(html.text) == [e["id"] for e in body["items"]]


async def test_filters(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    dash = await dash_as(tenant, "developer")
    await _send_test(dash, "receipt")
    await _send_test(dash, "card_expiring")
    await _platform(db, tenant.id, "member_invite", "someone@example.com", 1)
    by_key = (await dash.get(f"{INBOX}.json", params={"templateKey": "card_expiring"})).json()["items"]
    assert [e["templateKey"] for e in by_key] == ["card_expiring"]
    by_recipient = (await dash.get(f"{INBOX}.json", params={"recipient": "someone@example.com"})).json()["items"]
    assert [e["templateKey"] for e in by_recipient] == ["member_invite"]
    assert (await dash.get(f"{INBOX}.json", params={"channel": "whatsapp"})).json()["items"] == []
    page = await dash.get(INBOX, params={"templateKey": "receipt"})
    assert len(_ROW.findall(page.text)) == 1


async def test_pagination_over_21_messages(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    dash = await dash_as(tenant, "owner")
    for n in range(21):
        await _platform(db, tenant.id, "member_invite", f"p{n}@example.com", n)
    first = (await dash.get(f"{INBOX}.json")).json()
    assert len(first["items"]) == 20
    assert first["hasMore"] is True
    assert first["items"][0]["recipient"] == "p20@example.com"
    second = (await dash.get(f"{INBOX}.json", params={"cursor": first["nextCursor"]})).json()
    assert [e["recipient"] for e in second["items"]] == ["p0@example.com"]
    assert second["hasMore"] is False
    html = await dash.get(INBOX)
    assert 'rel="next"' in html.text


async def test_message_page_and_its_sandboxed_html(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    await _send_test(dash)
    [entry] = (await dash.get(f"{INBOX}.json")).json()["items"]
    page = await dash.get(entry["url"])
    assert page.status_code == 200
    assert 'sandbox=""' in page.text
    assert "Ada Obi" in page.text  # the text part
    html = await dash.get(f"{entry['url']}/html")
    assert html.status_code == 200
    csp = html.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'self'" in csp
    assert (await dash.get(f"{INBOX}/test/ntf_missing")).status_code == 404
    assert (await dash.get(f"{INBOX}/nope/{entry['id']}")).status_code == 404


async def test_other_tenants_and_private_messages_stay_hidden(
    tenant: TenantKeys, make_tenant: Any, dash_as: Any, db: Database
) -> None:
    other = await make_tenant()
    theirs = await dash_as(other, "owner")
    await _send_test(theirs)
    await _platform(db, other.id, "member_invite", "x@example.com", 1)
    await _platform(db, None, "otp", "+2348000000000", 2, code="123456")  # OTPs only in development
    mine = await dash_as(tenant, "read_only")
    owner = await dash_as(tenant, "owner")
    await _platform(db, tenant.id, "password_reset", owner.member.email, 3)
    assert (await mine.get(f"{INBOX}.json")).json()["items"] == []  # not even the owner's reset link
    [own] = (await owner.get(f"{INBOX}.json")).json()["items"]
    assert own["templateKey"] == "password_reset"
    their_entry = (await theirs.get(f"{INBOX}.json")).json()["items"][-1]
    assert (await mine.get(their_entry["url"])).status_code == 404
    assert (await mine.get(f"{their_entry['url']}/html")).status_code == 404
