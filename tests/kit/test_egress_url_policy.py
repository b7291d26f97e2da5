"""Save-time rules 1–5 of the SSRF guard (05 §8): an exhaustive table of accepted and refused URLs."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

import pytest

from duro.config import Settings
from duro.kit.egress import CheckedUrl, DestinationRefused, EgressPolicy, Resolver, check_url, check_url_at_save

STRICT = EgressPolicy(allowed_ports=frozenset({443, 8443}), allow_insecure=False)
INSECURE = EgressPolicy(allowed_ports=frozenset({443, 8443}), allow_insecure=True)

# (url, stored canonical form)
ACCEPTED = [
    ("https://example.com/hooks", "https://example.com/hooks"),
    ("https://example.com", "https://example.com/"),
    ("https://example.com?x=1", "https://example.com/?x=1"),
    ("https://example.com/a/b?c=d&e=f", "https://example.com/a/b?c=d&e=f"),
    ("https://example.com/user@home", "https://example.com/user@home"),  # @ in the path is not userinfo
    ("https://hooks.example.co.uk:8443/x", "https://hooks.example.co.uk:8443/x"),
    ("https://example.com:443/x", "https://example.com/x"),
    ("HTTPS://EXAMPLE.COM/Path", "https://example.com/Path"),
    ("https://Example.COM./x", "https://example.com/x"),  # one trailing dot stripped
    ("https://bücher.example/x", "https://xn--bcher-kva.example/x"),  # IDNA
    ("https://BÜCHER.example/x", "https://xn--bcher-kva.example/x"),  # UTS 46 mapping lower-cases
    ("https://xn--bcher-kva.example/x", "https://xn--bcher-kva.example/x"),
    ("https://faß.de/", "https://xn--fa-hia.de/"),  # non-transitional: ß kept
    ("https://пример.испытание/", "https://xn--e1afmkfd.xn--80akhbyknj4f/"),
    ("https://例え.テスト/", "https://xn--r8jz45g.xn--zckzah/"),
    ("https://ex\u3002ample.com/", "https://ex.ample.com/"),  # ideographic full stop is a label separator
    ("https://1e3.com/", "https://1e3.com/"),  # starts with digits, not a number
    ("https://123.example.com/", "https://123.example.com/"),
    ("https://8.8.8.8/", "https://8.8.8.8/"),
    ("https://1.1.1.1:8443/", "https://1.1.1.1:8443/"),
    ("https://[2606:4700:4700::1111]/", "https://[2606:4700:4700::1111]/"),
    ("https://[2606:4700:4700:0:0:0:0:1111]/x", "https://[2606:4700:4700::1111]/x"),
    ("https://[::ffff:8.8.8.8]/", "https://[::ffff:808:808]/"),
    ("https://[64:ff9b::808:808]/", "https://[64:ff9b::808:808]/"),
    ("https://a.b.c.d.example/", "https://a.b.c.d.example/"),
]

# (url, a fragment of the rule text) under the strict policy.
REFUSED = [
    # rule 1: scheme and shape
    ("http://example.com/", "https"),
    ("ftp://example.com/", "https"),
    ("javascript:alert(1)", "https"),
    ("//example.com/", "absolute"),
    ("example.com/hooks", "absolute"),
    ("https:example.com", "absolute"),
    ("https:/example.com", "absolute"),
    ("", "absolute"),
    # rule 1: userinfo
    ("https://good@evil.example/", "credentials"),
    ("https://user:pass@example.com/", "credentials"),
    ("https://@example.com/", "credentials"),
    ("https://good.example@127.0.0.1/", "credentials"),
    # rule 1: backslashes (WHATWG reads "\" as "/", so evil\@good has host evil for one parser, good for another)
    ("https://evil.example\\@good.example/", "backslash"),
    ("https://example.com\\hooks", "backslash"),
    ("https:\\\\example.com/", "backslash"),
    # rule 1: fragments
    ("https://example.com/#frag", "fragment"),
    ("https://example.com#", "fragment"),
    ("https://example.com/?a=1#b", "fragment"),
    # rule 1: whitespace and control characters
    ("https://example.com/a b", "whitespace"),
    (" https://example.com/", "whitespace"),
    ("https://example.com/\t", "whitespace"),
    ("https://example.com/\n", "whitespace"),
    ("https://exam\nple.com/", "whitespace"),
    ("https://example.com/\u00a0", "whitespace"),
    ("https://example.com/\u3000", "whitespace"),
    ("https://example.com/\x00", "control"),
    ("https://example.com/\x7f", "control"),
    ("https://exam\u00adple.com/", "control"),  # soft hyphen: UTS 46 would silently drop it
    ("https://exam\u200bple.com/", "control"),  # zero-width space
    ("https://example.com/\u202e", "control"),  # right-to-left override
    # rule 1: length
    ("https://example.com/" + "a" * (2049 - len("https://example.com/")), "2048"),
    # rule 1–2: authority shape and port
    ("https://example.com:80/", "port 80 is not allowed"),
    ("https://example.com:8080/", "port 8080 is not allowed"),
    ("https://example.com:22/", "port 22 is not allowed"),
    ("https://example.com:/", "port must be"),
    ("https://example.com:0/", "port must be"),
    ("https://example.com:65536/", "port must be"),
    ("https://example.com:0443/", "port must be"),
    ("https://example.com:+443/", "port must be"),
    ("https://example.com:443:443/", "port must be"),
    ("https://example.com:https/", "port must be"),
    # empty host
    ("https:///hooks", "host"),
    ("https://", "host"),
    ("https://:443/", "host"),
    ("https://./", "host"),
    ("https://?x", "host"),
    # rule 3: names
    ("https://example..com/", "valid domain name"),
    ("https://example.com../", "valid domain name"),
    ("https://.example.com/", "valid domain name"),
    ("https://-bad.example/", "valid domain name"),
    ("https://under_score.example/", "valid domain name"),
    ("https://" + "a" * 64 + ".example/", "valid domain name"),
    ("https://exa$mple.com/", "valid domain name"),
    ("https://a;b.example/", "valid domain name"),
    ("https://*.example.com/", "valid domain name"),
    ("https://a|b.example/", "valid domain name"),
    ("https://a<b>.example/", "valid domain name"),
    ("https://ex\u3002\u3002ample.com/", "valid domain name"),
    ("https://example.com\u3002\u3002/", "valid domain name"),
    ("https://exa%6dple.com/", "percent"),
    ("https://example.com%2f@evil/", "credentials"),
    ("https://localhost/", "localhost"),
    ("https://LOCALHOST./", "localhost"),
    ("https://intranet/", "single label"),
    ("https://com/", "single label"),
    ("https://api.localhost/", ".localhost"),
    ("https://localhost.localhost/", ".localhost"),
    ("https://printer.local/", ".local"),
    ("https://host.localdomain/", ".localdomain"),
    ("https://localdomain/", "single label"),
    ("https://metadata.google.internal/", ".internal"),
    ("https://svc.cluster.internal./", ".internal"),
    ("https://router.home.arpa/", ".home.arpa"),
    ("https://1.0.0.127.in-addr.arpa/", ".arpa"),
    ("https://example.arpa/", ".arpa"),
    ("https://duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion/", ".onion"),
    ("https://METADATA.GOOGLE.INTERNAL/", ".internal"),
    ("https://metadata.google.internal:8443/", ".internal"),
    # rule 4: bracketed IPv6
    ("https://[::1]/", "not a public address"),
    ("https://[::1]:8443/", "not a public address"),
    ("https://[0:0:0:0:0:0:0:1]/", "not a public address"),
    ("https://[::]/", "not a public address"),
    ("https://[::ffff:127.0.0.1]/", "not a public address"),
    ("https://[::ffff:7f00:1]/", "not a public address"),
    ("https://[::ffff:169.254.169.254]/", "not a public address"),
    ("https://[64:ff9b::a9fe:a9fe]/", "not a public address"),
    ("https://[64:ff9b::7f00:1]/", "not a public address"),
    ("https://[fe80::1]/", "not a public address"),
    ("https://[fd00::1]/", "not a public address"),
    ("https://[2001:db8::1]/", "not a public address"),
    ("https://[2002:7f00:1::]/", "not a public address"),
    ("https://[ff02::1]/", "not a public address"),
    ("https://[fe80::1%25eth0]/", "zone id"),
    ("https://[fe80::1%eth0]/", "zone id"),
    ("https://[example.com]/", "IPv6"),
    ("https://[1.2.3.4]/", "IPv6"),
    ("https://[::1/", "IPv6"),
    ("https://[::1]x/", "IPv6"),
    ("https://::1/", "host"),
    ("https://example.com:1:2/", "port must be"),
    # rule 4: non-canonical IPv4
    ("https://2130706433/", "dotted-quad"),
    ("https://0x7f000001/", "dotted-quad"),
    ("https://0X7F000001/", "dotted-quad"),
    ("https://0177.0.0.1/", "dotted-quad"),
    ("https://0177.0000.0000.0001/", "dotted-quad"),
    ("https://127.1/", "dotted-quad"),
    ("https://127.0.1/", "dotted-quad"),
    ("https://0x7f.1/", "dotted-quad"),
    ("https://0x7f.0.0.1/", "dotted-quad"),
    ("https://127.0.0.0x1/", "dotted-quad"),
    ("https://017700000001/", "dotted-quad"),
    ("https://0xa9.254.0251.0xfe/", "dotted-quad"),  # mixed: 169.254.169.254
    ("https://169.254.43518/", "dotted-quad"),  # 169.254.169.254, short form
    ("https://3232235521/", "dotted-quad"),  # 192.168.0.1
    ("https://0/", "dotted-quad"),
    ("https://0x/", "dotted-quad"),
    ("https://08.8.8.8/", "dotted-quad"),
    ("https://8.8.8.08/", "dotted-quad"),
    ("https://8.8.8.8./", "dotted-quad"),  # trailing dot on a literal
    ("https://1.2.3.4.5/", "dotted-quad"),
    ("https://256.1.1.1/", "dotted-quad"),
    ("https://example.123/", "dotted-quad"),  # a name whose last label is a number is an address to WHATWG
    ("https://１２７.０.０.１/", "dotted-quad"),  # full-width digits
    ("https://８.８.８.８/", "dotted-quad"),
    # rule 4: canonical literals checked by forbidden(ip)
    ("https://127.0.0.1/", "not a public address"),
    ("https://127.0.0.1:8443/", "not a public address"),
    ("https://0.0.0.0/", "not a public address"),
    ("https://10.0.0.1/", "not a public address"),
    ("https://100.64.0.1/", "not a public address"),
    ("https://169.254.169.254/", "not a public address"),
    ("https://172.16.0.1/", "not a public address"),
    ("https://192.168.1.1/", "not a public address"),
    ("https://192.0.2.1/", "not a public address"),
    ("https://198.18.0.1/", "not a public address"),
    ("https://224.0.0.1/", "not a public address"),
    ("https://255.255.255.255/", "not a public address"),
]


@pytest.mark.parametrize(("url", "stored"), ACCEPTED)
def test_accepted(url: str, stored: str) -> None:
    checked = check_url(url, STRICT)
    assert checked.url == stored
    # The stored form passes again unchanged: it is what every delivery attempt re-checks.
    assert check_url(checked.url, STRICT) == checked


@pytest.mark.parametrize(("url", "rule"), REFUSED, ids=lambda v: repr(v)[:60])
def test_refused(url: str, rule: str) -> None:
    with pytest.raises(DestinationRefused) as caught:
        check_url(url, STRICT)
    assert rule.lower() in caught.value.rule.lower()


def test_length_limit_is_exactly_2048() -> None:
    prefix = "https://example.com/"
    assert len(check_url(prefix + "a" * (2048 - len(prefix)), STRICT).url) == 2048
    with pytest.raises(DestinationRefused, match="2048"):
        check_url(prefix + "a" * (2049 - len(prefix)), STRICT)


def test_checked_url_parts() -> None:
    checked = check_url("https://Hooks.Example.com:8443/in?x=1", STRICT)
    assert checked == CheckedUrl(
        url="https://hooks.example.com:8443/in?x=1",
        scheme="https",
        host="hooks.example.com",
        port=8443,
        target="/in?x=1",
        ip=None,
    )
    assert checked.host_header == "hooks.example.com:8443"
    v6 = check_url("https://[2606:4700:4700::1111]/", STRICT)
    assert v6.ip == ipaddress.IPv6Address("2606:4700:4700::1111")
    assert v6.host_header == "[2606:4700:4700::1111]"


def test_allowed_ports_come_from_the_policy() -> None:
    only_9443 = EgressPolicy(allowed_ports=frozenset({9443}), allow_insecure=False)
    assert check_url("https://example.com:9443/", only_9443).port == 9443
    with pytest.raises(DestinationRefused, match="port 443 is not allowed"):
        check_url("https://example.com/", only_9443)


# --- insecure (development sandbox) mode relaxes scheme, port and host class only ---


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("http://localhost:8000/hooks", "http://localhost:8000/hooks"),
        ("http://127.0.0.1:9000/", "http://127.0.0.1:9000/"),
        ("http://[::1]:9000/", "http://[::1]:9000/"),
        ("http://receiver/", "http://receiver/"),  # single label (a docker-compose service name)
        ("http://api.localhost/", "http://api.localhost/"),
        ("http://printer.local:631/", "http://printer.local:631/"),
        ("https://10.0.0.5:3000/", "https://10.0.0.5:3000/"),
        ("http://169.254.169.254/", "http://169.254.169.254/"),
        ("http://example.com/", "http://example.com/"),
        ("http://example.com:80/", "http://example.com/"),
        ("https://example.com:1/", "https://example.com:1/"),
    ],
)
def test_insecure_mode_accepts(url: str, stored: str) -> None:
    assert check_url(url, INSECURE).url == stored


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://user@localhost/", "credentials"),
        ("http://localhost/#x", "fragment"),
        ("http://local host/", "whitespace"),
        ("http://localhost/\x01", "control"),
        ("http://localhost\\@evil/", "backslash"),
        ("http://2130706433/", "dotted-quad"),
        ("http://127.1:8000/", "dotted-quad"),
        ("http://0x7f000001/", "dotted-quad"),
        ("http://[fe80::1%25eth0]/", "zone id"),
        ("http:///x", "host"),
        ("http://localhost:0/", "port must be"),
        ("http://localhost/" + "a" * 2048, "2048"),
        ("ftp://localhost/", "https"),
    ],
)
def test_insecure_mode_keeps_parsing_rules(url: str, rule: str) -> None:
    with pytest.raises(DestinationRefused) as caught:
        check_url(url, INSECURE)
    assert rule.lower() in caught.value.rule.lower()


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


def test_policy_for_mode() -> None:
    dev = _settings(env="development", webhook_allow_insecure_test=True, webhook_allowed_ports="443, 9443")
    assert EgressPolicy.for_mode(dev, "test") == EgressPolicy(frozenset({443, 9443}), allow_insecure=True)
    # Live endpoints never get the exception, nor does any other environment.
    assert EgressPolicy.for_mode(dev, "live").allow_insecure is False
    test_env = _settings(env="test", webhook_allow_insecure_test=True, secret_key="x" * 32)
    assert EgressPolicy.for_mode(test_env, "test").allow_insecure is False
    off = _settings(env="development")
    assert EgressPolicy.for_mode(off, "test") == EgressPolicy(frozenset({443, 8443}), allow_insecure=False)


def test_policy_rejects_a_bad_port_list() -> None:
    with pytest.raises(ValueError, match="not a port number"):
        EgressPolicy.for_mode(_settings(webhook_allowed_ports="443,http"), "live")


# --- rule 5: courtesy resolution at save time ---


def _resolver(*answers: str) -> tuple[list[str], Resolver]:
    calls: list[str] = []

    async def resolve(host: str, port: int) -> Sequence[str]:
        calls.append(f"{host}:{port}")
        return list(answers)

    return calls, resolve


async def test_save_accepts_a_public_resolution() -> None:
    calls, resolve = _resolver("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c")
    checked, warning = await check_url_at_save("https://Example.com:8443/x", STRICT, resolver=resolve)
    assert (checked.url, warning) == ("https://example.com:8443/x", None)
    assert calls == ["example.com:8443"]


@pytest.mark.parametrize("private", ["10.0.0.1", "169.254.169.254", "::1", "::ffff:127.0.0.1", "64:ff9b::a9fe:a9fe"])
async def test_save_refuses_when_any_address_is_forbidden(private: str) -> None:
    _, resolve = _resolver("93.184.215.14", private)
    with pytest.raises(DestinationRefused, match="not a public address"):
        await check_url_at_save("https://example.com/", STRICT, resolver=resolve)


async def test_save_refuses_an_unparseable_answer() -> None:
    _, resolve = _resolver("not-an-address")
    with pytest.raises(DestinationRefused):
        await check_url_at_save("https://example.com/", STRICT, resolver=resolve)


async def test_save_accepts_with_a_warning_when_the_name_does_not_resolve() -> None:
    async def fails(host: str, port: int) -> Sequence[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    checked, warning = await check_url_at_save("https://not-yet.example.com/", STRICT, resolver=fails)
    assert checked.host == "not-yet.example.com"
    assert warning is not None
    assert "does not resolve" in warning


async def test_save_skips_resolution_for_literals_and_runs_rules_first() -> None:
    calls, resolve = _resolver("10.0.0.1")
    checked, warning = await check_url_at_save("https://8.8.8.8/", STRICT, resolver=resolve)
    assert (checked.url, warning, calls) == ("https://8.8.8.8/", None, [])
    with pytest.raises(DestinationRefused, match="localhost"):
        await check_url_at_save("https://localhost/", STRICT, resolver=resolve)
    assert calls == []


async def test_save_in_insecure_mode_allows_private_resolution() -> None:
    _, resolve = _resolver("127.0.0.1")
    checked, warning = await check_url_at_save("http://receiver.test:9000/", INSECURE, resolver=resolve)
    assert (checked.url, warning) == ("http://receiver.test:9000/", None)


async def test_save_uses_the_system_resolver_by_default() -> None:
    # `.invalid` never resolves (RFC 6761), so this exercises getaddrinfo without depending on the network.
    checked, warning = await check_url_at_save("https://duro-egress-check.invalid/", STRICT)
    assert checked.host == "duro-egress-check.invalid"
    assert warning is not None
