"""The reference service's image on a real network beside real PostgreSQL and Redis containers.

The app image is built through the harness's image policy (``resolve(client, SPECS["app"])``), the
data services are the images the harness resolves. Two app containers run side by side: the sound
one and ``APP_FRAGILE=1``. Faults are the Docker API's: ``stop`` for Redis, ``pause`` for
PostgreSQL. Every container and the network carry this run's labels, ports are published on
127.0.0.1 only, and everything is removed at the end of the module. Timings are printed (``-s``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
import psycopg
import pytest
import requests
from docker.models.containers import Container
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from harness.stack.cleanup import leftovers, remove_run
from harness.stack.images import SPECS, resolve
from harness.stack.labels import RUN_LABEL, new_run_id, run_labels

pytestmark = pytest.mark.docker

PASSWORD = "app-test"
DEADLINE_S = 2.0
FRESH_S = 0.5
# What "within the deadline" allows on top of it: scheduling and the HTTP round trip on a busy 2-core box.
SLACK_S = 0.5
HANG_S = 4.0  # the fragile app's requests are given this long before they count as hanging


class NotYet(Exception):
    """A condition polled for is not true yet."""


@dataclass
class Answer:
    """One HTTP exchange as the tests see it: status (None = no answer in time), headers, body, seconds."""

    status: int | None
    headers: dict[str, str]
    body: Any
    elapsed_s: float

    @property
    def degraded(self) -> str | None:
        return self.headers.get("x-degraded")


@dataclass
class App:
    container: Container
    base: str

    def call(self, method: str, path: str, *, timeout_s: float = DEADLINE_S + 3, **kwargs: Any) -> Answer:
        started = time.monotonic()
        try:
            r = requests.request(method, self.base + path, timeout=timeout_s, **kwargs)
        except requests.exceptions.Timeout:
            return Answer(None, {}, None, time.monotonic() - started)
        elapsed = time.monotonic() - started
        body = r.json() if r.headers.get("content-type", "").startswith("application/json") else r.text
        return Answer(r.status_code, {k.lower(): v for k, v in r.headers.items()}, body, elapsed)

    def wait_ready(self, want: str = "ready", within_s: float = 60.0) -> dict[str, Any]:
        """Poll /ready until its status is ``want``; returns the last body.

        Each poll also reads an item: a breaker only leaves "open" when a call tries its dependency
        again after the reset timeout, as live traffic would.
        """
        def once() -> dict[str, Any]:
            try:
                self.call("GET", "/items/1", timeout_s=3)
                answer = self.call("GET", "/ready", timeout_s=3)
            except requests.exceptions.ConnectionError as exc:
                raise NotYet(str(exc)) from exc
            if not isinstance(answer.body, dict) or answer.body.get("status") != want:
                raise NotYet(f"/ready said {answer.status} {answer.body}")
            return answer.body
        for attempt in Retrying(stop=stop_after_delay(within_s), wait=wait_fixed(0.25), reraise=True,
                                retry=retry_if_exception_type(NotYet)):
            with attempt:
                return once()
        raise AssertionError("unreachable")


@dataclass
class Stack:
    client: docker.DockerClient
    postgres: Container
    redis: Container
    app: App
    fragile: App
    pg_port: int

    def orders_with_key(self, key: str) -> int:
        with psycopg.connect(host="127.0.0.1", port=self.pg_port, user="postgres", password=PASSWORD,
                             dbname="postgres", connect_timeout=5) as conn:
            row = conn.execute("SELECT count(*) FROM orders WHERE idempotency_key = %s", (key,)).fetchone()
            assert row is not None
            return int(row[0])


def _host_port(container: Container, port: str) -> int:
    container.reload()
    return int(container.ports[port][0]["HostPort"])


def _remove_run(client: docker.DockerClient, run_id: str) -> None:
    """Unpause what a failed test may have left paused, then remove the run's objects by label."""
    for container in client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_id}"}):
        if container.status == "paused":
            container.unpause()
    remove_run(client, run_id)
    assert leftovers(client, run_id) == []


