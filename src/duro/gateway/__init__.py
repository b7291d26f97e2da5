"""Charge gateway: the protocol every payment path depends on, and the deterministic simulator's rules."""

from duro.gateway.protocol import (
    BANK_RAILS,
    CARD,
    RAILS,
    ChargeGateway,
    ChargeMethod,
    ChargeOutcome,
    RefundOutcome,
)

__all__ = ["BANK_RAILS", "CARD", "RAILS", "ChargeGateway", "ChargeMethod", "ChargeOutcome", "RefundOutcome"]
