"""Redis: the cache-aside layer for reads and the fast path of the idempotency store.

Entries are JSON ``{"v": value, "at": unix seconds}``; the service decides freshness from ``at``
(``APP_CACHE_FRESH_S``) while Redis keeps the entry ``APP_CACHE_KEEP_S`` so that a stale copy is
still there to serve when PostgreSQL is not. Calls are tried once: a cache miss is cheaper than a
retry. redis-py's own retries are switched off so the guard alone decides.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app.resilience import Guard

FAILURES: tuple[type[BaseException], ...] = (OSError, redis.exceptions.RedisError)
PREFIX = "app:"


@dataclass(frozen=True)
class Cached:
    """A cached value and when it was stored (unix seconds)."""

    value: Any
    stored_at: float

    def age_s(self, now: float) -> float:
        return max(0.0, now - self.stored_at)


def encode(value: Any, now: float) -> str:
    return json.dumps({"v": value, "at": now}, separators=(",", ":"))


def decode(raw: str | bytes | None) -> Cached | None:
    """The cached entry, or None for a miss or an entry this version cannot read."""
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        return Cached(data["v"], float(data["at"]))
    except (ValueError, KeyError, TypeError):
        return None


class Cache:
    """Redis through redis.asyncio; every method goes through ``guard``."""

    def __init__(self, url: str, guard: Guard, *, keep_s: float) -> None:
        self.guard = guard
        self.keep_s = keep_s
        timeout = guard.timeout_s  # None in fragile mode: block for as long as Redis does
        self.client = redis.asyncio.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False, health_check_interval=0, max_connections=64)

    async def close(self) -> None:
        await self.client.aclose()

    async def ping(self) -> None:
        """One round trip (for /ready), bounded by the guard's timeout, not counted by its breaker."""
        if self.guard.timeout_s is None:
            await self.client.ping()
        else:
            await asyncio.wait_for(self.client.ping(), self.guard.timeout_s)

    async def get(self, key: str) -> Cached | None:
        raw = await self.guard.call(lambda: self.client.get(PREFIX + key), idempotent=False)
        return decode(raw)

    async def put(self, key: str, value: Any, *, ttl_s: float | None = None, now: float | None = None) -> None:
        payload = encode(value, time.time() if now is None else now)
        ttl_ms = max(1, int((ttl_s or self.keep_s) * 1000))
        await self.guard.call(lambda: self.client.set(PREFIX + key, payload, px=ttl_ms), idempotent=False)
