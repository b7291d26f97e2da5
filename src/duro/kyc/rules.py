"""Pure KYC rules: document types, file checks by magic bytes, file-name sanitising, review notes. No I/O."""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from duro.kit import uploads
from duro.kit.errors import DuroError, invalid_field

DOCUMENT_TYPES: Final = ("cac", "memart", "status_report")
DOCUMENT_LABELS: Final = {
    "cac": "Certificate of incorporation (CAC)",
    "memart": "Memorandum and articles of association",
    "status_report": "CAC status report",
}
MAX_FILE_BYTES: Final = 10 * 1024 * 1024
MAX_FILE_NAME: Final = 200
MAX_NOTE: Final = 1000
UNVERIFIED_CAP: Final = 100_000_000  # kobo; the same figure duro.charges reserves against (02 §10)

# The only accepted kinds, decided by the first bytes (`duro.kit.uploads`), never by the client's name or type.
ACCEPTED: Final = (uploads.PDF, uploads.PNG, uploads.JPEG)
EXTENSIONS: Final = {t: uploads.EXTENSIONS[t] for t in ACCEPTED}
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9 ._()\-]+")


def sniff_content_type(data: bytes) -> str | None:
    return uploads.sniff_allowed(data, ACCEPTED)


def check_file(data: bytes) -> str:
    """The content type of an acceptable upload, else a 422 on `file`."""
    if not data:
        raise invalid_field("file", "choose a file to upload", "file_missing")
    if len(data) > MAX_FILE_BYTES:
        raise file_too_large()
    content_type = sniff_content_type(data)
    if content_type is None:
        raise invalid_field("file", "must be a PDF, PNG or JPEG file", "unsupported_file_type")
    return content_type


def file_too_large() -> DuroError:
    return invalid_field("file", "must be at most 10 MiB", "file_too_large")


def sanitise_file_name(raw: str | None, content_type: str, fallback: str) -> str:
    """A display/download name safe in a header and on any file system: the last path component, ASCII letters,
    digits and `._()-` and spaces only, no leading dots, the extension of the DETECTED type (a PNG sent as
    `scan.pdf` becomes `scan.png`), at most 200 characters."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    stem = name.rsplit(".", 1)[0] if "." in name else name
    stem = _UNSAFE.sub("_", stem)
    stem = re.sub(r"\s+", " ", stem).strip(" ._") or fallback
    extension = EXTENSIONS[content_type]
    return stem[: MAX_FILE_NAME - len(extension)].rstrip(" ._") + extension


def check_note(note: object) -> str:
    if not isinstance(note, str) or not note.strip():
        raise invalid_field("note", "a note for the merchant is required (1-1000 characters)", "note_required")
    cleaned = note.strip()
    if len(cleaned) > MAX_NOTE:
        raise invalid_field("note", "must be at most 1000 characters", "note_too_long")
    return cleaned
