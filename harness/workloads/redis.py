"""Redis workloads: fixed-rate RPUSH writes and PING/GET reads, one redis-py connection per lane.

Built on ``harness.workloads.base.Workload`` (open-loop scheduling, the in-flight bound, stop and
abandon rules are described there).
Commands go through a bare ``redis.Connection`` (send, then read the reply), so redis-py never
retries behind the workload's back; the connection is dropped after any error and reopened by
the next attempt. Failed attempts are classified fail/info by ``classify_redis_error`` in
``harness/workloads/clients.py``.

    with RedisWrites(history, host="127.0.0.1", port=port, rate_hz=50, max_seconds=60):
        ...                                     # inject a fault, wait, heal
    survivors = read_back_redis(host="127.0.0.1", port=port)
"""

from __future__ import annotations

from typing import Any

import redis

from harness.history import History
from harness.workloads.base import Attempt, Workload
from harness.workloads.clients import (RedisEndpoint, classify_redis_error, read_back_redis, redis_socket_fd,
                                       shutdown_socket)

__all__ = ["RedisReads", "RedisWrites"]


class _RedisWorkload(Workload):
    """Shared by Redis workloads: one redis-py connection per lane, without hidden retries."""

    client_fields = ("_conn",)

    def __init__(self, history: History, *, host: str, port: int, password: str | None,
                 socket_timeout_s: float | None, connect_timeout_s: float | None,
                 process: str, rate_hz: float, max_ops: int, max_seconds: float,
                 max_in_flight: int | None, closed_loop: bool) -> None:
        super().__init__(history, process=process, rate_hz=rate_hz, max_ops=max_ops,
                         max_seconds=max_seconds, max_in_flight=max_in_flight,
                         closed_loop=closed_loop)
        self.endpoint = RedisEndpoint(host, port, password, socket_timeout_s, connect_timeout_s)
        self._conn: redis.Connection | None = None

    def connect(self) -> None:
        if self._conn is None:
            self._conn = self.endpoint.connect()

    def command(self, attempt: Attempt, *args: Any) -> Any:
        self.connect()
        attempt.sent = True
        self._conn.send_command(*args)
        return self._conn.read_response()

    def longest_wait_s(self) -> float | None:
        """Connect timeout plus one reply's socket timeout; None when either is unbounded."""
        e = self.endpoint
        if e.socket_timeout_s is None or e.connect_timeout_s is None:
            return None
        return e.socket_timeout_s + e.connect_timeout_s

    def classify(self, exc: BaseException, *, sent: bool) -> str:
        return classify_redis_error(exc, sent=sent)

    def interrupt(self) -> bool:
        fd = redis_socket_fd(self._conn) if self._conn is not None else None
        return fd is not None and shutdown_socket(fd)

    def reset(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.disconnect()


class RedisWrites(_RedisWorkload):
    """RPUSHes ids 1, 2, 3... onto the list ``key``; ok once Redis replied."""

    f = "write"

    def __init__(self, history: History, *, host: str, port: int, password: str | None = None,
                 key: str = "dr:writes", rate_hz: float = 50,
                 socket_timeout_s: float | None = 0.1, connect_timeout_s: float | None = 0.1,
                 process: str = "redis-writer", max_ops: int = 10_000,
                 max_seconds: float = 300.0, max_in_flight: int | None = None,
                 closed_loop: bool = False) -> None:
        super().__init__(history, host=host, port=port, password=password,
                         socket_timeout_s=socket_timeout_s, connect_timeout_s=connect_timeout_s,
                         process=process, rate_hz=rate_hz, max_ops=max_ops,
                         max_seconds=max_seconds, max_in_flight=max_in_flight,
                         closed_loop=closed_loop)
        self.key = key

    def value_for(self, number: int) -> int:
        return number

    def attempt(self, attempt: Attempt) -> Any:
        self.command(attempt, "RPUSH", self.key, attempt.value)
        return None

    def read_ids(self) -> set[int]:
        """The ids in the list now (through the same endpoint)."""
        e = self.endpoint
        return read_back_redis(host=e.host, port=e.port, password=e.password, key=self.key)


class RedisReads(_RedisWorkload):
    """PINGs (or GETs ``key`` when given) per attempt; ok value is the reply."""

    f = "read"

    def __init__(self, history: History, *, host: str, port: int, password: str | None = None,
                 key: str | None = None, rate_hz: float = 50,
                 socket_timeout_s: float | None = 0.1, connect_timeout_s: float | None = 0.1,
                 process: str = "redis-reader", max_ops: int = 10_000,
                 max_seconds: float = 300.0, max_in_flight: int | None = None,
                 closed_loop: bool = False) -> None:
        super().__init__(history, host=host, port=port, password=password,
                         socket_timeout_s=socket_timeout_s, connect_timeout_s=connect_timeout_s,
                         process=process, rate_hz=rate_hz, max_ops=max_ops,
                         max_seconds=max_seconds, max_in_flight=max_in_flight,
                         closed_loop=closed_loop)
        self.key = key

    def attempt(self, attempt: Attempt) -> Any:
        args = ("GET", self.key) if self.key is not None else ("PING",)
        reply = self.command(attempt, *args)
        return reply.decode() if isinstance(reply, bytes) else reply
