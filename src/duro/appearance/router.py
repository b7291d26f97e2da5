"""`GET /api/appearance/{tenantSlug}` (06 §5): the published appearance of a tenant, for hosted pages and merchants'
own pages. Public: no credential, and outside /v1, so the merchant middleware never sees it. CORS comes from
`duro.api.cors.ScopedCors`, which opens every `/api/…` path (01 §6)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from duro.api.params import ErrorEnvelope
from duro.api.responses import json_response
from duro.appearance.service import public_appearance
from duro.kit.errors import DuroError
from duro.runtime import Runtime

router = APIRouter(tags=["appearance"])

MAX_SLUG = 100


@router.get(
    "/api/appearance/{tenant_slug}",
    responses={
        200: {"description": "The published, effective appearance (six surfaces)"},
        404: {"model": ErrorEnvelope, "description": "Unknown tenant slug"},
    },
)
async def get_public_appearance(tenant_slug: str, request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    found = None
    if len(tenant_slug) <= MAX_SLUG:
        async with runtime.db.core_transaction() as conn:
            found = await public_appearance(conn, tenant_slug)
    if found is None:
        raise DuroError(404, "No such merchant", "resource_missing")
    return json_response(found)
