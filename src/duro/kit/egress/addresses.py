"""`forbidden(ip)`: the addresses an outbound request to a merchant-controlled URL must never reach (05 §8)."""

from __future__ import annotations

import ipaddress
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DENIED_V4: Final = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",  # CGNAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, cloud metadata
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",
        "255.255.255.255/32",
    )
)

DENIED_V6: Final = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "::/128",
        "::1/128",
        "::/96",  # IPv4-compatible
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",  # includes Teredo 2001::/32
        "2001:db8::/32",
        "2002::/16",  # 6to4
        "3fff::/20",
        "fc00::/7",  # ULA
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",  # multicast
    )
)

NAT64_WELL_KNOWN: Final = ipaddress.IPv6Network("64:ff9b::/96")
_LOOPBACK: Final = (ipaddress.IPv4Network("127.0.0.0/8"), ipaddress.IPv6Network("::1/128"))


def canonical_ip(ip: IPAddress) -> IPAddress:
    """IPv4-mapped (`::ffff:0:0/96`) and NAT64 (`64:ff9b::/96`) addresses stand for their embedded IPv4 address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id is not None:
            # A scoped address only has meaning on one link; keep it (it is not global and so is forbidden).
            return ip
        mapped = ip.ipv4_mapped
        if mapped is not None:
            return mapped
        if ip in NAT64_WELL_KNOWN:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def forbidden(ip: IPAddress) -> bool:
    """True when the address is in a denied range of 05 §8 or is not globally routable (`ip.is_global`)."""
    ip = canonical_ip(ip)
    if isinstance(ip, ipaddress.IPv4Address):
        if any(ip in net for net in DENIED_V4):
            return True
    elif any(ip in net for net in DENIED_V6):
        return True
    return not ip.is_global


def is_loopback(ip: IPAddress) -> bool:
    ip = canonical_ip(ip)
    return any(ip in net for net in _LOOPBACK if net.version == ip.version)


def parse_ip(text: str) -> IPAddress | None:
    """An address as returned by a resolver, or None when it is not one (the caller fails closed)."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
