"""An httpx transport pinned to addresses the guard has already checked.

httpcore opens connections through a network backend (`connect_tcp(host, port)`) and then starts TLS with
`server_hostname` taken from the request URL. `PinnedBackend` ignores the resolver entirely: it connects to the
checked addresses, in order, moving to the next one only when a connection cannot be established. TLS SNI and
certificate verification therefore still use the host name, the `Host` header is still the URL's `host[:port]`, and
no second DNS lookup can happen (the DNS-rebinding window is closed). The transport is built from public httpx and
httpcore APIs only, so an upgrade cannot silently swap in a pool that resolves names itself.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import OrderedDict
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Final

import httpcore
import httpx

from duro.kit.egress.addresses import IPAddress

# Most specific first: the first match wins.
_EXCEPTION_MAP: Final[tuple[tuple[type[Exception], type[httpx.TransportError]], ...]] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
)


@contextmanager
def _mapped_exceptions() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for source, target in _EXCEPTION_MAP:
            if isinstance(exc, source):
                raise target(str(exc)) from exc
        raise


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects every request for `host:port` to `addresses` (in order, next on connect failure) and refuses any
    other destination, so a pool built on it can only ever reach checked addresses."""

    def __init__(self, host: str, port: int, addresses: Sequence[IPAddress]) -> None:
        if not addresses:
            raise ValueError("a pinned backend needs at least one address")
        self._host = host
        self._port = port
        self._addresses = tuple(addresses)
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if host != self._host or port != self._port:
            raise httpcore.ConnectError(f"pinned transport refuses {host}:{port} (pinned to {self._host}:{self._port})")
        failure: Exception | None = None
        for address in self._addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("pinned transport never opens unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: Iterable[bytes] | AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        # An async connection pool always answers with an async stream.
        assert isinstance(self._stream, AsyncIterable)
        with _mapped_exceptions():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        aclose = getattr(self._stream, "aclose", None)
        if aclose is not None:
            await aclose()


class PinnedTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 only, no retries, no proxies, no redirects (a transport never follows them), no cookies.

    Up to `max_keepalive` idle connections are kept per pin. A pin is a destination (host, port, addresses), which
    many endpoints can share (several endpoints of one receiver, or many tenants of one integration platform), so
    the default matches the webhooks loop's in-flight limit (`IN_FLIGHT`, 32): with 4 kept, a destination busy with
    16 concurrent attempts closed 12 connections after every wave and opened them again (TCP, and TLS for https,
    per attempt)."""

    def __init__(
        self,
        host: str,
        port: int,
        addresses: Sequence[IPAddress],
        ssl_context: ssl.SSLContext,
        *,
        max_keepalive: int = 32,
        keepalive_expiry: float = 30.0,
    ) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            # The caller bounds concurrency per endpoint; a cap here would only turn its waits into pool timeouts.
            max_connections=None,
            max_keepalive_connections=max_keepalive,
            keepalive_expiry=keepalive_expiry,
            http1=True,
            http2=False,
            retries=0,
            network_backend=PinnedBackend(host, port, addresses),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            # Only the timeouts travel: an `sni_hostname` extension could otherwise steer TLS elsewhere.
            extensions={"timeout": request.extensions.get("timeout", {})},
        )
        with _mapped_exceptions():
            response = await self._pool.handle_async_request(core_request)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


PinKey = tuple[str, int, tuple[IPAddress, ...], ssl.SSLContext]


class PinnedTransports:
    """One `PinnedTransport` (and so one connection pool) per destination pin — host, port, the exact set of checked
    addresses in order, and the TLS context — reused across attempts so a busy endpoint keeps its connections. A new
    DNS answer is a new pin: a kept-alive connection is only ever reused for an address the current attempt checked.

    Pools belong to one event loop; a call from another loop starts afresh. At most `max_pins` pools are kept; the
    least recently used idle ones are closed first (a pool with a request in flight is never closed under it)."""

    def __init__(self, max_pins: int = 256) -> None:
        self._max_pins = max_pins
        self._loop: asyncio.AbstractEventLoop | None = None
        self._transports: OrderedDict[PinKey, PinnedTransport] = OrderedDict()
        self._in_use: dict[PinKey, int] = {}

    @asynccontextmanager
    async def lease(
        self, host: str, port: int, addresses: Sequence[IPAddress], ssl_context: ssl.SSLContext
    ) -> AsyncIterator[PinnedTransport]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # Connections of another (likely finished) loop cannot be used or closed from this one.
            self._transports.clear()
            self._in_use.clear()
            self._loop = loop
        key: PinKey = (host, port, tuple(addresses), ssl_context)
        transport = self._transports.pop(key, None) or PinnedTransport(host, port, addresses, ssl_context)
        self._transports[key] = transport
        self._in_use[key] = self._in_use.get(key, 0) + 1
        try:
            await self._evict()
            yield transport
        finally:
            self._in_use[key] -= 1
            if not self._in_use[key]:
                del self._in_use[key]

    async def _evict(self) -> None:
        excess = len(self._transports) - self._max_pins
        for key in [k for k in self._transports if k not in self._in_use][: max(0, excess)]:
            await self._transports.pop(key).aclose()

    async def aclose(self) -> None:
        """Close every idle pool (worker shutdown)."""
        for key in [k for k in self._transports if k not in self._in_use]:
            await self._transports.pop(key).aclose()
