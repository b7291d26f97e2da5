"""HTTP endpoints of /v1/settings (04 §6)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.responses import Response

from duro.api.params import READ_ERRORS, WRITE_ERRORS, errors, ok
from duro.api.unit import ApiCall, api_call
from duro.settings import service
from duro.settings.schemas import RecoverySettingsOut, RecoverySettingsUpdate

router = APIRouter(prefix="/v1/settings", tags=["settings"])


@router.get("/recovery", responses={**ok(RecoverySettingsOut), **errors(*READ_ERRORS)})
async def get_recovery_settings(call: ApiCall = Depends(api_call)) -> Response:
    return await call.read(service.get_recovery_settings)


@router.patch("/recovery", responses={**ok(RecoverySettingsOut), **errors(*WRITE_ERRORS)})
async def update_recovery_settings(body: RecoverySettingsUpdate, call: ApiCall = Depends(api_call)) -> Response:
    service.check_fields(body)  # per-field 422s before the idempotency claim (01 §8 step 2)
    return await call.run(lambda ctx: service.update_recovery_settings(ctx, body))
