"""Unit tests of the fail/info exception mapping (harness.workloads.clients) and the open-loop runner."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest
import redis
from psycopg import errors as pg

from harness.errors import ConfigError
from harness.history import NOT_SENT, History
from harness.workloads.base import Attempt, Workload
from harness.workloads.clients import (HttpStatusError, classify_http_error, classify_postgres_error,
                                       classify_redis_error, describe, response_fields)
from harness.workloads.http import HttpProbe, HttpWrites

# -- the mapping tables ----------------------------------------------------------------------

def _name(value: object) -> str:
    return type(value).__name__ if isinstance(value, BaseException) else str(value)


PG_SENT = [
    (pg.QueryCanceled("canceling statement due to statement timeout"), "fail"),
    (pg.DiskFull("could not extend file"), "fail"),
    (pg.OutOfMemory("out of memory"), "fail"),
    (pg.UniqueViolation("duplicate key value"), "fail"),
    (pg.ReadOnlySqlTransaction("cannot execute INSERT in a read-only transaction"), "fail"),
    (pg.SerializationFailure("could not serialize access"), "fail"),
    (pg.DeadlockDetected("deadlock detected"), "fail"),
    (pg.InvalidPassword("password authentication failed"), "fail"),
    (pg.StatementCompletionUnknown("statement completion unknown"), "info"),
    (pg.AdminShutdown("terminating connection due to administrator command"), "info"),
    (pg.CrashShutdown("terminating connection because of crash of another backend"), "info"),
    (pg.ConnectionFailure("connection failure"), "info"),
    (pg.InternalError_("internal error"), "info"),
    (pg.IoError("could not write to file"), "info"),
    (psycopg.OperationalError("server closed the connection unexpectedly"), "info"),
    (psycopg.InterfaceError("the connection is lost"), "info"),
    (socket.timeout("timed out"), "info"),
    (TimeoutError("timed out"), "info"),
    (ConnectionResetError(104, "Connection reset by peer"), "info"),
    (ConnectionRefusedError(111, "Connection refused"), "fail"),
    (socket.gaierror(-2, "Name or service not known"), "fail"),
    (RuntimeError("something nobody anticipated"), "info"),
]


@pytest.mark.parametrize(("exc", "expected"), PG_SENT, ids=_name)
def test_postgres_mapping_after_sending(exc: BaseException, expected: str) -> None:
    """After sending, only errors proving a rollback (or a refused connect) are fail."""
    assert classify_postgres_error(exc, sent=True) == expected


@pytest.mark.parametrize("exc", [psycopg.OperationalError("connection refused"),
                                 pg.CannotConnectNow("the database system is starting up"),
                                 pg.ConnectionTimeout("connection timeout expired"),
                                 pg.TooManyConnections("too many clients"),
                                 socket.timeout("timed out"), RuntimeError("odd")])
def test_postgres_errors_while_connecting_are_fail(exc: BaseException) -> None:
    """Anything raised before the statement left the client is a definite fail."""
    assert classify_postgres_error(exc, sent=False) == "fail"


def test_postgres_mapping_defaults_to_sent() -> None:
    """Without context the mapping assumes the request was sent (the safe side)."""
    assert classify_postgres_error(pg.CannotConnectNow("starting up")) == "info"
    assert classify_postgres_error(psycopg.OperationalError("lost")) == "info"


REDIS_SENT = [
    (redis.exceptions.ResponseError("WRONGTYPE Operation against a key"), "fail"),
    (redis.exceptions.OutOfMemoryError("OOM command not allowed"), "fail"),
    (redis.exceptions.ReadOnlyError("READONLY You can't write against a replica"), "fail"),
    (redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory"), "fail"),
    (redis.exceptions.AuthenticationError("invalid password"), "fail"),
    (redis.exceptions.NoPermissionError("NOPERM"), "fail"),
    (redis.exceptions.DataError("Invalid input of type: 'dict'"), "fail"),
    (redis.exceptions.ConnectionError("Error while reading from 127.0.0.1:6379"), "info"),
    (redis.exceptions.TimeoutError("Timeout reading from 127.0.0.1:6379"), "info"),
    (socket.timeout("timed out"), "info"),
    (ConnectionResetError(104, "Connection reset by peer"), "info"),
    (ConnectionRefusedError(111, "Connection refused"), "fail"),
    (KeyError("unexpected"), "info"),
]


@pytest.mark.parametrize(("exc", "expected"), REDIS_SENT, ids=_name)
def test_redis_mapping_after_sending(exc: BaseException, expected: str) -> None:
    """After sending, only an error reply from the server (or a refused connect) is fail."""
    assert classify_redis_error(exc, sent=True) == expected


@pytest.mark.parametrize("exc", [redis.exceptions.ConnectionError("Error 111 connecting to x:1"),
                                 redis.exceptions.TimeoutError("Timeout connecting to server")])
def test_redis_errors_while_connecting_are_fail(exc: BaseException) -> None:
    """A connection or timeout error on connect is fail; the same error after sending is info."""
    assert classify_redis_error(exc, sent=False) == "fail"
    assert classify_redis_error(exc, sent=True) == "info"


HTTP_SENT = [
    (HttpStatusError(503, "Service Unavailable"), "fail"),
    (HttpStatusError(500), "fail"),
    (ConnectionRefusedError(111, "Connection refused"), "fail"),
    (socket.timeout("timed out"), "info"),
    (http.client.RemoteDisconnected("Remote end closed connection"), "info"),
    (ConnectionResetError(104, "Connection reset by peer"), "info"),
    (ValueError("odd"), "info"),
]


@pytest.mark.parametrize(("exc", "expected"), HTTP_SENT, ids=_name)
def test_http_mapping_after_sending(exc: BaseException, expected: str) -> None:
    """A non-2xx answer or a refused connect is fail; a timeout or reset after sending is info."""
    assert classify_http_error(exc, sent=True) == expected


def test_http_timeout_while_connecting_is_fail() -> None:
    """A connect timeout means the request never left: fail."""
    assert classify_http_error(TimeoutError("timed out"), sent=False) == "fail"


def test_describe_is_one_line() -> None:
    """An error becomes one line naming its type."""
    text = describe(psycopg.OperationalError("server closed\nthe connection\n  unexpectedly"))
    assert text == "OperationalError: server closed the connection unexpectedly"
    assert describe(KeyError()) == "KeyError"


# -- the fixed-rate runner -------------------------------------------------------------------

class FakeWorkload(Workload):
    """Records the monotonic start of every attempt; behaviour set per test."""

    f = "fake"

    def __init__(self, history: History, *, sleep_s: float = 0.0, outcome: str = "ok",
                 **bounds: Any) -> None:
        super().__init__(history, process="fake", **bounds)
        self.sleep_s = sleep_s
        self.outcome = outcome
        self.starts: list[float] = []      # shared by every lane (lanes are shallow copies)
        self.release = threading.Event()
        self.interrupted: list[int] = []   # shared: one entry per interrupt() on any lane

    def value_for(self, number: int) -> int:
        return number

    def attempt(self, attempt: Attempt) -> Any:
        self.starts.append(time.monotonic())
        if self.outcome == "block" or (self.outcome == "block-first" and attempt.number == 1):
            attempt.sent = True
            self.gate = gate = threading.Event()  # this lane's own: interrupt() opens it
            while not (gate.wait(0.005) or self.release.is_set()):
                pass
            raise OSError("interrupted")
        if self.sleep_s:
            time.sleep(self.sleep_s)
        if self.outcome == "refused":
            raise ConnectionRefusedError(111, "Connection refused")
        if self.outcome == "lost":
            attempt.sent = True
            raise OSError("connection lost")
        attempt.sent = True
        return None

    def classify(self, exc: BaseException, *, sent: bool) -> str:
        return classify_postgres_error(exc, sent=sent)


class InterruptibleWorkload(FakeWorkload):
    """Its interrupt() releases a blocked attempt, like shutting the socket down."""

    def interrupt(self) -> bool:
        self.interrupted.append(1)
        gate = getattr(self, "gate", None)
        if gate is not None:
            gate.set()
        return True


def test_rate_and_max_seconds_bound_the_count() -> None:
    """At 100 Hz for 0.5 s the runner makes at most 50 attempts and not many fewer."""
    history = History()
    workload = FakeWorkload(history, rate_hz=100, max_seconds=0.5)
    with workload:
        assert workload.wait(5)
    assert 40 <= len(workload.starts) <= 50
    assert all(done is not None and done.type == "ok" for _, done in history.pairs())


def test_max_ops_bounds_the_count() -> None:
    """The runner stops on its own after max_ops attempts, values 1..max_ops."""
    history = History()
    with FakeWorkload(history, rate_hz=1000, max_ops=7, max_seconds=10) as workload:
        assert workload.wait(5)
    assert [invoke.value for invoke, _ in history.pairs()] == [1, 2, 3, 4, 5, 6, 7]


def test_schedule_does_not_drift() -> None:
    """Attempt n starts at start + n/rate even though each attempt takes time (300 ms +- 40)."""
    history = History()
    with FakeWorkload(history, rate_hz=50, max_ops=16, max_seconds=5, sleep_s=0.008) as workload:
        assert workload.wait(5)
    assert workload.starts[15] - workload.starts[0] == pytest.approx(0.300, abs=0.040)


def test_closed_loop_overrun_skips_slots_and_records_them_not_sent() -> None:
    """The closed-loop client waits for each attempt; the slots it skipped are recorded not-sent."""
    history = History()
    with FakeWorkload(history, rate_hz=100, max_seconds=0.4, sleep_s=0.025,
                      closed_loop=True) as workload:
        assert workload.wait(5)
    gaps = [b - a for a, b in zip(workload.starts, workload.starts[1:])]
    assert gaps and min(gaps) >= 0.025
    assert len(workload.starts) <= 0.4 / 0.025 + 1
    types = [done.type for _, done in history.pairs() if done is not None]
    assert types.count("ok") == len(workload.starts)
    assert types.count(NOT_SENT) == 40 - len(workload.starts)
    assert sorted(i.value for i, _ in history.pairs()) == list(range(1, 41))


def test_open_loop_starts_each_attempt_on_time_while_earlier_ones_hang() -> None:
    """Attempt 1 hangs; attempts 2.. still start at their scheduled times on other lanes."""
    history = History()
    workload = InterruptibleWorkload(history, rate_hz=50, max_ops=10, max_seconds=5,
                                     outcome="block-first", stop_timeout_s=0.5)
    with workload:
        time.sleep(0.4)
        assert len(workload.starts) == 10
        workload.release.set()
        assert workload.wait(5)
    assert workload.starts[9] - workload.starts[0] == pytest.approx(0.180, abs=0.040)
    types = {i.value: d.type for i, d in history.pairs() if d is not None}
    assert types == {1: "info"} | {n: "ok" for n in range(2, 11)}


def test_latency_counts_from_the_scheduled_start() -> None:
    """Each invoke is recorded at its scheduled time: start + (n - 1) / rate, exactly."""
    history = History()
    with FakeWorkload(history, rate_hz=40, max_ops=8, max_seconds=5) as workload:
        assert workload.wait(5)
    times = [i.time for i, _ in history.pairs()]
    assert [round(t - times[0], 9) for t in times] == [round(n / 40, 9) for n in range(8)]
    assert len(workload.lags_s) == 8 and min(workload.lags_s) >= 0


def test_attempts_beyond_the_in_flight_bound_are_recorded_not_sent() -> None:
    """With 2 lanes both hung, later slots are not sent: recorded at their scheduled time, with why."""
    history = History()
    workload = InterruptibleWorkload(history, rate_hz=100, max_ops=6, max_seconds=5,
                                     outcome="block", max_in_flight=2, stop_timeout_s=0.2)
    with workload:
        time.sleep(0.2)
    pairs = history.pairs()
    assert len(pairs) == 6
    not_sent = [(i, d) for i, d in pairs if d is not None and d.type == NOT_SENT]
    assert [i.value for i, _ in not_sent] == [3, 4, 5, 6]
    assert all("max_in_flight" in (d.error or "") for _, d in not_sent)
    first = pairs[0][0].time
    assert [round(i.time - first, 9) for i, _ in not_sent] == [0.02, 0.03, 0.04, 0.05]
    assert workload.attempts_started == 2 and workload.attempts_not_sent == 4


def test_default_bound_is_rate_times_longest_wait() -> None:
    """max_in_flight defaults to ceil(rate x longest client wait) + 1, capped; closed loop is 1."""
    assert FakeWorkload(History(), rate_hz=40, op_deadline_s=2.0).max_in_flight == 81
    assert FakeWorkload(History(), rate_hz=40).max_in_flight == 256      # no timeout: capped
    assert FakeWorkload(History(), rate_hz=40, closed_loop=True).max_in_flight == 1
    assert FakeWorkload(History(), rate_hz=40, max_in_flight=5).max_in_flight == 5
    with pytest.raises(ConfigError, match="max_in_flight"):
        FakeWorkload(History(), rate_hz=40, max_in_flight=0)


@pytest.mark.parametrize(("outcome", "expected"), [("ok", "ok"), ("refused", "fail"),
                                                   ("lost", "info")])
def test_every_attempt_is_one_invoke_and_one_completion(outcome: str, expected: str) -> None:
    """Each attempt, failing or not, is an invoke followed by exactly one classified completion."""
    history = History()
    with FakeWorkload(history, rate_hz=200, max_ops=5, outcome=outcome) as workload:
        assert workload.wait(5)
    pairs = history.pairs()
    assert len(pairs) == 5
    assert {done.type for _, done in pairs if done is not None} == {expected}
    assert all(d is not None and d.process == "fake" and d.f == "fake" for _, d in pairs)
    if expected != "ok":
        assert all(done is not None and done.error for _, done in pairs)


def test_stop_returns_while_an_attempt_is_blocked_forever() -> None:
    """stop() returns in bounded time; the blocked attempt never gets a completion, even later."""
    history = History()
    workload = FakeWorkload(history, rate_hz=10, outcome="block", stop_timeout_s=0.2, max_ops=1)
    workload.start()
    time.sleep(0.1)
    began = time.monotonic()
    workload.stop()
    assert time.monotonic() - began < 0.2 + 1.0 + 0.5
    [(invoke, done)] = history.pairs()
    assert done is None and workload.abandoned == invoke
    workload.release.set()           # the attempt returns late: nothing more is recorded
    time.sleep(0.1)
    assert history.pairs() == [(invoke, None)]


def test_stop_interrupts_a_blocked_attempt_from_outside() -> None:
    """If interrupt() unblocks the attempt, it completes as info and nothing is abandoned."""
    history = History()
    workload = InterruptibleWorkload(history, rate_hz=10, outcome="block", stop_timeout_s=0.1,
                                     max_ops=1)
    workload.start()
    time.sleep(0.1)
    workload.stop()
    [(_, done)] = history.pairs()
    assert done is not None and done.type == "info" and workload.abandoned is None
    assert len(workload.interrupted) == 1


def test_op_deadline_interrupts_a_slow_attempt_and_the_workload_goes_on() -> None:
    """With op_deadline_s a watchdog interrupts each attempt that runs too long; the run goes on."""
    history = History()
    workload = InterruptibleWorkload(history, rate_hz=20, outcome="block", op_deadline_s=0.1,
                                     max_ops=3, max_seconds=5)
    with workload:
        assert workload.wait(5)
    types = [done.type if done else None for _, done in history.pairs()]
    assert types == ["info", "info", "info"]
    assert len(workload.interrupted) == 3


def test_bad_bounds_are_config_errors() -> None:
    """A non-positive rate or duration is refused with a one-line ConfigError."""
    with pytest.raises(ConfigError, match="rate_hz"):
        FakeWorkload(History(), rate_hz=0)
    with pytest.raises(ConfigError, match="max_seconds"):
        FakeWorkload(History(), rate_hz=1, max_seconds=0)


def test_a_workload_starts_once() -> None:
    """Starting a workload twice is an error, and stop() is safe to call again."""
    workload = FakeWorkload(History(), rate_hz=100, max_ops=1)
    with workload:
        with pytest.raises(RuntimeError, match="already started"):
            workload.start()
    workload.stop()


# -- the connection pool: an attempt takes the first connection to come free ------------------

class PooledWorkload(FakeWorkload):
    """Keeps a connection per lane like the PostgreSQL and Redis workloads: ``connect()`` opens it
    ahead of an attempt (and ``attempt`` would open it itself, as those do). The first
    ``quick_connects`` connects succeed at once; later ones wait for ``connect_gate`` (at most 5 s)
    and then raise ``connect_error`` if set. Attempt 1 holds its connection until ``hold`` is set and
    then succeeds."""

    client_fields = ("_conn",)

    def __init__(self, history: History, *, quick_connects: int = 1,
                 connect_error: BaseException | None = None, **bounds: Any) -> None:
        super().__init__(history, **bounds)
        self.quick_connects = quick_connects
        self.connect_error = connect_error
        self.connect_gate = threading.Event()
        self.hold = threading.Event()
        self.connects: list[float] = []   # shared by every lane
        self.served: list[int] = []       # attempt numbers in the order they got a connection
        self._conn: object | None = None

    def connect(self) -> None:
        if self._conn is not None:
            return
        self.connects.append(time.monotonic())
        if len(self.connects) > self.quick_connects:
            if not self.connect_gate.wait(5):
                raise TimeoutError("connect timed out")
            if self.connect_error is not None:
                raise self.connect_error
        self._conn = object()

    def attempt(self, attempt: Attempt) -> Any:
        self.connect()
        self.served.append(attempt.number)
        if attempt.number == 1:
            attempt.sent = True
            self.hold.wait(5)
            return None
        return super().attempt(attempt)

    def reset(self) -> None:
        self._conn = None


def _types(history: History) -> dict[int, str | None]:
    return {i.value: d.type if d is not None else None for i, d in history.pairs()}


def test_the_latest_attempt_takes_a_connection_that_comes_free_before_its_own_connect() -> None:
    """Attempt 1 holds the one connection; attempts 2 and 3 find none free and their connects
    hang. When attempt 1 returns, its connection serves attempt 3, the latest scheduled, at once
    (a thawed server answers the connections it had long before the connects queued while it was
    frozen); attempt 2, older, is left to the connect made for it, so a backlog built up during a
    fault does not hold the connection when the service recovers."""
    history = History()
    workload = PooledWorkload(history, rate_hz=50, max_ops=3, max_seconds=5, stop_timeout_s=0.5)
    with workload:
        deadline = time.monotonic() + 2
        while len(workload.connects) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(workload.connects) == 3 and workload.served == [1]
        released = time.monotonic()
        workload.hold.set()
        while _types(history).get(3) is None:
            assert time.monotonic() - released < 1, _types(history)
            time.sleep(0.005)
        time.sleep(0.05)
        assert workload.served == [1, 3] and _types(history)[2] is None
        workload.connect_gate.set()   # attempt 2's own connect goes through
        assert workload.wait(5)
    assert workload.served == [1, 3, 2]
    assert _types(history) == {1: "ok", 2: "ok", 3: "ok"}
    assert workload.attempts_started == 3 and workload.attempts_not_sent == 0


def test_a_connect_that_fails_after_its_attempt_was_served_fails_nothing() -> None:
    """The connect made for attempt 3 fails after attempt 3 was served on a connection that came
    free: nothing is failed for it; attempt 2's own connect fails it (not sent), and each attempt
    has exactly one completion."""
    history = History()
    workload = PooledWorkload(history, rate_hz=50, max_ops=3, max_seconds=5, stop_timeout_s=0.5,
                              connect_error=ConnectionRefusedError(111, "Connection refused"))
    with workload:
        while len(workload.connects) < 3:
            time.sleep(0.01)
        workload.hold.set()
        while _types(history).get(3) is None:
            time.sleep(0.005)
        workload.connect_gate.set()
        assert workload.wait(5)
        time.sleep(0.05)
    assert _types(history) == {1: "ok", 2: "fail", 3: "ok"}
    assert len(history.ops) == 6


def test_a_failed_connect_fails_the_attempt_it_was_made_for_at_once() -> None:
    """With every connect refused (a killed server), each attempt fails on its own connect as
    soon as it is refused (not sent: ``fail``), as the open loop did before connections were
    pooled."""
    history = History()
    workload = PooledWorkload(history, rate_hz=100, max_ops=5, max_seconds=5, quick_connects=0,
                              connect_error=ConnectionRefusedError(111, "Connection refused"))
    workload.connect_gate.set()
    with workload:
        assert workload.wait(5)
    assert _types(history) == {n: "fail" for n in range(1, 6)}
    assert all("refused" in (d.error or "").lower() for _, d in history.pairs() if d is not None)
    assert workload.served == []


def test_stop_abandons_attempts_still_waiting_for_a_connection() -> None:
    """Connects that hang past stop(): their attempts are abandoned (no completion), and the
    connects that fail later record nothing."""
    history = History()
    workload = PooledWorkload(history, rate_hz=20, max_ops=2, max_seconds=5, quick_connects=0,
                              stop_timeout_s=0.2,
                              connect_error=ConnectionRefusedError(111, "Connection refused"))
    workload.start()
    time.sleep(0.15)
    began = time.monotonic()
    workload.stop()
    assert time.monotonic() - began < 0.2 + 1.0 + 0.5
    assert [op.value for op in workload.abandoned_ops] == [1, 2]
    workload.connect_gate.set()
    time.sleep(0.1)
    assert _types(history) == {1: None, 2: None}


# -- HttpProbe against a local stdlib server (no Docker) --------------------------------------

class _Handler(BaseHTTPRequestHandler):
    written: list[tuple[str, str | None, bytes]] = []

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        if self.path == "/hang":
            time.sleep(1.0)
        status = {"/health": 200, "/stale": 200, "/crash": 500, "/refuse": 503}.get(self.path, 503)
        self.send_response(status)
        if self.path == "/stale":
            self.send_header("X-Degraded", "stale-cache")
        if self.path == "/refuse":
            self.send_header("Retry-After", "1")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        _Handler.written.append((self.path, self.headers.get("Idempotency-Key"), body))
        self.send_response({"/orders": 201, "/crash": 500}.get(self.path, 503))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def http_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("path", "expected"), [("/health", "ok"), ("/broken", "fail"),
                                                ("/hang", "info")])
def test_http_probe_outcomes(http_port: int, path: str, expected: str) -> None:
    """A 2xx is ok, a 503 is fail, no answer within timeout_s after sending is info."""
    history = History()
    probe = HttpProbe(history, f"http://127.0.0.1:{http_port}{path}", timeout_s=0.2,
                      rate_hz=20, max_ops=2)
    with probe:
        assert probe.wait(5)
    assert [done.type if done else None for _, done in history.pairs()] == [expected] * 2


def test_http_probe_refused_is_fail() -> None:
    """Nothing listening on the port: the probe definitely did not succeed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    history = History()
    with HttpProbe(history, f"http://127.0.0.1:{port}/", rate_hz=20, max_ops=2) as probe:
        assert probe.wait(5)
    assert [done.type if done else None for _, done in history.pairs()] == ["fail", "fail"]


