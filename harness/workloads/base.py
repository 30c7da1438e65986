"""Workload base: a background client driving a service at a fixed rate, recording every attempt.

Record first, judge afterwards: a workload only appends to a History. Every attempt is its own
op (``invoke``, then ``ok``/``fail``/``info``); retries are never hidden, and a reconnect is part
of the next attempt. Whether a failed attempt is ``fail`` or ``info`` is the subclass's
``classify``; the concrete workloads use the explicit mapping in ``harness/workloads/clients.py`` (its
docstring has the table).

Scheduling is fixed-rate: attempt n starts at ``start + n / rate_hz`` (no drift); an attempt that
overruns its slot makes the workload skip to the next free slot, never burst to catch up. A
workload is bounded by ``max_ops`` and ``max_seconds``. ``stop()`` returns within
``stop_timeout_s + 1`` seconds even if an attempt is blocked (a client without timeouts on a
blackholed socket): it calls the subclass's ``interrupt()`` to shut the client's socket down from
outside and, if the attempt still does not return, abandons it without a completion (checkers
treat it as unknown) and records nothing for it later. Clients reconnect to the same host:port,
which in a stack is a Toxiproxy proxy, so a restarted container is reached again without
reconfiguration.

The concrete workloads live beside this module and import it (never the other way round):
``harness/workloads/postgres.py`` (PostgresInserts, PostgresReads), ``harness/workloads/redis.py``
(RedisWrites, RedisReads) and ``harness/workloads/http.py`` (HttpProbe). A new one subclasses
``Workload``:

    class Pings(Workload):
        f = "ping"

        def attempt(self, attempt: Attempt) -> Any:
            attempt.sent = True                 # from here on a failure is indeterminate
            return ping_my_service()

    with Pings(history, process="pinger", rate_hz=10, max_seconds=30):
        ...                                     # inject a fault, wait, heal
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from harness.errors import ConfigError
from harness.history import History, Op
from harness.workloads.clients import describe

__all__ = ["Attempt", "Workload"]


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
