"""Webhook verification for receivers (05 §4): ``from duro.webhooks import verify, WebhookVerificationError``.

Importable without Duro's server dependencies (standard library only). The sender side lives in
``duro.webhooks.signing``.
"""

from duro.webhooks.verify import WebhookVerificationError, verify

__all__ = ["WebhookVerificationError", "verify"]
