"""Dashboard screens: account (07 §3). Not built yet."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/dashboard", include_in_schema=False)
