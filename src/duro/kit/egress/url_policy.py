"""Save-time rules 1–4 of the SSRF guard (05 §8): strict parsing and host canonicalisation, no I/O.

The parser is deliberately our own and narrower than both RFC 3986 and the WHATWG URL standard: anything on which
two parsers could disagree about the host (backslashes, userinfo, percent-encoded or non-canonical numeric hosts,
zone ids) is refused instead of interpreted. `check_url` is idempotent on its own output (`CheckedUrl.url`), which
is the form that gets stored and re-checked before every delivery attempt.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import idna

from duro.kit.egress.addresses import IPAddress, forbidden

if TYPE_CHECKING:
    from duro.config import Settings

MAX_URL_LENGTH: Final = 2048
DEFAULT_PORTS: Final = {"https": 443, "http": 80}
# Names equal to or ending in one of these are never a merchant's public server (05 §8 rule 3).
SPECIAL_USE_SUFFIXES: Final = ("localhost", "local", "localdomain", "internal", "home.arpa", "arpa", "onion")

_SCHEME_RE: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_PORT_RE: Final = re.compile(r"[1-9][0-9]{0,4}")
_DEC_OCTET: Final = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_CANONICAL_V4_RE: Final = re.compile(rf"{_DEC_OCTET}(?:\.{_DEC_OCTET}){{3}}")
# WHATWG: a host whose last label is a number (decimal, or hex with a 0x marker) is an IPv4 address.
_NUMERIC_LABEL_RE: Final = re.compile(r"[0-9]+|0x[0-9a-f]*")
_LDH_NAME_RE: Final = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)*")
_FORBIDDEN_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


class DestinationRefused(Exception):
    """A URL (or the addresses its host resolves to) that the guard refuses. `rule` is the human rule text shown as
    the `issue` of the 422 `details` item for `url`."""

    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


@dataclass(frozen=True)
class EgressPolicy:
    """What a destination may be. `allow_insecure` relaxes only the scheme (`http`), the port and the host class
    (localhost, single-label and special-use names, addresses denied by `forbidden`) — never the parsing rules.
    Build it with `for_mode` so that live endpoints and non-development environments can never get it."""

    allowed_ports: frozenset[int]
    allow_insecure: bool = False

    @classmethod
    def for_mode(cls, settings: Settings, mode: str) -> EgressPolicy:
        ports = parse_allowed_ports(settings.webhook_allowed_ports)
        insecure = (
            settings.webhook_allow_insecure_test and settings.env == "development" and mode in ("test", "sandbox")
        )
        return cls(allowed_ports=ports, allow_insecure=insecure)


def parse_allowed_ports(spec: str) -> frozenset[int]:
    ports: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        if not _PORT_RE.fullmatch(part) or int(part) > 65535:
            raise ValueError(f"DURO_WEBHOOK_ALLOWED_PORTS: {part!r} is not a port number")
        ports.add(int(part))
    return frozenset(ports)


@dataclass(frozen=True)
class CheckedUrl:
    """A URL that passed rules 1–4. `host` is the canonical ASCII name or the compressed IP literal (IPv6 without
    brackets); `ip` is set for IP literals; `target` is the request target (path and query, at least `/`)."""

    url: str
    scheme: str
    host: str
    port: int
    target: str
    ip: IPAddress | None

    @property
    def url_host(self) -> str:
        return f"[{self.host}]" if isinstance(self.ip, ipaddress.IPv6Address) else self.host

    @property
    def host_header(self) -> str:
        """`host[:port]` as the server sees it; the port only when it is not the scheme's default."""
        if self.port == DEFAULT_PORTS[self.scheme]:
            return self.url_host
        return f"{self.url_host}:{self.port}"


def check_url(url: str, policy: EgressPolicy) -> CheckedUrl:
    """Rules 1–4 of 05 §8: strict parse, scheme, port, host canonicalisation and class, IP literals. Pure."""
    scheme, authority, target = _split(url, policy)
    host_text, port = _split_authority(authority, scheme, policy)
    if host_text.startswith("["):
        ip6 = _bracketed_ipv6(host_text)
        _check_ip(ip6, policy)
        return _checked(scheme, ip6.compressed, port, target, ip6)
    host = _canonical_name(host_text)
    ip4 = _ipv4_literal(host, written=host_text)
    if ip4 is not None:
        _check_ip(ip4, policy)
        return _checked(scheme, str(ip4), port, target, ip4)
    _check_host_class(host, policy)
    return _checked(scheme, host, port, target, None)


def _checked(scheme: str, host: str, port: int, target: str, ip: IPAddress | None) -> CheckedUrl:
    draft = CheckedUrl(url="", scheme=scheme, host=host, port=port, target=target, ip=ip)
    return CheckedUrl(
        url=f"{scheme}://{draft.host_header}{target}", scheme=scheme, host=host, port=port, target=target, ip=ip
    )


