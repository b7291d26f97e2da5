"""Webhook signing and verification (05 §2–§4). The worked example of 05 §3, shared by the test modules."""

from __future__ import annotations

SECRET = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
PREVIOUS_SECRET = "whsec_ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
T = 1735689600
EVENT_ID = "evt_01JGFJJZ0000000000000000AA"
BODY = (
    b'{"id":"evt_01JGFJJZ0000000000000000AA","type":"invoice_paid","createdAt":"2025-01-01T00:00:00.000Z",'
    b'"livemode":false,"tenantId":"ten_01JGFJJZ0000000000000000T1","data":{"object":'
    b'{"id":"inv_01JGFJJZ0000000000000000N1","amount":500000,"currency":"NGN","status":"paid"}}}'
)
V1_CURRENT = "882680a616a16393476a5b0a1171a83c29a455c0d80f220bcc4e7323be460a69"
V1_PREVIOUS = "bf0f3d5b94b740d181f0c9db0412d96f6047838820b52f32818f7c3ed72986ae"
DURO_SIGNATURE = f"t={T},v1={V1_CURRENT}"
WEBHOOK_SIGNATURE = "v1,xZWloQxaC3a3hSY41sTRAAF4gKuMjNNYIjBXUcsoitc="
DURO_SIGNATURE_ROTATION = f"t={T},v1={V1_CURRENT},v1={V1_PREVIOUS}"
WEBHOOK_SIGNATURE_ROTATION = (
    "v1,xZWloQxaC3a3hSY41sTRAAF4gKuMjNNYIjBXUcsoitc= v1,80a2zeaZHVAExnM9U9+NUkfaEDSUEkoTaRMEXNeD328="
)
