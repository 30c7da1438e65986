"""Unit tests of app/web.py, app/cache.py and app/search.py: deadlines, headers, readiness, encodings."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from typing import Any

import httpx
import pytest

from app.cache import Cached, decode, encode
from app.config import Settings
from app.resilience import DependencyUnavailable, deadline, guard, remaining_s
from app.search import FAILURES, SearchIndex, hits, search_body
from app.service import BadRequest, Reply
from app.web import bounded, readiness, reserve_s, to_response

SOUND = Settings(database_url="postgresql://u:p@db/x", request_deadline_s=0.3, pg_timeout_s=0.1,
                 redis_timeout_s=0.1, es_timeout_s=0.1)


def call(settings: Settings, handler: Any) -> tuple[int, dict[str, str], Any, float]:
    endpoint = bounded(settings, handler)
    started = time.monotonic()
    response = asyncio.run(endpoint(object()))  # type: ignore[arg-type]
    return response.status_code, dict(response.headers), json.loads(response.body), time.monotonic() - started


def test_a_handler_that_hangs_is_answered_503_at_the_deadline() -> None:
    """The request deadline bounds the whole handler: a hang becomes 503 with Retry-After in time."""
    async def hangs(_request: Any) -> Reply:
        await asyncio.sleep(5)
        return Reply(200, {})
    status, headers, body, elapsed = call(SOUND, hangs)
    assert (status, headers["retry-after"]) == (503, "1") and "0.3 s" in body["error"]
    assert elapsed < 0.6


def test_fragile_mode_has_no_deadline() -> None:
    """Negative control: in fragile mode the same slow handler is waited for."""
    async def slow(_request: Any) -> Reply:
        await asyncio.sleep(0.5)
        return Reply(200, {"late": True})
    status, _, body, elapsed = call(replace(SOUND, fragile=True), slow)
    assert (status, body) == (200, {"late": True}) and elapsed >= 0.5


def test_guards_see_the_deadline_less_a_reserve_for_the_fallback() -> None:
    """Inside a request the guards get the deadline minus min(0.25 s, 10 %) to answer a fallback."""
    seen: list[float] = []

    async def looks(_request: Any) -> Reply:
        seen.append(remaining_s() or -1.0)
        return Reply(200, {})
    call(replace(SOUND, request_deadline_s=2.0), looks)
    assert 1.7 < seen[0] <= 1.8 and reserve_s(2.0) == 0.2 and reserve_s(10.0) == 0.25
    assert deadline.get() is None


def test_bad_requests_become_their_status_with_the_message() -> None:
    async def bad(_request: Any) -> Reply:
        raise BadRequest("limit must be from 1 to 100", 400)
    status, _, body, _ = call(SOUND, bad)
    assert (status, body) == (400, {"error": "limit must be from 1 to 100"})


def test_degraded_reasons_become_one_header_without_repeats() -> None:
    """X-Degraded lists each fallback once, in the order taken; a normal reply has no such header."""
    response = to_response(Reply(200, {"id": 1}, ["cache-unavailable", "stale-cache", "cache-unavailable"],
                                 {"X-Cache": "stale"}))
    assert response.headers["x-degraded"] == "cache-unavailable,stale-cache"
    assert response.headers["x-cache"] == "stale"
    assert "x-degraded" not in to_response(Reply(200, {})).headers


class FakeDeps:
    """What readiness() reads: probes per dependency and whether the schema exists."""

    def __init__(self, pg_up: bool, redis_up: bool, schema: bool = True) -> None:
        self.guards = {name: guard(name, fragile=False, timeout_s=0.1, failures=(OSError,), fail_max=1,
                                   reset_s=60, attempts=1, wait_max_s=0) for name in ("postgres", "redis")}
        self.up = {"postgres": pg_up, "redis": redis_up}
        self.store = type("S", (), {"schema_ready": asyncio.Event()})()
        if schema:
            self.store.schema_ready.set()

    def probes(self) -> dict[str, Any]:
        def ping(name: str) -> Any:
            async def once() -> None:
                if not self.up[name]:
                    raise ConnectionRefusedError(f"{name} refused")
            return once
        return {"postgres": (self.guards["postgres"], ping("postgres")),
                "redis": (self.guards["redis"], ping("redis")), "elasticsearch": (None, None)}


@pytest.mark.parametrize("pg_up, redis_up, schema, code, status, degraded", [
    (True, True, True, 200, "ready", []),
    (True, False, True, 200, "degraded", ["redis"]),
    (False, True, True, 503, "unavailable", ["postgres"]),
    (True, True, False, 503, "unavailable", []),
])
def test_readiness_reports_each_dependency_and_the_mode(pg_up: bool, redis_up: bool, schema: bool, code: int,
                                                        status: str, degraded: list[str]) -> None:
    """/ready is 200 while PostgreSQL (with the schema) answers; each dependency's state is listed."""
    got_code, body = asyncio.run(readiness(FakeDeps(pg_up, redis_up, schema), SOUND))  # type: ignore[arg-type]
    assert (got_code, body["status"], body["degraded"]) == (code, status, degraded)
    assert body["dependencies"]["elasticsearch"] == {"configured": False}
    assert body["dependencies"]["redis"]["up"] is redis_up
    assert body["dependencies"]["postgres"]["breaker"] == "closed"


