"""The bodies of the service degradation scenarios, shared by two callers:

- scenarios/test_app_degradation.py runs each against the reference service (app/) declared in
  scenarios/conftest.py: the sound service, whose objectives must PASS;
- tests/integration/test_app_degradation_controls.py runs each against ``APP_FRAGILE=1`` (the
  negative controls): the same body, judged by the same objective, must FAIL.

Each body drives open-loop HTTP workloads at the service through its Toxiproxy proxy, injects one
fault on an edge of the service (its PostgreSQL or Redis, which it reaches through their proxies,
or its own container), and records everything into the history; the caller judges it. The HTTP
client's timeout (3 s) is longer than the service's request deadline (2 s), so an answer that
does not come is the service's hang, not the client giving up early.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from harness import HttpProbe, HttpWrites, StackOptions
from harness.stack.catalog import APP_PID_FILE, elasticsearch, reference_app

CLIENT_TIMEOUT_S = 3.0
READ_HZ = 20
WRITE_HZ = 10
BULK_ITEMS = 100
BULK_DESCRIPTION_BYTES = 2000     # a search for them returns about 200 KB from PostgreSQL


def wait_ready(stack: Any, within_s: float = 15.0) -> None:
    """Until the service's /ready says "ready" (every dependency up, every breaker closed): the
    steady state a scenario measures its "before" phase in."""
    for attempt in Retrying(stop=stop_after_delay(within_s), wait=wait_fixed(0.2), reraise=True,
                            retry=retry_if_exception_type((requests.RequestException, AssertionError))):
        with attempt:
            status = requests.get(f"{stack.app.url}/ready", timeout=3).json().get("status")
            assert status == "ready", f"{stack.app.name} /ready says {status!r}, not 'ready'"


def create_item(stack: Any, name: str = "lamp") -> int:
    """An item created through the service, once it is ready; its id."""
    wait_ready(stack)
    answer = requests.post(f"{stack.app.url}/items", timeout=10,
                           json={"name": f"{name}-{uuid.uuid4().hex[:8]}", "price_cents": 1250})
    answer.raise_for_status()
    return int(answer.json()["id"])


def create_bulk_items(stack: Any) -> None:
    """``BULK_ITEMS`` items named bulk-N with long descriptions, written straight into PostgreSQL."""
    with stack.postgres.connect(direct=True) as conn:
        conn.execute("INSERT INTO items (name, description, price_cents) SELECT 'bulk-' || g, "
                     "repeat('x', %s), 100 FROM generate_series(1, %s) g",
                     (BULK_DESCRIPTION_BYTES, BULK_ITEMS))


def read_back_orders(stack: Any) -> set[str]:
    """The idempotency keys of every order in PostgreSQL (through its proxy, no fault left on it:
    a restarted container's own port has changed)."""
    with stack.postgres.connect(timeout_s=5) as conn:
        return {row[0] for row in conn.execute("SELECT idempotency_key FROM orders").fetchall()}


def reads(history: Any, stack: Any, path: str, rate_hz: float = READ_HZ,
          max_in_flight: int | None = None) -> HttpProbe:
    return HttpProbe(history, f"{stack.app.url}{path}", timeout_s=CLIENT_TIMEOUT_S, rate_hz=rate_hz,
                     process="app-reader", max_seconds=60, max_in_flight=max_in_flight)


def redis_down(stack: Any, history: Any) -> None:
    """Item reads while Redis's proxy is disabled for 2 s."""
    item = create_item(stack)
    with reads(history, stack, f"/items/{item}"):
        time.sleep(1.0)
        with stack.redis.down():
            time.sleep(2.0)
        time.sleep(2.0)


def postgres_latency(stack: Any, history: Any, max_in_flight: int | None = None) -> None:
    """Item reads at 30/s while PostgreSQL's answers are 500 ms late for 3 s (``max_in_flight``:
    the client's lanes; unset, enough for the asked rate)."""
    item = create_item(stack)
    with reads(history, stack, f"/items/{item}", rate_hz=30, max_in_flight=max_in_flight):
        time.sleep(1.0)
        with stack.postgres.latency(500):
            time.sleep(3.0)
        time.sleep(4.0)


def postgres_kill(stack: Any, history: Any) -> set[str]:
    """Item reads and keyed orders while PostgreSQL is SIGKILLed and started again; returns the
    order keys read back from PostgreSQL."""
    item = create_item(stack)
    orders = HttpWrites(history, f"{stack.app.url}/orders", body={"item_id": item, "quantity": 1},
                        key_header="Idempotency-Key", key_prefix=f"order-{uuid.uuid4().hex[:6]}",
                        timeout_s=CLIENT_TIMEOUT_S, rate_hz=WRITE_HZ, process="app-orders", max_seconds=60)
    with reads(history, stack, f"/items/{item}"), orders:
        time.sleep(1.5)
        with stack.postgres.kill():
            time.sleep(0.5)
        time.sleep(6.0)
    return read_back_orders(stack)


def app_crash(stack: Any, history: Any) -> None:
    """Health checks while the service's own process is SIGKILLed inside its container."""
    wait_ready(stack)
    with reads(history, stack, "/health"):
        time.sleep(1.0)
        with stack.app.crash(pid_file=APP_PID_FILE):
            pass
        time.sleep(8.0)


def postgres_slow_responses(stack: Any, history: Any) -> None:
    """Searches returning ~200 KB from PostgreSQL under a 50 KB/s bandwidth toxic, then under a
    slicer toxic (32-byte pieces, 1 ms apart), each held longer than the client's timeout."""
    wait_ready(stack)
    create_bulk_items(stack)
    with reads(history, stack, f"/search?q=bulk&limit={BULK_ITEMS}", rate_hz=5):
        time.sleep(1.0)
        with stack.postgres.bandwidth(rate_kbps=50):
            time.sleep(CLIENT_TIMEOUT_S + 1.5)
        time.sleep(2.0)
        with stack.postgres.slicer(average_size_bytes=32, delay_us=1000):
            time.sleep(CLIENT_TIMEOUT_S + 1.5)
        time.sleep(2.0)


def redis_partial_reset(stack: Any, history: Any, bursts: int = 6) -> None:
    """Item reads while 70 % of the connections through Redis's proxy are reset, in ``bursts``
    bursts of 0.6 s: a toxic's toxicity is rolled per connection when the toxic is added, and a
    pooled connection that survives the roll is never reset, so each burst rolls again."""
    item = create_item(stack)
    with reads(history, stack, f"/items/{item}"):
        time.sleep(1.0)
        for _ in range(bursts):
            with stack.redis.reset_peer(toxicity=0.7):
                time.sleep(0.6)
            time.sleep(0.3)
        time.sleep(1.0)


def search_stack(stack_factory: Any, *, fragile: bool = False) -> Any:
    """A stack with Elasticsearch and a service searching it (skips where its image cannot be had)."""
    app = reference_app(fragile=fragile, name="search-app", search="elasticsearch")
    return stack_factory(StackOptions(services=(elasticsearch(), app)))


def elasticsearch_down(stack: Any, history: Any) -> None:
    """Searches while Elasticsearch's proxy is disabled for 2 s."""
    with HttpProbe(history, f"{stack['search-app'].url}/search?q=lamp", timeout_s=CLIENT_TIMEOUT_S,
                   rate_hz=READ_HZ, process="app-searcher", max_seconds=60):
        time.sleep(1.0)
        with stack.elasticsearch.down():
            time.sleep(2.0)
        time.sleep(2.0)
