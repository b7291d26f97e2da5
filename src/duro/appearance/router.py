"""`GET /api/appearance/{tenantSlug}` (06 §5): the published appearance of a tenant, for hosted pages and merchants'
own pages. Public: no credential, and outside /v1, so the merchant middleware never sees it. CORS comes from
`duro.api.cors.ScopedCors`, which opens every `/api/…` path (01 §6).

`GET /assets/logos/{tenantId}/{sha256}.{ext}`: an uploaded logo (`duro.appearance.logos`), public because hosted
pages and emails show it; only while the tenant's configuration references it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from duro.api.params import ErrorEnvelope
from duro.api.responses import json_response
from duro.appearance.logos import read_logo
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


# Content-addressed: the bytes behind a path never change, so browsers and proxies may keep them for a year.
LOGO_CACHE = "public, max-age=31536000, immutable"


@router.get("/assets/logos/{tenant_id}/{file_name}", include_in_schema=False)
async def get_logo(tenant_id: str, file_name: str, request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    logo = await read_logo(runtime.db, runtime.storage, tenant_id, file_name)
    if logo is None:
        raise DuroError(404, "No such logo", "resource_missing")
    return Response(
        logo.data,
        media_type=logo.content_type,
        headers={
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": LOGO_CACHE,
            # Opened directly, the image is a document of its own: let it do nothing but be an image.
            "Content-Security-Policy": "default-src 'none'; img-src 'self'; sandbox",
            "Cross-Origin-Resource-Policy": "cross-origin",  # shown by mail clients and merchants' own pages
        },
    )
