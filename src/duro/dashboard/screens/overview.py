"""Dashboard screens: the overview (07 §5)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from duro.dashboard.shell import dash

router = APIRouter(prefix="/dashboard", include_in_schema=False)


@router.get("")
async def overview(request: Request) -> Response:
    call = await dash(request)
    return await call.screen("screens/overview.html")
