"""The appearance configuration (07 §4) as pure data: six surfaces, their fields and defaults, per-field
validation, the deep-merge of a partial surface into a draft, and the `general` cascade of hosted pages (06 §8).

Storage form: `core.store_configs.draft`/`published` hold only the fields a merchant has set (`{}` = all defaults),
so a default changed in code reaches every tenant that never overrode it. `resolve()` fills the defaults;
`effective()` also applies the cascade and the tenant-name fallback, which is what hosted pages read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from duro.gateway.protocol import RAILS
from duro.kit.errors import Detail, DuroError, validation
from duro.kit.jsonenc import canonical as canonical_bytes
from duro.kit.validation import check_email

SURFACES: Final[tuple[str, ...]] = ("general", "store", "checkout", "overlay", "portal", "email")
FONTS: Final[tuple[str, ...]] = ("system", "inter", "ibm-plex-sans", "source-serif")
LANGUAGES: Final[tuple[str, ...]] = ("en",)
DEFAULT_BRAND_COLOR: Final = "#0F766E"
# Surfaces that take `brandColor`/`font`/`logo` from `general` unless they set their own (06 §8).
CASCADED: Final[tuple[str, ...]] = ("store", "checkout", "overlay", "portal", "email")

DEFAULT_PORTAL_PERMISSIONS: Final[Mapping[str, Any]] = {
    "cancelSubscription": True,
    "cancelMode": "period_end",
    "pauseSubscription": False,
    "updatePaymentMethod": True,
    "retryPayment": True,
    "viewInvoices": True,
}

MAX_URL = 2048
MAX_LINK_IDS = 100
MAX_ORIGINS = 50

_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
_LINK_ID = re.compile(r"^plink_[0-9A-HJKMNP-TV-Z]{26}$")
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Where an uploaded logo is served (`duro.appearance.logos`): content-addressed, so a path never changes meaning.
LOGO_PATH: Final = re.compile(r"/assets/logos/(ten_[0-9A-Za-z]{26})/([0-9a-f]{64}\.(?:png|jpg|webp))")

Check = Callable[[Any], Any]  # returns the normalised value or raises ValueError(issue)


# --- field checks: each returns the value to store, or raises ValueError with the issue text ---


def _text(max_len: int, *, min_len: int = 1, multiline: bool = False) -> Check:
    def check(value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        if not min_len <= len(value) <= max_len:
            raise ValueError(f"must be {min_len}-{max_len} characters")
        if min_len and not value.strip():
            raise ValueError("must not be blank")
        allowed = "\n\t" if multiline else ""
        if any(not ch.isprintable() and ch not in allowed for ch in value):
            raise ValueError("must contain printable characters only")
        return value

    return check


def _boolean(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError("must be a boolean")
    return value


def _one_of(*options: str) -> Check:
    def check(value: Any) -> Any:
        if not isinstance(value, str) or value not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return value

    return check


def _color(value: Any) -> Any:
    if not isinstance(value, str) or not _COLOR.match(value):
        raise ValueError("must be a colour #RRGGBB")
    return value.upper()


def _https_url(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if len(value) > MAX_URL:
        raise ValueError(f"must be at most {MAX_URL} characters")
    if any(not ch.isprintable() or ch.isspace() for ch in value):
        raise ValueError("must be a URL without spaces or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise ValueError("must be a valid https URL") from None
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("must be an https URL")
    return value


def _logo(value: Any) -> Any:
    """The public path of a logo uploaded through the dashboard (`/assets/logos/{tenantId}/{sha256}.{ext}`, served
    by Duro itself), or an https URL of an image hosted elsewhere (the CLI may set one). SVG is refused either way:
    an SVG can carry script, and a hosted page must never load one."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_URL:
        raise ValueError(f"must be a string of 1-{MAX_URL} characters")
    if any(not ch.isprintable() or ch.isspace() for ch in value):
        raise ValueError("must not contain spaces or control characters")
    if urlsplit(value).path.lower().endswith(".svg"):
        raise ValueError("SVG logos are not accepted")
    if "://" in value:
        return _https_url(value)
    if not LOGO_PATH.fullmatch(value):
        raise ValueError("must be an uploaded logo (/assets/logos/…) or an https URL")
    return value


