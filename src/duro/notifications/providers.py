"""Delivery providers of 06 §9: `console` (both channels), `smtp` (email) and `cloud` (WhatsApp Cloud API).

A provider either returns a `Delivery` or raises `SendFailed`, whose `transient` flag tells the notifications loop
whether to retry (network trouble, timeouts, HTTP 5xx and 429, SMTP 4xx) or to give up at once (any other HTTP 4xx,
SMTP 5xx, missing configuration).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid, parseaddr
from typing import Any, Literal, Protocol

import aiosmtplib
import httpx

from duro.config import Settings
from duro.notifications.rendering import whatsapp_request

log = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 10.0
ERROR_MAX = 500


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One claimed message as the provider needs it."""

    id: str
    channel: str
    template_key: str
    recipient: str
    subject: str | None
    body_text: str
    body_html: str | None
    whatsapp_template: dict[str, Any] | None
    sender_name: str  # tenant name (or the platform's name)
    reply_to: str | None


@dataclass(frozen=True, slots=True)
class Delivery:
    provider: str
    status: Literal["sent", "captured"]
    message_id: str | None


class SendFailed(Exception):
    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message[:ERROR_MAX])
        self.transient = transient


class Provider(Protocol):
    name: str

    async def send(self, msg: Outgoing) -> Delivery: ...


def _mask(address: str) -> str:
    if "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:1]}***@{domain}"
    return f"***{address[-4:]}"


class ConsoleProvider:
    """Captures instead of sending: one log line per message, its text only in development."""

    name = "console"

    def __init__(self, settings: Settings) -> None:
        self.show_text = settings.env == "development"

    async def send(self, msg: Outgoing) -> Delivery:
        if self.show_text:
            log.info(
                "notification %s captured: %s to %s: %s\n%s",
                msg.id,
                msg.channel,
                msg.recipient,
                msg.subject or msg.template_key,
                msg.body_text,
            )
        else:
            log.info(
                "notification %s captured: %s %s to %s", msg.id, msg.channel, msg.template_key, _mask(msg.recipient)
            )
        return Delivery(self.name, "captured", None)


class SmtpProvider:
    """Multipart text + HTML over SMTP (aiosmtplib), `DURO_SMTP_SECURITY` starttls | tls | none."""

    name = "smtp"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        _, self.from_address = parseaddr(settings.email_from)

    def build(self, msg: Outgoing) -> EmailMessage:
        email = EmailMessage()
        email["From"] = formataddr((msg.sender_name, self.from_address))
        email["To"] = msg.recipient
        email["Subject"] = msg.subject or ""
        if msg.reply_to:
            email["Reply-To"] = msg.reply_to
        domain = self.from_address.rpartition("@")[2] or "localhost"
        email["Message-ID"] = make_msgid(idstring=msg.id, domain=domain)
        email.set_content(msg.body_text)
        if msg.body_html:
            email.add_alternative(msg.body_html, subtype="html")
        return email

    async def send(self, msg: Outgoing) -> Delivery:
        s = self.settings
        if not s.smtp_host or not self.from_address:
            raise SendFailed("SMTP is not configured (DURO_SMTP_HOST, DURO_EMAIL_FROM)", transient=False)
        email = self.build(msg)
        try:
            await aiosmtplib.send(
                email,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                use_tls=s.smtp_security == "tls",
                start_tls=s.smtp_security == "starttls",
                timeout=SEND_TIMEOUT_SECONDS,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise SendFailed(f"recipient refused: {exc}", transient=all(400 <= c < 500 for c in codes)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise SendFailed(f"SMTP {exc.code}: {exc.message}", transient=400 <= exc.code < 500) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise SendFailed(f"SMTP unavailable: {type(exc).__name__}: {exc}", transient=True) from exc
        return Delivery(self.name, "sent", str(email["Message-ID"]))


class CloudWhatsAppProvider:
    """Approved templates through the WhatsApp Cloud API (`POST {base}/{version}/{phoneNumberId}/messages`)."""

    name = "cloud"

    def __init__(self, settings: Settings, client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self._client = client

    async def send(self, msg: Outgoing) -> Delivery:
        s = self.settings
        if s.whatsapp_token is None or not s.whatsapp_phone_number_id:
            raise SendFailed("WhatsApp is not configured (DURO_WHATSAPP_TOKEN, _PHONE_NUMBER_ID)", transient=False)
        if not msg.whatsapp_template:
            raise SendFailed("message has no WhatsApp template", transient=False)
        base = s.whatsapp_api_base_url.rstrip("/")
        url = f"{base}/{s.whatsapp_api_version}/{s.whatsapp_phone_number_id}/messages"
        body = whatsapp_request(msg.recipient, msg.whatsapp_template, otp=msg.template_key == "otp")
        headers = {"Authorization": f"Bearer {s.whatsapp_token.get_secret_value()}"}
        try:
            if self._client is not None:
                response = await self._client.post(url, json=body, headers=headers, timeout=SEND_TIMEOUT_SECONDS)
            else:
                # A fixed, operator-configured host: outside the webhook SSRF path (06 §9); no redirects followed.
                async with httpx.AsyncClient(timeout=SEND_TIMEOUT_SECONDS, follow_redirects=False) as client:
                    response = await client.post(url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise SendFailed(f"WhatsApp API unreachable: {type(exc).__name__}: {exc}", transient=True) from exc
        if response.status_code >= 300:
            detail = _api_error(response)
            transient = response.status_code >= 500 or response.status_code == 429
            raise SendFailed(f"WhatsApp API {response.status_code}: {detail}", transient=transient)
        try:
            message_id = str(response.json()["messages"][0]["id"])
        except (ValueError, LookupError, TypeError) as exc:
            raise SendFailed("WhatsApp API answered without a message id", transient=False) from exc
        return Delivery(self.name, "sent", message_id)


def _api_error(response: httpx.Response) -> str:
    try:
        err = response.json().get("error") or {}
        return str(err.get("message") or response.text)
    except (ValueError, AttributeError):
        return response.text[:200]


class Providers:
    """The provider of each channel per the settings (`DURO_EMAIL_PROVIDER`, `DURO_WHATSAPP_PROVIDER`)."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None) -> None:
        console = ConsoleProvider(settings)
        self.email: Provider = SmtpProvider(settings) if settings.email_provider == "smtp" else console
        self.whatsapp: Provider = (
            CloudWhatsAppProvider(settings, http) if settings.whatsapp_provider == "cloud" else console
        )

    def for_channel(self, channel: str) -> Provider:
        return self.whatsapp if channel == "whatsapp" else self.email
