"""SQLAlchemy Core tables. `core` tables are fixed; data tables use the placeholder schema `tenant`,
mapped to `sandbox` or `live` per connection with `schema_translate_map` (01 §2)."""

from duro.models import (  # noqa: F401
    billing,
    checkout,
    core,
    credentials,
    customers,
    dashboard,
    events,
    idempotency,
    identity,
    kyc,
    notifications,
    payment_methods,
    plans,
    promo_codes,
    settings,
    webhooks,
)
from duro.models.base import DATA_SCHEMA, metadata

__all__ = ["DATA_SCHEMA", "metadata"]
