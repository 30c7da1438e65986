"""Unit tests of app/service.py: the degradation decisions and idempotency, over hand-made dependencies.

The fakes below keep data in dicts and can be switched "down": they then raise what the guards
raise for a failing dependency (DependencyUnavailable), or, for the fragile mode, a raw error.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.cache import Cached
from app.resilience import DependencyUnavailable
from app.service import BadRequest, Reply, Service, fingerprint, parse_item, parse_order
from app.store import PlacedOrder, UnknownItem

NOW = 1_000_000.0
FRESH_S = 30.0


class Switch:
    """Up, down (DependencyUnavailable), or raw (a raw error, as a fragile guard lets through)."""

    def __init__(self, name: str) -> None:
        self.name, self.mode, self.calls = name, "up", 0

    def check(self) -> None:
        self.calls += 1
        if self.mode == "down":
            raise DependencyUnavailable(self.name, "test says down")
        if self.mode == "raw":
            raise ConnectionRefusedError(f"{self.name} refused")


class FakeStore(Switch):
    def __init__(self) -> None:
        super().__init__("postgres")
        self.items: dict[int, dict[str, Any]] = {}
        self.orders: dict[str, tuple[dict[str, Any], str]] = {}

    async def get_item(self, item_id: int) -> dict[str, Any] | None:
        self.check()
        return self.items.get(item_id)

    async def get_order(self, order_id: int) -> dict[str, Any] | None:
        self.check()
        return next((o for o, _ in self.orders.values() if o["id"] == order_id), None)

    async def create_item(self, name: str, description: str, price_cents: int) -> dict[str, Any]:
        self.check()
        item = {"id": len(self.items) + 1, "name": name, "description": description, "price_cents": price_cents}
        self.items[item["id"]] = item
        return item

    async def search_items(self, text: str, limit: int) -> list[dict[str, Any]]:
        self.check()
        return [i for i in self.items.values() if text in i["name"]][:limit]

    async def place_order(self, key: str, fp: str, item_id: int, quantity: int) -> PlacedOrder:
        self.check()
        if key in self.orders:  # the unique key: the first order for a key stays
            order, stored = self.orders[key]
            return PlacedOrder(dict(order), stored, False)
        if item_id not in self.items:
            raise UnknownItem(item_id)
        order = {"id": len(self.orders) + 1, "idempotency_key": key, "item_id": item_id, "quantity": quantity}
        self.orders[key] = (order, fp)
        return PlacedOrder(dict(order), fp, True)


class FakeCache(Switch):
    def __init__(self) -> None:
        super().__init__("redis")
        self.data: dict[str, Cached] = {}

    async def get(self, key: str) -> Cached | None:
        self.check()
        return self.data.get(key)

    async def put(self, key: str, value: Any, *, ttl_s: float | None = None, now: float | None = None) -> None:
        self.check()
        self.data[key] = Cached(value, NOW if now is None else now)


class FakeIndex(Switch):
    def __init__(self) -> None:
        super().__init__("elasticsearch")
        self.docs: list[dict[str, Any]] = []

    async def put(self, item: dict[str, Any]) -> None:
        self.check()
        self.docs.append(item)

    async def search(self, text: str, limit: int) -> list[dict[str, Any]]:
        self.check()
        return [d for d in self.docs if text in d["name"]][:limit]


@pytest.fixture
def deps() -> tuple[FakeStore, FakeCache, FakeIndex]:
    return FakeStore(), FakeCache(), FakeIndex()


def service(deps: tuple[FakeStore, FakeCache, FakeIndex], *, cache: bool = True, index: bool = True) -> Service:
    store, c, i = deps
    return Service(store, c if cache else None, i if index else None, fresh_s=FRESH_S, idempotency_ttl_s=60,
                   clock=lambda: NOW)


def run(coro: Any) -> Reply:
    return asyncio.run(coro)


ITEM = {"id": 1, "name": "lamp", "description": "", "price_cents": 900}


def test_fresh_cache_entry_is_served_without_postgres(deps) -> None:
    """A cached copy younger than APP_CACHE_FRESH_S answers alone: PostgreSQL is not asked."""
    store, cache, _ = deps
    cache.data["item:1"] = Cached(ITEM, NOW - FRESH_S + 1)
    store.mode = "down"
    reply = run(service(deps).get_item(1))
    assert (reply.status, reply.body, reply.degraded, reply.headers["X-Cache"]) == (200, ITEM, [], "hit")
    assert store.calls == 0


def test_stale_entry_is_refreshed_from_postgres_when_it_answers(deps) -> None:
    """A stale copy is not served while PostgreSQL answers: the fresh row is, and it refills the cache."""
    store, cache, _ = deps
    store.items[1] = {**ITEM, "price_cents": 1000}
    cache.data["item:1"] = Cached(ITEM, NOW - FRESH_S - 1)
    reply = run(service(deps).get_item(1))
    assert (reply.status, reply.body["price_cents"], reply.degraded) == (200, 1000, [])
    assert cache.data["item:1"] == Cached(store.items[1], NOW)


def test_stale_entry_is_served_marked_when_postgres_cannot_answer(deps) -> None:
    """PostgreSQL down and a stale copy cached: 200 with the copy, marked stale-cache, with its age."""
    store, cache, _ = deps
    cache.data["item:1"] = Cached(ITEM, NOW - 95)
    store.mode = "down"
    reply = run(service(deps).get_item(1))
    assert (reply.status, reply.body, reply.degraded) == (200, ITEM, ["stale-cache"])
    assert reply.headers == {"X-Cache": "stale", "Age": "95"}


def test_nothing_cached_and_postgres_down_is_a_fast_503(deps) -> None:
    """Without a copy to fall back on, the read is 503 naming PostgreSQL, with Retry-After."""
    store, _, _ = deps
    store.mode = "down"
    reply = run(service(deps).get_item(1))
    assert reply.status == 503 and reply.body["dependency"] == "postgres"
    assert reply.headers["Retry-After"] == "1"


def test_redis_down_reads_come_from_postgres_marked_cache_unavailable(deps) -> None:
    """Redis down: the row comes from PostgreSQL, marked cache-unavailable, and no write-back is tried."""
    store, cache, _ = deps
    store.items[1] = ITEM
    cache.mode = "down"
    reply = run(service(deps).get_item(1))
    assert (reply.status, reply.body, reply.degraded) == (200, ITEM, ["cache-unavailable"])
    assert cache.calls == 1


def test_missing_row_is_404(deps) -> None:
    assert run(service(deps).get_item(42)).status == 404
    assert run(service(deps).get_order(42)).status == 404


def test_writes_fail_fast_with_503_when_postgres_is_down(deps) -> None:
    """Creating an item needs PostgreSQL: 503 with Retry-After, and nothing is cached or indexed."""
    store, cache, index = deps
    store.mode = "down"
    reply = run(service(deps).create_item({"name": "lamp", "price_cents": 900}))
    assert reply.status == 503 and reply.headers["Retry-After"] == "1"
    assert cache.data == {} and index.docs == []


def test_created_item_is_cached_and_indexed_or_marked_behind(deps) -> None:
    """A new item goes to PostgreSQL, the cache and the index; an index failure only marks it behind."""
    _, cache, index = deps
    reply = run(service(deps).create_item({"name": "lamp", "price_cents": 900}))
    assert (reply.status, reply.headers["Location"], reply.degraded) == (201, "/items/1", [])
    assert "item:1" in cache.data and index.docs == [reply.body]
    index.mode = "down"
    reply = run(service(deps).create_item({"name": "desk", "price_cents": 100}))
    assert (reply.status, reply.degraded) == (201, ["search-index-behind"])


def _order(svc: Service, key: str | None, item_id: int = 1, quantity: int = 1) -> Reply:
    return run(svc.place_order(key, {"item_id": item_id, "quantity": quantity}))


def test_an_idempotency_key_places_one_order_and_replays_it(deps) -> None:
    """First use: 201. Same key and body: 200, same order, Idempotent-Replayed. Other body: 409."""
    store, _, _ = deps
    store.items[1] = ITEM
    svc = service(deps)
    first = _order(svc, "k1", quantity=2)
    again = _order(svc, "k1", quantity=2)
    other = _order(svc, "k1", quantity=3)
    assert first.status == 201 and first.headers["Location"] == f"/orders/{first.body['id']}"
    assert (again.status, again.body, again.headers["Idempotent-Replayed"]) == (200, first.body, "true")
    assert other.status == 409 and other.body["order_id"] == first.body["id"]
    assert len(store.orders) == 1


def test_replay_comes_from_redis_even_while_postgres_is_down(deps) -> None:
    """A retried order whose answer Redis remembers is replayed without PostgreSQL."""
    store, _, _ = deps
    store.items[1] = ITEM
    svc = service(deps)
    first = _order(svc, "k2")
    store.mode = "down"
    again = _order(svc, "k2")
    assert (again.status, again.body) == (200, first.body)
    assert _order(svc, "k3").status == 503


def test_redis_down_still_places_each_key_at_most_once(deps) -> None:
    """Without Redis the unique key in PostgreSQL decides: the retry is a replay, not a second order."""
    store, cache, _ = deps
    store.items[1] = ITEM
    cache.mode = "down"
    svc = service(deps)
    first, again = _order(svc, "k4"), _order(svc, "k4")
    assert (first.status, again.status, again.body) == (201, 200, first.body)
    assert again.degraded == ["cache-unavailable"] and len(store.orders) == 1


def test_order_for_an_unknown_item_is_422(deps) -> None:
    assert _order(service(deps), "k5", item_id=99).status == 422


def test_search_uses_the_index_then_falls_back_to_postgres(deps) -> None:
    """Index up: results from Elasticsearch. Index down: PostgreSQL, marked search-fallback."""
    store, _, index = deps
    store.items[1] = ITEM
    index.docs.append(ITEM)
    svc = service(deps)
    up = run(svc.search("lam", 10))
    index.mode = "down"
    down = run(svc.search("lam", 10))
    assert (up.body["source"], up.degraded) == ("elasticsearch", [])
    assert (down.status, down.body["source"], down.body["results"], down.degraded) == (
        200, "postgres", [ITEM], ["search-fallback"])
    store.mode = "down"
    assert run(svc.search("lam", 10)).status == 503


def test_without_an_index_postgres_searches_and_nothing_is_degraded(deps) -> None:
    store, _, _ = deps
    store.items[1] = ITEM
    reply = run(service(deps, index=False).search("lam", 10))
    assert (reply.body["source"], reply.degraded) == ("postgres", [])


@pytest.mark.parametrize("who", ["cache", "store"])
def test_raw_errors_of_a_fragile_guard_are_not_swallowed(deps, who: str) -> None:
    """Negative control: the fallbacks catch DependencyUnavailable only, so the fragile mode's raw
    errors reach the client (as a 500) instead of a degraded answer."""
    store, cache, _ = deps
    store.items[1] = ITEM
    cache.data["item:1"] = Cached(ITEM, NOW - FRESH_S - 1)
    (cache if who == "cache" else store).mode = "raw"
    with pytest.raises(ConnectionRefusedError):
        run(service(deps).get_item(1))


@pytest.mark.parametrize("body, message", [
    ([], "body must be a JSON object"),
    ({"price_cents": 1}, "name must be"),
    ({"name": " ", "price_cents": 1}, "name must be"),
    ({"name": "x", "price_cents": -1}, "price_cents must be"),
    ({"name": "x", "price_cents": True}, "price_cents must be"),
    ({"name": "x", "price_cents": 1, "description": 5}, "description must be"),
])
def test_bad_item_bodies_are_refused(body: Any, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        parse_item(body)


@pytest.mark.parametrize("key, body, status, message", [
    (None, {"item_id": 1}, 400, "Idempotency-Key header is required"),
    ("k" * 201, {"item_id": 1}, 400, "at most 200"),
    ("k\n", {"item_id": 1}, 400, "printable"),
    ("k", {"item_id": 0}, 422, "item_id must be"),
    ("k", {"item_id": 1, "quantity": 10_001}, 422, "quantity must be"),
    ("k", "x", 400, "JSON object"),
])
def test_bad_orders_are_refused(key: str | None, body: Any, status: int, message: str) -> None:
    with pytest.raises(BadRequest, match=message) as caught:
        parse_order(key, body)
    assert caught.value.status == status


def test_fingerprint_binds_a_key_to_its_body() -> None:
    assert fingerprint(1, 2) == fingerprint(1, 2)
    assert len({fingerprint(1, 2), fingerprint(1, 3), fingerprint(12, 1), fingerprint(2, 1)}) == 4
    assert parse_order(" k ", {"item_id": 3}) == ("k", 3, 1)
