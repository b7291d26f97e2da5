"""One place renders every failure into the envelope of 01 §5."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from duro.api.responses import error_response
from duro.kit.errors import Detail, DuroError, bad_request, internal_error
from duro.kit.ids import new_id
from duro.kit.jsonenc import to_camel

log = logging.getLogger("duro.http")

_FIELD_PREFIX = re.compile(r"^([A-Za-z][A-Za-z0-9.]*): (.+)$", re.S)
_NOT_AN_OBJECT = {"model_attributes_type", "dict_type", "model_type"}


def request_id_of(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    return rid if isinstance(rid, str) else new_id("req")


def _path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) if isinstance(p, int) else to_camel(str(p)) if not str(p).isupper() else str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:]
    return ".".join(parts)


def validation_to_error(exc: RequestValidationError) -> DuroError:
    errors = list(exc.errors())
    for err in errors:
        loc = tuple(err.get("loc", ()))
        if err.get("type") == "json_invalid":
            return bad_request("malformed_json", "The body is not valid JSON")
        if loc == ("body",) and err.get("type") in _NOT_AN_OBJECT | {"missing"}:
            return bad_request("malformed_json", "The body must be a JSON object")
    details = []
    for err in errors:
        loc = tuple(err.get("loc", ()))
        # Metadata keys are user data: keep them verbatim in the path.
        path = _path(loc) if "metadata" not in loc else ".".join(str(p) for p in loc[1:])
        msg = str(err.get("msg", "invalid"))
        msg = msg.removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            msg = "unknown or read-only field"
        if not path and (named := _FIELD_PREFIX.match(msg)):
            # Cross-field rules (model validators) name their field as "field: issue".
            path, msg = named.group(1), named.group(2)
        details.append(Detail(path or "body", msg))
    first = details[0]
    return DuroError(422, f"{first.path}: {first.issue}", None, details)


HtmlErrorPage = Callable[[Request, DuroError], Response]


def add_html_error_pages(app: FastAPI, prefix: str, render: HtmlErrorPage) -> None:
    """Server-rendered areas (the dashboard, the staff console) answer errors that escape a route as their own
    HTML error page instead of the JSON envelope; `render` decides (it keeps JSON for fetch callers)."""
    pages: dict[str, HtmlErrorPage] = getattr(app.state, "html_error_pages", {})
    pages[prefix] = render
    app.state.html_error_pages = pages


def _answer(request: Request, err: DuroError) -> Response:
    pages: dict[str, HtmlErrorPage] = getattr(request.app.state, "html_error_pages", {})
    for prefix, render in pages.items():
        if request.url.path == prefix or request.url.path.startswith(prefix + "/"):
            return render(request, err)
    return error_response(err, request_id_of(request))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DuroError)
    async def _duro(request: Request, exc: DuroError) -> Response:
        return _answer(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return error_response(validation_to_error(exc), request_id_of(request))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code in (404, 405):
            err = DuroError(404, "No such route", "unknown_route")
        elif exc.status_code == 400:
            err = bad_request("malformed_json", str(exc.detail))
        else:
            err = DuroError(exc.status_code if exc.status_code in (401, 403, 409, 422, 429) else 500, str(exc.detail))
        return _answer(request, err)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> Response:
        log.error("unhandled error", exc_info=exc)
        return error_response(internal_error(), request_id_of(request))
