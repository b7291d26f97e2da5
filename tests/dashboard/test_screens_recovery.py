"""Recovery ledger and recovery settings screens (07 §3, §7; 04 §6): a real failing renewal on a test clock, driven
through /v1 and the clock, shown by the dashboard; pay now, cancel, settings save and refusals."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import text

from duro.db.engine import Database
from tests.conftest import TenantKeys
from tests.http_assertions import ok
from tests.recovery.scenario import GOOD, PAYDAY, Scenario, attach, schedule_of, trial_ending
from tests.subscriptions.helpers import advance_clock, get_sub


async def failing(dash: Any, tenant: TenantKeys, card: str = PAYDAY) -> tuple[Scenario, dict[str, Any]]:
    """A renewal on 2025-03-20 10:00 (clock time) that fails with `card`; the clock stops on the 21st."""
    s = await trial_ending(dash.client, tenant, start="2025-03-13T10:00:00Z", trial_days=7, card=card)
    await advance_clock(dash.client, tenant, s.clock["id"], "2025-03-21T00:00:00Z")
    return s, await schedule_of(dash.client, tenant, s.sub["id"])


COPY_INVOICE = (
    "/* unscoped: a test copies rows of one tenant */ INSERT INTO sandbox.invoices "
    "SELECT (jsonb_populate_record(i, jsonb_build_object('id', CAST(:inv AS text), "
    "'dunning_schedule_id', CAST(:dun AS text), 'idempotency_key', NULL))).* "
    "FROM sandbox.invoices i WHERE tenant_id = :t AND id = :src"
)
COPY_SCHEDULE = (
    "/* unscoped: a test copies rows of one tenant */ INSERT INTO sandbox.dunning_schedules "
    "SELECT (jsonb_populate_record(d, jsonb_build_object('id', CAST(:dun AS text), 'invoice_id', CAST(:inv AS text), "
    "'created_at', d.created_at + make_interval(secs => CAST(:n AS int))))).* "
    "FROM sandbox.dunning_schedules d WHERE tenant_id = :t AND id = :src"
)


def rows_of(html: str) -> list[str]:
    return re.findall(r'<tr data-id="(dun_[^"]+)"', html)


async def test_ledger_lists_the_failing_renewal_with_its_figures(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "finance")
    _s, sched = await failing(dash, tenant)
    assert sched["state"] == "scheduled"
    page = await dash.get("/dashboard/recovery")
    assert page.status_code == 200
    assert rows_of(page.text) == [sched["id"]]
    html = page.text
    assert "Ada Obi" in html
    assert "Pro Monthly" in html
    assert "0 / 5" in html
    assert 'class="badge status-scheduled"' in html
    assert sched["lastReason"] in html
    assert sched["nextAttemptAt"] in html  # UTC value of the next attempt
    assert "in 7 d" in html  # relative to the clock's frozen time (21st → payday on the 28th)
    figures = re.search(r'data-testid="in-flight">([^<]+)<', html)
    assert figures
    assert figures.group(1) == "₦5,000.00"
    for days in ("7", "30", "90"):
        assert (await dash.get(f"/dashboard/recovery?window={days}")).status_code == 200


async def test_ledger_filters_and_empty_states(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "read_only")
    empty = await dash.get("/dashboard/recovery")
    assert "No failed renewals yet" in empty.text
    _, sched = await failing(dash, tenant)
    code = sched["lastFailureCode"]
    assert rows_of((await dash.get(f"/dashboard/recovery?state=scheduled&failureCode={code}&rail=card")).text) == [
        sched["id"]
    ]
    for query in ("state=recovered", "failureCode=stolen_card", "rail=ussd"):
        page = await dash.get(f"/dashboard/recovery?{query}")
        assert rows_of(page.text) == []
        assert "No dunning schedule matches these filters." in page.text


async def test_ledger_paginates(tenant: TenantKeys, dash_as: Any, db: Database) -> None:
    dash = await dash_as(tenant, "owner")
    _, sched = await failing(dash, tenant)
    # 21 schedules: copies of the real one on their own invoices (one schedule per invoice), written straight to
    # the table because 21 failing renewals would take 21 clocks and subscriptions for a pagination check.
    async with db.core_transaction() as conn:
        for i in range(20):
            ids = {"inv": f"in_copy{i:02d}", "dun": f"dun_copy{i:02d}", "t": tenant.id, "n": i + 1}
            await conn.execute(text(COPY_INVOICE), {**ids, "src": sched["invoiceId"]})
            await conn.execute(text(COPY_SCHEDULE), {**ids, "src": sched["id"]})
    first = await dash.get("/dashboard/recovery")
    assert len(rows_of(first.text)) == 20
    nxt = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert nxt, "no next page link"
    second = await dash.get(nxt.group(1).replace("&amp;", "&"))
    assert rows_of(second.text) == [sched["id"]]


async def test_detail_timeline_matches_the_schedule_and_invoice(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "finance")
    _, sched = await failing(dash, tenant)
    invoice = ok(await dash.client.get(f"/v1/invoices/{sched['invoiceId']}", headers=tenant.auth()))
    page = await dash.get(f"/dashboard/recovery/{sched['id']}")
    assert page.status_code == 200
    html = page.text
    kinds = re.findall(r'data-kind="(decision|transaction)"', html)
    assert kinds == ["transaction", "decision"]  # the failed renewal, then the decision about it
    assert len(invoice["attempts"]) == 1
    assert invoice["attempts"][0]["failureCode"] in html
    (decision,) = sched["decisions"]
    assert decision["reason"] in html
    assert decision["nextAttemptAt"] in html
    assert invoice["hostedPaymentUrl"]
    assert invoice["hostedPaymentUrl"] in html
    assert invoice["id"] in html
    assert 'action="/dashboard/recovery/' + sched["id"] + '/pay"' in html
    assert 'action="/dashboard/recovery/' + sched["id"] + '/cancel"' in html
    assert "data-confirm=" in html
    assert (await dash.get("/dashboard/recovery/dun_nope")).status_code == 404


async def test_pay_now_declined_then_recovered_with_another_card(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "finance")
    s, sched = await failing(dash, tenant)  # the payday card also declines a payment on the 21st
    declined = await dash.post(f"/dashboard/recovery/{sched['id']}/pay")
    assert declined.status_code == 303
    shown = await dash.get(f"/dashboard/recovery/{sched['id']}")
    assert "Payment not taken" in shown.text
    after = await schedule_of(dash.client, tenant, s.sub["id"])
    assert (after["state"], after["attemptsMade"]) == ("scheduled", 0)  # a merchant payment is no dunning attempt

    good = await attach(dash.client, tenant, s.customer["id"], GOOD)
    paid = await dash.post(f"/dashboard/recovery/{sched['id']}/pay", {"paymentMethodId": good["id"]})
    assert paid.status_code == 303
    assert "paid." in (await dash.get(paid.headers["location"])).text
    assert (await schedule_of(dash.client, tenant, s.sub["id"]))["state"] == "recovered"
    assert (await get_sub(dash.client, tenant, s.sub["id"]))["status"] == "active"


async def test_cancel_subscription_from_the_ledger(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    s, sched = await failing(dash, tenant)
    done = await dash.post(f"/dashboard/recovery/{sched['id']}/cancel")
    assert done.status_code == 303
    assert (await get_sub(dash.client, tenant, s.sub["id"]))["status"] == "canceled"
    assert (await schedule_of(dash.client, tenant, s.sub["id"]))["state"] == "canceled"


async def test_read_only_sees_no_buttons_and_is_refused(tenant: TenantKeys, dash_as: Any) -> None:
    owner = await dash_as(tenant, "owner")
    s, sched = await failing(owner, tenant)
    viewer = await dash_as(tenant, "read_only")
    page = await viewer.get(f"/dashboard/recovery/{sched['id']}")
    assert page.status_code == 200
    assert '/pay"' not in page.text
    assert '/cancel"' not in page.text
    for action in ("pay", "cancel"):
        assert (await viewer.post(f"/dashboard/recovery/{sched['id']}/{action}")).status_code == 403
    assert (await get_sub(owner.client, tenant, s.sub["id"]))["status"] == "past_due"
    no_csrf = await owner.client.post(f"/dashboard/recovery/{sched['id']}/cancel", data={})
    assert no_csrf.status_code == 403
    assert (await get_sub(owner.client, tenant, s.sub["id"]))["status"] == "past_due"


async def test_live_mode_shows_no_test_schedules(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    _, sched = await failing(dash, tenant)
    live = await dash_as(tenant, "admin", mode="live")  # a second member: see the report on owner sessions
    page = await live.get("/dashboard/recovery")
    assert rows_of(page.text) == []
    assert (await live.get(f"/dashboard/recovery/{sched['id']}")).status_code == 404


# --- settings ---


def settings_form(**over: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "dunningEnabled": "on",
        "maxAttempts": "3",
        "retryOffsetsHours": "0, 12, 48",
        "paydayAware": "on",
        "dunningEscalationDays": "21",
        "dunningEscalation": "cancel",
        "renewalReminders": "on",
        "renewalReminderDays": "5",
    }
    values.update(over)
    return {k: v for k, v in values.items() if v is not None}


async def test_settings_page_shows_defaults_and_a_preview(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "read_only")
    page = await dash.get("/dashboard/settings/recovery")
    assert page.status_code == 200
    assert 'value="0, 24, 72, 120, 168"' in page.text
    assert 'data-testid="save-settings"' not in page.text  # read_only cannot save
    # The test clock is frozen on 2025-03-03 09:00 (in the payday window): processor_error retries at the offsets.
    block = page.text.split('data-code="processor_error"')[1].split("</ol>")[0]
    for stamp in ("2025-03-03T09:00:00.000Z", "2025-03-04T09:00:00.000Z", "2025-03-06T09:00:00.000Z"):
        assert stamp in block
    assert "Gave up after 5 retries" in block  # the fifth retry (+168 h) comes before the 14-day deadline
    assert "expired_card" in page.text
    assert "waiting for a new payment method" in page.text


async def test_settings_save_changes_the_api_settings_and_the_preview(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "finance")
    saved = await dash.post("/dashboard/settings/recovery", settings_form(paydayAware=None))
    assert saved.status_code == 303
    api = ok(await dash.client.get("/v1/settings/recovery", headers=tenant.auth()))
    assert (api["maxAttempts"], api["retryOffsetsHours"], api["paydayAware"], api["dunningEscalation"]) == (
        3,
        [0, 12, 48],
        False,
        "cancel",
    )
    page = await dash.get("/dashboard/settings/recovery")
    assert "Recovery settings saved." in page.text
    block = page.text.split('data-code="processor_error"')[1].split("</ol>")[0]
    assert "2025-03-03T21:00:00.000Z" in block  # +12 h
    assert "Gave up after 3 retries" in block


async def test_settings_invalid_input_is_inline_and_saves_nothing(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "owner")
    before = ok(await dash.client.get("/v1/settings/recovery", headers=tenant.auth()))
    bad = await dash.post("/dashboard/settings/recovery", settings_form(maxAttempts="11"))
    assert bad.status_code == 422
    assert 'data-field="maxAttempts">must be between 1 and 10' in bad.text
    assert 'value="0, 12, 48"' in bad.text  # the submitted values are kept
    item = await dash.post("/dashboard/settings/recovery", settings_form(retryOffsetsHours="0, 12, x"))
    assert item.status_code == 422
    assert 'data-field="retryOffsetsHours">item 3: must be an integer' in item.text
    inconsistent = await dash.post("/dashboard/settings/recovery", settings_form(retryOffsetsHours="0, 48, 12"))
    assert inconsistent.status_code == 422
    assert "must be greater than the previous offset (48)" in inconsistent.text
    after = ok(await dash.client.get("/v1/settings/recovery", headers=tenant.auth()))
    assert after == before


async def test_settings_save_needs_subscription_write_and_csrf(tenant: TenantKeys, dash_as: Any) -> None:
    dash = await dash_as(tenant, "read_only")
    before = ok(await dash.client.get("/v1/settings/recovery", headers=tenant.auth()))
    assert (await dash.post("/dashboard/settings/recovery", settings_form())).status_code == 403
    owner = await dash_as(tenant, "owner")
    refused = await owner.client.post("/dashboard/settings/recovery", data=settings_form())
    assert refused.status_code == 403
    assert ok(await dash.client.get("/v1/settings/recovery", headers=tenant.auth())) == before


async def test_settings_are_per_mode(tenant: TenantKeys, dash_as: Any) -> None:
    live = await dash_as(tenant, "owner", mode="live")
    assert (await live.post("/dashboard/settings/recovery", settings_form())).status_code == 303
    assert ok(await live.client.get("/v1/settings/recovery", headers=tenant.auth("live")))["maxAttempts"] == 3
    assert ok(await live.client.get("/v1/settings/recovery", headers=tenant.auth()))["maxAttempts"] == 5
