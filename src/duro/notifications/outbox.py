"""Queueing notifications: the outbox API billing and recovery code call inside their own transaction (06 §9, 04 §8).

A message is rendered when it is queued (the row is a snapshot) and inserted with `ON CONFLICT (tenant_id,
dedup_key, channel) DO NOTHING`, so a replayed cause — a retried request, a re-driven renewal — finds its row already
there and queues nothing. Nothing here commits; a rollback of the caller drops the message with the change.

Statuses at insert: a muted template → `suppressed`; the `sandbox` schema → `captured` (never sent, whatever the
providers); `live` → `pending` with `next_attempt_at = at`, for the notifications loop to send.

Which instant `{{period_end}}` shows (documented choice per template):
  - `receipt`: the paid invoice's `period_end` (the period the payment covers), else the subscription's
    `current_period_end`;
  - `subscription_canceled`: the subscription's `ended_at` when it has ended (immediate cancel), else its
    `current_period_end` (cancel at period end: access runs to then);
  - every other template: the subscription's `current_period_end` (the next renewal), else the invoice's.
`{{amount}}` is the invoice's amount, else the dunning schedule's, else the plan's price (a renewal reminder has no
invoice yet). `{{attempt_number}}` counts charge attempts so far: the renewal's own charge plus the schedule's
automatic retries. Every computed value can be replaced through `extra`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, and_, bindparam, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from duro.context import RepositoryContext
from duro.db.engine import Database
from duro.db.executor import Connection
from duro.db.repository import DbRow
from duro.kit.ids import new_id
from duro.models.billing import invoices, subscriptions
from duro.models.core import tenants
from duro.models.customers import customers
from duro.models.identity import store_configs
from duro.models.notifications import email_templates, notifications, platform_notifications
from duro.models.plans import plans
from duro.notifications.rendering import (
    customer_name,
    email_html,
    email_layout,
    failure_reason,
    format_amount,
    format_date,
    format_datetime,
    render,
    whatsapp_template,
)
from duro.notifications.templates import Channel, Template, template

PLATFORM_SENDER = "Duro"


@dataclass(frozen=True, slots=True)
class Override:
    subject: str | None
    body: str | None
    channel: str
    enabled: bool
    muted: bool


@dataclass(frozen=True, slots=True)
class Brand:
    """The tenant's name and its published appearance as stored (`core.store_configs.published`, sparse; None =
    all defaults), read in the same statement as the rest of a message's data."""

    tenant_name: str
    published: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class Recipient:
    name: str | None
    email: str | None
    phone: str | None

    def address(self, channel: Channel) -> str | None:
        return self.email if channel == "email" else self.phone


def _override(row: DbRow) -> Override | None:
    if row["o_channel"] is None:
        return None
    return Override(row["o_subject"], row["o_body"], row["o_channel"], row["o_enabled"], row["o_muted"])


def _channels(tpl: Template, override: Override | None) -> list[Channel]:
    channel = override.channel if override is not None and (override.enabled or override.muted) else tpl.channel
    if channel == "both":
        return ["email", "whatsapp"]
    return ["whatsapp"] if channel == "whatsapp" else ["email"]


def portal_link(ctx: RepositoryContext, phone: str | None, hosted_payment_url: str | None) -> str:
    """`{{portal_link}}` / `{{update_link}}` (04 §4): the portal when the customer has a phone (it signs in with a
    WhatsApp code), else the invoice's hosted payment page; empty when there is neither."""
    if phone:
        return f"{ctx.settings.public_url}/portal?mode={ctx.mode}"
    return hosted_payment_url or ""


