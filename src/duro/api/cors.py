"""CORS for the public customer surfaces only (01 §6): `Access-Control-Allow-Origin: *` without credentials on
`POST /v1/checkout/sessions` and the customer API (`/api/…`, `/identity/…`, `/portal/subscriptions…`). Every other
path gets no CORS headers at all. Customer API calls carry an identity token in `Authorization`, never cookies.

Installed outside `MerchantApiMiddleware`, so a preflight of `POST /v1/checkout/sessions` is answered here without
a credential.
"""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

CUSTOMER_PREFIXES = ("/api/", "/identity/", "/portal/subscriptions")
CUSTOMER_EXACT = frozenset({"/v1/checkout/sessions"})


def cors_enabled(path: str) -> bool:
    return path in CUSTOMER_EXACT or path.startswith(CUSTOMER_PREFIXES)


class PublicCorsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=["*"],
            allow_credentials=False,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
            expose_headers=[
                "X-Request-Id",
                "Retry-After",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
            ],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and cors_enabled(scope.get("path", "")):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


# The name app.py and appearance/ used first; one middleware either way.
ScopedCors = PublicCorsMiddleware
