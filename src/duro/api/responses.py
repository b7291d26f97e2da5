"""JSON responses rendered with our encoder (orjson, camelCase already applied by serialisers)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from duro.kit import jsonenc
from duro.kit.errors import DuroError

JSON = "application/json"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(jsonenc.dumps(body), status_code=status, media_type=JSON, headers=headers)


def error_response(err: DuroError, request_id: str) -> Response:
    return Response(
        jsonenc.dumps(err.envelope(request_id)), status_code=err.status, media_type=JSON, headers=err.headers
    )