def _message_rows(
    ctx: RepositoryContext,
    tpl: Template,
    values: Mapping[str, str],
    override: Override | None,
    who: Recipient,
    *,
    dedup_key: str,
    related: Mapping[str, str | None],
    at: datetime,
    look: Brand,
) -> list[dict[str, Any]]:
    """The rows to insert for one message: one per channel with an address (none without any address). The HTML
    part is the email layout with the tenant's PUBLISHED `email` surface (`look`), snapshotted like the text."""
    channels = [ch for ch in _channels(tpl, override) if who.address(ch)]
    if not channels:
        return []
    muted = override is not None and override.muted
    use_text = override is not None and override.enabled
    # Only the template's own tags are merge tags; any other `{{name}}` stays verbatim, as the editor shows it.
    values = {tag: values.get(tag, "") for tag in tpl.tags}
    if muted:
        channels = channels[:1]  # a muted message is recorded once, for the dashboard, and never sent
        status = "suppressed"
    else:
        status = "captured" if ctx.mode == "test" else "pending"
    rendered = render(
        tpl,
        values,
        subject=override.subject if use_text and override is not None else None,
        body=override.body if use_text and override is not None else None,
    )
    html = email_layout(look.published, look.tenant_name, rendered.text, public_url=ctx.settings.public_url)
    rows = []
    for ch in channels:
        rows.append(
            {
                "id": new_id("ntf"),
                "tenant_id": ctx.tenant_id,
                "channel": ch,
                "template_key": tpl.key,
                "recipient": who.address(ch),
                "subject": rendered.subject if ch == "email" else None,
                "body_text": rendered.text,
                "body_html": html if ch == "email" else None,
                "whatsapp_template": whatsapp_template(tpl, values, ctx.settings.whatsapp_language)
                if ch == "whatsapp"
                else None,
                "status": status,
                "attempts": 0,
                "next_attempt_at": at if status == "pending" else None,
                "dedup_key": dedup_key,
                "related": {
                    "customerId": related.get("customer_id"),
                    "subscriptionId": related.get("subscription_id"),
                    "invoiceId": related.get("invoice_id"),
                    "scheduleId": related.get("schedule_id"),
                },
                "customer_id": related.get("customer_id"),
                "subscription_id": related.get("subscription_id"),
                "invoice_id": related.get("invoice_id"),
                "schedule_id": related.get("schedule_id"),
                "created_at": at,
                "updated_at": at,
            }
        )
    return rows


async def _insert(ctx: RepositoryContext, rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    n = notifications
    stmt = (
        pg_insert(n)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["tenant_id", "dedup_key", "channel"])
        .returning(n.c.id)
    )
    return [str(r["id"]) for r in (await ctx.conn.execute(stmt)).all()]


def _get(row: DbRow | None, name: str) -> Any:
    return None if row is None else row[name]


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _period_end(key: str, sub_end: datetime | None, sub_ended: datetime | None, inv_end: datetime | None) -> str:
    if key == "receipt":
        return format_date(_first(inv_end, sub_end))
    if key == "subscription_canceled":
        return format_date(_first(sub_ended, sub_end, inv_end))
    return format_date(_first(sub_end, inv_end))


