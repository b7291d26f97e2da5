"""The signed-in dashboard screens (07 §3), one module per area, each with its own router under /dashboard."""

from __future__ import annotations

from importlib import import_module

from fastapi import APIRouter

# Every module here defines `router`; install order does not matter (no overlapping paths).
SCREEN_MODULES = (
    "mode",
    "overview",
    "business",
    "events",
    "catalogue",
    "customers",
    "subscriptions",
    "invoices",
    "recovery",
    "test_clocks",
    "developers",
    "webhooks",
    "appearance",
    "email_templates",
    "inbox",
    "team",
    "account",
    "kyc",
)


def screen_routers() -> list[APIRouter]:
    return [import_module(f"duro.dashboard.screens.{name}").router for name in SCREEN_MODULES]
