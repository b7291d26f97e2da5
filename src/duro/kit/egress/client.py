"""The one guarded client for outbound HTTP to merchant-controlled URLs (05 §8).

`check_url` / `check_url_at_save` run when an endpoint URL is saved; `guarded_post` runs the delivery-time guard
and the POST: re-check the URL, resolve once, refuse if any address is forbidden, connect only to the checked
addresses, no redirects, no proxies, tight timeouts, bounded body. Network problems never raise: they come back as
`PostResult.error` codes, which are the attempt `error` values of 05 §5.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Final, Literal

import aiohttp
import certifi
from yarl import URL

from duro.kit.clock import monotonic
from duro.kit.egress.addresses import IPAddress, forbidden, is_loopback, parse_ip
from duro.kit.egress.transport import PinnedSessions
from duro.kit.egress.url_policy import CheckedUrl, DestinationRefused, EgressPolicy, check_url

MAX_RESPONSE_BYTES: Final = 64 * 1024
SAVE_RESOLVE_SECONDS: Final = 5.0

# Connection pools per destination pin, shared by every attempt of this process (see PinnedSessions).
_SESSIONS: Final = PinnedSessions()

ErrorCode = Literal["dns_error", "blocked_destination", "connect_error", "tls_error", "timeout", "protocol_error"]
# (host, port) -> addresses in resolver order, as text. Raise OSError (e.g. socket.gaierror) when it fails.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]


@dataclass(frozen=True)
class EgressTimeouts:
    """Seconds. `total` bounds the whole attempt: resolution, connect, TLS, request and reading the response."""

    connect: float = 10.0
    read: float = 10.0
    write: float = 10.0  # not enforced separately by aiohttp: a stalled write ends at `total` (see `_post`)
    total: float = 20.0


DEFAULT_TIMEOUTS: Final = EgressTimeouts()


@dataclass
class PostResult:
    """The outcome of one attempt. `status` is set whenever a response arrived (3xx included: redirects are never
    followed); `error` is one of the attempt error codes of 05 §5 or None. `body` holds at most 64 KiB."""

    status: int | None
    headers: dict[str, str]
    body: bytes
    duration_ms: int
    error: ErrorCode | None
    error_message: str | None
    # The headers as put on the wire (the caller's, with Host, Accept-Encoding and Content-Length), lower-cased.
    request_headers: dict[str, str] = field(default_factory=dict)


async def system_resolver(host: str, port: int) -> list[str]:
    """`getaddrinfo` through the event loop, both families, addresses de-duplicated in resolver order."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, family=socket.AF_UNSPEC, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    seen: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in seen:
            seen.append(address)
    return seen


async def check_url_at_save(
    url: str, policy: EgressPolicy, *, resolver: Resolver | None = None
) -> tuple[CheckedUrl, str | None]:
    """Rules 1–5 of 05 §8. A host name is resolved once as a courtesy: any forbidden address refuses the URL; a
    name that does not resolve is accepted with a warning (returned as the second item)."""
    checked = check_url(url, policy)
    if checked.ip is not None:
        return checked, None
    resolve = resolver or system_resolver
    try:
        async with asyncio.timeout(SAVE_RESOLVE_SECONDS):
            found = await resolve(checked.host, checked.port)
    except (OSError, UnicodeError, TimeoutError):
        return checked, f"{checked.host} does not resolve yet; deliveries will fail until it does"
    if not found:
        return checked, f"{checked.host} does not resolve yet; deliveries will fail until it does"
    refused = _first_refused(found, policy, allow_loopback=False)
    if refused is not None:
        raise DestinationRefused(f"{checked.host} resolves to {refused}, which is not a public address")
    return checked, None


async def guarded_post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    policy: EgressPolicy,
    *,
    resolver: Resolver | None = None,
    timeouts: EgressTimeouts = DEFAULT_TIMEOUTS,
) -> PostResult:
    """POST `body` to `url` through the delivery-time guard. Never raises for network, TLS, DNS or guard problems;
    a 3xx is returned as a status (the caller treats it as a failure). `Host` is always derived from the URL."""
    return await _guarded_post(url, body, headers, policy, resolver=resolver, timeouts=timeouts)


