"""File uploads shared by the dashboard's KYC documents and appearance logos: a multipart body read with a hard
byte cap, and the content type decided by the file's first bytes (never by the client's name or Content-Type).

The cap is checked on `Content-Length` first and again while streaming, so an oversized or lying client never makes
the server buffer more than the cap. Starlette's own form reader has no total-size limit, hence this one.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Collection
from typing import Final

from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

MULTIPART_OVERHEAD: Final = 64 * 1024  # boundaries, part headers, the csrf_token field

PDF: Final = "application/pdf"
PNG: Final = "image/png"
JPEG: Final = "image/jpeg"
WEBP: Final = "image/webp"
GIF: Final = "image/gif"

# Prefix signatures; WebP is `RIFF <size:4> WEBP`, checked separately.
_MAGIC: Final = (
    (b"%PDF-", PDF),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
    (b"GIF87a", GIF),
    (b"GIF89a", GIF),
)
EXTENSIONS: Final = {PDF: ".pdf", PNG: ".png", JPEG: ".jpg", WEBP: ".webp", GIF: ".gif"}


class BodyTooLarge(Exception):
    """The request body is over the cap (declared or streamed); nothing past the cap was read."""


class NotMultipart(Exception):
    """The request is not `multipart/form-data`."""


class MalformedMultipart(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def sniff(data: bytes) -> str | None:
    """The content type the first bytes of `data` prove, among the kinds above; None for anything else (SVG and
    HTML included: text formats have no signature and are never accepted)."""
    for magic, content_type in _MAGIC:
        if data.startswith(magic):
            return content_type
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    return None


def sniff_allowed(data: bytes, allowed: Collection[str]) -> str | None:
    """`sniff(data)` when it is one of `allowed`, else None."""
    found = sniff(data)
    return found if found in allowed else None


async def read_multipart(request: Request, max_body: int, *, max_files: int = 1, max_fields: int = 4) -> FormData:
    """The multipart form of `request`, reading at most `max_body` bytes of body. Raises BodyTooLarge,
    NotMultipart or MalformedMultipart; the caller closes the returned form (`await form.close()`)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > max_body):
        raise BodyTooLarge
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise NotMultipart

    async def limited() -> AsyncGenerator[bytes, None]:
        total = 0
        async for chunk in request.stream():
            total += len(chunk)
            if total > max_body:
                raise BodyTooLarge
            yield chunk

    parser = MultiPartParser(request.headers, limited(), max_files=max_files, max_fields=max_fields)
    try:
        return await parser.parse()
    except MultiPartException as exc:
        raise MalformedMultipart(exc.message) from exc
