"""Workload base: a background client driving a service at a fixed rate, recording every attempt.

Record first, judge afterwards: a workload only appends to a History. Every attempt is its own
op (``invoke``, then ``ok``/``fail``/``info``); retries are never hidden, and a reconnect is part
of the next attempt. Whether a failed attempt is ``fail`` or ``info`` is the subclass's
``classify``; the concrete workloads use the explicit mapping in ``harness/workloads/clients.py`` (its
docstring has the table).

Scheduling is open-loop: attempt n is due at ``start + n / rate_hz`` (no drift) and starts then,
whether or not earlier attempts have returned; its invoke is recorded at the time it was due, so
latency counts from the schedule, not from when a busy client got round to it (no coordinated
omission). At most ``max_in_flight`` attempts are in flight (waiting for a connection or running);
beyond that the attempt is recorded ``not-sent`` at its scheduled time (``History.not_sent``),
never silently skipped, so the rate deficit is visible to checkers (harness/judging/rates.py) and
on the timeline. ``max_in_flight`` defaults to ``ceil(rate_hz * longest_wait_s()) + 1``, capped at
the workload's ``max_lanes`` (its share of the service's connections; ``MAX_LANES`` by default),
where ``longest_wait_s()`` is the longest one attempt can wait on its client's timeouts
(``DEFAULT_WAIT_S`` for a client without timeouts).

Connections are pooled in lanes (a worker thread with its own client connection, at most
``max_in_flight``), as a connection pool serves requests: an attempt takes an idle connected lane
(the most recently freed first, so a healthy service is driven over one or two connections); if
none is idle, a lane connects on its behalf (an idle unconnected one, or a new one) through the
workload's ``connect`` hook, and the attempt is served by whichever comes first: that connect, or a
busy lane that comes free while it is still the latest scheduled attempt. An older attempt is left
to the connect made for it (bounded by its connect timeout): a backlog built up while the service
hung does not hold a connection that comes free when it recovers, and a connect that hangs (a
partition, a stopped container) never holds up an attempt made after it. A connect that fails
fails the attempt it was made for at once (not sent), and nothing else. A lane idle for
``IDLE_CLOSE_S`` closes its client.

``closed_loop=True`` is the old single-connection client, kept only as a negative control: one
attempt at a time, and an attempt that overruns its slot pushes the next one to the next free slot
(the slots it skipped are recorded ``not-sent``). Under a fault that makes ops hang it measures the
client's timeout instead of the service's recovery; never use it to judge a service.

A workload is bounded by ``max_ops`` (scheduled attempts, sent or not) and ``max_seconds``.
``stop()`` returns within ``stop_timeout_s + 1`` seconds even if attempts are blocked (a client
without timeouts on a blackholed socket): it calls the subclass's ``interrupt()`` on each busy lane
to shut the client's socket down from outside and, if an attempt still does not return, abandons
it without a completion (checkers treat it as unknown) and records nothing for it later. Clients
reconnect to the same host:port, which in a stack is a Toxiproxy proxy, so a restarted container is
reached again without reconfiguration.

The concrete workloads live beside this module and import it (never the other way round):
``harness/workloads/postgres.py`` (PostgresInserts, PostgresReads), ``harness/workloads/redis.py``
(RedisWrites, RedisReads) and ``harness/workloads/http.py`` (HttpProbe). A new one subclasses
``Workload``; each lane runs the hooks on its own shallow copy of the workload, with the attributes
named in ``client_fields`` reset to None, so a hook that keeps its connection there is per-lane:

    class Pings(Workload):
        f = "ping"
        client_fields = ("_conn",)

        def attempt(self, attempt: Attempt) -> Any:
            attempt.sent = True                 # from here on a failure is indeterminate
            return ping_my_service()

    with Pings(history, process="pinger", rate_hz=10, max_seconds=30):
        ...                                     # inject a fault, wait, heal
"""

from __future__ import annotations

import copy
import math
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from harness.errors import ConfigError
from harness.history import History, Op, now
from harness.workloads.clients import describe

__all__ = ["DEFAULT_WAIT_S", "IDLE_CLOSE_S", "MAX_LANES", "Attempt", "Workload"]

MAX_LANES = 256        # the most lanes (threads and connections) one workload opens by default
DEFAULT_WAIT_S = 10.0  # what a client without timeouts is assumed to wait, for the default bound
IDLE_CLOSE_S = 1.0     # a lane idle this long closes its client connection


