"""Pure KYC rules: type by magic bytes, size, file-name sanitising, review notes."""

from __future__ import annotations

import pytest

from duro.kit.errors import DuroError
from duro.kyc.rules import MAX_FILE_BYTES, check_file, check_note, sanitise_file_name, sniff_content_type
from tests.kyc.files import EXE, HTML, JPEG, PDF, PNG


@pytest.mark.parametrize(
    ("data", "expected"),
    [(PDF, "application/pdf"), (PNG, "image/png"), (JPEG, "image/jpeg"), (EXE, None), (HTML, None), (b"%PD", None)],
)
def test_sniff(data: bytes, expected: str | None) -> None:
    assert sniff_content_type(data) == expected


def test_check_file_limits() -> None:
    assert check_file(PDF + b"\x00" * (MAX_FILE_BYTES - len(PDF))) == "application/pdf"  # exactly 10 MiB
    with pytest.raises(DuroError) as too_big:
        check_file(PDF + b"\x00" * (MAX_FILE_BYTES - len(PDF) + 1))
    assert (too_big.value.status, too_big.value.reason) == (422, "file_too_large")
    with pytest.raises(DuroError) as empty:
        check_file(b"")
    assert empty.value.reason == "file_missing"
    with pytest.raises(DuroError) as exe:
        check_file(EXE)
    assert (exe.value.status, exe.value.reason, exe.value.details[0].path) == (422, "unsupported_file_type", "file")


@pytest.mark.parametrize(
    ("raw", "content_type", "expected"),
    [
        ("certificate.pdf", "application/pdf", "certificate.pdf"),
        ("scan.pdf", "image/png", "scan.png"),  # the detected type wins over the client's name
        ("../../etc/passwd", "application/pdf", "passwd.pdf"),
        ("C:\\Users\\ada\\CAC cert.JPG", "image/jpeg", "CAC cert.jpg"),
        ('evil";\r\nX-Header: 1.pdf', "application/pdf", "evil_X-Header_ 1.pdf"),
        ("Ọjà Café.pdf", "application/pdf", "Oja Cafe.pdf"),
        ("...", "application/pdf", "cac.pdf"),
        (None, "image/png", "cac.png"),
        (".hidden.pdf", "application/pdf", "hidden.pdf"),
    ],
)
def test_sanitise_file_name(raw: str | None, content_type: str, expected: str) -> None:
    assert sanitise_file_name(raw, content_type, "cac") == expected


def test_sanitised_name_is_at_most_200() -> None:
    name = sanitise_file_name("a" * 500 + ".pdf", "application/pdf", "cac")
    assert len(name) == 200
    assert name.endswith(".pdf")


def test_note() -> None:
    assert check_note("  Blurry scan  ") == "Blurry scan"
    assert check_note("x" * 1000) == "x" * 1000
    for bad in ("", "   ", None, 5, "x" * 1001):
        with pytest.raises(DuroError) as caught:
            check_note(bad)
        assert caught.value.status == 422
        assert caught.value.details[0].path == "note"