def _split(url: str, policy: EgressPolicy) -> tuple[str, str, str]:
    """Rule 1: the characters a URL may contain, the scheme, no fragment; returns (scheme, authority, target)."""
    if len(url) > MAX_URL_LENGTH:
        raise DestinationRefused(f"URL must be at most {MAX_URL_LENGTH} characters")
    for ch in url:
        if ch.isspace():
            raise DestinationRefused("URL must not contain whitespace")
        if unicodedata.category(ch) in _FORBIDDEN_CATEGORIES:
            raise DestinationRefused("URL must not contain control characters")
    if "\\" in url:
        raise DestinationRefused("URL must not contain backslashes")
    if "#" in url:
        raise DestinationRefused("URL must not contain a fragment")
    match = _SCHEME_RE.match(url)
    if match is None:
        raise DestinationRefused("URL must be absolute, starting with https://")
    scheme = match.group(1).lower()
    allowed = ("https", "http") if policy.allow_insecure else ("https",)
    if scheme not in allowed:
        raise DestinationRefused("URL must use https")
    rest = url[match.end() :]
    if not rest.startswith("//"):
        raise DestinationRefused("URL must be absolute, starting with https://")
    rest = rest[2:]
    end = len(rest)
    for sep in "/?":
        pos = rest.find(sep)
        if pos != -1:
            end = min(end, pos)
    authority, target = rest[:end], rest[end:]
    if not target.startswith("/"):
        target = "/" + target
    return scheme, authority, target


def _split_authority(authority: str, scheme: str, policy: EgressPolicy) -> tuple[str, int]:
    """Rules 1–2: no userinfo, a host, a valid port that the policy allows."""
    if "@" in authority:
        raise DestinationRefused("URL must not contain credentials (user@host)")
    if "%" in authority:
        raise DestinationRefused("host must not contain percent-encoding or a zone id")
    if authority.startswith("["):
        close = authority.find("]")
        if close == -1:
            raise DestinationRefused("bracketed host must be a valid IPv6 address")
        host_text, after = authority[: close + 1], authority[close + 1 :]
        if after and not after.startswith(":"):
            raise DestinationRefused("bracketed host must be a valid IPv6 address")
        port_text = after[1:] if after else None
    else:
        host_text, colon, port_text_raw = authority.partition(":")
        port_text = port_text_raw if colon else None
    if not host_text or host_text == ".":
        raise DestinationRefused("URL must have a host")
    if port_text is None:
        port = DEFAULT_PORTS[scheme]
    else:
        if not _PORT_RE.fullmatch(port_text) or int(port_text) > 65535:
            raise DestinationRefused("port must be a number from 1 to 65535")
        port = int(port_text)
    if not policy.allow_insecure and port not in policy.allowed_ports:
        allowed = ", ".join(str(p) for p in sorted(policy.allowed_ports)) or "none"
        raise DestinationRefused(f"port {port} is not allowed (allowed ports: {allowed})")
    return host_text, port


def _bracketed_ipv6(host_text: str) -> ipaddress.IPv6Address:
    """Rule 4: a bracketed host is an IPv6 address without a zone id (the `%` was refused already)."""
    try:
        return ipaddress.IPv6Address(host_text[1:-1])
    except ValueError:
        raise DestinationRefused("bracketed host must be a valid IPv6 address") from None


def _canonical_name(host_text: str) -> str:
    """Rule 3: IDNA (UTS 46) to ASCII, lower case, strip one trailing dot."""
    name = host_text[:-1] if host_text.endswith(".") else host_text
    if not name:
        raise DestinationRefused("URL must have a host")
    try:
        ascii_name = idna.encode(name, uts46=True, transitional=False).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError):
        raise DestinationRefused("host must be a valid domain name") from None
    if not _LDH_NAME_RE.fullmatch(ascii_name):
        # idna already refuses these; checked again because every later step assumes letters, digits, hyphens and
        # dots only (UTS 46 can also map a character such as U+3002 to a dot, making a second trailing dot).
        raise DestinationRefused("host must be a valid domain name")
    return ascii_name


def _ipv4_literal(host: str, *, written: str) -> ipaddress.IPv4Address | None:
    """Rule 4: a canonical dotted quad is an address; any other numeric form is refused; anything else is a name.
    `written` is the host as it appeared in the URL: a trailing dot, upper-case hex or full-width digits that UTS 46
    mapped to ASCII make it non-canonical too."""
    last = host.rsplit(".", 1)[-1]
    if not _NUMERIC_LABEL_RE.fullmatch(last) and not _inet_aton_accepts(host):
        return None
    if written != host or not _CANONICAL_V4_RE.fullmatch(host):
        raise DestinationRefused("IP address must be written in canonical dotted-quad form")
    return ipaddress.IPv4Address(host)


def _inet_aton_accepts(host: str) -> bool:
    try:
        socket.inet_aton(host)
    except OSError:
        return False
    return True


def _check_ip(ip: IPAddress, policy: EgressPolicy) -> None:
    if not policy.allow_insecure and forbidden(ip):
        raise DestinationRefused(f"address {ip} is not a public address")


def _check_host_class(host: str, policy: EgressPolicy) -> None:
    if policy.allow_insecure:
        return
    if "." not in host:
        if host == "localhost":
            raise DestinationRefused("host must not be localhost")
        raise DestinationRefused("host must be a fully qualified domain name (not a single label)")
    for suffix in SPECIAL_USE_SUFFIXES:
        if host == suffix or host.endswith("." + suffix):
            raise DestinationRefused(f"host must not be a special-use name (.{suffix})")