@pytest.fixture(scope="module")
def stack(client: docker.DockerClient, service_image: Callable[[str], str],
          request: pytest.FixtureRequest) -> Iterator[Stack]:
    """PostgreSQL, Redis, the app and the fragile app on a network made for this module.

    When a test of the module failed, the apps' last log lines are printed before removal."""
    app_image = resolve(client, SPECS["app"]).ref
    run_id = new_run_id()
    labels = run_labels(run_id)
    try:
        net = client.networks.create(f"dr-harness-app-{run_id}", driver="bridge", labels=labels)

        def run(image: str, alias: str, environment: dict[str, str], port: str | None = None) -> Container:
            container = client.containers.create(
                image, name=f"dr-harness-{alias}-{run_id}", environment=environment, labels=labels,
                ports={port: ("127.0.0.1", None)} if port else {}, detach=True)
            net.connect(container, aliases=[alias])
            client.networks.get("bridge").disconnect(container)
            container.start()
            return container

        postgres = run(service_image("postgres"), "postgres", {"POSTGRES_PASSWORD": PASSWORD}, "5432/tcp")
        redis = run(service_image("redis"), "redis", {})
        env = {"DATABASE_URL": f"postgresql://postgres:{PASSWORD}@postgres:5432/postgres",
               "REDIS_URL": "redis://redis:6379/0", "APP_REQUEST_DEADLINE_S": str(DEADLINE_S),
               "APP_CACHE_FRESH_S": str(FRESH_S), "APP_BREAKER_RESET_S": "2", "APP_LOG_LEVEL": "warning"}
        sound = run(app_image, "app", env, "8080/tcp")
        fragile = run(app_image, "app-fragile", {**env, "APP_FRAGILE": "1"}, "8080/tcp")
        apps = [App(c, f"http://127.0.0.1:{_host_port(c, '8080/tcp')}") for c in (sound, fragile)]
        for app in apps:
            app.wait_ready()
        yield Stack(client, postgres, redis, apps[0], apps[1], _host_port(postgres, "5432/tcp"))
    finally:
        if request.session.testsfailed:
            for container in client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_id}"}):
                if "-app" in container.name:
                    tail = container.logs(tail=30).decode(errors="replace")
                    print(f"\n--- last log lines of {container.name} ---\n{tail}")
        _remove_run(client, run_id)


def _create_item(app: App, name: str) -> dict[str, Any]:
    answer = app.call("POST", "/items", json={"name": name, "description": "a test item", "price_cents": 1250})
    assert answer.status == 201, answer
    return answer.body


def _order(app: App, key: str, item_id: int, quantity: int = 1) -> Answer:
    return app.call("POST", "/orders", json={"item_id": item_id, "quantity": quantity},
                    headers={"Idempotency-Key": key})


def test_reads_writes_orders_and_search_work(stack: Stack) -> None:
    """Normal service: items and orders round-trip, an order key places one order, search finds items."""
    app = stack.app
    item = _create_item(app, f"lantern-{uuid.uuid4().hex[:6]}")
    first, second = app.call("GET", f"/items/{item['id']}"), app.call("GET", f"/items/{item['id']}")
    assert (first.status, first.body, first.degraded) == (200, item, None)
    assert second.headers["x-cache"] == "hit" and second.body == item

    key = f"order-{uuid.uuid4()}"
    placed = _order(app, key, item["id"], 2)
    assert placed.status == 201 and placed.body["quantity"] == 2, placed
    again = _order(app, key, item["id"], 2)
    assert (again.status, again.body, again.headers.get("idempotent-replayed")) == (200, placed.body, "true"), \
        (placed, again)
    assert _order(app, key, item["id"], 3).status == 409
    assert stack.orders_with_key(key) == 1
    read_back = app.call("GET", f"/orders/{placed.body['id']}")
    assert (read_back.status, read_back.body) == (200, placed.body)
    time.sleep(FRESH_S + 0.1)  # past freshness: the next read comes from PostgreSQL, and shows the same fields
    from_postgres = app.call("GET", f"/orders/{placed.body['id']}")
    assert (from_postgres.headers["x-cache"], from_postgres.body) == ("miss", placed.body)

    found = app.call("GET", "/search", params={"q": item["name"]})
    assert found.status == 200 and found.body["source"] == "postgres" and found.degraded is None
    assert [r["id"] for r in found.body["results"]] == [item["id"]]
    assert app.call("GET", "/items/999999999").status == 404
    ready = app.call("GET", "/ready")
    assert ready.status == 200 and ready.body["status"] == "ready", ready.body
    uid = app.container.exec_run(["id", "-u"]).output.decode().strip()
    assert uid == "10001", f"the app must run as its non-root user, runs as uid {uid}"
    for attempt in Retrying(stop=stop_after_delay(30), wait=wait_fixed(0.5), reraise=True,
                            retry=retry_if_exception_type(NotYet)):
        with attempt:
            app.container.reload()
            health = app.container.attrs["State"].get("Health", {}).get("Status")
            if health != "healthy":
                raise NotYet(f"HEALTHCHECK status {health}")
    print(f"\n[app] normal (uid {uid}, HEALTHCHECK healthy): create item, read (miss, hit), order 201, replay 200, conflict 409; "
          f"read latency {first.elapsed_s * 1000:.1f} / {second.elapsed_s * 1000:.1f} ms")


