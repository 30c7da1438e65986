"""PostgreSQL workloads: fixed-rate inserts and reads, one autocommit psycopg connection per lane.

Built on ``harness.workloads.base.Workload`` (open-loop scheduling, the in-flight bound, stop and
abandon rules are described there). A connection is reopened after any error, so a restarted server (or a healed Toxiproxy proxy)
is reached again at the same host:port. Failed attempts are classified fail/info by
``classify_postgres_error`` in ``harness/workloads/clients.py``. With ``statement_timeout_ms`` set, a
watchdog interrupts any attempt that runs past the statement timeout plus one second.

    with PostgresInserts(history, **stack.postgres.conninfo, rate_hz=50, max_seconds=60):
        ...                                     # inject a fault, wait, heal
    survivors = read_back_postgres(**stack.postgres.conninfo)
"""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg
from psycopg import sql

from harness.errors import ServiceNotReady
from harness.history import History
from harness.workloads.base import Attempt, Workload
from harness.workloads.clients import (PostgresEndpoint, classify_postgres_error, create_ids_table, describe,
                                       read_back_postgres, shutdown_socket, table_identifier)

__all__ = ["PostgresInserts", "PostgresReads"]


class _PostgresWorkload(Workload):
    """Shared by PostgreSQL workloads: one autocommit connection per lane, reopened after any error."""

    client_fields = ("_conn",)
    max_lanes = 48  # PostgreSQL admits 100 connections by default: leave room for a second client

    def __init__(self, history: History, *, host: str, port: int, user: str, password: str,
                 dbname: str, process: str, rate_hz: float, statement_timeout_ms: int | None,
                 connect_timeout_s: float | None, max_ops: int, max_seconds: float,
                 max_in_flight: int | None, closed_loop: bool) -> None:
        deadline = None if statement_timeout_ms is None else statement_timeout_ms / 1000 + 1.0
        super().__init__(history, process=process, rate_hz=rate_hz, max_ops=max_ops,
                         max_seconds=max_seconds, op_deadline_s=deadline,
                         max_in_flight=max_in_flight, closed_loop=closed_loop)
        self.endpoint = PostgresEndpoint(host, port, user, password, dbname,
                                         statement_timeout_ms, connect_timeout_s)
        self._conn: psycopg.Connection | None = None

    def connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self.reset()
            self._conn = self.endpoint.connect()
        return self._conn

    def connect(self) -> None:
        self.connection()

    def longest_wait_s(self) -> float | None:
        """The connect timeout (psycopg waits at least 2 s) or the statement deadline, the longer."""
        connect = self.endpoint.connect_timeout_s
        if connect is None or self.op_deadline_s is None:
            return None
        return max(2.0, float(connect), self.op_deadline_s)

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
    (no statement timeout, no client-side deadline) that negative controls need;
    ``closed_loop=True`` is the single-connection client that waits for each attempt before the
    next (a negative control for recovery-time accuracy, see harness/workloads/base.py).
    """

    f = "insert"

    def __init__(self, history: History, *, host: str, port: int, user: str, password: str,
                 dbname: str, table: str = "dr_writes", rate_hz: float = 50,
                 statement_timeout_ms: int | None = 1000, connect_timeout_s: float | None = 2,
                 process: str = "pg-writer", max_ops: int = 10_000,
                 max_seconds: float = 300.0, payload_bytes: int = 0,
                 max_in_flight: int | None = None, closed_loop: bool = False) -> None:
        super().__init__(history, host=host, port=port, user=user, password=password,
                         dbname=dbname, process=process, rate_hz=rate_hz,
                         statement_timeout_ms=statement_timeout_ms,
                         connect_timeout_s=connect_timeout_s, max_ops=max_ops,
                         max_seconds=max_seconds, max_in_flight=max_in_flight,
                         closed_loop=closed_loop)
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
                 max_seconds: float = 300.0, max_in_flight: int | None = None,
                 closed_loop: bool = False) -> None:
        super().__init__(history, host=host, port=port, user=user, password=password,
                         dbname=dbname, process=process, rate_hz=rate_hz,
                         statement_timeout_ms=statement_timeout_ms,
                         connect_timeout_s=connect_timeout_s, max_ops=max_ops,
                         max_seconds=max_seconds, max_in_flight=max_in_flight,
                         closed_loop=closed_loop)
        self.query = query

    def attempt(self, attempt: Attempt) -> Any:
        conn = self.connection()
        attempt.sent = True
        row = conn.execute(self.query).fetchone()
        return row[0] if row else None
