"""HTTP endpoints of /v1/notifications (06 §10)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from duro.api.params import READ_ERRORS, ListEnvelope, errors, ok, page_params
from duro.api.unit import ApiCall, api_call
from duro.kit.pagination import PageRequest
from duro.notifications import service

router = APIRouter(prefix="/v1/notifications", tags=["notifications"])

NotificationStatus = Literal["pending", "sending", "sent", "failed", "captured", "suppressed"]
# Customer templates only: platform messages are never listed here.
TemplateKey = Literal[
    "receipt",
    "renewal_reminder",
    "dunning_1",
    "dunning_2",
    "dunning_3",
    "dunning_4",
    "payment_action_required",
    "payment_recovered",
    "dunning_exhausted",
    "subscription_canceled",
    "card_expiring",
]


@router.get("", responses={**ok(ListEnvelope), **errors(*READ_ERRORS)})
async def list_notifications(
    page: PageRequest = Depends(page_params),
    customer_id: str | None = Query(None, alias="customerId", max_length=64),
    subscription_id: str | None = Query(None, alias="subscriptionId", max_length=64),
    invoice_id: str | None = Query(None, alias="invoiceId", max_length=64),
    template_key: TemplateKey | None = Query(None, alias="templateKey"),
    status: NotificationStatus | None = Query(None),
    call: ApiCall = Depends(api_call),
) -> Response:
    return await call.read(
        lambda ctx: service.list_notifications(
            ctx,
            page,
            customer_id=customer_id,
            subscription_id=subscription_id,
            invoice_id=invoice_id,
            template_key=template_key,
            status=status,
        )
    )


@router.get("/{notification_id}", responses={**errors(*READ_ERRORS)})
async def get_notification(notification_id: str, call: ApiCall = Depends(api_call)) -> Response:
    return await call.read(lambda ctx: service.get_notification(ctx, notification_id))
