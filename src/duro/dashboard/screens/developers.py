"""Dashboard screens: API keys and OAuth clients (07 §3, §12; 02 §3).

Keys and clients are machine credentials of the tenant and the session's current mode (scope `*`, 02 §1); the
member who creates one gets nothing extra. They are minted by the same services as `duro keys` / `duro oauth`, so
only hashes are stored; the plaintext is rendered once, in the answer to the creating POST (never a redirect or a
flash, which would put it in a cookie), with `Cache-Control: no-store` so no cache keeps that page. Both lists are
keyset pages of 20, newest first; the services write the audit entries (`api_key.created`, …), as for the CLI.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Request
from starlette.responses import Response

from duro.context import RepositoryContext
from duro.credentials.repository import ApiKeyRepository
from duro.credentials.service import (
    MAX_UNREVOKED_KEYS,
    api_key_json,
    create_api_key,
    create_oauth_client,
    list_api_keys,
    list_oauth_clients,
    oauth_client_json,
    revoke_api_key,
    revoke_oauth_client,
)
from duro.dashboard.pages import fail
from duro.dashboard.shell import DashCall, dash, dash_post, field_errors, text
from duro.kit.errors import Detail, DuroError, validation

router = APIRouter(prefix="/dashboard", include_in_schema=False)

KEYS_PATH: Final = "/dashboard/developers/api-keys"
CLIENTS_PATH: Final = "/dashboard/developers/oauth-clients"
KEY_KINDS: Final = (
    ("secret", "Secret key (sk_) — server-side, full API access"),
    ("publishable", "Publishable key (pk_) — checkout sessions from a browser"),
)
MAX_NAME: Final = 80
NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _check_name(name: str) -> None:
    if len(name) > MAX_NAME:
        raise validation("name: too long", [Detail("name", f"must be at most {MAX_NAME} characters")])


def _no_store(response: Response) -> Response:
    response.headers.update(NO_STORE)
    return response


async def _read(call: DashCall, fn: Any) -> Any:
    """A list read whose DuroError (a stale or foreign cursor) becomes the dashboard's error page."""
    try:
        return await call.read(fn)
    except DuroError as exc:
        raise fail(call.request, exc.status, exc.reason or exc.code, exc.message) from exc


# --- API keys ---


async def _keys_page(call: DashCall, status: int = 200, **context: Any) -> Response:
    page_request = call.page_request()

    async def load(ctx: RepositoryContext) -> tuple[dict[str, Any], int]:
        # The count covers every page: the limit applies to all unrevoked keys, not the ones shown.
        return await list_api_keys(ctx, page_request), await ctx.repo(ApiKeyRepository).count_unrevoked()

    page, unrevoked = await _read(call, load)
    return await call.screen(
        "screens/developers/api_keys.html",
        status,
        page=page,
        keys=page["items"],
        unrevoked=unrevoked,
        max_keys=MAX_UNREVOKED_KEYS,
        kinds=KEY_KINDS,
        errors=context.pop("errors", {}),
        values=context.pop("values", {}),
        created=context.pop("created", None),
        secret_once=context.pop("secret_once", None),
        **context,
    )


@router.get("/developers/api-keys")
async def api_keys(request: Request) -> Response:
    call = await dash(request)
    return await _keys_page(call)


@router.post("/developers/api-keys")
async def api_key_create(request: Request) -> Response:
    call, form = await dash_post(request, "api_key.create")
    name, kind = text(form, "name"), text(form, "kind")
    values = {"name": name, "kind": kind}

    async def create(ctx: RepositoryContext) -> tuple[dict[str, Any], str]:
        if kind not in ("secret", "publishable"):
            raise validation("kind: invalid", [Detail("kind", "must be secret or publishable")])
        _check_name(name)
        made = await create_api_key(ctx, kind, name or None)  # type: ignore[arg-type]
        return api_key_json(made.row), made.plaintext

    try:
        key, plaintext = await call.write(create)
    except DuroError as exc:
        return _no_store(
            await _keys_page(call, 409 if exc.status == 409 else 422, errors=field_errors(exc), values=values)
        )
    return _no_store(await _keys_page(call, 201, created=key, secret_once=plaintext))


@router.post("/developers/api-keys/{key_id}/revoke")
async def api_key_revoke(request: Request, key_id: str) -> Response:
    call, _ = await dash_post(request, "api_key.revoke")

    async def revoke(ctx: RepositoryContext) -> dict[str, Any]:
        return api_key_json(await revoke_api_key(ctx, key_id))

    try:
        key = await call.write(revoke)
    except DuroError as exc:
        return call.done(KEYS_PATH, exc.message, "error")
    return call.done(KEYS_PATH, f"Key {key['prefix']}…{key['last4']} revoked. Requests using it now get 401.")


# --- OAuth clients ---


async def _clients_page(call: DashCall, status: int = 200, **context: Any) -> Response:
    page_request = call.page_request()
    page = await _read(call, lambda ctx: list_oauth_clients(ctx, page_request))
    token_url = call.runtime.settings.public_url.rstrip("/") + "/v1/oauth/token"
    return await call.screen(
        "screens/developers/oauth_clients.html",
        status,
        page=page,
        clients=page["items"],
        token_url=token_url,
        errors=context.pop("errors", {}),
        values=context.pop("values", {}),
        created=context.pop("created", None),
        secret_once=context.pop("secret_once", None),
        **context,
    )


@router.get("/developers/oauth-clients")
async def oauth_clients(request: Request) -> Response:
    call = await dash(request)
    return await _clients_page(call)


@router.post("/developers/oauth-clients")
async def oauth_client_create(request: Request) -> Response:
    call, form = await dash_post(request, "oauth_client.create")
    name = text(form, "name")

    async def create(ctx: RepositoryContext) -> tuple[dict[str, Any], str]:
        _check_name(name)
        made = await create_oauth_client(ctx, name or None)
        return oauth_client_json(made.row), made.client_secret

    try:
        client, secret = await call.write(create)
    except DuroError as exc:
        return _no_store(await _clients_page(call, 422, errors=field_errors(exc), values={"name": name}))
    return _no_store(await _clients_page(call, 201, created=client, secret_once=secret))


@router.post("/developers/oauth-clients/{client_pk}/revoke")
async def oauth_client_revoke(request: Request, client_pk: str) -> Response:
    call, _ = await dash_post(request, "oauth_client.revoke")

    async def revoke(ctx: RepositoryContext) -> dict[str, Any]:
        return oauth_client_json(await revoke_oauth_client(ctx, client_pk))

    try:
        client = await call.write(revoke)
    except DuroError as exc:
        return call.done(CLIENTS_PATH, exc.message, "error")
    return call.done(CLIENTS_PATH, f"OAuth client {client['clientId']} revoked; its tokens stop working within 30 s.")