def test_an_open_breaker_makes_ready_say_degraded_even_if_the_probe_answers() -> None:
    deps = FakeDeps(True, True)
    deps.guards["redis"].breaker.open()  # type: ignore[union-attr]
    _, body = asyncio.run(readiness(deps, SOUND))  # type: ignore[arg-type]
    assert (body["status"], body["degraded"], body["dependencies"]["redis"]["breaker"]) == (
        "degraded", ["redis"], "open")


def test_cache_entries_round_trip_and_unreadable_ones_are_misses() -> None:
    assert decode(encode({"id": 1}, 12.5)) == Cached({"id": 1}, 12.5)
    assert Cached(None, 10.0).age_s(15.0) == 5.0 and Cached(None, 10.0).age_s(5.0) == 0.0
    for raw in (None, b"not json", '{"v": 1}', '{"at": "x", "v": 1}'):
        assert decode(raw) is None


def _index(handler: Any) -> SearchIndex:
    g = guard("elasticsearch", fragile=False, timeout_s=0.5, failures=FAILURES, fail_max=5, reset_s=1,
              attempts=2, wait_max_s=0)
    return SearchIndex("http://es.invalid:9200/", "items", g, transport=httpx.MockTransport(handler))


def test_search_request_and_response_mapping() -> None:
    """Search posts a multi_match query to <index>/_search and returns the hits' sources in order."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"hits": {"hits": [{"_source": {"id": 2}}, {"_source": {"id": 1}}]}})

    async def go() -> list[dict[str, Any]]:
        index = _index(answer)
        try:
            return await index.search("red lamp", 5)
        finally:
            await index.close()

    assert asyncio.run(go()) == [{"id": 2}, {"id": 1}]
    assert seen[0].url.path == "/items/_search"
    assert json.loads(seen[0].content) == search_body("red lamp", 5)
    assert search_body("x", 3)["size"] == 3 and hits({}) == []


@pytest.mark.parametrize("status, expected", [(404, []), (503, DependencyUnavailable)])
def test_missing_index_is_empty_and_server_errors_are_failures(status: int, expected: Any) -> None:
    """No index yet: no results. A 5xx: DependencyUnavailable after the bounded retries."""
    calls: list[int] = []

    def answer(_request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(status, json={})

    async def go() -> Any:
        index = _index(answer)
        try:
            return await index.search("lamp", 5)
        finally:
            await index.close()

    if expected is DependencyUnavailable:
        with pytest.raises(DependencyUnavailable, match="HTTPStatusError"):
            asyncio.run(go())
        assert len(calls) == 2
    else:
        assert asyncio.run(go()) == expected
