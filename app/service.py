"""The degradation decisions: what each request does when a dependency fails. No I/O of its own.

Reads (an item, an order) are cache-aside: a fresh cache entry is served as is; otherwise
PostgreSQL answers and the cache is refilled; if PostgreSQL cannot answer, a stale entry is served
marked ``stale-cache``, and without one the answer is 503. Writes go to PostgreSQL only and fail
fast with 503 when it cannot answer. An order is placed at most once per Idempotency-Key:
PostgreSQL's unique key decides (so Redis being down never allows a duplicate); Redis remembers
the answer so that a retried request is replayed without touching PostgreSQL. Searches go to
Elasticsearch when configured and fall back to PostgreSQL marked ``search-fallback``.

Every fallback taken is named in ``Reply.degraded``; the web layer sends it as ``X-Degraded``.
In fragile mode the guards raise the raw errors instead of DependencyUnavailable, so none of the
fallbacks below is taken: the error (or the hang) reaches the client.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.cache import Cached
from app.resilience import DependencyUnavailable
from app.store import PlacedOrder, UnknownItem

CACHE_UNAVAILABLE = "cache-unavailable"      # Redis could not be asked; PostgreSQL answered instead
STALE_CACHE = "stale-cache"                  # PostgreSQL could not answer; an older cached copy was served
SEARCH_FALLBACK = "search-fallback"          # Elasticsearch could not answer; PostgreSQL searched
SEARCH_INDEX_BEHIND = "search-index-behind"  # the item was stored but not indexed
MAX_KEY_LEN = 200
MAX_NAME_LEN = 200
MAX_QUANTITY = 10_000


class BadRequest(Exception):
    """The request itself is wrong: 400 (malformed) or 422 (well-formed but invalid)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Reply:
    """What to answer: status, JSON body, the fallbacks taken, extra headers."""

    status: int
    body: Any
    degraded: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)


class StoreLike(Protocol):
    async def get_item(self, item_id: int) -> dict[str, Any] | None: ...
    async def get_order(self, order_id: int) -> dict[str, Any] | None: ...
    async def create_item(self, name: str, description: str, price_cents: int) -> dict[str, Any]: ...
    async def search_items(self, text: str, limit: int) -> list[dict[str, Any]]: ...
    async def place_order(self, key: str, fingerprint: str, item_id: int, quantity: int) -> PlacedOrder: ...


class CacheLike(Protocol):
    async def get(self, key: str) -> Cached | None: ...
    async def put(self, key: str, value: Any, *, ttl_s: float | None = None, now: float | None = None) -> None: ...


class IndexLike(Protocol):
    async def put(self, item: dict[str, Any]) -> None: ...
    async def search(self, text: str, limit: int) -> list[dict[str, Any]]: ...


def is_fresh(entry: Cached, now: float, fresh_s: float) -> bool:
    """A cached entry younger than ``fresh_s`` is served without asking PostgreSQL."""
    return entry.age_s(now) < fresh_s


def fingerprint(item_id: int, quantity: int) -> str:
    """What an Idempotency-Key is bound to: the same key with another body is a conflict."""
    return hashlib.sha256(f"{item_id}:{quantity}".encode()).hexdigest()[:32]


def unavailable(exc: DependencyUnavailable) -> Reply:
    """The fast 503 for a request that cannot be served without ``exc.dependency``."""
    return Reply(503, {"error": str(exc), "dependency": exc.dependency}, headers={"Retry-After": "1"})


def parse_item(body: Any) -> tuple[str, str, int]:
    """(name, description, price_cents) from a JSON body, or BadRequest saying what is wrong."""
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object", 400)
    name, description, price = body.get("name"), body.get("description", ""), body.get("price_cents")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LEN:
        raise BadRequest(f"name must be a non-empty string of at most {MAX_NAME_LEN} characters")
    if not isinstance(description, str):
        raise BadRequest("description must be a string")
    if not isinstance(price, int) or isinstance(price, bool) or not 0 <= price < 2**31:
        raise BadRequest("price_cents must be a whole number >= 0")
    return name.strip(), description, price


