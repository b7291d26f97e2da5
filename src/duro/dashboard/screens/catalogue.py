"""Dashboard screens: catalogue (07 §3) — plans, promo codes and payment links, one module per screen, joined here
because the screen registry imports `catalogue.router` only."""

from __future__ import annotations

from fastapi import APIRouter

from duro.dashboard.screens import catalogue_links, catalogue_plans, catalogue_promos

router = APIRouter(include_in_schema=False)
router.include_router(catalogue_plans.router)
router.include_router(catalogue_promos.router)
router.include_router(catalogue_links.router)