async def notify_customer(
    ctx: RepositoryContext,
    template_key: str,
    *,
    dedup_key: str,
    customer_id: str,
    at: datetime,
    subscription: DbRow | None = None,
    invoice: DbRow | None = None,
    schedule: DbRow | None = None,
    extra: Mapping[str, str] | None = None,
) -> list[str]:
    """Queue customer message `template_key` in this transaction; returns the ids queued (empty when the customer
    has no address for the channel, or the dedup key was already used). Two statements: one SELECT (customer,
    tenant name and published appearance, the tenant's override, plan, and the related subscription/invoice for
    what the rows passed in do not carry) and one INSERT. `at` is the clock time of the cause (a test clock's time
    for its subscriptions)."""
    tpl = template(template_key)
    if not tpl.overridable:
        raise ValueError(f"{template_key} is not a customer template")
    subscription_id = _first(
        _get(subscription, "id"), _get(invoice, "subscription_id"), _get(schedule, "subscription_id")
    )
    invoice_id = _first(_get(invoice, "id"), _get(schedule, "invoice_id"))
    schedule_id = _first(_get(schedule, "id"), _get(invoice, "dunning_schedule_id"))

    c, t, o, s, p, i, sc = customers, tenants, email_templates, subscriptions, plans, invoices, store_configs
    sub_key = bindparam("b_sub", subscription_id, type_=Text)
    inv_key = bindparam("b_inv", invoice_id, type_=Text)
    stmt = (
        select(
            c.c.name,
            c.c.email,
            c.c.phone,
            t.c.name.label("store_name"),
            sc.c.published.label("appearance"),
            o.c.subject.label("o_subject"),
            o.c.body.label("o_body"),
            o.c.channel.label("o_channel"),
            o.c.enabled.label("o_enabled"),
            o.c.muted.label("o_muted"),
            p.c.name.label("plan_name"),
            p.c.amount.label("plan_amount"),
            p.c.currency.label("plan_currency"),
            s.c.current_period_end.label("s_period_end"),
            s.c.ended_at.label("s_ended_at"),
            i.c.period_end.label("i_period_end"),
            i.c.hosted_payment_url.label("i_hosted_payment_url"),
        )
        .select_from(
            c.join(t, t.c.id == c.c.tenant_id)
            .outerjoin(sc, sc.c.tenant_id == t.c.id)
            .outerjoin(o, and_(o.c.tenant_id == c.c.tenant_id, o.c.template_key == literal(template_key)))
            .outerjoin(s, and_(s.c.tenant_id == c.c.tenant_id, s.c.id == sub_key))
            .outerjoin(p, and_(p.c.tenant_id == c.c.tenant_id, p.c.id == s.c.plan_id))
            .outerjoin(i, and_(i.c.tenant_id == c.c.tenant_id, i.c.id == inv_key))
        )
        .where(c.c.tenant_id == ctx.tenant_id, c.c.id == customer_id)
    )
    row = (await ctx.conn.execute(stmt)).first()
    if row is None:
        return []
    who = Recipient(row["name"], row["email"], row["phone"])
    if not who.email and not who.phone:
        return []

    amount = ""
    if invoice is not None:
        amount = format_amount(invoice["amount"], invoice["currency"])
    elif schedule is not None:
        amount = format_amount(schedule["amount"], schedule["currency"])
    elif row["plan_amount"] is not None:
        amount = format_amount(row["plan_amount"], row["plan_currency"])
    link = portal_link(ctx, who.phone, _first(_get(invoice, "hosted_payment_url"), row["i_hosted_payment_url"]))
    values: dict[str, str] = {
        "store_name": row["store_name"],
        "customer_name": customer_name(who.name),
        "amount": amount,
        "plan_name": row["plan_name"] or "",
        "invoice_id": invoice_id or "",
        "period_end": _period_end(
            template_key,
            _first(_get(subscription, "current_period_end"), row["s_period_end"]),
            _first(_get(subscription, "ended_at"), row["s_ended_at"]),
            _first(_get(invoice, "period_end"), row["i_period_end"]),
        ),
        "portal_link": link,
        "update_link": link,
    }
    if schedule is not None:
        values["next_attempt"] = format_datetime(schedule["next_attempt_at"])
        values["reason"] = failure_reason(schedule["last_failure_category"] or schedule["last_failure_code"])
        values["attempt_number"] = str(schedule["attempts_made"] + 1)
    else:
        values.update(next_attempt="", reason=failure_reason(None), attempt_number="1")
    if extra:
        values.update(extra)
    related = {
        "customer_id": customer_id,
        "subscription_id": subscription_id,
        "invoice_id": invoice_id,
        "schedule_id": schedule_id,
    }
    look = Brand(row["store_name"], row["appearance"])
    rows = _message_rows(ctx, tpl, values, _override(row), who, dedup_key=dedup_key, related=related, at=at, look=look)
    return await _insert(ctx, rows)


