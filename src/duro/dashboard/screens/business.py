"""Dashboard screens: business settings (07 §3, 02 §10): name, slug, default currency, support email.

The onboarding screen saves its business details through `save_business` too, so both forms share one service,
one permission (`business_settings.update` → `tenant:manage`) and one audit entry shape.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from duro.dashboard.shell import DashCall, dash, dash_post, field_errors, text
from duro.kit.errors import DuroError
from duro.tenants.business import Audit, get_business, update_business

router = APIRouter(prefix="/dashboard", include_in_schema=False)

PATH = "/dashboard/settings/business"
TEMPLATE = "screens/business/settings.html"


def submitted(form: FormData, fields: tuple[str, ...]) -> dict[str, str | None]:
    """The named fields as typed (API names); a field missing from the form is left unchanged by the service."""
    return {name: text(form, name) for name in fields if name in form}


async def save_business(call: DashCall, values: dict[str, str | None]) -> dict[str, Any]:
    """The tenant update both forms use, audited with the member, IP and request id."""
    audit = Audit(call.actor, call.ip, call.request.headers.get("user-agent"), call.request_id)
    settings, clock, tenant_id = call.runtime.settings, call.runtime.clock, call.tenant_id
    return await call.core(lambda conn: update_business(conn, settings, tenant_id, values, at=clock.now(), audit=audit))


async def load_business(call: DashCall) -> dict[str, Any]:
    return await call.core(lambda conn: get_business(conn, call.tenant_id))


@router.get("/settings/business")
async def business_settings(request: Request) -> Response:
    call = await dash(request)
    tenant = await load_business(call)
    return await call.screen(
        TEMPLATE, tenant=tenant, values=tenant, errors={}, currencies=call.runtime.settings.currency_list
    )


@router.post("/settings/business")
async def save_business_settings(request: Request) -> Response:
    call, form = await dash_post(request, "business_settings.update")
    values = submitted(form, ("name", "slug", "defaultCurrency", "supportEmail"))
    try:
        await save_business(call, values)
    except DuroError as exc:
        tenant = await load_business(call)
        return await call.screen(
            TEMPLATE,
            status=422,
            tenant=tenant,
            values={**tenant, **values},
            errors=field_errors(exc),
            currencies=call.runtime.settings.currency_list,
        )
    return call.done(PATH, "Business settings saved.")
