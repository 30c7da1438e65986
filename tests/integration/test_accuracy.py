"""Accuracy: the outage and the recovery time the harness reports are the ones that happened.

The recovery time (``rto``, judged from the open-loop workload's history at 25/s)
is compared with the service's real recovery, measured independently by a probe of the test's
own (``RecoveryProbe``): every 10 ms, on its own thread and its own connections, ``SELECT 1``
straight to the container's published port (bypassing Toxiproxy) for a container fault, through
the proxy for a fault of the proxy; the probe's recovery is its first ok after the heal began
(its docstring says, fault by fault, why that is the real recovery). Compared are first-ok times
on the same run clock, for kill, stop, pause, restart, partition and a timeout toxic, within
0.1 s five times out of five. The negative control runs the closed-loop client
(``closed_loop=True``) under a hanging fault, where the accuracy must fail.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import psycopg
import pytest

from harness.history import History, now
from harness.judging.checkers import check, recovery_time
from harness.judging.objectives import Objective, parse_limit
from harness.judging.phases import client_pairs, select_window
from harness.workloads.postgres import PostgresReads
from harness.workloads.redis import RedisReads

pytestmark = [pytest.mark.docker, pytest.mark.run_alone]  # timing: nothing beside it under -n N

ACCURACY_S = 0.1
RUNS = 5
PROBE_EVERY_S = 0.01
KEEP_IDLE = 4  # the probe's idle connections kept open for reuse (more are closed)
RATE_HZ = 25  # 40 ms apart; x 2 s client timeouts = 51 lanes, inside PostgreSQL's 100 connections
RTO = Objective("rto-measured", "a recovery time is measured", "tests", "", (parse_limit("rto", "60 s"),))


def test_two_second_outage_measures_two_seconds_five_times_out_of_five(stack, objectives):
    """A proxy disabled for 2.0 s measures as a 2.0 s +-0.1 s outage in each of five runs."""
    measured = []
    for _ in range(5):
        history = History()
        stack.bind(history, [])
        with RedisReads(history, **stack.redis.conninfo, socket_timeout_s=0.1,
                        connect_timeout_s=0.1, rate_hz=100):
            time.sleep(0.5)
            with stack.redis.down():
                time.sleep(2.0)
            time.sleep(1.0)
        verdicts = {v.metric: v for v in check(objectives["outage-accuracy"], history, f="read")}
        measured.append(verdicts["outage_accuracy"])
    assert [v.validity for v in measured] == ["pass"] * 5, [str(v) for v in measured]


@dataclass
class RecoveryProbe:
    """SELECT 1 every 10 ms from a client of its own: the service's real recovery, measured beside
    the workload and independently of it (its own thread per probe, its own connections, its own
    clock readings; nothing of harness/workloads).

    Where it connects: for a container fault (kill, stop, pause, restart, partition) straight to
    the container's published port, bypassing Toxiproxy, re-read every 20 ms by a watcher since a
    restarted container gets a new one; for a fault on the proxy (``through_proxy=True``: a toxic)
    through Toxiproxy, since the server itself never goes down there and the outage a client
    sees is the proxy's.

    How it connects: over a pool of its own, like a pooled client: a probe reuses an idle
    connection if there is one and opens a new one otherwise; after any error the connection is
    dropped, so the next probe connects afresh; at most ``KEEP_IDLE`` (4) idle connections are
    kept. At most ``max_in_flight`` probes run at once (which also bounds its connections); a
    tick that finds them all busy is skipped (counted).
    The bound is 300 where a hung connect never reaches the server (container down, restarting
    or cut off: refused, or its SYN dropped for up to the 2 s connect timeout, so the probe must
    not go blind behind them), and ``FEW`` (20) where hung connects do reach it and queue there:
    a frozen server's accept queue (pause), a proxy whose upstream still passes (timeout toxic).
    There an unbounded probe queues 100 connects a second and itself exhausts PostgreSQL's 100
    connections ("too many clients"), which made the workload's answers late after a pause in
    one run of five before (+0.17..+0.63 s): the probe must not be the fault.
    Why its first ok after the heal is the service's real recovery, fault by fault:
    - a fault that ends every connection (kill, stop, restart, and the timeout toxic, whose heal
      closes every connection through the proxy): that ok is necessarily on a fresh connection,
      the service answering a new client;
    - a pause leaves connections open: a client that holds one is answered the moment the server
      is thawed, and that is when the service is back (pooled clients, the workload included,
      are served then). A fresh connection per probe would measure something else: the server
      working through the backlog of connects every client queued while it was frozen (seen:
      0.13-0.37 s after the heal, while the workload's answers came at 0.03-0.15 s).
    Bounded: at most ``max_probes`` probes.
    """

    service: Any
    through_proxy: bool = False
    max_probes: int = 4000
    max_in_flight: int = 300
    results: list[tuple[float, float, bool]] = field(default_factory=list)  # (start, end, ok)
    skipped: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _port: int | None = None
    _in_flight: list[int] = field(default_factory=list)
    _idle: list[Any] = field(default_factory=list)  # open connections, reused (few server backends)

    def __enter__(self) -> RecoveryProbe:
        if self.through_proxy:
            self._port = self.service.port
        else:
            self._port = self.service.direct_port
            threading.Thread(target=self._watch_port, daemon=True).start()
        threading.Thread(target=self._tick, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        deadline = time.monotonic() + 3.0   # probes in flight finish within their 2 s connect timeout
        while self._in_flight and time.monotonic() < deadline:
            time.sleep(0.02)
        while self._idle:
            self._idle.pop().close()

    def _watch_port(self) -> None:
        box = self.service.container
        while not self._stop.wait(0.02):
            try:
                box.reload()
                bound = (box.ports or {}).get(f"{self.service.spec.port}/tcp")
                self._port = int(bound[0]["HostPort"]) if bound else None
            except Exception:  # noqa: BLE001 - a container between states: try again
                pass

    def _tick(self) -> None:
        began = time.monotonic()
        for n in range(self.max_probes):
            delay = began + n * PROBE_EVERY_S - time.monotonic()
            if self._stop.wait(max(delay, 0)):
                return
            if len(self._in_flight) < self.max_in_flight and self._port is not None:
                threading.Thread(target=self._once, args=(self._port,), daemon=True).start()
            else:
                self.skipped += 1

    def _once(self, port: int) -> None:
        self._in_flight.append(port)
        start, ok, conn = now(), False, None
        try:
            conn = self._idle.pop() if self._idle else None
            if conn is None:
                conn = psycopg.connect(host="127.0.0.1", port=port, user=self.service.user,
                                       password=self.service.password, dbname=self.service.dbname,
                                       connect_timeout=2, autocommit=True)
            ok = conn.execute("SELECT 1").fetchone() == (1,)
        except Exception:  # noqa: BLE001 - any failure is "not recovered yet"
            ok = False
            if conn is not None:
                conn.close()
            conn = None
        finally:
            self.results.append((start, now(), ok))
            if conn is not None and self._stop.is_set():
                conn.close()
            elif conn is not None and len(self._idle) < KEEP_IDLE:
                self._idle.append(conn)
            elif conn is not None:
                conn.close()   # a burst of connects that completed at once: keep the pool small
            self._in_flight.pop()

    def first_ok_after(self, moment: float) -> float | None:
        """Completion time of the first ok probe started at/after ``moment``."""
        done = [end for start, end, ok in self.results if ok and start >= moment]
        return min(done) if done else None


@dataclass(frozen=True)
class Run:
    reported: float | None
    probe: float | None
    validity: str
    explanation: str
    story: str = ""   # what happened around the heal, printed for a run off by more than 0.1 s

    @property
    def difference(self) -> float | None:
        return None if self.reported is None or self.probe is None else self.reported - self.probe

    def __str__(self) -> str:
        def fmt(x: float | None) -> str:
            return "none" if x is None else f"{x:.3f} s"
        return (f"reported {fmt(self.reported)}, probe {fmt(self.probe)}, difference "
                f"{fmt(self.difference)} ({self.validity}: {self.explanation})")


FAULTS: dict[str, Callable[[Any], Any]] = {
    "kill": lambda pg: pg.kill(),
    "stop": lambda pg: pg.stop(grace_s=1),
    "pause": lambda pg: pg.pause(),
    "restart": lambda pg: pg.restart(grace_s=1),
    "partition": lambda pg: pg.partition(),
    "timeout_toxic": lambda pg: pg.timeout(timeout_ms=0),
}
ON_THE_PROXY = {"timeout_toxic"}  # faults of the proxy, not the container: probed through it
QUEUE_ON_THE_SERVER = {"pause", "timeout_toxic"}  # hung connects reach the server: probe with FEW
FEW = 20


def measure_once(stack: Any, kind: str, *, closed_loop: bool = False, hold_s: float = 1.0) -> Run:
    """One run: 25/s reads through Toxiproxy and the probe beside them, a fault held ``hold_s``,
    then the reported rto against the probe's first ok after the heal began."""
    stack.reset()
    history = History()
    stack.bind(history, [])
    pg = stack.postgres
    probe_bound = FEW if kind in QUEUE_ON_THE_SERVER else RecoveryProbe.max_in_flight
    with RecoveryProbe(pg, through_proxy=kind in ON_THE_PROXY, max_in_flight=probe_bound) as probe, \
            PostgresReads(history, **pg.conninfo, rate_hz=RATE_HZ, max_seconds=60, closed_loop=closed_loop):
        time.sleep(0.7)
        with FAULTS[kind](pg):
            time.sleep(hold_s)
        window = select_window(history)
        assert window is not None and window.healed_at is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (
                probe.first_ok_after(window.recovery_from) is None
                or recovery_time(history, f="read").value is None):
            time.sleep(0.1)
        time.sleep(2.5)  # the slowest hung client attempt (2 s deadline) has returned
    [verdict] = check(RTO, history, f="read")
    first = probe.first_ok_after(window.recovery_from)
    return Run(verdict.measured, None if first is None else first - window.recovery_from,
               verdict.validity, verdict.explanation, story(history, probe, window))


def story(history: History, probe: RecoveryProbe, window: Any) -> str:
    """The answers around the first ok after the heal, for the workload and the probe (invoked ->
    answered, in seconds from the start of the heal): where a miss came from."""
    ref = window.recovery_from

    def around(rows: list[tuple[float, float, bool]]) -> str:
        rows.sort()
        first = next((k for k, row in enumerate(rows) if row[2]), len(rows))
        return ", ".join(f"{start - ref:+.3f}->{end - ref:+.3f} {'ok' if ok else 'err'}"
                         for end, start, ok in rows[max(0, first - 3):first + 3])

    answers = [(c.time, i.time, c.type == "ok") for i, c in client_pairs(history, "read")
               if c is not None and i.time >= ref]
    probes = [(end, start, ok) for start, end, ok in probe.results if start >= ref]
    return (f"heal done {window.healed_at - ref:+.3f} s; workload {around(answers)}; "
            f"probe {around(probes)}; probe ticks skipped {probe.skipped}")


@pytest.mark.parametrize("kind", list(FAULTS))
def test_recovery_time_matches_a_direct_probe_five_times_out_of_five(stack, kind, record_property):
    """For each fault kind the reported rto is within ACCURACY_S (0.1 s) of the probed recovery
    in every one of five runs; a run off by more than 0.1 s prints what the workload and the probe
    saw around the heal.

    Pause held this only once the workload pooled its connections (harness/workloads/base.py):
    when every lane was busy at the thaw, the first attempts after the heal opened new connections
    that queued behind the connects made during the pause (+0.13..+0.42 s, one run in five under
    load), and a freed connection that served the backlog first kept them waiting behind it; the
    latest attempt now takes the first connection to come free."""
    runs = [measure_once(stack, kind) for _ in range(RUNS)]
    for n, run in enumerate(runs):
        record_property(f"accuracy:{kind}:{n}", str(run))
    met = sum(r.difference is not None and abs(r.difference) <= ACCURACY_S for r in runs)
    record_property(f"accuracy:{kind}:within_0.1s", f"{met}/{len(runs)}")
    print(f"\naccuracy {kind}: {met}/{len(runs)} within {ACCURACY_S} s: " + "; ".join(str(r) for r in runs))
    for run in runs:
        if run.difference is None or abs(run.difference) > ACCURACY_S:
            print(f"  off by more than {ACCURACY_S} s: {run.story}")
    assert all(r.validity == "pass" for r in runs), [str(r) for r in runs]
    assert met == len(runs), [str(r) for r in runs]


def test_closed_loop_client_misses_the_recovery_under_a_hanging_fault(stack):
    """Negative control: the closed-loop client under a graceful stop (connects through the proxy
    hang for the 2 s connect timeout) reports its own timeout, not the recovery: over five runs
    the accuracy test above fails for stop (a run off by more than ACCURACY_S, or UNKNOWN for the
    rate missed; seen: +0.41..+0.64 s)."""
    runs = [measure_once(stack, "stop", closed_loop=True) for _ in range(RUNS)]
    print("\nclosed-loop stop: " + "; ".join(str(r) for r in runs))
    within = [r.validity == "pass" and r.difference is not None and abs(r.difference) <= ACCURACY_S
              for r in runs]
    assert not all(within), [str(r) for r in runs]
