"""create_app(settings) -> the ASGI application serving every HTTP surface."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from duro.analytics.router import router as analytics_router
from duro.api.cors import PublicCorsMiddleware
from duro.api.errors import install_error_handlers
from duro.api.middleware import MerchantApiMiddleware, RequestIdMiddleware
from duro.appearance.router import router as appearance_router
from duro.checkout.public_router import router as checkout_public_router
from duro.checkout.router import router as checkout_router
from duro.config import Settings
from duro.credentials.oauth import router as oauth_router
from duro.customers.router import router as customers_router
from duro.dashboard.router import install_dashboard
from duro.db.engine import Database
from duro.events.router import router as events_router
from duro.identity.router import router as identity_router
from duro.invoices.router import router as invoices_router
from duro.kit.clock import Clock
from duro.kit.money import configure_currencies
from duro.kit.phone import configure as configure_phone
from duro.notifications.router import router as notifications_router
from duro.ops.router import router as ops_router
from duro.payment_links.router import router as payment_links_router
from duro.payment_methods.router import router as payment_methods_router
from duro.plans.router import router as plans_router
from duro.portal.router import router as portal_router
from duro.promo_codes.router import router as promo_codes_router
from duro.recovery.router import router as recovery_router
from duro.runtime import Runtime
from duro.settings.router import router as settings_router
from duro.staff.router import install_staff
from duro.subscriptions.router import router as subscriptions_router
from duro.test_clocks.router import router as test_clocks_router
from duro.web.checkout.assets import static_app
from duro.web.checkout.router import router as web_checkout_router
from duro.web.pay.router import router as pay_pages_router

API_DESCRIPTION = """Duro merchant API. Authenticate with `Authorization: Bearer sk_test_…` (or an OAuth access
token); the key's prefix selects test or live mode. Mutating calls accept an `Idempotency-Key` header."""


def create_app(settings: Settings, db: Database | None = None, clock: Clock | None = None) -> FastAPI:
    """Build the app. Tests pass their own `db`/`clock`; `duro serve` lets the lifespan create the database."""
    configure_phone(settings.default_phone_region)
    configure_currencies(settings.currency_list)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = getattr(app.state, "runtime", None) is None
        if owned:
            from duro.db.engine import resolve_database_url

            app.state.runtime = Runtime(
                settings, Database(resolve_database_url(settings), pool_size=settings.db_pool_size), clock
            )
        try:
            yield
        finally:
            runtime: Runtime = app.state.runtime
            await runtime.close()
            if owned:
                await runtime.db.dispose()

    app = FastAPI(
        title="Duro",
        version="0.1.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        generate_unique_id_function=lambda route: route.name,
    )
    if db is not None:
        app.state.runtime = Runtime(settings, db, clock)

    install_error_handlers(app)
    for router in (
        ops_router,
        oauth_router,
        plans_router,
        promo_codes_router,
        payment_links_router,
        customers_router,
        payment_methods_router,
        subscriptions_router,
        invoices_router,
        test_clocks_router,
        events_router,
        checkout_router,
        checkout_public_router,
        notifications_router,
        analytics_router,
        recovery_router,
        settings_router,
        identity_router,
        appearance_router,
        portal_router,
        pay_pages_router,
        web_checkout_router,
    ):
        app.include_router(router)
    install_dashboard(app)  # /dashboard account pages (02 §4) and their redirect/403 interrupts
    install_staff(app)  # /staff console and /staff/api (07 §14); every path 404 while DURO_STAFF_KEY is unset

    # Hand-written CSS/JS of the hosted pages (no build step); shipped as package data.
    app.mount("/static", static_app(), name="static")  # web/static + nosniff, JS content type, cache
    app.add_middleware(MerchantApiMiddleware, runtime_getter=lambda: app.state.runtime)
    app.add_middleware(PublicCorsMiddleware)  # outside the merchant middleware: preflights need no credential
    app.add_middleware(RequestIdMiddleware)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version="3.1.0",
        description=app.description,
        routes=app.routes,
    )
    schema.setdefault("components", {})["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "sk_test_/sk_live_ key or OAuth token"}
    }
    for path, ops in schema.get("paths", {}).items():
        if not path.startswith("/v1/") or path == "/v1/oauth/token":
            continue
        for method, op in ops.items():
            op["security"] = [{"bearer": []}]
            if method in ("post", "patch", "delete"):
                op.setdefault("parameters", []).append(
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                    }
                )
    app.openapi_schema = schema
    return schema