def test_http_probe_rejects_a_non_http_url() -> None:
    """A URL that is not http(s) is a ConfigError."""
    with pytest.raises(ConfigError, match="not an http"):
        HttpProbe(History(), "redis://127.0.0.1:6379")


@pytest.mark.parametrize(("path", "expected"), [
    ("/health", ("ok", {"status": 200, "degraded": False})),
    ("/stale", ("ok", {"status": 200, "degraded": True, "degraded_by": "stale-cache"})),
    ("/crash", ("fail", {"status": 500, "degraded": False})),
    ("/refuse", ("fail", {"status": 503, "degraded": False, "retry_after": "1", "clean": True})),
])
def test_http_probe_records_status_and_degraded_mark(http_port: int, path: str, expected: tuple) -> None:
    """Every answered attempt's completion carries its status, the X-Degraded mark and a clean 503."""
    history = History()
    with HttpProbe(history, f"http://127.0.0.1:{http_port}{path}", timeout_s=1.0, rate_hz=20,
                   max_ops=1) as probe:
        assert probe.wait(5)
    [(_, done)] = history.pairs()
    assert done is not None and (done.type, done.value) == expected


def test_http_probe_records_no_status_without_an_answer(http_port: int) -> None:
    """A timeout after sending is info and records no status (the invoke's value stays)."""
    history = History()
    with HttpProbe(history, f"http://127.0.0.1:{http_port}/hang", timeout_s=0.2, rate_hz=20,
                   max_ops=1) as probe:
        assert probe.wait(5)
    [(_, done)] = history.pairs()
    assert done is not None and (done.type, done.value) == ("info", None)