async def queue_receipts(ctx: RepositoryContext, invoices_paid: Sequence[DbRow], at: datetime) -> int:
    """Queue a `receipt` (dedup `receipt_{invoiceId}`) for each paid invoice given, all of this context's tenant,
    in four statements whatever their number: customers, subscriptions with their plans, tenant name with its
    published appearance and override, then one multi-row INSERT … ON CONFLICT DO NOTHING (a single invoice goes
    through `notify_customer`: two statements). Every invoice given is taken as paid. Returns how many rows were
    queued."""
    if not invoices_paid:
        return 0
    if len(invoices_paid) == 1:  # the one-invoice paths: two statements instead of four
        inv = invoices_paid[0]
        queued = await notify_customer(
            ctx, "receipt", dedup_key=f"receipt_{inv['id']}", customer_id=inv["customer_id"], at=at, invoice=inv
        )
        return len(queued)
    tpl = template("receipt")
    c, t, o, s, p, sc = customers, tenants, email_templates, subscriptions, plans, store_configs
    customer_ids = sorted({inv["customer_id"] for inv in invoices_paid})
    sub_ids = sorted({inv["subscription_id"] for inv in invoices_paid if inv["subscription_id"] is not None})
    people = {
        r["id"]: Recipient(r["name"], r["email"], r["phone"])
        for r in await ctx.conn.execute(
            select(c.c.id, c.c.name, c.c.email, c.c.phone).where(
                c.c.tenant_id == ctx.tenant_id, c.c.id.in_(customer_ids)
            )
        )
    }
    subs: dict[str, DbRow] = {}
    if sub_ids:
        stmt = (
            select(s.c.id, s.c.current_period_end, p.c.name.label("plan_name"))
            .select_from(s.outerjoin(p, and_(p.c.tenant_id == s.c.tenant_id, p.c.id == s.c.plan_id)))
            .where(s.c.tenant_id == ctx.tenant_id, s.c.id.in_(sub_ids))
        )
        subs = {r["id"]: r for r in await ctx.conn.execute(stmt)}
    head = (
        await ctx.conn.execute(
            select(
                t.c.name,
                sc.c.published.label("appearance"),
                o.c.subject.label("o_subject"),
                o.c.body.label("o_body"),
                o.c.channel.label("o_channel"),
                o.c.enabled.label("o_enabled"),
                o.c.muted.label("o_muted"),
            )
            .select_from(
                t.outerjoin(sc, sc.c.tenant_id == t.c.id).outerjoin(
                    o, and_(o.c.tenant_id == t.c.id, o.c.template_key == literal(tpl.key))
                )
            )
            .where(t.c.id == ctx.tenant_id)
        )
    ).one()
    override = _override(head)
    look = Brand(head["name"], head["appearance"])
    rows: list[dict[str, Any]] = []
    for inv in invoices_paid:
        who = people.get(inv["customer_id"])
        if who is None:
            continue
        sub = subs.get(inv["subscription_id"]) if inv["subscription_id"] is not None else None
        link = portal_link(ctx, who.phone, inv["hosted_payment_url"])
        values = {
            "store_name": head["name"],
            "customer_name": customer_name(who.name),
            "amount": format_amount(inv["amount"], inv["currency"]),
            "plan_name": (sub["plan_name"] if sub is not None else None) or "",
            "invoice_id": inv["id"],
            "period_end": _period_end(tpl.key, _get(sub, "current_period_end"), None, inv["period_end"]),
            "portal_link": link,
            "update_link": link,
        }
        related = {
            "customer_id": inv["customer_id"],
            "subscription_id": inv["subscription_id"],
            "invoice_id": inv["id"],
            "schedule_id": inv["dunning_schedule_id"],
        }
        rows.extend(
            _message_rows(
                ctx, tpl, values, override, who, dedup_key=f"receipt_{inv['id']}", related=related, at=at, look=look
            )
        )
    return len(await _insert(ctx, rows))