async def _guarded_post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    policy: EgressPolicy,
    *,
    resolver: Resolver | None,
    timeouts: EgressTimeouts,
    ssl_context: ssl.SSLContext | None = None,
    _unsafe_allow_loopback_for_tests: bool = False,
) -> PostResult:
    """The implementation behind `guarded_post`. Two extra knobs exist for tests only and are deliberately not
    reachable through the public function: `ssl_context` (trust a test CA) and `_unsafe_allow_loopback_for_tests`
    (treat 127.0.0.0/8 and ::1 as allowed although the policy is strict, so a local TLS server can stand in for a
    merchant without switching the whole guard to insecure mode). Production code must only call `guarded_post`."""
    started = monotonic()
    state = _Attempt(started)
    try:
        checked = check_url(url, policy)
    except DestinationRefused as exc:
        return state.failed("blocked_destination", exc.rule)
    try:
        async with asyncio.timeout(timeouts.total):
            addresses = await _resolve_and_check(checked, policy, resolver, state, _unsafe_allow_loopback_for_tests)
            if isinstance(addresses, PostResult):
                return addresses
            state.phase = "request"
            context = ssl_context or _default_ssl_context()
            return await _post(checked, addresses, body, headers, context, timeouts, state)
    except TimeoutError:
        if state.phase == "resolve":
            return state.failed("dns_error", f"resolving {checked.host} timed out")
        return state.failed("timeout", f"the attempt exceeded {timeouts.total:g} s")


class _Attempt:
    def __init__(self, started: float) -> None:
        self.started = started
        self.phase: Literal["resolve", "request"] = "resolve"
        self.request_headers: dict[str, str] = {}

    def elapsed_ms(self) -> int:
        return max(0, round((monotonic() - self.started) * 1000))

    def failed(self, code: ErrorCode, message: str, *, status: int | None = None) -> PostResult:
        return PostResult(
            status=status,
            headers={},
            body=b"",
            duration_ms=self.elapsed_ms(),
            error=code,
            error_message=message,
            request_headers=self.request_headers,
        )


async def _resolve_and_check(
    checked: CheckedUrl, policy: EgressPolicy, resolver: Resolver | None, state: _Attempt, allow_loopback: bool
) -> list[IPAddress] | PostResult:
    if checked.ip is not None:
        return [checked.ip]
    resolve = resolver or system_resolver
    try:
        found = list(await resolve(checked.host, checked.port))
    except (OSError, UnicodeError) as exc:
        return state.failed("dns_error", f"resolving {checked.host} failed: {exc}")
    if not found:
        return state.failed("dns_error", f"{checked.host} has no addresses")
    refused = _first_refused(found, policy, allow_loopback=allow_loopback)
    if refused is not None:
        return state.failed("blocked_destination", f"{checked.host} resolved to {refused}, which is not public")
    # _first_refused has parsed every entry successfully.
    return [ip for ip in (parse_ip(a) for a in found) if ip is not None]


def _first_refused(found: Sequence[str], policy: EgressPolicy, *, allow_loopback: bool) -> str | None:
    """The first address the guard refuses (unparseable counts: any doubt fails closed), or None."""
    for text in found:
        ip = parse_ip(text)
        if ip is None:
            return text
        if policy.allow_insecure or (allow_loopback and is_loopback(ip)):
            continue
        if forbidden(ip):
            return text
    return None