def test_http_writes_send_one_key_per_attempt(http_port: int) -> None:
    """HttpWrites POSTs JSON with the attempt's key in the header; the key is the op's value."""
    _Handler.written.clear()
    history = History()
    with HttpWrites(history, f"http://127.0.0.1:{http_port}/orders", body={"item_id": 7},
                    key_header="Idempotency-Key", key_prefix="k", rate_hz=50, max_ops=3) as writer:
        assert writer.wait(5)
    pairs = history.pairs()
    assert [i.value for i, _ in pairs] == ["k-1", "k-2", "k-3"]
    assert [(d.type, d.value["status"], d.value["key"]) for _, d in pairs if d] == [
        ("ok", 201, "k-1"), ("ok", 201, "k-2"), ("ok", 201, "k-3")]
    assert sorted(key for _, key, _ in _Handler.written) == ["k-1", "k-2", "k-3"]
    assert {body for _, _, body in _Handler.written} == {b'{"item_id": 7}'}


@pytest.mark.parametrize(("key_header", "expected"), [("Idempotency-Key", "fail"), (None, "info")])
def test_http_writes_500_is_info_only_without_an_idempotency_key(http_port: int, key_header: str | None,
                                                                 expected: str) -> None:
    """A 500 to an unkeyed POST may have written (info); with an idempotency key it is fail."""
    history = History()
    with HttpWrites(history, f"http://127.0.0.1:{http_port}/crash", key_header=key_header,
                    rate_hz=20, max_ops=1) as writer:
        assert writer.wait(5)
    [(_, done)] = history.pairs()
    assert done is not None and done.type == expected and done.value["status"] == 500


