"""`GET /api/appearance/{tenantSlug}` (06 §5): published and effective, never the draft; public; CORS-open."""

from __future__ import annotations

import httpx

from duro.appearance import service
from duro.context import Actor
from duro.db.engine import Database
from duro.kit.clock import SystemClock
from tests.conftest import TenantKeys

CLOCK = SystemClock()
CLI = Actor("system", None, "cli")


async def test_serves_the_published_configuration_only(
    client: httpx.AsyncClient, db: Database, tenant: TenantKeys
) -> None:
    first = await client.get(f"/api/appearance/{tenant.slug}")
    assert first.status_code == 200
    body = first.json()
    assert body["object"] == "appearance"
    assert (body["tenantSlug"], body["version"], body["publishedAt"]) == (tenant.slug, 0, None)
    assert body["general"]["displayName"] == "Acme Ltd"
    assert body["checkout"]["brandColor"] == "#0F766E"  # cascaded from general
    assert {"general", "store", "checkout", "overlay", "portal", "email"} <= set(body)

    async with db.core_transaction() as conn:
        await service.set_draft(conn, tenant.id, "general", {"brandColor": "#7C3AED", "font": "inter"}, clock=CLOCK)
        await service.set_draft(conn, tenant.id, "checkout", {"headline": "Join"}, clock=CLOCK)
        await service.publish(conn, tenant.id, actor=CLI, clock=CLOCK)
        await service.set_draft(conn, tenant.id, "checkout", {"headline": "Draft only"}, clock=CLOCK)

    body = (await client.get(f"/api/appearance/{tenant.slug}")).json()
    assert body["version"] == 1
    assert body["publishedAt"] is not None
    assert body["checkout"]["headline"] == "Join"  # never the draft
    assert body["checkout"]["brandColor"] == "#7C3AED"
    assert body["portal"]["font"] == "inter"
    assert body["portal"]["permissions"]["cancelMode"] == "period_end"


async def test_unknown_slug_is_404(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    for slug in ("no-such-shop", "x" * 300, "nul%00"):
        response = await client.get(f"/api/appearance/{slug}")
        assert response.status_code == 404
        error = response.json()["error"]
        assert (error["code"], error["reason"]) == ("not_found", "resource_missing")
        assert error["requestId"] == response.headers["x-request-id"]


async def test_public_without_credentials_and_cors_open(client: httpx.AsyncClient, tenant: TenantKeys) -> None:
    # A merchant's secret key is neither needed nor harmful; a browser on another origin may read the answer.
    response = await client.get(
        f"/api/appearance/{tenant.slug}", headers={"Origin": "https://shop.example.com", **tenant.auth()}
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers
    missing = await client.get("/api/appearance/nope", headers={"Origin": "https://shop.example.com"})
    assert missing.status_code == 404
    assert missing.headers["access-control-allow-origin"] == "*"
