"""Operations surface: health, readiness, OpenAPI."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from duro.db.engine import Database


async def test_healthz(client: Any) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    assert r.headers["x-request-id"].startswith("req_")


async def test_readyz_reports_migrations(client: Any, db: Database) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["migrations"]["current"] == body["migrations"]["head"]
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE core.alembic_version SET version_num = 'older'"))
    try:
        r = await client.get("/readyz")
        assert r.status_code == 503
        assert r.json()["migrations"]["current"] == "older"
    finally:
        async with db.engine.begin() as conn:
            await conn.execute(
                text("UPDATE core.alembic_version SET version_num = :v"), {"v": body["migrations"]["head"]}
            )


async def test_openapi_documents_every_v1_operation(client: Any) -> None:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    assert spec["openapi"].startswith("3.1")
    expected = {
        ("post", "/v1/plans"),
        ("get", "/v1/plans"),
        ("get", "/v1/plans/{plan_id}"),
        ("patch", "/v1/plans/{plan_id}"),
        ("post", "/v1/customers"),
        ("get", "/v1/customers"),
        ("get", "/v1/customers/{customer_id}"),
        ("patch", "/v1/customers/{customer_id}"),
        ("get", "/v1/customers/ref/{merchant_ref}"),
        ("post", "/v1/customers/{customer_id}/blacklist"),
        ("delete", "/v1/customers/{customer_id}/blacklist"),
        ("get", "/v1/events"),
        ("get", "/v1/events/{event_id}"),
        ("post", "/v1/oauth/token"),
    }
    found = {(m, p) for p, ops in spec["paths"].items() for m in ops if p.startswith("/v1")}
    assert expected <= found
    for method, path in found:
        op = spec["paths"][path][method]
        statuses = set(op["responses"])
        assert {"401", "422", "429", "500"} & statuses, (method, path)
        if path != "/v1/oauth/token":
            assert {"401", "404", "429"} <= statuses, (method, path)
            assert op["security"] == [{"bearer": []}]
        if method in ("post", "patch", "delete") and path != "/v1/oauth/token":
            assert any(p["name"] == "Idempotency-Key" for p in op.get("parameters", [])), (method, path)
    envelope = spec["components"]["schemas"]["ErrorEnvelope"]
    assert envelope["properties"]["error"]
