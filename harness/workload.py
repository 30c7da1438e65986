"""Workloads: background clients that drive a service at a fixed rate and record every attempt.

Record first, judge afterwards: a workload only appends to a History. Every attempt is its own
op (``invoke``, then ``ok``/``fail``/``info``); retries are never hidden, and a reconnect is part
of the next attempt. Whether a failed attempt is ``fail`` or ``info`` is decided by the explicit
mapping in ``harness/clients.py`` (its docstring has the table).

Scheduling is fixed-rate: attempt n starts at ``start + n / rate_hz`` (no drift); an attempt that
overruns its slot makes the workload skip to the next free slot, never burst to catch up. A
workload is bounded by ``max_ops`` and ``max_seconds``. ``stop()`` returns within
``stop_timeout_s + 1`` seconds even if an attempt is blocked (a client without timeouts on a
blackholed socket): it shuts the client's socket down from outside and, if the attempt still
does not return, abandons it without a completion (checkers treat it as unknown) and records
nothing for it later. Clients reconnect to the same host:port, which in a stack is a Toxiproxy
proxy, so a restarted container is reached again without reconfiguration.

    with PostgresInserts(history, host="127.0.0.1", port=port, user="dr", password="pw",
                         dbname="dr", rate_hz=50, max_seconds=60):
        ...                                     # inject a fault, wait, heal
    survivors = read_back_postgres(host="127.0.0.1", port=port, user="dr", password="pw",
                                   dbname="dr")
"""

from __future__ import annotations

import http.client
import math
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, ClassVar

import psycopg
import redis
from psycopg import sql

from harness.clients import (PostgresEndpoint, RedisEndpoint, classify_http_error,
                             classify_postgres_error, classify_redis_error, create_ids_table,
                             describe, http_get, read_back_postgres, read_back_redis,
                             redis_socket_fd, shutdown_socket, table_identifier)
from harness.errors import ConfigError, ServiceNotReady
from harness.history import History, Op

__all__ = ["Attempt", "Workload", "PostgresInserts", "PostgresReads", "RedisWrites",
           "RedisReads", "HttpProbe", "read_back_postgres", "read_back_redis",
           "classify_postgres_error", "classify_redis_error", "classify_http_error"]


@dataclass
class Attempt:
    """One attempt in progress; the workload sets ``sent`` just before the request leaves."""

    number: int          # 1-based count of attempts this workload has started
    value: Any = None    # the invoke's value (e.g. the id being inserted)
    sent: bool = False


