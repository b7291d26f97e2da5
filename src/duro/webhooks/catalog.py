"""The event types an endpoint may subscribe to (05 §1): the 17 of the core catalog and Duro's additions."""

from __future__ import annotations

from typing import Final

from duro.billing.lifecycle import Event

# Emitted outside the subscription state machine (refunds, checkout, customers), so not members of `Event`.
OTHERS: Final = ("subscription_payment_refunded", "checkout_completed", "customer_created", "customer_updated")
EVENT_TYPES: Final[frozenset[str]] = frozenset({e.value for e in Event} | set(OTHERS))