def parse_order(key: str | None, body: Any) -> tuple[str, int, int]:
    """(key, item_id, quantity) from the Idempotency-Key header and the JSON body, or BadRequest."""
    if not key or not key.strip():
        raise BadRequest("the Idempotency-Key header is required for POST /orders", 400)
    if len(key) > MAX_KEY_LEN or not key.isprintable():
        raise BadRequest(f"Idempotency-Key must be printable and at most {MAX_KEY_LEN} characters", 400)
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object", 400)
    item_id, quantity = body.get("item_id"), body.get("quantity", 1)
    for name, value, high in (("item_id", item_id, 2**63 - 1), ("quantity", quantity, MAX_QUANTITY)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= high:
            raise BadRequest(f"{name} must be a whole number from 1 to {high}")
    return key.strip(), item_id, quantity  # type: ignore[return-value]


def replay(order: dict[str, Any], stored_fingerprint: str, wanted: str, degraded: list[str]) -> Reply:
    """The answer to a key seen before: the same order again, or 409 if the body differs."""
    if stored_fingerprint != wanted:
        return Reply(409, {"error": "this Idempotency-Key was used with a different order",
                           "order_id": order["id"]}, degraded)
    return Reply(200, order, degraded, {"Idempotent-Replayed": "true", "Location": f"/orders/{order['id']}"})


class Service:
    """The shop's use cases over a store, an optional cache and an optional search index."""

    def __init__(self, store: StoreLike, cache: CacheLike | None, index: IndexLike | None, *,
                 fresh_s: float, idempotency_ttl_s: float, clock: Callable[[], float] = time.time) -> None:
        self.store, self.cache, self.index = store, cache, index
        self.fresh_s, self.idempotency_ttl_s, self.clock = fresh_s, idempotency_ttl_s, clock

    async def _cache_get(self, key: str, degraded: list[str]) -> Cached | None:
        if self.cache is None:
            return None
        try:
            return await self.cache.get(key)
        except DependencyUnavailable:
            degraded.append(CACHE_UNAVAILABLE)
            return None

    async def _cache_put(self, key: str, value: Any, degraded: list[str], ttl_s: float | None = None) -> None:
        if self.cache is None or CACHE_UNAVAILABLE in degraded:
            return
        try:
            await self.cache.put(key, value, ttl_s=ttl_s, now=self.clock())
        except DependencyUnavailable:
            degraded.append(CACHE_UNAVAILABLE)

    async def _read(self, key: str, load: Callable[[], Awaitable[dict[str, Any] | None]], what: str) -> Reply:
        degraded: list[str] = []
        cached = await self._cache_get(key, degraded)
        now = self.clock()
        if cached is not None and is_fresh(cached, now, self.fresh_s):
            return Reply(200, cached.value, degraded, {"X-Cache": "hit"})
        try:
            value = await load()
        except DependencyUnavailable as exc:
            if cached is None:
                return unavailable(exc)
            degraded.append(STALE_CACHE)
            return Reply(200, cached.value, degraded, {"X-Cache": "stale", "Age": str(int(cached.age_s(now)))})
        if value is None:
            return Reply(404, {"error": f"{what} not found"}, degraded)
        await self._cache_put(key, value, degraded)
        return Reply(200, value, degraded, {"X-Cache": "miss" if self.cache else "off"})

    async def get_item(self, item_id: int) -> Reply:
        return await self._read(f"item:{item_id}", lambda: self.store.get_item(item_id), "item")

    async def get_order(self, order_id: int) -> Reply:
        return await self._read(f"order:{order_id}", lambda: self.store.get_order(order_id), "order")

    async def create_item(self, body: Any) -> Reply:
        name, description, price = parse_item(body)
        try:
            item = await self.store.create_item(name, description, price)
        except DependencyUnavailable as exc:
            return unavailable(exc)
        degraded: list[str] = []
        await self._cache_put(f"item:{item['id']}", item, degraded)
        if self.index is not None:
            try:
                await self.index.put(item)
            except DependencyUnavailable:
                degraded.append(SEARCH_INDEX_BEHIND)
        return Reply(201, item, degraded, {"Location": f"/items/{item['id']}"})

    async def place_order(self, key_header: str | None, body: Any) -> Reply:
        key, item_id, quantity = parse_order(key_header, body)
        wanted = fingerprint(item_id, quantity)
        degraded: list[str] = []
        seen = await self._cache_get(f"idem:{key}", degraded)
        if seen is not None and isinstance(seen.value, dict):
            return replay(seen.value["order"], seen.value["fingerprint"], wanted, degraded)
        try:
            placed = await self.store.place_order(key, wanted, item_id, quantity)
        except DependencyUnavailable as exc:
            return unavailable(exc)
        except UnknownItem:
            return Reply(422, {"error": f"item {item_id} does not exist"}, degraded)
        record = {"order": placed.order, "fingerprint": placed.fingerprint}
        await self._cache_put(f"idem:{key}", record, degraded, ttl_s=self.idempotency_ttl_s)
        if not placed.created:
            return replay(placed.order, placed.fingerprint, wanted, degraded)
        await self._cache_put(f"order:{placed.order['id']}", placed.order, degraded)
        return Reply(201, placed.order, degraded, {"Location": f"/orders/{placed.order['id']}"})

    async def search(self, text: str, limit: int) -> Reply:
        if not text.strip():
            raise BadRequest("q must not be empty", 400)
        if not 1 <= limit <= 100:
            raise BadRequest("limit must be from 1 to 100", 400)
        degraded: list[str] = []
        if self.index is not None:
            try:
                found = await self.index.search(text, limit)
                return Reply(200, {"query": text, "source": "elasticsearch", "results": found}, degraded)
            except DependencyUnavailable:
                degraded.append(SEARCH_FALLBACK)
        try:
            found = await self.store.search_items(text, limit)
        except DependencyUnavailable as exc:
            return unavailable(exc)
        return Reply(200, {"query": text, "source": "postgres", "results": found}, degraded)