class Workload:
    """Base of all workloads: a daemon thread running ``attempt()`` at ``rate_hz``.

    Subclasses set ``f`` and implement ``attempt`` (return the ok value, raise on failure) and
    ``classify``; optionally ``value_for``, ``prepare`` (runs on ``start()``), ``interrupt``
    (from another thread: make a blocked attempt return; True if it shut a socket),
    ``reset`` (drop the client so the next attempt reconnects; called after every error) and
    ``close``.
    """

    f: ClassVar[str] = "op"

    def __init__(self, history: History, *, process: str, rate_hz: float, max_ops: int = 10_000,
                 max_seconds: float = 300.0, op_deadline_s: float | None = None,
                 stop_timeout_s: float = 2.0) -> None:
        where = f"{type(self).__name__}(process={process!r})"
        if not rate_hz > 0:
            raise ConfigError(f"rate_hz must be > 0, got {rate_hz}", where=where)
        if max_ops < 0 or not max_seconds > 0:
            raise ConfigError(f"max_ops must be >= 0 and max_seconds > 0, got {max_ops}, "
                              f"{max_seconds}", where=where, fix="bound every workload")
        self.history = history
        self.process = process
        self.rate_hz = float(rate_hz)
        self.max_ops = int(max_ops)
        self.max_seconds = float(max_seconds)
        self.op_deadline_s = op_deadline_s
        self.stop_timeout_s = float(stop_timeout_s)
        self.attempts_started = 0
        self.abandoned: Op | None = None   # the invoke stop() gave up on, if any
        self._stop = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._in_flight: tuple[Op, Attempt, float] | None = None
        self._interrupted: int | None = None
        self._abandoned = False
        self._thread: threading.Thread | None = None

    # -- hooks -----------------------------------------------------------------------------
    def value_for(self, number: int) -> Any:
        return None

    def attempt(self, attempt: Attempt) -> Any:
        raise NotImplementedError

    def classify(self, exc: BaseException, *, sent: bool) -> str:
        return "fail" if not sent else "info"

    def prepare(self) -> None:
        pass

    def interrupt(self) -> bool:
        return False

    def reset(self) -> None:
        pass

    def close(self) -> None:
        self.reset()

    # -- life cycle ------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Workload:
        """Run ``prepare()``, then the worker thread (and a watchdog if ``op_deadline_s``)."""
        if self._thread is not None:
            raise RuntimeError(f"workload {self.process!r} was already started")
        self.prepare()
        self._thread = threading.Thread(target=self._run, name=f"workload-{self.process}",
                                        daemon=True)
        self._thread.start()
        if self.op_deadline_s is not None:
            threading.Thread(target=self._watch, name=f"watchdog-{self.process}",
                             daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop and join; a blocked attempt is interrupted, then abandoned (bounded time)."""
        self._stop.set()
        thread = self._thread
        if thread is None:
            return
        thread.join(self.stop_timeout_s)
        if thread.is_alive():
            self._safe(self.interrupt)
            thread.join(1.0)
        with self._lock:
            if thread.is_alive() and not self._abandoned:
                self._abandoned = True
                self.abandoned = self._in_flight[0] if self._in_flight else None

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the workload ended on its own bounds; True if it did."""
        return self._done.wait(timeout_s)

    def __enter__(self) -> Workload:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- the loop --------------------------------------------------------------------------
    def _run(self) -> None:
        start = time.monotonic()
        slot = 0
        try:
            while not self._stop.is_set() and self.attempts_started < self.max_ops:
                offset = slot / self.rate_hz
                if offset >= self.max_seconds:
                    break
                delay = start + offset - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    break
                self._one()
                elapsed = time.monotonic() - start
                slot = max(slot + 1, math.ceil(elapsed * self.rate_hz))
        finally:
            self._done.set()
            self._safe(self.close)

    def _one(self) -> None:
        self.attempts_started += 1
        attempt = Attempt(self.attempts_started)
        attempt.value = self.value_for(attempt.number)
        op = self.history.invoke(self.process, self.f, attempt.value)
        with self._lock:
            self._in_flight = (op, attempt, time.monotonic())
        try:
            result = self.attempt(attempt)
        except Exception as exc:  # every failure becomes a completion, none escapes the thread
            try:
                kind = self.classify(exc, sent=attempt.sent)
            except Exception:
                kind = "info"
            self._finish(op, kind if kind in ("fail", "info") else "info", error=describe(exc))
            self._safe(self.reset)
        else:
            self._finish(op, "ok", value=attempt.value if result is None else result)
            if self._interrupted == attempt.number:
                self._safe(self.reset)

    def _finish(self, op: Op, kind: str, *, value: Any = None, error: str | None = None) -> None:
        with self._lock:
            self._in_flight = None
            if self._abandoned:
                return
            if kind == "ok":
                self.history.complete(op, "ok", value=value)
            else:
                self.history.complete(op, kind, error=error)

    def _watch(self) -> None:
        """Interrupt any attempt running longer than ``op_deadline_s`` (a client-side timeout)."""
        assert self.op_deadline_s is not None
        period = min(0.05, self.op_deadline_s / 4)
        while not self._done.wait(period):
            with self._lock:
                flight = self._in_flight
                if (flight is not None and self._interrupted != flight[1].number
                        and time.monotonic() - flight[2] > self.op_deadline_s):
                    try:
                        if self.interrupt():   # nothing to shut down yet (connecting): retry
                            self._interrupted = flight[1].number
                    except Exception:
                        pass

    @staticmethod
    def _safe(hook: Any) -> None:
        try:
            hook()
        except Exception:
            pass


class _PostgresWorkload(Workload):
    """Shared by PostgreSQL workloads: one autocommit connection, reopened after any error."""

    def __init__(self, history: History, *, host: str, port: int, user: str, password: str,
                 dbname: str, process: str, rate_hz: float, statement_timeout_ms: int | None,
                 connect_timeout_s: float | None, max_ops: int, max_seconds: float) -> None:
        deadline = None if statement_timeout_ms is None else statement_timeout_ms / 1000 + 1.0
        super().__init__(history, process=process, rate_hz=rate_hz, max_ops=max_ops,
                         max_seconds=max_seconds, op_deadline_s=deadline)
        self.endpoint = PostgresEndpoint(host, port, user, password, dbname,
                                         statement_timeout_ms, connect_timeout_s)
        self._conn: psycopg.Connection | None = None

    def connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self.reset()
            self._conn = self.endpoint.connect()
        return self._conn

    def classify(self, exc: BaseException, *, sent: bool) -> str:
        return classify_postgres_error(exc, sent=sent)

    def interrupt(self) -> bool:
        conn = self._conn
        if conn is None or conn.closed:
            return False
        return shutdown_socket(conn.pgconn.socket)

    def reset(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


class PostgresInserts(_PostgresWorkload):
    """Inserts ids 1, 2, 3... into ``table`` (one per attempt); ok once the commit is acknowledged.

    ``statement_timeout_ms=None, connect_timeout_s=None`` is the fragile client without timeouts
    (no statement timeout, no client-side deadline) that negative controls need.
    """

    f = "insert"

    def __init__(self, history: History, *, host: str, port: int, user: str, password: str,
                 dbname: str, table: str = "dr_writes", rate_hz: float = 50,
                 statement_timeout_ms: int | None = 1000, connect_timeout_s: float | None = 2,
                 process: str = "pg-writer", max_ops: int = 10_000,
                 max_seconds: float = 300.0, payload_bytes: int = 0) -> None:
        super().__init__(history, host=host, port=port, user=user, password=password,
                         dbname=dbname, process=process, rate_hz=rate_hz,
                         statement_timeout_ms=statement_timeout_ms,
                         connect_timeout_s=connect_timeout_s, max_ops=max_ops,
                         max_seconds=max_seconds)
        if payload_bytes < 0:
            raise ValueError(f"payload_bytes must be >= 0: {payload_bytes}")
        self.table = table
        self.payload_bytes = payload_bytes
        self._insert = sql.SQL("INSERT INTO {} (id, payload) VALUES (%s, %s)").format(
            table_identifier(table))

    def prepare(self) -> None:
        try:
            create_ids_table(self.connection(), self.table)
        except psycopg.Error as exc:
            self.reset()
            raise ServiceNotReady(f"could not create table {self.table!r}: {describe(exc)}",
                                  where=f"{self.endpoint.host}:{self.endpoint.port}",
                                  fix="start the workload once PostgreSQL answers") from exc

    def value_for(self, number: int) -> int:
        return number

    def attempt(self, attempt: Attempt) -> Any:
        conn = self.connection()
        attempt.sent = True
        payload = _payload(attempt.value, self.payload_bytes) if self.payload_bytes else None
        conn.execute(self._insert, (attempt.value, payload))
        return None

    def read_ids(self) -> set[int]:
        """The ids in the table now (through the same endpoint)."""
        e = self.endpoint
        return read_back_postgres(host=e.host, port=e.port, user=e.user, password=e.password,
                                  dbname=e.dbname, table=self.table)


def _payload(seed: int, size: int) -> str:
    """Incompressible text of ``size`` characters (PostgreSQL would compress a repeated one)."""
    import hashlib
    out = bytearray()
    block = str(seed).encode()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block.hex().encode()
    return out[:size].decode()


class PostgresReads(_PostgresWorkload):
    """Runs ``query`` (default ``SELECT 1``) per attempt; ok value is the first column."""

    f = "read"

    def __init__(self, history: History, *, host: str, port: int, user: str, password: str,
                 dbname: str, query: str = "SELECT 1", rate_hz: float = 50,
                 statement_timeout_ms: int | None = 1000, connect_timeout_s: float | None = 2,
                 process: str = "pg-reader", max_ops: int = 10_000,
                 max_seconds: float = 300.0) -> None:
        super().__init__(history, host=host, port=port, user=user, password=password,
                         dbname=dbname, process=process, rate_hz=rate_hz,
                         statement_timeout_ms=statement_timeout_ms,
                         connect_timeout_s=connect_timeout_s, max_ops=max_ops,
                         max_seconds=max_seconds)
        self.query = query

    def attempt(self, attempt: Attempt) -> Any:
        conn = self.connection()
        attempt.sent = True
        row = conn.execute(self.query).fetchone()
        return row[0] if row else None


class _RedisWorkload(Workload):
    """Shared by Redis workloads: one redis-py connection without hidden retries."""

    def __init__(self, history: History, *, host: str, port: int, password: str | None,
                 socket_timeout_s: float | None, connect_timeout_s: float | None,
                 process: str, rate_hz: float, max_ops: int, max_seconds: float) -> None:
        super().__init__(history, process=process, rate_hz=rate_hz, max_ops=max_ops,
                         max_seconds=max_seconds)
        self.endpoint = RedisEndpoint(host, port, password, socket_timeout_s, connect_timeout_s)
        self._conn: redis.Connection | None = None

    def command(self, attempt: Attempt, *args: Any) -> Any:
        if self._conn is None:
            self._conn = self.endpoint.connect()
        attempt.sent = True
        self._conn.send_command(*args)
        return self._conn.read_response()

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
                 max_seconds: float = 300.0) -> None:
        super().__init__(history, host=host, port=port, password=password,
                         socket_timeout_s=socket_timeout_s, connect_timeout_s=connect_timeout_s,
                         process=process, rate_hz=rate_hz, max_ops=max_ops,
                         max_seconds=max_seconds)
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
                 max_seconds: float = 300.0) -> None:
        super().__init__(history, host=host, port=port, password=password,
                         socket_timeout_s=socket_timeout_s, connect_timeout_s=connect_timeout_s,
                         process=process, rate_hz=rate_hz, max_ops=max_ops,
                         max_seconds=max_seconds)
        self.key = key

    def attempt(self, attempt: Attempt) -> Any:
        args = ("GET", self.key) if self.key is not None else ("PING",)
        reply = self.command(attempt, *args)
        return reply.decode() if isinstance(reply, bytes) else reply


