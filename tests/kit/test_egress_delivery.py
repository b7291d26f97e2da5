"""The delivery-time guard (05 §8) against real sockets: a local HTTP(S) receiver on 127.0.0.1 with certificates from
a throw-away CA.

Strict policies are used throughout; the only concession is the internal `_unsafe_allow_loopback_for_tests` flag
of `_guarded_post` (loopback counts as public, so 127.0.0.1 can stand in for a merchant's server) plus a test CA.
Names under `duro.test` never resolve through the system resolver here: every answer comes from an injected
resolver, so a request that arrives at the receiver proves the transport connected to the checked address and did
not look the name up again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import ssl
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from duro.kit.egress import EgressPolicy, EgressTimeouts, PostResult, Resolver, close_connections, guarded_post
from duro.kit.egress.client import MAX_RESPONSE_BYTES, _guarded_post
from duro.kit.egress.transport import PinnedResolver

HOST = "hooks.duro.test"
BODY = b'{"id":"evt_1","type":"invoice.paid"}'
HEADERS = {"Content-Type": "application/json", "Duro-Signature": "t=1,v1=abc"}
FAST = EgressTimeouts(connect=2, read=2, write=2, total=5)

# --- a throw-away PKI ---


@dataclass(frozen=True)
class Pki:
    ca_file: Path
    good: tuple[Path, Path]  # cert for HOST signed by the CA
    wrong_name: tuple[Path, Path]  # cert for another name signed by the CA
    self_signed: tuple[Path, Path]  # cert for HOST signed by itself


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
    )
    is_ca = subject.startswith("Duro Test CA")
    builder = builder.add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    if is_ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        if issuer is not None:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
            )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(directory: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
    cert_file, key_file = directory / f"{stem}.crt", directory / f"{stem}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("egress-pki")
    ca_key = _key()
    ca = _cert("Duro Test CA", ca_key, None, ca_key)
    ca_file, _ = _write(directory, "ca", ca, ca_key)
    good_key, wrong_key, self_key = _key(), _key(), _key()
    return Pki(
        ca_file=ca_file,
        good=_write(directory, "good", _cert(HOST, good_key, ca, ca_key), good_key),
        wrong_name=_write(directory, "wrong", _cert("other.duro.test", wrong_key, ca, ca_key), wrong_key),
        self_signed=_write(directory, "self", _cert(HOST, self_key, None, self_key), self_key),
    )


@pytest.fixture(scope="module")
def client_tls(pki: Pki) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(pki.ca_file))


# --- a local receiver ---


@dataclass
class Seen:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


def respond_with(status: int, body: bytes = b"ok", extra: Sequence[tuple[str, str]] = ()) -> bytes:
    lines = [f"HTTP/1.1 {status} Status", f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in extra)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class Receiver:
    """A minimal HTTP/1.1 server: records the SNI of every TLS connection, every request, and answers with `reply`
    (raw bytes) or, when `reply` is None, holds the connection open without answering."""

    reply: bytes | None = field(default_factory=lambda: respond_with(200, b"thanks"))
    trickle: bool = False  # send the reply one byte every 50 ms
    close: bool = False  # close the connection after each reply
    connections: int = 0
    sni: list[str | None] = field(default_factory=list)
    requests: list[Seen] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def start(self, tls: ssl.SSLContext | None) -> None:
        if tls is not None:
            tls.sni_callback = self._on_sni
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=tls)
        self.port = self._server.sockets[0].getsockname()[1]

    def _on_sni(self, _sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        self.sni.append(name)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        self._writers.append(writer)
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *header_lines = head.decode("latin-1").split("\r\n")[:-2]
                method, target, _version = request_line.split(" ")
                headers: dict[str, str] = {}
                for line in header_lines:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append(Seen(method, target, headers, body))
                if self.reply is None:
                    await asyncio.sleep(3600)
                    return
                if self.trickle:
                    for i in range(len(self.reply)):
                        writer.write(self.reply[i : i + 1])
                        await writer.drain()
                        await asyncio.sleep(0.05)
                else:
                    writer.write(self.reply)
                    await writer.drain()
                if self.close:
                    return
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self._tasks.discard(task)  # type: ignore[arg-type]

    async def stop(self) -> None:
        # Abort rather than close: a TLS close waits for the peer's close_notify, which an idle pooled client
        # connection would never send.
        for writer in self._writers:
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


def server_tls(cert: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert[0]), str(cert[1]))
    return context


@pytest.fixture
async def receiver(pki: Pki) -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start(server_tls(pki.good))
    yield server
    await close_connections()
    await server.stop()


@pytest.fixture
async def plain_receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start(None)
    yield server
    await close_connections()
    await server.stop()


class ScriptedResolver:
    """Answers each call with the next scripted answer (the last one repeats) and counts the calls."""

    def __init__(self, *answers: Sequence[str]) -> None:
        self.answers = [list(a) for a in answers]
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append((host, port))
        return self.answers[min(len(self.calls), len(self.answers)) - 1]


def strict(port: int) -> EgressPolicy:
    return EgressPolicy(allowed_ports=frozenset({443, 8443, port}), allow_insecure=False)


async def post(
    receiver_port: int,
    resolver: Resolver,
    context: ssl.SSLContext | None,
    *,
    path: str = "/hooks/in?x=1",
    headers: dict[str, str] | None = None,
    timeouts: EgressTimeouts = FAST,
) -> PostResult:
    return await _guarded_post(
        f"https://{HOST}:{receiver_port}{path}",
        BODY,
        HEADERS if headers is None else headers,
        strict(receiver_port),
        resolver=resolver,
        timeouts=timeouts,
        ssl_context=context,
        _unsafe_allow_loopback_for_tests=True,
    )


# --- the pinned connection ---


async def test_posts_to_the_checked_address_with_sni_and_host_of_the_name(
    receiver: Receiver, client_tls: ssl.SSLContext
) -> None:
    resolver = ScriptedResolver(["127.0.0.1"])
    result = await post(receiver.port, resolver, client_tls, headers={**HEADERS, "Host": "evil.example"})

    assert (result.error, result.error_message, result.status, result.body) == (None, None, 200, b"thanks")
    assert result.headers["content-length"] == "6"
    assert resolver.calls == [(HOST, receiver.port)]
    assert receiver.sni == [HOST]
    [seen] = receiver.requests
    assert (seen.method, seen.target, seen.body) == ("POST", "/hooks/in?x=1", BODY)
    assert seen.headers["host"] == f"{HOST}:{receiver.port}"  # the caller's Host is overridden
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["duro-signature"] == "t=1,v1=abc"
    assert seen.headers["accept-encoding"] == "identity"
    assert result.request_headers["host"] == f"{HOST}:{receiver.port}"
    assert result.duration_ms >= 0


async def test_dns_rebinding_cannot_redirect_the_connection(receiver: Receiver, client_tls: ssl.SSLContext) -> None:
    # The proof below relies on the name having no system DNS answer: a connection by name could not succeed.
    with pytest.raises(socket.gaierror):
        await asyncio.get_running_loop().getaddrinfo(HOST, receiver.port)
    # First answer: an allowed address (loopback stands in for a public one); every later answer: metadata.
    resolver = ScriptedResolver(["127.0.0.1"], ["169.254.169.254"])

    first = await post(receiver.port, resolver, client_tls)
    assert (first.error, first.status) == (None, 200)
    # Resolved exactly once for the attempt, and the connection reached the checked address (a name under
    # duro.test has no system DNS answer here, so any second lookup could not have reached the receiver).
    assert resolver.calls == [(HOST, receiver.port)]
    assert len(receiver.requests) == 1

    second = await post(receiver.port, resolver, client_tls)
    assert second.error == "blocked_destination"
    assert second.status is None
    assert "169.254.169.254" in (second.error_message or "")
    assert len(resolver.calls) == 2
    assert (receiver.connections, len(receiver.requests)) == (1, 1)


@pytest.mark.parametrize(
    "answer",
    [
        ["127.0.0.1", "10.0.0.7"],
        ["10.0.0.7", "127.0.0.1"],
        ["127.0.0.1", "169.254.169.254"],
        ["127.0.0.1", "::ffff:169.254.169.254"],
        ["127.0.0.1", "64:ff9b::a9fe:a9fe"],
        ["127.0.0.1", "fe80::1"],
        ["93.184.215.14", "192.168.1.1"],
        ["127.0.0.1", "not an address"],
    ],
)
async def test_any_forbidden_address_blocks_and_nothing_is_sent(
    receiver: Receiver, client_tls: ssl.SSLContext, answer: list[str]
) -> None:
    result = await post(receiver.port, ScriptedResolver(answer), client_tls)
    assert (result.error, result.status, result.body) == ("blocked_destination", None, b"")
    assert (receiver.connections, receiver.requests) == (0, [])


async def test_loopback_is_blocked_without_the_test_hook(receiver: Receiver, client_tls: ssl.SSLContext) -> None:
    resolver = ScriptedResolver(["127.0.0.1"])
    result = await guarded_post(
        f"https://{HOST}:{receiver.port}/", BODY, HEADERS, strict(receiver.port), resolver=resolver
    )
    assert result.error == "blocked_destination"
    assert (receiver.connections, receiver.requests) == (0, [])


async def test_connections_are_reused_per_pin_only(receiver: Receiver, client_tls: ssl.SSLContext) -> None:
    same = ScriptedResolver(["127.0.0.1"])
    first = await post(receiver.port, same, client_tls)
    second = await post(receiver.port, same, client_tls)
    assert (first.status, second.status) == (200, 200)
    assert (receiver.connections, len(receiver.requests)) == (1, 2)  # kept alive, and resolved on every attempt
    assert len(same.calls) == 2
    # A different DNS answer is a different pin: the kept-alive connection is not used for it.
    other = await post(receiver.port, ScriptedResolver(["127.0.0.2", "127.0.0.1"]), client_tls)
    assert other.status == 200
    assert (receiver.connections, len(receiver.requests)) == (2, 3)
    # close_connections() drops the idle connections: the next attempt opens a new one.
    await close_connections()
    again = await post(receiver.port, same, client_tls)
    assert again.status == 200
    assert receiver.connections == 3


async def test_connects_to_the_next_address_when_one_refuses(receiver: Receiver, client_tls: ssl.SSLContext) -> None:
    # The receiver listens on 127.0.0.1 only: 127.0.0.2 refuses the connection.
    result = await post(receiver.port, ScriptedResolver(["127.0.0.2", "127.0.0.1"]), client_tls)
    assert (result.error, result.status) == (None, 200)
    assert len(receiver.requests) == 1


async def test_redirects_are_returned_not_followed(receiver: Receiver, client_tls: ssl.SSLContext) -> None:
    receiver.reply = respond_with(302, b"", [("Location", f"https://{HOST}:{receiver.port}/elsewhere")])
    result = await post(receiver.port, ScriptedResolver(["127.0.0.1"]), client_tls)
    assert (result.error, result.status) == (None, 302)
    assert result.headers["location"].endswith("/elsewhere")
    assert [r.target for r in receiver.requests] == ["/hooks/in?x=1"]


async def test_error_statuses_are_returned(receiver: Receiver, client_tls: ssl.SSLContext) -> None:
    receiver.reply = respond_with(410, b"gone", [("Retry-After", "30"), ("X-A", "1")])
    result = await post(receiver.port, ScriptedResolver(["127.0.0.1"]), client_tls)
    assert (result.error, result.status, result.body) == (None, 410, b"gone")
    assert result.headers["retry-after"] == "30"


async def test_response_body_is_read_up_to_64_kib(receiver: Receiver, client_tls: ssl.SSLContext) -> None:
    receiver.reply = respond_with(200, b"x" * (200 * 1024))
    result = await post(receiver.port, ScriptedResolver(["127.0.0.1"]), client_tls)
    assert (result.error, result.status) == (None, 200)
    assert len(result.body) == MAX_RESPONSE_BYTES == 64 * 1024


async def test_only_the_callers_headers_go_on_the_wire(receiver: Receiver, client_tls: ssl.SSLContext) -> None:
    # Framing headers from the caller are dropped (the body's length is ours), and the client adds nothing of its
    # own (no User-Agent, Accept or Cookie): the receiver sees exactly the caller's headers plus Host,
    # Accept-Encoding and Content-Length.
    sneaky = {**HEADERS, "Content-Length": "1", "Transfer-Encoding": "chunked", "Connection": "close"}
    first = await post(receiver.port, ScriptedResolver(["127.0.0.1"]), client_tls, headers=sneaky)
    second = await post(receiver.port, ScriptedResolver(["127.0.0.1"]), client_tls)
    assert (first.error, first.status, second.error, second.status) == (None, 200, None, 200)
    for seen in receiver.requests:
        assert seen.body == BODY
        assert sorted(seen.headers) == ["accept-encoding", "content-length", "content-type", "duro-signature", "host"]
        assert seen.headers["content-length"] == str(len(BODY))
    assert first.request_headers == {**receiver.requests[0].headers}
    assert receiver.connections == 1


async def test_cookies_are_never_sent_back(receiver: Receiver, client_tls: ssl.SSLContext) -> None:
    receiver.reply = respond_with(200, b"ok", [("Set-Cookie", "session=abc; Path=/")])
    for _ in range(2):
        result = await post(receiver.port, ScriptedResolver(["127.0.0.1"]), client_tls)
        assert (result.error, result.status) == (None, 200)
    assert [("cookie" in r.headers) for r in receiver.requests] == [False, False]


async def test_an_unread_remainder_closes_the_connection(receiver: Receiver, client_tls: ssl.SSLContext) -> None:
    # Anything past 64 KiB is not read, so the connection cannot be reused: the next attempt must not read the
    # rest of the previous answer as its own.
    receiver.reply = respond_with(200, b"x" * (200 * 1024))
    big = await post(receiver.port, ScriptedResolver(["127.0.0.1"]), client_tls)
    receiver.reply = respond_with(201, b"fresh")
    after = await post(receiver.port, ScriptedResolver(["127.0.0.1"]), client_tls)
    assert (big.status, len(big.body)) == (200, MAX_RESPONSE_BYTES)
    assert (after.error, after.status, after.body) == (None, 201, b"fresh")
    assert receiver.connections == 2


async def test_a_chunked_response_is_read_up_to_64_kib(receiver: Receiver, client_tls: ssl.SSLContext) -> None:
    chunk = b"z" * 16384
    chunks = b"".join(b"4000\r\n" + chunk + b"\r\n" for _ in range(10)) + b"0\r\n\r\n"
    receiver.reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks
    result = await post(receiver.port, ScriptedResolver(["127.0.0.1"]), client_tls)
    assert (result.error, result.status) == (None, 200)
    assert result.body == b"z" * MAX_RESPONSE_BYTES


async def test_a_closed_kept_alive_connection_is_not_reused(receiver: Receiver, client_tls: ssl.SSLContext) -> None:
    receiver.close = True  # the server closes after each answer, as one with a short keep-alive would
    first = await post(receiver.port, ScriptedResolver(["127.0.0.1"]), client_tls)
    await asyncio.sleep(0.1)
    second = await post(receiver.port, ScriptedResolver(["127.0.0.1"]), client_tls)
    assert (first.error, first.status, second.error, second.status) == (None, 200, None, 200)
    assert (receiver.connections, len(receiver.requests)) == (2, 2)


async def test_closing_without_an_answer_is_a_protocol_error(receiver: Receiver, client_tls: ssl.SSLContext) -> None:
    receiver.reply, receiver.close = b"", True
    result = await post(receiver.port, ScriptedResolver(["127.0.0.1"]), client_tls)
    assert (result.error, result.status) == ("protocol_error", None)
    assert len(receiver.requests) == 1


async def test_the_pinned_resolver_answers_only_its_destination() -> None:
    import ipaddress

    pinned = PinnedResolver(HOST, 443, [ipaddress.ip_address("192.0.2.1"), ipaddress.ip_address("2001:db8::1")])
    answer = await pinned.resolve(HOST, 443)
    assert [(a["host"], a["hostname"], a["port"], a["family"]) for a in answer] == [
        ("192.0.2.1", HOST, 443, socket.AF_INET),
        ("2001:db8::1", HOST, 443, socket.AF_INET6),
    ]
    for host, port in ((HOST, 444), ("other.duro.test", 443), ("192.0.2.1", 443)):
        with pytest.raises(OSError, match="pinned resolver refuses"):
            await pinned.resolve(host, port)
    with pytest.raises(ValueError, match="at least one address"):
        PinnedResolver(HOST, 443, [])


async def test_silent_server_times_out(receiver: Receiver, client_tls: ssl.SSLContext) -> None:
    receiver.reply = None
    timeouts = EgressTimeouts(connect=2, read=0.3, write=2, total=5)
    result = await post(receiver.port, ScriptedResolver(["127.0.0.1"]), client_tls, timeouts=timeouts)
    assert (result.error, result.status) == ("timeout", None)
    assert len(receiver.requests) == 1  # the request went out; no answer came back


async def test_the_whole_attempt_is_bounded(receiver: Receiver, client_tls: ssl.SSLContext) -> None:
    # Each byte arrives well within the read timeout, but the attempt as a whole takes too long.
    receiver.reply = respond_with(200, b"y" * 200)
    receiver.trickle = True
    timeouts = EgressTimeouts(connect=2, read=2, write=2, total=0.5)
    result = await post(receiver.port, ScriptedResolver(["127.0.0.1"]), client_tls, timeouts=timeouts)
    assert (result.error, result.status) == ("timeout", None)
    assert "0.5 s" in (result.error_message or "")


async def test_connection_refused_is_a_connect_error(client_tls: ssl.SSLContext) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free_port = sock.getsockname()[1]
    result = await post(free_port, ScriptedResolver(["127.0.0.1"]), client_tls)
    assert (result.error, result.status) == ("connect_error", None)


@pytest.mark.parametrize("which", ["self_signed", "wrong_name"])
async def test_bad_certificates_are_tls_errors(pki: Pki, client_tls: ssl.SSLContext, which: str) -> None:
    server = Receiver()
    await server.start(server_tls(getattr(pki, which)))
    try:
        result = await post(server.port, ScriptedResolver(["127.0.0.1"]), client_tls)
    finally:
        await server.stop()
    assert (result.error, result.status) == ("tls_error", None)
    assert "certificate" in (result.error_message or "").lower()
    assert server.requests == []


async def test_default_trust_store_rejects_a_private_ca(receiver: Receiver) -> None:
    result = await post(receiver.port, ScriptedResolver(["127.0.0.1"]), None)
    assert result.error == "tls_error"
    assert receiver.requests == []


async def test_non_http_answer_is_a_protocol_error(receiver: Receiver, client_tls: ssl.SSLContext) -> None:
    receiver.reply = b"SSH-2.0-OpenSSH_9.6\r\n\r\n"
    result = await post(receiver.port, ScriptedResolver(["127.0.0.1"]), client_tls)
    assert (result.error, result.status) == ("protocol_error", None)


async def test_proxy_environment_is_ignored(
    receiver: Receiver, client_tls: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    result = await post(receiver.port, ScriptedResolver(["127.0.0.1"]), client_tls)
    assert (result.error, result.status) == (None, 200)
    assert len(receiver.requests) == 1


# --- the guard before any connection ---


async def test_the_url_is_rechecked_before_every_attempt() -> None:
    resolver = ScriptedResolver(["93.184.215.14"])
    policy = EgressPolicy(allowed_ports=frozenset({443}), allow_insecure=False)
    for url in ("https://localhost/", "http://example.com/", "https://user@example.com/", "https://2130706433/"):
        result = await guarded_post(url, BODY, HEADERS, policy, resolver=resolver)
        assert (result.error, result.status) == ("blocked_destination", None), url
        assert result.error_message
    assert resolver.calls == []


async def test_dns_failures() -> None:
    policy = EgressPolicy(allowed_ports=frozenset({443}), allow_insecure=False)

    async def nxdomain(host: str, port: int) -> Sequence[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    failed = await guarded_post("https://example.com/", BODY, HEADERS, policy, resolver=nxdomain)
    assert (failed.error, failed.status) == ("dns_error", None)
    empty = await guarded_post("https://example.com/", BODY, HEADERS, policy, resolver=ScriptedResolver([]))
    assert empty.error == "dns_error"
    # The system resolver: `.invalid` never resolves (RFC 6761).
    system = await guarded_post("https://duro-egress-check.invalid/", BODY, HEADERS, policy)
    assert system.error == "dns_error"


async def test_ip_literals_skip_resolution_and_are_checked(receiver: Receiver) -> None:
    resolver = ScriptedResolver(["127.0.0.1"])
    policy = strict(receiver.port)
    result = await guarded_post(f"https://127.0.0.1:{receiver.port}/", BODY, HEADERS, policy, resolver=resolver)
    assert result.error == "blocked_destination"
    assert resolver.calls == []
    assert receiver.connections == 0


# --- development sandbox: insecure mode ---


async def test_insecure_mode_posts_over_http_to_loopback(plain_receiver: Receiver) -> None:
    insecure = EgressPolicy(allowed_ports=frozenset({443, 8443}), allow_insecure=True)
    resolver = ScriptedResolver(["127.0.0.1"])
    by_name = await guarded_post(
        f"http://receiver:{plain_receiver.port}/in", BODY, HEADERS, insecure, resolver=resolver, timeouts=FAST
    )
    by_literal = await guarded_post(
        f"http://127.0.0.1:{plain_receiver.port}/in", BODY, HEADERS, insecure, resolver=resolver, timeouts=FAST
    )
    assert (by_name.error, by_name.status, by_literal.error, by_literal.status) == (None, 200, None, 200)
    assert [r.headers["host"] for r in plain_receiver.requests] == [
        f"receiver:{plain_receiver.port}",
        f"127.0.0.1:{plain_receiver.port}",
    ]
    assert resolver.calls == [("receiver", plain_receiver.port)]


async def test_insecure_mode_still_refuses_parsing_violations(plain_receiver: Receiver) -> None:
    insecure = EgressPolicy(allowed_ports=frozenset({443, 8443}), allow_insecure=True)
    result = await guarded_post(
        f"http://user@127.0.0.1:{plain_receiver.port}/", BODY, HEADERS, insecure, resolver=ScriptedResolver([])
    )
    assert result.error == "blocked_destination"
    assert plain_receiver.connections == 0