async def _post(
    checked: CheckedUrl,
    addresses: list[IPAddress],
    body: bytes,
    headers: Mapping[str, str],
    ssl_context: ssl.SSLContext,
    timeouts: EgressTimeouts,
    state: _Attempt,
) -> PostResult:
    """Sent through a pinned session (see `transport`) that adds no headers, reads no proxy settings from the
    environment, keeps no cookies and never follows redirects; the `Host` header comes from the checked URL.

    Timeouts: `connect` bounds each address's TCP connect and TLS handshake; `read` bounds every wait for response
    bytes once the request is written; `total` bounds the whole attempt (the caller's `asyncio.timeout`). aiohttp
    has no write timeout: a body under its 64 KiB write buffer (plus the kernel's socket buffers) is handed over
    without waiting, so only a larger body sent to a peer that reads nothing can stall, and `total` ends that
    attempt as a `timeout` (after 20 s instead of the 10 s of `write`)."""
    url = URL(f"{checked.scheme}://{checked.url_host}:{checked.port}{checked.target}", encoded=True)
    if url.raw_host != checked.host or url.port != checked.port or url.raw_path_qs != checked.target:
        # yarl must read the checked URL exactly as we did; anything else is a parser differential.
        return state.failed("blocked_destination", "the URL was not parsed consistently")
    sent = _request_headers(checked, headers)
    sent["Content-Length"] = str(len(body))
    state.request_headers = {k.lower(): v for k, v in sent.items()}
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeouts.connect, sock_read=timeouts.read)
    async with _SESSIONS.lease(checked.host, checked.port, addresses, ssl_context) as session:
        try:
            response = await session.post(
                url, data=body, headers=sent, allow_redirects=False, ssl=ssl_context, timeout=timeout
            )
        except (aiohttp.ClientError, OSError) as exc:
            code, message = _classify(exc)
            return state.failed(code, message)
        try:
            received = bytearray()
            while len(received) < MAX_RESPONSE_BYTES:
                chunk = await response.content.read(MAX_RESPONSE_BYTES - len(received))
                if not chunk:
                    break
                received += chunk
        except (aiohttp.ClientError, OSError) as exc:
            # The status arrived but the body broke off: still a failed attempt, with the status recorded.
            code, message = _classify(exc)
            return state.failed(code, message, status=response.status)
        finally:
            # An unread remainder closes the connection instead of returning it to the pool.
            response.release()
    return PostResult(
        status=response.status,
        headers=_joined(response.headers),
        body=bytes(received),
        duration_ms=state.elapsed_ms(),
        error=None,
        error_message=None,
        request_headers=state.request_headers,
    )


def _request_headers(checked: CheckedUrl, headers: Mapping[str, str]) -> dict[str, str]:
    """The caller's headers, except that `Host` always comes from the checked URL, the body is never compressed (a
    compressed body could expand far beyond the 64 KiB we read) and `Content-Length` is the body's."""
    dropped = ("host", "accept-encoding", "content-length", "transfer-encoding", "connection")
    out = {k: v for k, v in headers.items() if k.lower() not in dropped}
    out["Host"] = checked.host_header
    out["Accept-Encoding"] = "identity"
    return out


def _joined(headers: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in headers.items():
        name = key.lower()
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


def _classify(exc: BaseException) -> tuple[ErrorCode, str]:
    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ServerTimeoutError | TimeoutError):
        return "timeout", message
    if isinstance(exc, aiohttp.ClientSSLError) or _ssl_failure(exc):
        return "tls_error", _ssl_message(exc) or message
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientResponseError | aiohttp.ClientPayloadError):
        # Closed without an answer, or an answer that is not HTTP/1.x.
        return "protocol_error", message
    if isinstance(exc, aiohttp.ClientConnectionError | OSError):
        return "connect_error", message
    return "protocol_error", message


def _ssl_failure(exc: BaseException) -> bool:
    return _ssl_message(exc) is not None


def _ssl_message(exc: BaseException) -> str | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError | ssl.CertificateError):
            return str(current)
        certificate_error = getattr(current, "certificate_error", None)
        if isinstance(certificate_error, BaseException):  # aiohttp's ClientConnectorCertificateError
            return str(certificate_error)
        current = current.__cause__ or current.__context__
    return None


async def close_connections() -> None:
    """Close the idle kept-alive connections of the guarded client (call on worker shutdown)."""
    await _SESSIONS.aclose()


@cache
def _default_ssl_context() -> ssl.SSLContext:
    """certifi's CA bundle, ignoring SSL_CERT_FILE and friends like every other environment knob."""
    return ssl.create_default_context(cafile=certifi.where())