class HttpProbe(Workload):
    """GETs ``url`` on a fresh connection per attempt; 2xx is ok (value: the status)."""

    f = "probe"

    def __init__(self, history: History, url: str, *, timeout_s: float | None = 1.0,
                 rate_hz: float = 10, process: str = "http-probe", max_ops: int = 10_000,
                 max_seconds: float = 300.0) -> None:
        super().__init__(history, process=process, rate_hz=rate_hz, max_ops=max_ops,
                         max_seconds=max_seconds)
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"probe url {url!r} is not an http(s) URL",
                              where=f"HttpProbe(process={process!r})",
                              fix="pass e.g. http://127.0.0.1:8080/health")
        self.url = url
        self.timeout_s = timeout_s
        self._target = parts
        self._path = parts.path + (f"?{parts.query}" if parts.query else "")
        self._conn: http.client.HTTPConnection | None = None

    def attempt(self, attempt: Attempt) -> Any:
        factory = (http.client.HTTPSConnection if self._target.scheme == "https"
                   else http.client.HTTPConnection)
        self._conn = conn = factory(self._target.hostname, self._target.port,
                                    timeout=self.timeout_s)
        try:
            conn.connect()
            attempt.sent = True
            return http_get(conn, self._path)
        finally:
            conn.close()

    def classify(self, exc: BaseException, *, sent: bool) -> str:
        return classify_http_error(exc, sent=sent)

    def interrupt(self) -> bool:
        sock = self._conn.sock if self._conn is not None else None
        return sock is not None and shutdown_socket(sock.fileno())
