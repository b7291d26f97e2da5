"""The test/live switch (07 §10): a form POST that stores `currentMode` on the session and reloads the screen."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from sqlalchemy import update
from starlette.responses import Response

from duro.dashboard.pages import safe_next
from duro.dashboard.shell import dash_post, text
from duro.db.executor import Connection
from duro.models.dashboard import sessions

_OBJECT_ID = re.compile(r"^[a-z]{2,6}_[A-Za-z0-9]+$")

router = APIRouter(prefix="/dashboard", include_in_schema=False)


@router.post("/mode")
async def switch_mode(request: Request) -> Response:
    call, form = await dash_post(request, "mode.switch")
    mode = text(form, "mode")
    if mode not in ("test", "live"):
        return call.done("/dashboard", "Choose test or live mode.", "error")

    async def store(conn: Connection) -> None:
        await conn.execute(update(sessions).where(sessions.c.id == call.session.id).values(current_mode=mode))

    await call.core(store)
    # Detail pages of the other mode's objects do not exist there: go back to the list of the same screen.
    target = safe_next(text(form, "next")) or "/dashboard"
    parts = target.split("?")[0].split("/")
    while len(parts) > 2 and _OBJECT_ID.match(parts[-1]):
        parts.pop()
    target = "/".join(parts)
    if mode == "live" and target.startswith("/dashboard/test-clocks"):
        target = "/dashboard"
    label = "Test mode" if mode == "test" else "Live mode"
    return call.done(target, f"{label}: you are now viewing {mode} data.", "info")