async def notify_platform(
    db_or_conn: Database | Connection,
    template_key: str,
    *,
    recipient: str,
    channel: Channel,
    values: Mapping[str, str],
    dedup_key: str,
    tenant_id: str | None = None,
    at: datetime,
    language: str = "en",
    whatsapp_name: str | None = None,
    capture: bool = False,
) -> str | None:
    """Queue a platform message (OTP, invite, reset, KYC, endpoint alert) in `core.notifications`; platform
    templates are not overridable. With a `Database` it runs in its own core transaction, with a `Connection` in
    the caller's. Returns the id, or None when `dedup_key` was already used on this channel. `capture=True` stores
    it `captured` (never sent), e.g. for an OTP of a test-mode flow. `language`/`whatsapp_name` are the WhatsApp
    template's (`DURO_WHATSAPP_LANGUAGE`, and `DURO_WHATSAPP_OTP_TEMPLATE` for `otp`)."""
    tpl = template(template_key)
    if tpl.overridable:
        raise ValueError(f"{template_key} is a customer template; use notify_customer")
    rendered = render(tpl, values)
    header = values.get("tenant_name") or PLATFORM_SENDER
    status = "captured" if capture else "pending"
    pn = platform_notifications
    row = {
        "id": new_id("ntf"),
        "tenant_id": tenant_id,
        "channel": channel,
        "template_key": tpl.key,
        "recipient": recipient,
        "subject": rendered.subject if channel == "email" else None,
        "body_text": rendered.text,
        "body_html": email_html(rendered.text, header=header, footer="Sent by Duro.") if channel == "email" else None,
        "whatsapp_template": whatsapp_template(tpl, values, language, whatsapp_name) if channel == "whatsapp" else None,
        "status": status,
        "attempts": 0,
        "next_attempt_at": at if status == "pending" else None,
        "dedup_key": dedup_key,
        "related": {},
        "created_at": at,
        "updated_at": at,
    }
    stmt = (
        pg_insert(pn).values([row]).on_conflict_do_nothing(index_elements=["dedup_key", "channel"]).returning(pn.c.id)
    )
    if isinstance(db_or_conn, Database):
        async with db_or_conn.core_transaction() as conn:
            found = (await conn.execute(stmt)).first()
    else:
        found = (await db_or_conn.execute(stmt)).first()
    return None if found is None else str(found["id"])


async def notify_test(
    ctx: RepositoryContext,
    template_key: str,
    *,
    email: str,
    values: Mapping[str, str],
    dedup_key: str,
    at: datetime,
) -> list[str]:
    """A test of customer template `template_key` sent to one email address (the dashboard's "send test", 07 §9):
    the tenant's override texts when enabled, never suppressed by a mute (the merchant asked for it), email only.
    Queued like any customer message, so test mode captures it and live mode sends it through the providers."""
    tpl = template(template_key)
    o, t, sc = email_templates, tenants, store_configs
    found = (
        await ctx.conn.execute(
            select(
                t.c.name.label("tenant_name"),
                sc.c.published.label("appearance"),
                o.c.subject,
                o.c.body,
                o.c.enabled,
            )
            .select_from(
                t.outerjoin(sc, sc.c.tenant_id == t.c.id).outerjoin(
                    o, and_(o.c.tenant_id == t.c.id, o.c.template_key == literal(template_key))
                )
            )
            .where(t.c.id == ctx.tenant_id)
        )
    ).one()
    override = None
    if found["enabled"] is not None:
        override = Override(found["subject"], found["body"], "email", found["enabled"], muted=False)
    who = Recipient(None, email, None)
    look = Brand(found["tenant_name"], found["appearance"])
    rows = _message_rows(ctx, tpl, values, override, who, dedup_key=dedup_key, related={}, at=at, look=look)
    return await _insert(ctx, rows)
