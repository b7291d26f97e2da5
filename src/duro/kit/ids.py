"""Prefixed ULIDs, monotonic within the process (01 §3).

Hand-written rather than a library because we need the spec's monotonic rule: an id made in the same
millisecond as the previous one increments the random part, so rows inserted by one change sort by id in
insertion order. Every library we looked at either lacks a monotonic mode or makes it per-instance.
"""

from __future__ import annotations

import secrets
import threading
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DECODE = {c: i for i, c in enumerate(_CROCKFORD)}
_RANDOM_BITS = 80
_RANDOM_MAX = (1 << _RANDOM_BITS) - 1

_lock = threading.Lock()
_last_ms = -1
_last_random = 0


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_ulid() -> str:
    """A 26-character ULID. The timestamp is wall time by design: ids are not business time."""
    global _last_ms, _last_random
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            # Same (or a backwards-stepped) millisecond: keep the last timestamp and count up.
            ms = _last_ms
            rnd = _last_random + 1
            if rnd > _RANDOM_MAX:  # 2^80 ids in one millisecond: step into the next one
                ms += 1
                rnd = secrets.randbits(_RANDOM_BITS - 1)
        else:
            # A fresh millisecond starts in the lower half so increments never overflow in practice.
            rnd = secrets.randbits(_RANDOM_BITS - 1)
        _last_ms, _last_random = ms, rnd
    return _encode(ms, 10) + _encode(rnd, 16)


def new_id(prefix: str) -> str:
    """`prefix_` + ULID, e.g. ``new_id("cus")`` -> ``cus_01JGFJJZ4V8Q2M6T3X9K0D5R7B``."""
    return f"{prefix}_{new_ulid()}"


def is_ulid(text: str) -> bool:
    return len(text) == 26 and all(c in _DECODE for c in text) and text[0] in "01234567"


def has_prefix(value: str, prefix: str) -> bool:
    head, sep, tail = value.partition("_")
    return sep == "_" and head == prefix and is_ulid(tail)