def _email(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return check_email(value)


def _rails(value: Any) -> Any:
    if not isinstance(value, list):
        raise ValueError("must be a list")
    if not value:
        raise ValueError("must name at least one rail")
    seen: set[str] = set()
    for index, rail in enumerate(value):
        if not isinstance(rail, str) or rail not in RAILS:
            raise ValueError(f"{index}: must be one of {', '.join(RAILS)}")
        if rail in seen:
            raise ValueError(f"{index}: {rail} is listed twice")
        seen.add(rail)
    return list(value)


def _link_ids(value: Any) -> Any:
    if not isinstance(value, list):
        raise ValueError("must be a list")
    if len(value) > MAX_LINK_IDS:
        raise ValueError(f"must have at most {MAX_LINK_IDS} items")
    seen: set[str] = set()
    for index, link in enumerate(value):
        if not isinstance(link, str) or not _LINK_ID.match(link):
            raise ValueError(f"{index}: must be a payment link id (plink_…)")
        if link in seen:
            raise ValueError(f"{index}: {link} is listed twice")
        seen.add(link)
    return list(value)


def normalize_origin(value: Any) -> str:
    """`scheme://host[:port]` as a browser's `location.origin` spells it: lower case, default port dropped."""
    if not isinstance(value, str) or not value or len(value) > MAX_URL:
        raise ValueError("must be an origin scheme://host[:port]")
    if any(not ch.isprintable() or ch.isspace() for ch in value):
        raise ValueError("must be an origin without spaces or control characters")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError("must be an origin scheme://host[:port]") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError("must be an http or https origin scheme://host[:port]")
    if parts.path or parts.query or parts.fragment or value.endswith(("?", "#")):
        raise ValueError("must be an origin without path, query or fragment")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must be an origin without credentials")
    host = parts.hostname  # already lower-cased by urlsplit
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" if port in (None, _DEFAULT_PORTS[scheme]) else f"{scheme}://{host}:{port}"


def _origins(value: Any) -> Any:
    if not isinstance(value, list):
        raise ValueError("must be a list")
    if len(value) > MAX_ORIGINS:
        raise ValueError(f"must have at most {MAX_ORIGINS} items")
    out: list[str] = []
    for index, origin in enumerate(value):
        try:
            normalized = normalize_origin(origin)
        except ValueError as exc:
            raise ValueError(f"{index}: {exc}") from None
        if normalized in out:
            raise ValueError(f"{index}: {normalized} is listed twice")
        out.append(normalized)
    return out


@dataclass(frozen=True, slots=True)
class Field:
    default: Any
    check: Check | None = None  # None: an object field (see OBJECT_FIELDS)


# The permissions object of the portal surface (06 §7): every key has a default, so `null` restores it.
PERMISSION_FIELDS: Final[Mapping[str, Field]] = {
    "cancelSubscription": Field(True, _boolean),
    "cancelMode": Field("period_end", _one_of("period_end", "immediate")),
    "pauseSubscription": Field(False, _boolean),
    "updatePaymentMethod": Field(True, _boolean),
    "retryPayment": Field(True, _boolean),
    "viewInvoices": Field(True, _boolean),
}

# Nested objects, merged key by key (07 §4: "objects merged").
OBJECT_FIELDS: Final[Mapping[tuple[str, str], Mapping[str, Field]]] = {("portal", "permissions"): PERMISSION_FIELDS}

FIELDS: Final[Mapping[str, Mapping[str, Field]]] = {
    "general": {
        "displayName": Field(None, _text(120)),  # null: the tenant's name, resolved when read
        "brandColor": Field(DEFAULT_BRAND_COLOR, _color),
        "font": Field("system", _one_of(*FONTS)),
        "logo": Field(None, _logo),
        "language": Field("en", _one_of(*LANGUAGES)),
    },
    "store": {
        "enabled": Field(False, _boolean),
        "heading": Field(None, _text(120)),
        "description": Field(None, _text(1000, multiline=True)),
        "linkIds": Field([], _link_ids),  # empty: every active payment link
        "layout": Field("grid", _one_of("grid", "list")),
    },
    "checkout": {
        "rails": Field(list(RAILS), _rails),
        "collectName": Field(False, _boolean),
        "phoneField": Field("optional", _one_of("required", "optional", "hidden")),
        "headline": Field(None, _text(120)),
        "submitLabel": Field("Pay", _text(40)),
        "footerNote": Field(None, _text(300, multiline=True)),
        "termsUrl": Field(None, _https_url),
        "brandColor": Field(None, _color),  # null: inherit general
    },
    "overlay": {
        "theme": Field("light", _one_of("light", "dark")),
        "showIdentityBar": Field(True, _boolean),
        "allowedOrigins": Field([], _origins),  # empty: any origin may embed
        "brandColor": Field(None, _color),
    },
    "portal": {
        "heading": Field(None, _text(120)),
        "supportUrl": Field(None, _https_url),
        "brandColor": Field(None, _color),
        "permissions": Field(dict(DEFAULT_PORTAL_PERMISSIONS)),
    },
    "email": {
        "senderName": Field(None, _text(100)),
        "replyTo": Field(None, _email),
        "headerText": Field(None, _text(500, multiline=True)),
        "footerText": Field(None, _text(500, multiline=True)),
        "showLogo": Field(True, _boolean),
        "brandColor": Field(None, _color),
    },
}


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def unknown_surface(surface: str) -> DuroError:
    return DuroError(
        404,
        f"No such appearance surface: {surface[:40]}",
        "resource_missing",
        [Detail("surface", f"must be one of {', '.join(SURFACES)}")],
    )


# --- defaults and resolution ---


def defaults() -> dict[str, dict[str, Any]]:
    """Every surface with every field at its default (`general.displayName` null = the tenant's name)."""
    return {surface: {name: _copy(f.default) for name, f in fields.items()} for surface, fields in FIELDS.items()}


def resolve(stored: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The full configuration from its stored (sparse) form: defaults filled in, unknown keys ignored (so a field
    dropped from the code never breaks reading an old row). Not cascaded: `brandColor: null` stays null."""
    out = defaults()
    stored = stored or {}
    for surface, fields in FIELDS.items():
        given = stored.get(surface)
        if not isinstance(given, Mapping):
            continue
        for name in fields:
            if name not in given or given[name] is None:
                continue
            nested = OBJECT_FIELDS.get((surface, name))
            if nested is not None:
                if isinstance(given[name], Mapping):
                    out[surface][name].update(
                        {k: _copy(v) for k, v in given[name].items() if k in nested and v is not None}
                    )
                continue
            out[surface][name] = _copy(given[name])
    return out


def effective(config: Mapping[str, Any] | None, tenant_name: str | None = None) -> dict[str, dict[str, Any]]:
    """What hosted pages render (06 §8): the configuration with defaults, `general.displayName` falling back to
    the tenant's name, and `brandColor`, `font` and `logo` of every other surface taken from `general` unless the
    surface sets its own `brandColor`."""
    out = resolve(config)
    general = out["general"]
    if general["displayName"] is None:
        general["displayName"] = tenant_name
    for surface in CASCADED:
        target = out[surface]
        if target.get("brandColor") is None:
            target["brandColor"] = general["brandColor"]
        target["font"] = general["font"]
        target["logo"] = general["logo"]
    return out


def canonical(config: Mapping[str, Any] | None) -> bytes:
    """Canonical JSON of the resolved configuration: equal bytes = the same appearance, however it is stored."""
    return canonical_bytes(resolve(config))


def has_unpublished_changes(draft: Mapping[str, Any] | None, published: Mapping[str, Any] | None) -> bool:
    return canonical(draft) != canonical(published)


# --- merging a partial surface into the stored draft ---


def merge_surface(stored: Mapping[str, Any] | None, surface: str, partial: Any) -> dict[str, Any]:
    """The stored draft after deep-merging `partial` into `surface` (07 §4): objects merged key by key, arrays
    and scalars replaced, `null` restores the default (drops the override), unknown fields refused. Every problem
    is reported at once as a 422 `validation_error` whose detail paths are relative to the surface object;
    nothing is merged when any field is invalid. `stored` is not modified."""
    if surface not in FIELDS:
        raise unknown_surface(surface)
    if not isinstance(partial, Mapping):
        raise validation("the body must be a JSON object", [Detail("body", "must be a JSON object")])
    fields = FIELDS[surface]
    problems: list[Detail] = []
    base = stored or {}
    current = base.get(surface)
    merged: dict[str, Any] = _copy(dict(current)) if isinstance(current, Mapping) else {}
    for name, value in partial.items():
        if not isinstance(name, str) or name not in fields:
            problems.append(Detail(str(name), "unknown field"))
            continue
        if _has_nul(value):
            problems.append(Detail(name, "must not contain NUL (U+0000) characters"))
            continue
        if value is None:
            merged.pop(name, None)
            continue
        nested = OBJECT_FIELDS.get((surface, name))
        if nested is not None:
            _merge_object(merged, name, nested, value, problems)
            continue
        check = fields[name].check
        assert check is not None
        try:
            merged[name] = check(value)
        except ValueError as exc:
            problems.append(_detail(name, str(exc)))
    if problems:
        raise validation(f"{problems[0].path}: {problems[0].issue}", problems)
    out = {k: _copy(v) for k, v in base.items() if k in FIELDS}
    if merged:
        out[surface] = merged
    else:
        out.pop(surface, None)
    return out


def _merge_object(
    merged: dict[str, Any], name: str, nested: Mapping[str, Field], value: Any, problems: list[Detail]
) -> None:
    if not isinstance(value, Mapping):
        problems.append(Detail(name, "must be an object"))
        return
    current = merged.get(name)
    target: dict[str, Any] = dict(current) if isinstance(current, Mapping) else {}
    for key, item in value.items():
        path = f"{name}.{key}"
        if not isinstance(key, str) or key not in nested:
            problems.append(Detail(path, "unknown field"))
            continue
        if item is None:
            target.pop(key, None)
            continue
        check = nested[key].check
        assert check is not None
        try:
            target[key] = check(item)
        except ValueError as exc:
            problems.append(_detail(path, str(exc)))
    if target:
        merged[name] = target
    else:
        merged.pop(name, None)


def _detail(path: str, issue: str) -> Detail:
    """List checks report "index: issue"; the index belongs in the path (`rails.1`)."""
    head, sep, rest = issue.partition(": ")
    if sep and head.isdigit():
        return Detail(f"{path}.{head}", rest)
    return Detail(path, issue)


# --- the audit diff ---


def diff(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Changed fields only (02 §9), per surface, of the resolved configurations: `(before, after)`. Objects are
    compared key by key, so a changed permission shows just that permission."""
    old, new = resolve(before), resolve(after)
    was: dict[str, Any] = {}
    now: dict[str, Any] = {}
    for surface in SURFACES:
        a, b = _diff_object(old[surface], new[surface])
        if a or b:
            was[surface], now[surface] = a, b
    return was, now


def _diff_object(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    was: dict[str, Any] = {}
    now: dict[str, Any] = {}
    for key in old.keys() | new.keys():
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            sub_a, sub_b = _diff_object(a, b)
            was[key], now[key] = sub_a, sub_b
        else:
            was[key], now[key] = _copy(a), _copy(b)
    return was, now