@dataclass
class Attempt:
    """One attempt in progress; the workload sets ``sent`` just before the request leaves."""

    number: int               # 1-based slot of this attempt in the schedule
    value: Any = None         # the invoke's value (e.g. the id being inserted)
    sent: bool = False
    scheduled_at: float = 0.0  # run-clock seconds when the attempt was due (its invoke time)


@dataclass(eq=False)
class _Waiting:
    """A dispatched attempt waiting for a connection (compared by identity)."""

    op: Op
    attempt: Attempt
    lane: _Lane | None = None  # the lane connecting on its behalf, if any
    started: bool = False      # a lane began working on it (connecting for it or running it)


class _Lane:
    """One connection: a worker thread with its own copy of the workload (so its own client)."""

    def __init__(self, client: Workload, name: str, threaded: bool) -> None:
        self.client = client
        self.queue: queue.SimpleQueue[bool | None] = queue.SimpleQueue()  # wake-ups; None: exit
        self.flight: tuple[Op, Attempt, float] | None = None  # guarded by the workload's lock
        self.own: _Waiting | None = None   # the attempt it connects for (guarded by the lock)
        self.ready = False                 # its client is connected (written by its own thread)
        self.interrupted: int | None = None
        self.abandoned = False
        self.thread = threading.Thread(target=self._serve, name=name, daemon=True) if threaded else None
        self.owner: Workload | None = None

    def _serve(self) -> None:
        owner = self.owner
        assert owner is not None
        while True:
            try:
                item = self.queue.get(timeout=IDLE_CLOSE_S)
            except queue.Empty:
                if self.ready:  # idle: give the connection back
                    self.ready = False
                    owner._safe(self.client.reset)
                continue
            if item is None:
                break
            owner._work(self)
        owner._safe(self.client.close)


