"""aiohttp sessions pinned to addresses the guard has already checked.

aiohttp's connector resolves the URL's host through a pluggable resolver and then connects to the answers, starting
TLS with `server_hostname` set to the URL's host. `PinnedResolver` never looks anything up: it answers the one
(host, port) it was built for with the checked addresses, in resolver order, and refuses every other name, so a
connector built on it can only reach checked addresses (the connector moves to the next address only when a
connection cannot be established). TLS SNI and certificate verification therefore still use the host name, the
`Host` header is set by the caller from the URL, and no second DNS lookup can happen (the DNS-rebinding window is
closed).

aiohttp keys its kept-alive connections by host and port, not by address, so every pin gets its own connector:
a connection is only ever reused by an attempt that checked the same addresses. (httpcore, used before, cost
~1 ms of CPU per request in its pool bookkeeping at the worker's concurrency; aiohttp costs ~60 µs.)
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from duro.kit.egress.addresses import IPAddress


class PinnedResolver(AbstractResolver):
    """Answers `host:port` with the checked addresses and refuses every other destination."""

    def __init__(self, host: str, port: int, addresses: Sequence[IPAddress]) -> None:
        if not addresses:
            raise ValueError("a pinned resolver needs at least one address")
        self._host = host
        self._port = port
        self._answer: list[ResolveResult] = [
            {
                "hostname": host,
                "host": str(address),
                "port": port,
                "family": socket.AF_INET6 if isinstance(address, ipaddress.IPv6Address) else socket.AF_INET,
                "proto": socket.IPPROTO_TCP,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in addresses
        ]

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[Any]:
        if host != self._host or port != self._port:
            raise OSError(f"pinned resolver refuses {host}:{port} (pinned to {self._host}:{self._port})")
        return [dict(entry) for entry in self._answer]

    async def close(self) -> None:
        return None


def pinned_session(
    host: str, port: int, addresses: Sequence[IPAddress], ssl_context: ssl.SSLContext, *, keepalive_expiry: float
) -> aiohttp.ClientSession:
    """HTTP/1.1, no proxies (`trust_env=False`), no cookies, no automatic decompression, no DNS cache, addresses
    tried in order (no happy-eyeballs racing). Redirects are refused per request (`allow_redirects=False`)."""
    connector = aiohttp.TCPConnector(
        resolver=PinnedResolver(host, port, addresses),
        use_dns_cache=False,
        ssl=ssl_context,
        # The caller bounds concurrency per endpoint; a cap here would only turn its waits into pool timeouts.
        limit=0,
        limit_per_host=0,
        keepalive_timeout=keepalive_expiry,
        happy_eyeballs_delay=None,
    )
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        auto_decompress=False,
        # Only the headers the caller passes (plus Content-Length): no User-Agent, Accept or Accept-Encoding added.
        skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        timeout=aiohttp.ClientTimeout(total=None),
    )


PinKey = tuple[str, int, tuple[IPAddress, ...], ssl.SSLContext]


class PinnedSessions:
    """One pinned `aiohttp.ClientSession` (and so one connection pool) per destination pin — host, port, the exact
    set of checked addresses in order, and the TLS context — reused across attempts so a busy endpoint keeps its
    connections. A new DNS answer is a new pin: a kept-alive connection is only ever reused for an address the
    current attempt checked. A pin is a destination, which many endpoints can share.

    Sessions belong to one event loop; a call from another loop starts afresh. At most `max_pins` sessions are kept;
    the least recently used idle ones are closed first (a session with a request in flight is never closed under
    it)."""

    def __init__(self, max_pins: int = 256, keepalive_expiry: float = 30.0) -> None:
        self._max_pins = max_pins
        self._keepalive_expiry = keepalive_expiry
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sessions: OrderedDict[PinKey, aiohttp.ClientSession] = OrderedDict()
        self._in_use: dict[PinKey, int] = {}

    @asynccontextmanager
    async def lease(
        self, host: str, port: int, addresses: Sequence[IPAddress], ssl_context: ssl.SSLContext
    ) -> AsyncIterator[aiohttp.ClientSession]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # Connections of another (likely finished) loop cannot be used or closed from this one.
            self._sessions.clear()
            self._in_use.clear()
            self._loop = loop
        key: PinKey = (host, port, tuple(addresses), ssl_context)
        session = self._sessions.pop(key, None)
        if session is None or session.closed:
            session = pinned_session(host, port, addresses, ssl_context, keepalive_expiry=self._keepalive_expiry)
        self._sessions[key] = session
        self._in_use[key] = self._in_use.get(key, 0) + 1
        try:
            await self._evict()
            yield session
        finally:
            self._in_use[key] -= 1
            if not self._in_use[key]:
                del self._in_use[key]

    async def _evict(self) -> None:
        excess = len(self._sessions) - self._max_pins
        for key in [k for k in self._sessions if k not in self._in_use][: max(0, excess)]:
            await _close(self._sessions.pop(key))

    async def aclose(self) -> None:
        """Close every idle session (worker shutdown)."""
        for key in [k for k in self._sessions if k not in self._in_use]:
            await _close(self._sessions.pop(key))


async def _close(session: aiohttp.ClientSession) -> None:
    # Closing aborts kept-alive TLS connections without waiting for the peer's close_notify.
    with contextlib.suppress(Exception):
        await session.close()
