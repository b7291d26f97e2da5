"""`forbidden(ip)` (05 §8): every denied range, the unwrapping of IPv4-mapped and NAT64 addresses, `is_global`."""

from __future__ import annotations

import ipaddress

import pytest

from duro.kit.egress import forbidden
from duro.kit.egress.addresses import canonical_ip, is_loopback

# (range of the spec's table, first address, last address): both ends must be forbidden.
DENIED_V4 = [
    ("0.0.0.0/8", "0.0.0.0", "0.255.255.255"),
    ("10.0.0.0/8", "10.0.0.0", "10.255.255.255"),
    ("100.64.0.0/10", "100.64.0.0", "100.127.255.255"),
    ("127.0.0.0/8", "127.0.0.0", "127.255.255.255"),
    ("169.254.0.0/16", "169.254.0.0", "169.254.255.255"),
    ("172.16.0.0/12", "172.16.0.0", "172.31.255.255"),
    ("192.0.0.0/24", "192.0.0.0", "192.0.0.255"),
    ("192.0.2.0/24", "192.0.2.0", "192.0.2.255"),
    ("192.88.99.0/24", "192.88.99.0", "192.88.99.255"),
    ("192.168.0.0/16", "192.168.0.0", "192.168.255.255"),
    ("198.18.0.0/15", "198.18.0.0", "198.19.255.255"),
    ("198.51.100.0/24", "198.51.100.0", "198.51.100.255"),
    ("203.0.113.0/24", "203.0.113.0", "203.0.113.255"),
    ("224.0.0.0/4", "224.0.0.0", "239.255.255.255"),
    ("240.0.0.0/4", "240.0.0.0", "255.255.255.254"),
    ("255.255.255.255/32", "255.255.255.255", "255.255.255.255"),
]

DENIED_V6 = [
    ("::/128", "::", "::"),
    ("::1/128", "::1", "::1"),
    ("::/96", "::1.2.3.4", "::ffff:ffff"),
    ("64:ff9b:1::/48", "64:ff9b:1::", "64:ff9b:1:ffff:ffff:ffff:ffff:ffff"),
    ("100::/64", "100::", "100::ffff:ffff:ffff:ffff"),
    ("2001::/23", "2001::", "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff"),
    ("2001::/32 Teredo", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:0:ffff:ffff:ffff:ffff:ffff:ffff"),
    ("2001:db8::/32", "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"),
    ("2002::/16", "2002::", "2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
    ("3fff::/20", "3fff::", "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff"),
    ("fc00::/7", "fc00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
    ("fe80::/10", "fe80::", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
    ("fec0::/10", "fec0::", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
    ("ff00::/8", "ff00::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
]


@pytest.mark.parametrize(("denied", "first", "last"), DENIED_V4 + DENIED_V6, ids=lambda v: str(v))
def test_every_denied_range_is_forbidden_at_both_ends(denied: str, first: str, last: str) -> None:
    assert forbidden(ipaddress.ip_address(first)), denied
    assert forbidden(ipaddress.ip_address(last)), denied


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",  # cloud metadata
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "::ffff:169.254.169.254",
        "::ffff:10.0.0.1",
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "fe80::1%eth0",  # scoped link-local
        "fd00:ec2::254",  # AWS IPv6 metadata (ULA)
        # Not in the spec's table but not global either: `is_global` catches them.
        "2001:db8::1",
        "192.0.0.9",
        "::ffff:0:0",
    ],
)
def test_special_addresses_are_forbidden(address: str) -> None:
    assert forbidden(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        "1.1.1.1",
        "8.8.8.8",
        "93.184.215.14",
        "100.63.255.255",  # just below CGNAT
        "100.128.0.0",  # just above CGNAT
        "172.15.255.255",  # just below 172.16/12
        "172.32.0.0",  # just above 172.16/12
        "169.253.255.255",
        "198.17.255.255",
        "223.255.255.255",  # just below multicast
        "2606:4700:4700::1111",
        "2a00:1450:4001:81b::200e",
        "::ffff:8.8.8.8",  # IPv4-mapped public address unwraps to a public address
        "64:ff9b::808:808",  # NAT64 of 8.8.8.8
    ],
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert not forbidden(ipaddress.ip_address(address))


def test_canonical_ip_unwraps_mapped_and_nat64() -> None:
    assert canonical_ip(ipaddress.ip_address("::ffff:127.0.0.1")) == ipaddress.ip_address("127.0.0.1")
    assert canonical_ip(ipaddress.ip_address("64:ff9b::a9fe:a9fe")) == ipaddress.ip_address("169.254.169.254")
    # 64:ff9b:1::/48 is the local-use NAT64 prefix: not unwrapped, denied as a whole.
    local_nat64 = ipaddress.ip_address("64:ff9b:1::808:808")
    assert canonical_ip(local_nat64) == local_nat64
    assert forbidden(local_nat64)


def test_is_loopback_covers_mapped_forms_only_for_loopback() -> None:
    assert is_loopback(ipaddress.ip_address("127.0.0.1"))
    assert is_loopback(ipaddress.ip_address("127.9.9.9"))
    assert is_loopback(ipaddress.ip_address("::1"))
    assert is_loopback(ipaddress.ip_address("::ffff:127.0.0.1"))
    assert not is_loopback(ipaddress.ip_address("10.0.0.1"))
    assert not is_loopback(ipaddress.ip_address("169.254.169.254"))
    assert not is_loopback(ipaddress.ip_address("::2"))
