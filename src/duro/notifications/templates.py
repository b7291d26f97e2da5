"""The notification templates of 06 §9: keys, audiences, default channels, merge tags and shipped default texts.

Every shipped default uses every merge tag of its row at least once (subject or body), so a merchant sees each value
without editing; `tests/notifications/test_templates.py` holds that line. Texts are plain text with blank-line
paragraphs; the HTML part is derived from them (`rendering.email_html`). Pure data, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Audience = Literal["customer", "identity", "member", "owner"]
Channel = Literal["email", "whatsapp"]
OverrideChannel = Literal["email", "whatsapp", "both"]


@dataclass(frozen=True, slots=True)
class Template:
    key: str
    audience: Audience
    channel: Channel
    tags: tuple[str, ...]  # the merge-tag order of 06 §9, also the WhatsApp body parameter order
    subject: str
    body: str

    @property
    def overridable(self) -> bool:
        """Customer templates are tenant-overridable; platform templates are not (06 §9)."""
        return self.audience == "customer"


_DUNNING_TAGS = (
    "store_name",
    "customer_name",
    "amount",
    "plan_name",
    "invoice_id",
    "next_attempt",
    "reason",
    "attempt_number",
    "update_link",
)

_DUNNING_SUBJECTS = {
    1: "Your {{store_name}} payment for {{plan_name}} didn't go through",
    2: "Reminder: your {{store_name}} payment for {{plan_name}} is still due",
    3: "Action needed: your {{plan_name}} subscription at {{store_name}} is past due",
    4: "Final notice: your {{plan_name}} subscription at {{store_name}}",
}

_DUNNING_OPENERS = {
    1: "We couldn't collect your payment of {{amount}} for {{plan_name}} (invoice {{invoice_id}}): {{reason}}.",
    2: "We still couldn't collect your payment of {{amount}} for {{plan_name}} (invoice {{invoice_id}}): {{reason}}.",
    3: "Your payment of {{amount}} for {{plan_name}} (invoice {{invoice_id}}) is still outstanding: {{reason}}.",
    4: "This is our last reminder about your payment of {{amount}} for {{plan_name}} (invoice {{invoice_id}}): "
    "{{reason}}.",
}


def _dunning(n: int) -> Template:
    body = (
        "Hi {{customer_name}},\n\n"
        f"{_DUNNING_OPENERS[n]}\n\n"
        "This was attempt {{attempt_number}}. We'll try again on {{next_attempt}}.\n\n"
        "To keep your subscription active, update your payment details or pay now:\n"
        "{{update_link}}\n\n"
        "— {{store_name}}"
    )
    return Template(f"dunning_{n}", "customer", "email", _DUNNING_TAGS, _DUNNING_SUBJECTS[n], body)


_ALL: tuple[Template, ...] = (
    Template(
        "receipt",
        "customer",
        "email",
        ("store_name", "customer_name", "amount", "plan_name", "invoice_id", "period_end", "portal_link"),
        "Your {{store_name}} receipt for {{plan_name}}",
        "Hi {{customer_name}},\n\n"
        "Thank you for your payment of {{amount}} for {{plan_name}}.\n\n"
        "Invoice: {{invoice_id}}\n"
        "Paid through: {{period_end}}\n\n"
        "Manage your subscription: {{portal_link}}\n\n"
        "— {{store_name}}",
    ),
    Template(
        "renewal_reminder",
        "customer",
        "email",
        ("store_name", "customer_name", "amount", "plan_name", "period_end", "portal_link"),
        "Your {{plan_name}} subscription at {{store_name}} renews on {{period_end}}",
        "Hi {{customer_name}},\n\n"
        "Your {{plan_name}} subscription renews on {{period_end}} and we'll charge {{amount}} "
        "to your saved payment method.\n\n"
        "Nothing to do if that's fine. To change or cancel it: {{portal_link}}\n\n"
        "— {{store_name}}",
    ),
    *(_dunning(n) for n in (1, 2, 3, 4)),
    Template(
        "payment_action_required",
        "customer",
        "email",
        ("store_name", "customer_name", "amount", "plan_name", "reason", "update_link"),
        "Action required: update your payment method for {{plan_name}}",
        "Hi {{customer_name}},\n\n"
        "We couldn't collect your payment of {{amount}} for {{plan_name}}: {{reason}}.\n\n"
        "We won't retry with this payment method. Please add a new one to keep your subscription:\n"
        "{{update_link}}\n\n"
        "— {{store_name}}",
    ),
    Template(
        "payment_recovered",
        "customer",
        "email",
        ("store_name", "customer_name", "amount", "plan_name", "invoice_id"),
        "Payment received: your {{plan_name}} subscription is active again",
        "Hi {{customer_name}},\n\n"
        "Good news: we've received your payment of {{amount}} for {{plan_name}} (invoice {{invoice_id}}). "
        "Your subscription is back in good standing.\n\n"
        "— {{store_name}}",
    ),
    Template(
        "dunning_exhausted",
        "customer",
        "email",
        ("store_name", "customer_name", "amount", "plan_name", "update_link"),
        "Your {{plan_name}} subscription at {{store_name}} is on hold",
        "Hi {{customer_name}},\n\n"
        "We weren't able to collect {{amount}} for {{plan_name}} and have stopped retrying.\n\n"
        "You can still pay and restore your subscription here:\n"
        "{{update_link}}\n\n"
        "— {{store_name}}",
    ),
    Template(
        "subscription_canceled",
        "customer",
        "email",
        ("store_name", "customer_name", "plan_name", "period_end"),
        "Your {{plan_name}} subscription at {{store_name}} has been canceled",
        "Hi {{customer_name}},\n\n"
        "Your {{plan_name}} subscription has been canceled. Your access ends on {{period_end}}.\n\n"
        "We're sorry to see you go.\n\n"
        "— {{store_name}}",
    ),
    Template(
        "card_expiring",
        "customer",
        "email",
        ("store_name", "customer_name", "plan_name", "period_end", "update_link"),
        "Your card for {{plan_name}} expires soon",
        "Hi {{customer_name}},\n\n"
        "The card you use for {{plan_name}} expires before your next renewal on {{period_end}}.\n\n"
        "Update your payment method to avoid an interruption:\n"
        "{{update_link}}\n\n"
        "— {{store_name}}",
    ),
    Template(
        "otp",
        "identity",
        "whatsapp",
        ("code",),
        "Your verification code",
        "{{code}} is your verification code. Do not share it with anyone.",
    ),
    Template(
        "welcome",
        "member",
        "email",
        ("tenant_name", "invite_link"),
        "Welcome to Duro, {{tenant_name}}",
        "Welcome!\n\nYour store {{tenant_name}} is ready. Sign in to finish setting it up:\n{{invite_link}}\n\n— Duro",
    ),
    Template(
        "member_invite",
        "member",
        "email",
        ("tenant_name", "invite_link"),
        "You've been invited to {{tenant_name}} on Duro",
        "Hello,\n\n"
        "You've been invited to join the {{tenant_name}} team on Duro. Accept the invitation here:\n"
        "{{invite_link}}\n\n"
        "If you weren't expecting this, you can ignore this email.\n\n"
        "— Duro",
    ),
    Template(
        "password_reset",
        "member",
        "email",
        ("tenant_name", "reset_link"),
        "Reset your Duro password for {{tenant_name}}",
        "Hello,\n\n"
        "Someone asked to reset the password of your {{tenant_name}} account on Duro. Choose a new one here:\n"
        "{{reset_link}}\n\n"
        "If it wasn't you, ignore this email: your password stays the same.\n\n"
        "— Duro",
    ),
    Template(
        "kyc_submitted",
        "owner",
        "email",
        ("tenant_name", "note"),
        "We received the verification documents of {{tenant_name}}",
        "Hello,\n\n"
        "Thanks for submitting the verification documents of {{tenant_name}}. We'll review them shortly.\n\n"
        "{{note}}\n\n"
        "— Duro",
    ),
    Template(
        "kyc_approved",
        "owner",
        "email",
        ("tenant_name", "note"),
        "{{tenant_name}} is verified",
        "Hello,\n\n{{tenant_name}} has been verified: live payments are fully enabled.\n\n{{note}}\n\n— Duro",
    ),
    Template(
        "kyc_rejected",
        "owner",
        "email",
        ("tenant_name", "note"),
        "We couldn't verify {{tenant_name}}",
        "Hello,\n\n"
        "We couldn't verify {{tenant_name}} with the documents provided. Reviewer's note:\n\n"
        "{{note}}\n\n"
        "You can submit updated documents from the dashboard.\n\n"
        "— Duro",
    ),
    Template(
        "webhook_endpoint_disabled",
        "owner",
        "email",
        ("tenant_name", "endpoint_url", "reason"),
        "A webhook endpoint of {{tenant_name}} was disabled",
        "Hello,\n\n"
        "We disabled the webhook endpoint {{endpoint_url}} of {{tenant_name}}: {{reason}}.\n\n"
        "Fix the endpoint, then re-enable it from the dashboard.\n\n"
        "— Duro",
    ),
)

TEMPLATES: dict[str, Template] = {t.key: t for t in _ALL}
CUSTOMER_TEMPLATE_KEYS: tuple[str, ...] = tuple(t.key for t in _ALL if t.overridable)
PLATFORM_TEMPLATE_KEYS: tuple[str, ...] = tuple(t.key for t in _ALL if not t.overridable)


def template(key: str) -> Template:
    """The template of `key`; `KeyError` for an unknown key (a programming error, not user input)."""
    return TEMPLATES[key]
