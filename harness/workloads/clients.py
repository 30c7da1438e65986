"""Client adapters for workloads: opening connections, interrupting them, reading back, and the
exception mapping that decides whether a failed attempt is ``fail`` or ``info``.

``fail`` means the operation definitely did not apply; ``info`` means it may have. Loss
accounting depends on the difference, so ``fail`` is said only when it is certain and every
unknown exception is ``info``. ``sent`` says whether the request may have left the client:
workloads set it just before writing the request (after connecting), so anything raised while
connecting is ``sent=False``. Callers that cannot tell pass nothing (``sent=True``, the safe side).

    exception (after the request may have been sent)      PostgreSQL  Redis  HTTP
    ---------------------------------------------------------------------------------
    anything raised before the request was sent (sent=False)  fail     fail   fail
    ConnectionRefusedError, socket.gaierror (only at connect) fail     fail   fail
    server error reply, statement rejected/rolled back:       fail     -      -
      SQLSTATE 57014 query_canceled (statement_timeout),
      classes 0A 21 22 23 25 28 3D 3F 40 42 44 53 54 55 P0
      (e.g. 23505 unique, 25006 read-only, 53100 disk full)
    SQLSTATE 40003 statement_completion_unknown               info     -      -
    SQLSTATE 57P01..05 (server terminated the session), 08xxx info     -      -
      connection exceptions, XX internal, 58 system, others
    psycopg OperationalError without SQLSTATE (connection     info     -      -
      lost during commit), InterfaceError
    redis ResponseError and subclasses (OOM, READONLY, ...),  -        fail   -
      AuthenticationError, AuthorizationError, BusyLoadingError
      (LOADING), DataError (rejected by the client's encoder)
    redis ConnectionError / TimeoutError after sending        -        info   -
    HTTP response 4xx, or 503 with Retry-After (a clean refusal) -      -      fail
    HTTP response other 5xx: to an idempotent request (GET)   -        -      fail
      to a request that may write (POST without idempotency)  -        -      info
    socket.timeout / TimeoutError / OSError after sending     info     info   info
    anything else                                             info     info   info

Redis runs each command atomically, so an error reply means nothing was applied. PostgreSQL
workloads run in autocommit: a server error for the statement means its implicit transaction
rolled back, except 40003, which says outright that the outcome is unknown.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg
import redis
from psycopg import sql
from redis.backoff import NoBackoff
from redis.retry import Retry
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

Outcome = Literal["fail", "info"]

_PG_REJECTED_CLASSES = frozenset({"0A", "21", "22", "23", "25", "28", "3D", "3F", "40", "42",
                                  "44", "53", "54", "55", "P0"})
_PG_UNKNOWN_STATES = frozenset({"40003"})   # statement_completion_unknown
_PG_REJECTED_STATES = frozenset({"57014"})  # query_canceled: statement_timeout or cancel request
_NEVER_CONNECTED = (ConnectionRefusedError, socket.gaierror)
_REDIS_REJECTED = (redis.exceptions.ResponseError, redis.exceptions.AuthenticationError,
                   redis.exceptions.AuthorizationError, redis.exceptions.BusyLoadingError,
                   redis.exceptions.DataError)
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class HttpStatusError(Exception):
    """The server answered, with a status outside 2xx; ``fields`` is what ``response_fields`` read."""

    def __init__(self, status: int, reason: str = "", fields: dict[str, Any] | None = None) -> None:
        self.status = status
        self.fields = fields if fields is not None else {"status": status}
        super().__init__(f"HTTP {status} {reason}".strip())

    @property
    def clean(self) -> bool:
        """A 503 that says when to come back (``Retry-After``): the service refused, on purpose."""
        return bool(self.fields.get("clean"))


def response_fields(status: int, headers: Mapping[str, str]) -> dict[str, Any]:
    """What an HTTP workload records of one response (the op's value; docs/report-schema.md).

    ``status``; ``degraded`` (True when the response carried an ``X-Degraded`` header, whose text
    is kept as ``degraded_by``); for a 503 with ``Retry-After``, ``retry_after`` and ``clean``
    (a deliberate, fast refusal rather than a crash). Header names are case-insensitive.
    """
    lower = {str(k).lower(): str(v) for k, v in headers.items()}
    marks = lower.get("x-degraded", "").strip()
    fields: dict[str, Any] = {"status": int(status), "degraded": bool(marks)}
    if marks:
        fields["degraded_by"] = marks
    retry_after = lower.get("retry-after", "").strip()
    if status == 503 and retry_after:
        fields["retry_after"] = retry_after
        fields["clean"] = True
    return fields


def classify_postgres_error(exc: BaseException, *, sent: bool = True) -> Outcome:
    """``fail`` if the PostgreSQL statement definitely did not apply, else ``info`` (see table)."""
    if not sent or isinstance(exc, _NEVER_CONNECTED):
        return "fail"
    state = getattr(exc, "sqlstate", None) if isinstance(exc, psycopg.Error) else None
    if not state:
        return "info"
    if state in _PG_UNKNOWN_STATES:
        return "info"
    if state in _PG_REJECTED_STATES or state[:2] in _PG_REJECTED_CLASSES:
        return "fail"
    return "info"


def classify_redis_error(exc: BaseException, *, sent: bool = True) -> Outcome:
    """``fail`` if the Redis command definitely did not apply, else ``info`` (table above)."""
    if not sent or isinstance(exc, _NEVER_CONNECTED + _REDIS_REJECTED):
        return "fail"
    return "info"


def classify_http_error(exc: BaseException, *, sent: bool = True, idempotent: bool = True) -> Outcome:
    """``fail`` if the HTTP request definitely did not succeed, else ``info`` (table above).

    A 5xx other than a clean 503 to a request that may write (``idempotent=False``) is ``info``:
    the server may have applied it before it failed."""
    if not sent or isinstance(exc, _NEVER_CONNECTED):
        return "fail"
    if isinstance(exc, HttpStatusError):
        if idempotent or exc.status < 500 or exc.clean:
            return "fail"
        return "info"
    return "info"


def describe(exc: BaseException) -> str:
    """One line naming the exception: ``"OperationalError: server closed the connection"``."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def shutdown_socket(fd: int) -> bool:
    """Shut a socket down from another thread so that a read blocked on it returns at once.

    Works on a duplicate of ``fd``, so the owner's descriptor stays valid (no fd reuse races);
    the owner sees end-of-file or a reset and closes it itself. True if the shutdown happened.
    """
    try:
        dup = socket.socket(fileno=os.dup(fd))
    except OSError:
        return False
    try:
        dup.shutdown(socket.SHUT_RDWR)
        return True
    except OSError:
        return False
    finally:
        dup.close()


@dataclass(frozen=True)
class PostgresEndpoint:
    """Where and how a workload reaches PostgreSQL; ``None`` timeouts make a fragile client."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    dbname: str
    statement_timeout_ms: int | None = 1000
    connect_timeout_s: float | None = 2

    def connect(self) -> psycopg.Connection:
        """An autocommit connection (psycopg rounds connect timeouts up to 2 s; None = none)."""
        options = (f"-c statement_timeout={int(self.statement_timeout_ms)}"
                   if self.statement_timeout_ms is not None else "")
        timeout = max(1, round(self.connect_timeout_s)) if self.connect_timeout_s is not None else 0
        return psycopg.connect(host=self.host, port=self.port, user=self.user,
                               password=self.password, dbname=self.dbname, autocommit=True,
                               connect_timeout=timeout, options=options)


def table_identifier(table: str) -> sql.Identifier:
    """The table name as a quoted identifier, after checking it is a plain lower-case name."""
    if not _IDENTIFIER.match(table):
        raise ValueError(f"table name {table!r} must match {_IDENTIFIER.pattern}")
    return sql.Identifier(table)


def create_ids_table(conn: psycopg.Connection, table: str) -> None:
    """Create ``table (id bigint primary key, written_at timestamptz, payload text)`` if missing.

    ``payload`` is stored uncompressed (``STORAGE EXTERNAL`` is not needed for small rows; it is
    plain text of the size the workload asks for), so large payloads grow the table on disk.
    """
    conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (id bigint PRIMARY KEY, "
                         "written_at timestamptz NOT NULL DEFAULT now(), payload text)")
                 .format(table_identifier(table)))


READ_BACK_WAIT_S = 60.0   # how long a read-back waits for a restarted server to take connections


def read_back_postgres(*, host: str, port: int, user: str, password: str, dbname: str,
                       table: str = "dr_writes", connect_timeout_s: float = 5,
                       wait_s: float = READ_BACK_WAIT_S) -> set[int]:
    """Every id in ``table`` (the writes that survived).

    A server still in crash recovery after a kill ("the database system is starting up") or not
    yet listening is waited for, up to ``wait_s``; any other error, and the last one after that,
    is raised as it comes.
    """
    endpoint = PostgresEndpoint(host, port, user, password, dbname, None, connect_timeout_s)
    with _until_up(wait_s, psycopg.OperationalError)(endpoint.connect) as conn:
        rows = conn.execute(sql.SQL("SELECT id FROM {}").format(table_identifier(table))).fetchall()
    return {int(row[0]) for row in rows}


@dataclass(frozen=True)
class RedisEndpoint:
    """Where and how a workload reaches Redis; ``None`` timeouts make a fragile client."""

    host: str
    port: int
    password: str | None = field(default=None, repr=False)
    socket_timeout_s: float | None = 0.1
    connect_timeout_s: float | None = 0.1

    def connect(self) -> redis.Connection:
        """A connected single connection: RESP2 (no handshake), redis-py's own retries off."""
        conn = redis.Connection(host=self.host, port=self.port, password=self.password or None,
                                socket_timeout=self.socket_timeout_s,
                                socket_connect_timeout=self.connect_timeout_s,
                                retry=Retry(NoBackoff(), 0), driver_info=None, protocol=2)
        conn.connect()
        return conn


def redis_socket_fd(conn: redis.Connection) -> int | None:
    """The file descriptor of a redis-py connection's socket, if it has one (private attribute)."""
    sock = getattr(conn, "_sock", None)
    try:
        return sock.fileno() if sock is not None else None
    except OSError:
        return None


def read_back_redis(*, host: str, port: int, password: str | None = None,
                    key: str = "dr:writes", timeout_s: float = 5, wait_s: float = READ_BACK_WAIT_S) -> set[int]:
    """Every id in the list ``key`` (the writes that survived); a restarted server still loading its
    data or not yet listening is waited for, up to ``wait_s``."""
    client = redis.Redis(host=host, port=port, password=password or None,
                         socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:   # BusyLoadingError (still loading its data) is a ConnectionError
        return {int(item) for item in _until_up(wait_s, redis.exceptions.ConnectionError)(client.lrange, key, 0, -1)}
    finally:
        client.close()


def _until_up(wait_s: float, errors: type[BaseException]) -> Retrying:
    """Call again every 0.2 s while ``errors`` (a server restarting) are raised, up to ``wait_s``;
    then the last error is raised."""
    return Retrying(stop=stop_after_delay(wait_s), wait=wait_fixed(0.2), reraise=True,
                    retry=retry_if_exception_type(errors))


def http_request(conn: http.client.HTTPConnection, path: str, *, method: str = "GET",
                 body: bytes | None = None, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One request on a connected connection: ``response_fields`` if 2xx, else ``HttpStatusError``
    carrying them."""
    conn.request(method, path or "/", body=body, headers={"Connection": "close", **(headers or {})})
    response = conn.getresponse()
    response.read()
    fields = response_fields(response.status, dict(response.getheaders()))
    if not 200 <= response.status < 300:
        raise HttpStatusError(response.status, response.reason, fields)
    return fields

