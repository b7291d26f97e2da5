"""`/healthz` (process up) and `/readyz` (database reachable and migrations current) (01 §10)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from starlette.responses import Response

from duro.api.responses import json_response
from duro.db.migrate import current_revision as db_revision
from duro.db.migrate import head_revision
from duro.runtime import Runtime

router = APIRouter(tags=["operations"])
log = logging.getLogger(__name__)


@router.get("/healthz")
async def healthz() -> Response:
    return json_response({"status": "ok"})


@router.get("/readyz", responses={503: {"description": "Database unreachable or migrations pending"}})
async def readyz(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    head = head_revision()
    try:
        current = await db_revision(runtime.db.engine)
    except Exception as exc:
        log.warning("readiness check failed: %s", type(exc).__name__)
        return json_response({"status": "unavailable", "database": "unreachable"}, 503)
    if current != head:
        return json_response(
            {"status": "unavailable", "database": "ok", "migrations": {"current": current, "head": head}}, 503
        )
    return json_response({"status": "ok", "database": "ok", "migrations": {"current": current, "head": head}})
