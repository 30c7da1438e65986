"""Workload base: a background client driving a service at a fixed rate, recording every attempt.

Record first, judge afterwards: a workload only appends to a History. Every attempt is its own
op (``invoke``, then ``ok``/``fail``/``info``); retries are never hidden, and a reconnect is part
of the next attempt. Whether a failed attempt is ``fail`` or ``info`` is the subclass's
``classify``; the concrete workloads use the explicit mapping in ``harness/workloads/clients.py`` (its
docstring has the table).

Scheduling is open-loop: attempt n is due at ``start + n / rate_hz`` (no drift) and starts then,
whether or not earlier attempts have returned, on one of at most ``max_in_flight`` lanes (a worker
thread with its own client connection); its invoke is recorded at the time it was due, so latency
counts from the schedule, not from when a busy client got round to it (no coordinated omission).
When every lane is busy the attempt is recorded ``not-sent`` at its scheduled time
(``History.not_sent``), never silently skipped, so the rate deficit is visible to checkers
(harness/judging/rates.py) and on the timeline. ``max_in_flight`` defaults to
``ceil(rate_hz * longest_wait_s()) + 1``, capped at ``MAX_LANES``, where ``longest_wait_s()`` is the
longest one attempt can wait on its client's timeouts (``DEFAULT_WAIT_S`` for a client without
timeouts) or at the workload's ``max_lanes`` (its share of the service's connections). Lanes are made on demand and the most recently freed lane is reused first, so a healthy
service is driven over one or two connections; a lane idle for ``IDLE_CLOSE_S`` closes its client.

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


class _Lane:
    """One in-flight slot: a worker with its own copy of the workload (so its own client)."""

    def __init__(self, client: Workload, name: str, threaded: bool) -> None:
        self.client = client
        self.queue: queue.SimpleQueue[tuple[Op, Attempt] | None] = queue.SimpleQueue()
        self.flight: tuple[Op, Attempt, float] | None = None  # guarded by the workload's lock
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
                owner._safe(self.client.reset)  # idle: give the connection back
                continue
            if item is None:
                break
            owner._execute(self, *item)
            with owner._lock:
                if not self.abandoned:
                    owner._idle.append(self)
        owner._safe(self.client.close)


class Workload:
    """Base of all workloads: attempts at ``rate_hz``, open-loop over a bounded pool of lanes.

    Subclasses set ``f`` and implement ``attempt`` (return the ok value, raise on failure) and
    ``classify``; optionally ``failure_value`` (what a failed attempt records), ``client_fields`` (per-lane client attributes), ``longest_wait_s``,
    ``value_for``, ``prepare`` (runs on ``start()``), ``interrupt`` (from another thread: make a
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
        self.attempts_started = 0          # attempts sent (started on a lane)
        self.attempts_not_sent = 0         # scheduled attempts recorded not-sent
        self.lags_s: list[float] = []      # per sent attempt: actual start - scheduled start
        self.abandoned: Op | None = None   # the first invoke stop() gave up on, if any
        self.abandoned_ops: list[Op] = []
        self._stop = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._lanes: list[_Lane] = []
        self._idle: list[_Lane] = []
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
                for lane in self._lanes:
                    if lane.flight is not None and not lane.abandoned:
                        lane.abandoned = True
                        self.abandoned_ops.append(lane.flight[0])
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
                self._execute(self._solo(), *self._invoke(slot, start + offset))
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
        """Hand attempt ``number`` to an idle lane (or a new one), else record it not-sent."""
        with self._lock:
            lane = self._idle.pop() if self._idle else None
            if lane is None and len(self._lanes) < self.max_in_flight:
                lane = self._new_lane()
        if lane is None:
            self._not_sent(number, due, f"all {self.max_in_flight} lanes were busy (max_in_flight)")
            return
        lane.queue.put(self._invoke(number, due))

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
        self.attempts_started += 1
        self.lags_s.append(now() - attempt.scheduled_at)
        with self._lock:
            lane.flight = (op, attempt, began)
        try:
            result = lane.client.attempt(attempt)
        except Exception as exc:  # every failure becomes a completion, none escapes the thread
            try:
                kind = lane.client.classify(exc, sent=attempt.sent)
            except Exception:
                kind = "info"
            try:
                value = lane.client.failure_value(exc)
            except Exception:
                value = None
            self._finish(lane, op, kind if kind in ("fail", "info") else "info", error=describe(exc),
                         value=value)
            self._safe(lane.client.reset)
        else:
            self._finish(lane, op, "ok", value=attempt.value if result is None else result)
            if lane.interrupted == attempt.number:
                self._safe(lane.client.reset)

    def _finish(self, lane: _Lane, op: Op, kind: str, *, value: Any = None,
                error: str | None = None) -> None:
        with self._lock:
            lane.flight = None
            if lane.abandoned:
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