def test_redis_stopped_reads_still_work_from_postgres(stack: Stack) -> None:
    """With Redis stopped, reads and orders are served from PostgreSQL: no 5xx, marked cache-unavailable."""
    app = stack.app
    item = _create_item(app, f"kettle-{uuid.uuid4().hex[:6]}")
    stack.redis.stop(timeout=5)
    try:
        answers = [app.call("GET", f"/items/{item['id']}") for _ in range(20)]
        assert [a.status for a in answers] == [200] * 20
        assert all(a.body == item and a.degraded == "cache-unavailable" for a in answers), answers[0]
        key = f"order-{uuid.uuid4()}"
        placed, replayed = _order(app, key, item["id"]), _order(app, key, item["id"])
        assert (placed.status, replayed.status) == (201, 200), (placed, replayed)
        assert stack.orders_with_key(key) == 1
        ready = app.call("GET", "/ready")
        assert ready.status == 200 and ready.body["status"] == "degraded", ready.body
        assert ready.body["dependencies"]["redis"]["up"] is False
        slowest = max(a.elapsed_s for a in answers)
        print(f"\n[app] redis stopped: 20 reads all 200 X-Degraded=cache-unavailable, slowest {slowest * 1000:.0f} ms; "
              f"order 201 then replay 200 (one row); /ready 200 degraded, redis breaker "
              f"{ready.body['dependencies']['redis']['breaker']}")
    finally:
        stack.redis.start()
    app.wait_ready("ready", within_s=45)  # the Redis breaker closes after its reset timeout


def test_postgres_paused_serves_stale_reads_and_fails_writes_fast(stack: Stack) -> None:
    """With PostgreSQL paused, cached reads come back marked stale-cache and writes 503 within the deadline."""
    app = stack.app
    item = _create_item(app, f"teapot-{uuid.uuid4().hex[:6]}")
    assert app.call("GET", f"/items/{item['id']}").status == 200
    time.sleep(FRESH_S + 0.1)  # the cached copy is now stale: a read must ask PostgreSQL first
    stack.postgres.pause()
    try:
        reads = [app.call("GET", f"/items/{item['id']}") for _ in range(10)]
        writes = [app.call("POST", "/items", json={"name": "x", "price_cents": 1}) for _ in range(8)]
        orders = [_order(app, f"order-{uuid.uuid4()}", item["id"]) for _ in range(3)]
        uncached = app.call("GET", "/items/999999998")
        ready = app.call("GET", "/ready")
    finally:
        stack.postgres.unpause()
    assert [a.status for a in reads] == [200] * 10, [(a.status, a.body) for a in reads]
    assert all(a.body == item and a.degraded == "stale-cache" for a in reads), reads[0]
    for answer in [*writes, *orders, uncached]:
        assert answer.status == 503, answer
        assert answer.elapsed_s < DEADLINE_S + SLACK_S, answer
    assert all(a.elapsed_s < DEADLINE_S + SLACK_S for a in reads)
    assert ready.status == 503 and ready.body["status"] == "unavailable", ready.body
    assert ready.body["dependencies"]["postgres"]["breaker"] == "open"
    ms = lambda answers: "/".join(f"{a.elapsed_s * 1000:.0f}" for a in answers)  # noqa: E731
    print(f"\n[app] postgres paused: reads 200 X-Degraded=stale-cache in {ms(reads)} ms; "
          f"writes 503 in {ms(writes)} ms; orders 503 in {ms(orders)} ms; uncached read 503 in "
          f"{uncached.elapsed_s * 1000:.0f} ms; /ready 503 (postgres breaker open)")


def test_fragile_mode_hangs_or_fails_under_the_same_faults(stack: Stack) -> None:
    """Negative control: APP_FRAGILE=1 answers 5xx with Redis stopped and hangs with PostgreSQL paused."""
    app = stack.fragile
    app.wait_ready("ready", within_s=45)
    item = _create_item(app, f"spoon-{uuid.uuid4().hex[:6]}")
    assert app.call("GET", f"/items/{item['id']}").status == 200
    stack.redis.stop(timeout=5)
    try:
        redis_down = app.call("GET", f"/items/{item['id']}")
    finally:
        stack.redis.start()
    assert redis_down.status is not None and redis_down.status >= 500, redis_down
    app.wait_ready("ready", within_s=30)

    time.sleep(FRESH_S + 0.1)
    stack.postgres.pause()
    try:
        read = app.call("GET", f"/items/{item['id']}", timeout_s=HANG_S)
        write = app.call("POST", "/items", json={"name": "y", "price_cents": 1}, timeout_s=HANG_S)
    finally:
        stack.postgres.unpause()
    for answer in (read, write):
        assert answer.status is None or answer.status >= 500, answer
    assert read.status is None, "a fragile read under a PostgreSQL pause must hang, not be served"
    print(f"\n[app] fragile: redis stopped -> read {redis_down.status}; postgres paused -> read "
          f"{'no answer' if read.status is None else read.status} after {read.elapsed_s:.1f} s, write "
          f"{'no answer' if write.status is None else write.status} after {write.elapsed_s:.1f} s")
