"""Rate limits with the `limits` library: moving window, memory by default, Redis when configured (01 §9)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from duro.kit.clock import epoch_seconds, monotonic


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        out = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(max(0, self.remaining)),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            out["Retry-After"] = str(max(1, self.reset_seconds))
        return out


def per_second(n: int) -> RateLimitItem:
    return RateLimitItemPerSecond(n)


def per_minute(n: int) -> RateLimitItem:
    return RateLimitItemPerMinute(n)


def per(spec: str) -> RateLimitItem:
    """E.g. ``per("5/15 minutes")``."""
    return parse(spec)


class RateLimiter:
    def __init__(self, redis_url: str | None = None) -> None:
        storage: Storage
        if redis_url:
            scheme, rest = redis_url.split("://", 1)
            # redis-py (already a dependency of the `redis` extra) rather than limits' default, coredis.
            storage = storage_from_string(f"async+{scheme}://{rest}", implementation="redispy")  # type: ignore[assignment]
        else:
            storage = MemoryStorage()
        self.storage = storage
        self.strategy = MovingWindowRateLimiter(storage)

    async def hit(self, item: RateLimitItem, *identifiers: str) -> Verdict:
        allowed = await self.strategy.hit(item, *identifiers)
        stats = await self.strategy.get_window_stats(item, *identifiers)
        # `limits` reports the reset as an epoch time; we only need whole seconds from now.
        reset = max(1, math.ceil(stats.reset_time - epoch_seconds()))
        return Verdict(allowed, item.amount, stats.remaining, reset)

    async def reset(self) -> None:
        await self.storage.reset()


__all__ = ["RateLimiter", "Verdict", "monotonic", "per", "per_minute", "per_second"]