@pytest.mark.parametrize(("exc", "idempotent", "expected"), [
    (HttpStatusError(500, fields={"status": 500}), False, "info"),
    (HttpStatusError(503, fields={"status": 503}), False, "info"),
    (HttpStatusError(503, fields={"status": 503, "clean": True}), False, "fail"),
    (HttpStatusError(409, fields={"status": 409}), False, "fail"),
    (HttpStatusError(500, fields={"status": 500}), True, "fail"),
    (TimeoutError("timed out"), True, "info"),
])
def test_http_classification_of_writes(exc: BaseException, idempotent: bool, expected: str) -> None:
    """Only a 5xx that may have applied a write is indeterminate; a clean 503 is a refusal."""
    assert classify_http_error(exc, sent=True, idempotent=idempotent) == expected


def test_response_fields_reads_headers_case_insensitively() -> None:
    """X-Degraded and Retry-After are found whatever their case; Retry-After counts only on 503."""
    assert response_fields(200, {"x-degraded": "cache-unavailable"}) == {
        "status": 200, "degraded": True, "degraded_by": "cache-unavailable"}
    assert response_fields(503, {"RETRY-AFTER": "2"}) == {"status": 503, "degraded": False,
                                                         "retry_after": "2", "clean": True}
    assert response_fields(429, {"Retry-After": "2"}) == {"status": 429, "degraded": False}
