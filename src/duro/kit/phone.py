"""Phone numbers: parsed with `phonenumbers`, stored and returned as E.164 (01 §4)."""

from __future__ import annotations

import phonenumbers

_default_region = "NG"


def configure(default_region: str) -> None:
    """Set the process-wide default region (DURO_DEFAULT_PHONE_REGION) used for local numbers."""
    global _default_region
    _default_region = default_region.upper()


def normalize_phone(text: str, region: str | None = None) -> str:
    """`08012345678`, `2348012345678` and `+234 801 234 5678` all give `+2348012345678`."""
    raw = text.strip()
    region = region or _default_region
    candidates = [raw]
    if not raw.startswith("+") and raw.isdigit():
        # A bare international number without its plus (2348012345678) is read as one if valid.
        candidates.append("+" + raw)
    for candidate in candidates:
        try:
            parsed = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    raise ValueError("not a valid phone number")
