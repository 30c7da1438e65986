"""Integration tests of the workloads (harness.workloads.base, harness.workloads.postgres,
harness.workloads.redis) against real PostgreSQL and Redis containers.

Each container publishes its port on a fixed free 127.0.0.1 port, so a killed-and-restarted
container is reached again at the same address, as it would be through Toxiproxy.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import docker
import psycopg
import pytest
import redis
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed

from harness.history import NOT_SENT, History, Op, now
from harness.stack.cleanup import remove_run
from harness.stack.labels import new_run_id, run_labels
from harness.workloads.base import Workload
from harness.workloads.clients import read_back_postgres, read_back_redis
from harness.workloads.postgres import PostgresInserts, PostgresReads
from harness.workloads.redis import RedisReads, RedisWrites

pytestmark = pytest.mark.docker

PG_USER, PG_PASSWORD, PG_DB = "dr", "dr-secret", "dr"


@dataclass
class Running:
    """A test container and the fixed 127.0.0.1 port its service is published on."""

    container: docker.models.containers.Container
    port: int


def _image(service_image: Callable[[str], str], env: str, service: str) -> str:
    return os.environ.get(env) or service_image(service)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def run_id(client: docker.DockerClient) -> Iterator[str]:
    rid = new_run_id()
    yield rid
    remove_run(client, rid)


def _start(client: docker.DockerClient, run_id: str, image: str, inner_port: int, data_dir: str,
           **options: object) -> Running:
    labels = run_labels(run_id)
    volume = client.volumes.create(name=f"dr-test-{run_id}-{inner_port}", labels=labels)
    port = _free_port()
    container = client.containers.run(image, detach=True, labels=labels,
                                      ports={f"{inner_port}/tcp": ("127.0.0.1", port)},
                                      volumes={volume.name: {"bind": data_dir, "mode": "rw"}},
                                      **options)
    return Running(container, port)


def _stop(client: docker.DockerClient, running: Running) -> None:
    volumes = [m["Name"] for m in running.container.attrs.get("Mounts", []) if m.get("Name")]
    running.container.remove(force=True, v=True)
    for name in volumes:
        client.volumes.get(name).remove(force=True)


@retry(stop=stop_after_delay(60), wait=wait_fixed(0.2), reraise=True,
       retry=retry_if_exception_type((psycopg.Error, OSError)))
def _wait_postgres(port: int) -> None:
    with psycopg.connect(host="127.0.0.1", port=port, user=PG_USER, password=PG_PASSWORD,
                         dbname=PG_DB, connect_timeout=2) as conn:
        conn.execute("SELECT 1").fetchone()


@retry(stop=stop_after_delay(30), wait=wait_fixed(0.2), reraise=True,
       retry=retry_if_exception_type((redis.RedisError, OSError)))
def _wait_redis(port: int) -> None:
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, socket_connect_timeout=1)
    try:
        client.ping()
    finally:
        client.close()


@pytest.fixture
def postgres(client: docker.DockerClient, run_id: str,
             service_image: Callable[[str], str]) -> Iterator[Running]:
    image = _image(service_image, "HARNESS_TEST_POSTGRES_IMAGE", "postgres")
    running = _start(client, run_id, image, 5432, "/var/lib/postgresql/data",
                     environment={"POSTGRES_USER": PG_USER, "POSTGRES_PASSWORD": PG_PASSWORD,
                                  "POSTGRES_DB": PG_DB})
    try:
        _wait_postgres(running.port)
        yield running
    finally:
        _stop(client, running)


@pytest.fixture
def redis_server(client: docker.DockerClient, run_id: str,
                 service_image: Callable[[str], str]) -> Iterator[Running]:
    image = _image(service_image, "HARNESS_TEST_REDIS_IMAGE", "redis")
    running = _start(client, run_id, image, 6379, "/data",
                     command=["redis-server", "--protected-mode", "no", "--appendonly", "yes",
                              "--appendfsync", "always"])
    try:
        _wait_redis(running.port)
        yield running
    finally:
        _stop(client, running)


def _pg_writer(history: History, port: int, **options: object) -> PostgresInserts:
    return PostgresInserts(history, host="127.0.0.1", port=port, user=PG_USER,
                           password=PG_PASSWORD, dbname=PG_DB, **options)


def _completed(history: History, kind: str) -> list[Op]:
    return [done for _, done in history.pairs() if done is not None and done.type == kind]


def _ok_after(history: History, moment: float) -> list[Op]:
    return [done for done in _completed(history, "ok") if done.time > moment]


@retry(stop=stop_after_delay(30), wait=wait_fixed(0.1), reraise=True,
       retry=retry_if_exception_type(AssertionError))
def _wait_for_ok_after(history: History, moment: float, count: int) -> None:
    assert len(_ok_after(history, moment)) >= count, f"fewer than {count} ok ops since {moment:.2f}"


def _assert_accounted(history: History, workload: Workload, survivors: set[int]) -> None:
    """Every invoke has a completion, every ok id survived, no fail or not-sent id was applied."""
    pairs = history.pairs()
    assert workload.abandoned is None
    assert all(done is not None for _, done in pairs), "an attempt has no completion"
    ok_ids = {done.value for done in _completed(history, "ok")}
    fail_ids = {done.value for done in _completed(history, "fail")}
    assert ok_ids <= survivors, f"acknowledged ids lost: {sorted(ok_ids - survivors)[:10]}"
    applied = sorted(fail_ids & survivors)[:10]
    assert not applied, f"ids reported fail were applied: {applied}"
    ghosts = sorted({done.value for done in _completed(history, NOT_SENT)} & survivors)[:10]
    assert not ghosts, f"ids recorded not-sent were applied: {ghosts}"


def test_inserts_at_50hz_are_all_acknowledged_and_read_back(postgres: Running) -> None:
    """50 Hz for 2 s: about 100 ok inserts, ids 1..N, all read back; reads answer 1."""
    history = History()
    reader = PostgresReads(history, host="127.0.0.1", port=postgres.port, user=PG_USER,
                           password=PG_PASSWORD, dbname=PG_DB, rate_hz=10, max_ops=5)
    with _pg_writer(history, postgres.port, rate_hz=50, max_seconds=2) as writer, reader:
        assert writer.wait(10) and reader.wait(10)
    reads = [done for _, done in history.pairs() if done is not None and done.f == "read"]
    assert [(r.type, r.value) for r in reads] == [("ok", 1)] * 5
    history = History(o for o in history.ops if o.process == writer.process)
    ok_ids = [done.value for done in _completed(history, "ok")]
    assert 90 <= len(ok_ids) <= 100
    assert ok_ids == list(range(1, len(ok_ids) + 1))
    assert read_back_postgres(host="127.0.0.1", port=postgres.port, user=PG_USER,
                              password=PG_PASSWORD, dbname=PG_DB) == set(ok_ids)


def test_killed_postgres_gives_fail_or_info_and_the_writer_reconnects(postgres: Running) -> None:
    """A kill mid-run shows as fail/info ops (none missing), and inserts resume after a restart."""
    history = History()
    with _pg_writer(history, postgres.port, rate_hz=50, max_seconds=60) as writer:
        _wait_for_ok_after(history, 0.0, 25)
        postgres.container.kill()
        time.sleep(1.0)
        restarted_at = now()
        postgres.container.start()
        _wait_for_ok_after(history, restarted_at, 25)
    errors = _completed(history, "fail") + _completed(history, "info")
    assert errors, "the kill left no trace in the history"
    survivors = writer.read_ids()
    _assert_accounted(history, writer, survivors)


def _sent_since(history: History, moment: float) -> int:
    """Attempts invoked after ``moment`` that were sent (not recorded not-sent)."""
    return len([i for i, d in history.pairs() if i.time > moment and (d is None or d.type != NOT_SENT)])


def test_paused_postgres_robust_client_keeps_going_fragile_client_blocks(postgres: Running) -> None:
    """In a 6 s pause the client with timeouts keeps attempting; the closed-loop one without blocks."""
    robust, fragile = History(), History()
    with _pg_writer(robust, postgres.port, table="robust", rate_hz=20, max_seconds=60) as r, \
            _pg_writer(fragile, postgres.port, table="fragile", rate_hz=20, max_seconds=60,
                       statement_timeout_ms=None, connect_timeout_s=None, closed_loop=True) as f:
        _wait_for_ok_after(robust, 0.0, 10)
        _wait_for_ok_after(fragile, 0.0, 10)
        postgres.container.pause()
        paused_at = now()
        time.sleep(6.0)
        in_pause = [_sent_since(h, paused_at + 0.5) for h in (robust, fragile)]
        postgres.container.unpause()
        _wait_for_ok_after(robust, paused_at + 6.0, 5)
    assert in_pause[0] >= 100, "the open-loop client with timeouts did not keep its rate during the pause"
    assert in_pause[1] == 0, "the client without timeouts did not block (negative control)"
    assert _completed(robust, "info") or _completed(robust, "fail")
    _assert_accounted(robust, r, r.read_ids())
    assert f.abandoned is None, "the fragile client's blocked insert never returned after unpause"


def test_redis_writes_survive_a_kill_and_resume(redis_server: Running) -> None:
    """RPUSH at 50 Hz: a kill yields fail/info ops, writes resume after restart, ok ids survive."""
    history, reads = History(), History()
    port = redis_server.port
    with RedisWrites(history, host="127.0.0.1", port=port, rate_hz=50, max_seconds=60) as writer, \
            RedisReads(reads, host="127.0.0.1", port=port, rate_hz=20, max_seconds=60):
        _wait_for_ok_after(history, 0.0, 50)
        redis_server.container.kill()
        time.sleep(1.0)
        restarted_at = now()
        redis_server.container.start()
        _wait_for_ok_after(history, restarted_at, 25)
    assert _completed(history, "fail") or _completed(history, "info")
    assert {d.value for d in _completed(reads, "ok")} == {"PONG"}
    assert _completed(reads, "fail") or _completed(reads, "info"), "reads did not notice the kill"
    assert _ok_after(reads, restarted_at), "reads did not resume after the restart"
    survivors = read_back_redis(host="127.0.0.1", port=port)
    _assert_accounted(history, writer, survivors)
    assert survivors == writer.read_ids()