class Workload:
    """Base of all workloads: attempts at ``rate_hz``, open-loop over a bounded pool of lanes.

    Subclasses set ``f`` and implement ``attempt`` (return the ok value, raise on failure) and
    ``classify``; optionally ``failure_value`` (what a failed attempt records), ``client_fields``
    (per-lane client attributes), ``connect`` (open a lane's connection ahead of an attempt),
    ``longest_wait_s``, ``value_for``, ``prepare`` (runs on ``start()``), ``interrupt`` (from another thread: make a
    blocked attempt return; True if it shut a socket), ``reset`` (drop the client so the next
    attempt reconnects; called after every error) and ``close``.
    """

    f: ClassVar[str] = "op"
    client_fields: ClassVar[tuple[str, ...]] = ()
    max_lanes: ClassVar[int] = MAX_LANES  # cap of the default bound (a service's connection budget)

    def __init__(self, history: History, *, process: str, rate_hz: float, max_ops: int = 10_000,
                 max_seconds: float = 300.0, op_deadline_s: float | None = None,
                 stop_timeout_s: float = 2.0, max_in_flight: int | None = None,
                 closed_loop: bool = False) -> None:
        where = f"{type(self).__name__}(process={process!r})"
        if not rate_hz > 0:
            raise ConfigError(f"rate_hz must be > 0, got {rate_hz}", where=where)
        if max_ops < 0 or not max_seconds > 0:
            raise ConfigError(f"max_ops must be >= 0 and max_seconds > 0, got {max_ops}, "
                              f"{max_seconds}", where=where, fix="bound every workload")
        if max_in_flight is not None and (isinstance(max_in_flight, bool) or max_in_flight < 1):
            raise ConfigError(f"max_in_flight must be >= 1, got {max_in_flight!r}", where=where,
                              fix="leave it unset for rate x longest client timeout")
        self.history = history
        self.process = process
        self.rate_hz = float(rate_hz)
        self.max_ops = int(max_ops)
        self.max_seconds = float(max_seconds)
        self.op_deadline_s = op_deadline_s
        self.stop_timeout_s = float(stop_timeout_s)
        self.closed_loop = bool(closed_loop)
        self._max_in_flight = max_in_flight
        self.attempts_started = 0          # attempts a lane began (connecting for it or running it)
        self.attempts_not_sent = 0         # scheduled attempts recorded not-sent
        self.lags_s: list[float] = []      # per started attempt: when a lane began it - scheduled
        self.waits_s: list[float] = []     # per attempt run: when it had a connection - scheduled
        self.abandoned: Op | None = None   # the first invoke stop() gave up on, if any
        self.abandoned_ops: list[Op] = []
        self._stop = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._lanes: list[_Lane] = []
        self._idle: list[_Lane] = []
        self._waiting: list[_Waiting] = []  # dispatched, not yet on a connection (oldest first)
        self._in_flight = 0                 # dispatched attempts waiting or running
        self._latest = 0                    # the number of the attempt dispatched last
        self._gave_up = False               # stop() abandoned what was left: record nothing more
        self._thread: threading.Thread | None = None

    # -- hooks -----------------------------------------------------------------------------
    def value_for(self, number: int) -> Any:
        return None

    def attempt(self, attempt: Attempt) -> Any:
        raise NotImplementedError

    def classify(self, exc: BaseException, *, sent: bool) -> str:
        return "fail" if not sent else "info"

    def failure_value(self, exc: BaseException) -> Any:
        """What a failed attempt's completion records as its value (None: the invoke's value)."""
        return None

    def longest_wait_s(self) -> float | None:
        """The longest one attempt can wait on the client's timeouts; None when unbounded."""
        return self.op_deadline_s

    def prepare(self) -> None:
        pass

    def connect(self) -> None:
        """Open this lane's client connection ahead of an attempt (raise if it cannot be had).

        A workload whose ``attempt`` reuses a connection implements it, so an attempt can take
        whichever connection is ready first; the default does nothing (``attempt`` connects)."""

    def interrupt(self) -> bool:
        return False

    def reset(self) -> None:
        pass

    def close(self) -> None:
        self.reset()

    # -- life cycle ------------------------------------------------------------------------
    @property
    def max_in_flight(self) -> int:
        """The bound on attempts in flight: given, 1 for a closed loop, else rate x longest wait + 1."""
        if self.closed_loop:
            return 1
        if self._max_in_flight is not None:
            return int(self._max_in_flight)
        wait = self.longest_wait_s()
        return min(self.max_lanes, math.ceil(self.rate_hz * (DEFAULT_WAIT_S if wait is None else wait)) + 1)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Workload:
        """Run ``prepare()``, then the scheduler thread (and a watchdog if ``op_deadline_s``)."""
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
        """Stop and join; blocked attempts are interrupted, then abandoned (bounded time)."""
        self._stop.set()
        thread = self._thread
        if thread is None:
            return
        thread.join(self.stop_timeout_s)
        if thread.is_alive():
            for lane in self._busy():
                self._safe(lane.client.interrupt)
            thread.join(1.0)
        with self._lock:
            if thread.is_alive():
                self._gave_up = True
                for lane in self._lanes:
                    if lane.flight is not None and not lane.abandoned:
                        lane.abandoned = True
                        self.abandoned_ops.append(lane.flight[0])
                self.abandoned_ops.extend(item.op for item in self._waiting)
                self._waiting.clear()
                self.abandoned_ops.sort(key=lambda op: op.index)
                self.abandoned = self.abandoned_ops[0] if self.abandoned_ops else None

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the workload ended on its own bounds; True if it did."""
        return self._done.wait(timeout_s)

    def __enter__(self) -> Workload:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- the schedule ----------------------------------------------------------------------
    def _run(self) -> None:
        start = now()
        slot = 0  # 0-based index of the next scheduled attempt
        try:
            while not self._stop.is_set() and slot < self.max_ops:
                offset = slot / self.rate_hz
                if offset >= self.max_seconds:
                    break
                delay = start + offset - now()
                if delay > 0 and self._stop.wait(delay):
                    break
                slot += 1
                if not self.closed_loop:
                    self._dispatch(slot, start + offset)
                    continue
                op, attempt = self._invoke(slot, start + offset)
                with self._lock:
                    self._in_flight += 1
                    self._started(_Waiting(op, attempt))
                self._execute(self._solo(), op, attempt)
                free = max(slot, math.ceil((now() - start) * self.rate_hz))
                while slot < min(free, self.max_ops) and slot / self.rate_hz < self.max_seconds:
                    slot += 1
                    self._not_sent(slot, start + (slot - 1) / self.rate_hz,
                                   "the closed-loop client was still busy with an earlier attempt")
        finally:
            self._drain()
            self._done.set()
            self._safe(self.close)

    def _solo(self) -> _Lane:
        """The closed loop's one lane: the workload itself, run on the scheduler thread."""
        if not self._lanes:
            lane = _Lane(self, f"lane-{self.process}-0", threaded=False)
            lane.owner = self
            self._lanes.append(lane)
        return self._lanes[0]

    def _invoke(self, number: int, due: float) -> tuple[Op, Attempt]:
        value = self.value_for(number)
        op = self.history.invoke(self.process, self.f, value, time=due)
        return op, Attempt(number, value, scheduled_at=due)

    def _not_sent(self, number: int, due: float, reason: str) -> None:
        self.attempts_not_sent += 1
        self.history.not_sent(self.process, self.f, self.value_for(number), scheduled_at=due,
                              reason=reason)

    def _dispatch(self, number: int, due: float) -> None:
        """Start attempt ``number`` on the first connection to come free, else record it not-sent.

        The attempt takes an idle connected lane, or, if none, waits (in flight) for a lane that
        connects on its behalf (an idle one or a new one) or for a busy lane that comes free while
        it is the latest attempt, whichever is sooner. A connect made for it that fails fails it
        (not sent), at once."""
        with self._lock:
            full = self._in_flight >= self.max_in_flight
            if not full:
                self._in_flight += 1
        if full:
            self._not_sent(number, due, f"{self.max_in_flight} attempts were already in flight "
                                        f"(max_in_flight)")
            return
        op, attempt = self._invoke(number, due)
        item = _Waiting(op, attempt)
        with self._lock:
            self._waiting.append(item)
            self._latest = number
            ready = [lane for lane in self._idle if lane.ready]
            lane = ready[-1] if ready else self._idle[-1] if self._idle else None
            if lane is not None:
                self._idle.remove(lane)
            elif len(self._lanes) < self.max_in_flight:
                lane = self._new_lane()
            if lane is not None:
                lane.own, item.lane = item, lane
        if lane is not None:
            lane.queue.put(True)

    def _new_lane(self) -> _Lane:
        client = copy.copy(self)
        for name in self.client_fields:
            setattr(client, name, None)
        lane = _Lane(client, f"lane-{self.process}-{len(self._lanes) + 1}", threaded=True)
        lane.owner = self
        self._lanes.append(lane)
        assert lane.thread is not None
        lane.thread.start()
        return lane

    def _work(self, lane: _Lane) -> None:
        """On a lane's thread: connect if need be, then serve waiting attempts until none is left.

        A lane serves the attempt it connected for if that one still waits, else the latest
        scheduled attempt if that one waits: attempts held up by a fault (each bounded by its own
        connect) do not keep a connection that comes free after the heal from the attempts made
        after it. A lane without a connection (after an error) connects only for an attempt that
        nobody connects for (when the lanes ran out), else it goes idle."""
        while True:
            if not lane.ready:
                with self._lock:
                    if lane.own is None:   # after an error: connect for an attempt nobody connects for
                        self._adopt(lane)
                    target = lane.own
                    if target is None:
                        self._idle.append(lane)
                        return
                    self._started(target)
                try:
                    lane.client.connect()
                    lane.ready = True
                except Exception as exc:  # noqa: BLE001 - a failed connect fails its attempt
                    self._safe(lane.client.reset)
                    self._connect_failed(lane, target, exc)
                    continue
            with self._lock:
                item = self._take(lane)
                if item is None:
                    self._idle.append(lane)
                    return
                self._started(item)
            self._execute(lane, item.op, item.attempt)

    def _started(self, item: _Waiting) -> None:
        """Under the lock: count ``item`` started, and its lag, the first time a lane works on it."""
        if not item.started:
            item.started = True
            self.attempts_started += 1
            self.lags_s.append(now() - item.attempt.scheduled_at)

    def _take(self, lane: _Lane) -> _Waiting | None:
        """Under the lock: the attempt ``lane`` serves next: the one it connected for if that still
        waits, else the latest scheduled attempt if that waits, else one nobody connects for."""
        own, lane.own = lane.own, None
        if own is not None and own in self._waiting:
            item = own
        elif self._waiting and self._waiting[-1].attempt.number == self._latest:
            item = self._waiting[-1]
        else:
            item = self._unowned()
            if item is None:
                return None
        self._waiting.remove(item)
        other, item.lane = item.lane, None
        if other is not None and other is not lane:   # it was connecting for this one: hand it over
            self._adopt(other)
        return item

    def _unowned(self) -> _Waiting | None:
        """Under the lock: the newest waiting attempt that no lane connects for (the lanes ran out)."""
        return next((w for w in reversed(self._waiting) if w.lane is None), None)

    def _adopt(self, lane: _Lane) -> None:
        """Under the lock: ``lane`` connects for the newest attempt nobody connects for, if any."""
        lane.own = self._unowned()
        if lane.own is not None:
            lane.own.lane = lane

    def _connect_failed(self, lane: _Lane, target: _Waiting, exc: BaseException) -> None:
        """A connect made for ``target`` failed: it fails target, not an attempt handed over since."""
        kind = self._kind(lane, exc, sent=False)
        with self._lock:
            own, lane.own = lane.own, None
            if own is not None:
                own.lane = None
            if own is target and target in self._waiting:
                self._waiting.remove(target)
                self._record(target.op, kind, error=describe(exc))

    def _drain(self) -> None:
        """Let every lane finish its attempt and close its client (stop() bounds the wait)."""
        lanes = [lane for lane in list(self._lanes) if lane.thread is not None]
        for lane in lanes:
            lane.queue.put(None)
        for lane in lanes:
            assert lane.thread is not None
            lane.thread.join()

    def _busy(self) -> list[_Lane]:
        with self._lock:
            return [lane for lane in self._lanes if lane.flight is not None]

    # -- one attempt -----------------------------------------------------------------------
    def _execute(self, lane: _Lane, op: Op, attempt: Attempt) -> None:
        began = time.monotonic()
        self.waits_s.append(now() - attempt.scheduled_at)
        with self._lock:
            lane.flight = (op, attempt, began)
        try:
            result = lane.client.attempt(attempt)
        except Exception as exc:  # every failure becomes a completion, none escapes the thread
            kind = self._kind(lane, exc, sent=attempt.sent)
            try:
                value = lane.client.failure_value(exc)
            except Exception:
                value = None
            self._finish(lane, op, kind, error=describe(exc), value=value)
            lane.ready = False
            self._safe(lane.client.reset)
        else:
            self._finish(lane, op, "ok", value=attempt.value if result is None else result)
            if lane.interrupted == attempt.number:
                lane.ready = False
                self._safe(lane.client.reset)

    @staticmethod
    def _kind(lane: _Lane, exc: BaseException, *, sent: bool) -> str:
        """The subclass's ``classify`` of a failure, ``fail`` or ``info`` (``info`` if it cannot say)."""
        try:
            kind = lane.client.classify(exc, sent=sent)
        except Exception:  # noqa: BLE001 - a classify that crashes must not lose the completion
            kind = "info"
        return kind if kind in ("fail", "info") else "info"

    def _finish(self, lane: _Lane, op: Op, kind: str, *, value: Any = None,
                error: str | None = None) -> None:
        with self._lock:
            lane.flight = None
            if not lane.abandoned:
                self._record(op, kind, value=value, error=error)

    def _record(self, op: Op, kind: str, *, value: Any = None, error: str | None = None) -> None:
        """Under the lock: complete ``op`` and count it out of flight (nothing once given up)."""
        self._in_flight -= 1
        if self._gave_up:
            return
        if kind == "ok":
            self.history.complete(op, "ok", value=value)
        elif value is not None:
            self.history.complete(op, kind, value=value, error=error)
        else:
            self.history.complete(op, kind, error=error)

    def _watch(self) -> None:
        """Interrupt any attempt running longer than ``op_deadline_s`` (a client-side timeout)."""
        assert self.op_deadline_s is not None
        period = min(0.05, self.op_deadline_s / 4)
        while not self._done.wait(period):
            with self._lock:
                for lane in self._lanes:
                    flight = lane.flight
                    if (flight is not None and lane.interrupted != flight[1].number
                            and time.monotonic() - flight[2] > self.op_deadline_s):
                        try:
                            if lane.client.interrupt():   # nothing to shut down yet: retry
                                lane.interrupted = flight[1].number
                        except Exception:
                            pass

    @staticmethod
    def _safe(hook: Any) -> None:
        try:
            hook()
        except Exception:
            pass
