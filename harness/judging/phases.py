"""Fault windows and phases: when each fault was in effect, which client ops fell before, during
and after it, and the per-phase measures (error rate, availability, latency quantiles). Pure
functions of a History, used by harness/judging/checkers.py and the report.

A window opens at the *invoke* of a nemesis ``inject`` that completed ``ok`` (the harness began
injecting) and closes at the ``ok`` *completion* of the matching ``heal`` (the heal was
confirmed), so ``[injected_at, healed_at]`` covers every moment the fault may have been in
effect. An inject that failed opens no window; a fault never healed has ``healed_at=None``.
``heal_began_at`` is the heal's invoke (the restart, unpause or proxy enable was asked for):
recovery times count from there, since clients wait through the heal itself (a container
restart takes the engine about half a second before the service even starts).
A window is *shown in effect* when its fault's ``probe`` op (written right after the inject, see
harness/faults/base.py) completed ``ok``; its ``evidence`` is the probe's line, or why the fault
could not be shown (a failed probe, or none recorded).
A client op belongs to the phase its *invoke* time falls in: before ``injected_at``, during
``[injected_at, healed_at)``, after ``healed_at``.

Per phase: error rate = ops not ok / ops invoked in the phase (fail, info and never-completed
are errors), availability = 100 % - error rate; latency = completion - invoke in ms; quantiles
are nearest-rank. An op that never completed has an unknown latency of at least (end of history
- invoke): when such an op ranks at or below the quantile, the quantile is only a lower bound
(``at_least``; a maximum it already exceeds fails, otherwise the value is unknown). No op in
the phase, or no fault at all, is no evidence (value None).

    for w in fault_windows(history): print(w.name, w.injected_at, w.healed_at)
    latency_quantile(history, 0.99, f="read", phase="during")   # Measurement in ms
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

from harness.history import DRILL, NEMESIS, NOT_SENT, History, Op
from harness.judging.verdicts import Measurement, format_number

Pair = tuple[Op, "Op | None"]
FOp = str | Iterable[str] | None
NON_CLIENT = frozenset({NEMESIS, DRILL})


@dataclass(frozen=True)
class FaultWindow:
    """When one fault was in effect: seconds on the run clock (``healed_at`` None if never healed)."""

    name: str
    kind: str
    target: str
    injected_at: float
    healed_at: float | None
    in_effect: bool = False
    evidence: str = "no probe of its effect was recorded"
    heal_began_at: float | None = None  # the heal's invoke (e.g. the restart was asked for)

    @property
    def recovery_from(self) -> float | None:
        """Where recovery is counted from: the start of the heal (``healed_at`` if not recorded)."""
        return self.healed_at if self.heal_began_at is None else self.heal_began_at

    @property
    def duration_s(self) -> float | None:
        """healed_at - injected_at, or None if never healed."""
        return None if self.healed_at is None else self.healed_at - self.injected_at

    def to_dict(self) -> dict[str, Any]:
        """The report's fault record."""
        return {"name": self.name, "kind": self.kind, "target": self.target,
                "injected_at": self.injected_at, "healed_at": self.healed_at}

    def phase_of(self, t: float) -> str:
        """"before", "during" or "after" for an op invoked at ``t``."""
        if t < self.injected_at:
            return "before"
        if self.healed_at is None or t < self.healed_at:
            return "during"
        return "after"

    def __str__(self) -> str:
        healed = "never healed" if self.healed_at is None else f"healed at t={self.healed_at:.3f} s"
        return f"{self.name} ({self.kind} {self.target}) injected at t={self.injected_at:.3f} s, {healed}"


def _t(seconds: float) -> str:
    return f"t={format_number(seconds)} s"


def _field(value: Any, key: str) -> str:
    if isinstance(value, dict):
        return str(value.get(key) or "")
    return str(value or "") if key == "name" else ""


@dataclass
class _Open:
    inject: Op
    name: str
    kind: str
    target: str
    in_effect: bool = False
    evidence: str = "no probe of its effect was recorded"

    def window(self, heal: tuple[Op, Op] | None) -> FaultWindow:
        return FaultWindow(self.name, self.kind, self.target, self.inject.time,
                           None if heal is None else heal[1].time, self.in_effect, self.evidence,
                           None if heal is None else heal[0].time)


def fault_windows(history: History) -> list[FaultWindow]:
    """Every fault injected in ``history``, in injection order, with its probe's evidence."""
    open_: list[_Open] = []
    done: list[tuple[Op, FaultWindow]] = []

    def latest(name: str) -> int | None:
        # the latest open window of that name; a nameless op refers to the latest open window
        return next((i for i in range(len(open_) - 1, -1, -1) if not name or open_[i].name == name), None)

    for invoke, completion in history.pairs():
        if invoke.process != NEMESIS or completion is None:
            continue
        name = _field(invoke.value, "name")
        if invoke.f == "probe" and (k := latest(name)) is not None and not open_[k].in_effect:
            shown = completion.type == "ok"
            open_[k].in_effect = shown
            open_[k].evidence = str((completion.value if shown else completion.error) or completion.type)
        if completion.type != "ok":
            continue
        if invoke.f == "inject":
            open_.append(_Open(invoke, name, _field(invoke.value, "kind"), _field(invoke.value, "target")))
        elif invoke.f == "heal" and (k := latest(name)) is not None:
            done.append((open_[k].inject, open_.pop(k).window((invoke, completion))))
    done += [(o.inject, o.window(None)) for o in open_]
    return [w for _, w in sorted(done, key=lambda item: item[0].index)]


def select_window(history: History, fault: str | None = None) -> FaultWindow | None:
    """The window named ``fault`` (the first such), or the first window when ``fault`` is None."""
    windows = fault_windows(history)
    if fault is None:
        return windows[0] if windows else None
    return next((w for w in windows if w.name == fault), None)


def matches(f_filter: str | Iterable[str] | None, f: str) -> bool:
    """True when op name ``f`` passes the filter (None passes everything)."""
    if f_filter is None:
        return True
    if isinstance(f_filter, str):
        return f == f_filter
    return f in set(f_filter)


def client_pairs(history: History, f: str | Iterable[str] | None = None) -> list[Pair]:
    """Client ops (not nemesis, not drill, not ``not-sent``) whose name passes ``f``, by invoke time."""
    chosen = [(i, c) for i, c in history.pairs() if i.process not in NON_CLIENT and matches(f, i.f)
              and (c is None or c.type != NOT_SENT)]
    return sorted(chosen, key=lambda pair: (pair[0].time, pair[0].index))


def in_phase(pairs: list[Pair], window: FaultWindow, phase: str) -> list[Pair]:
    """The pairs whose invoke time falls in ``phase`` of ``window``."""
    return [pair for pair in pairs if window.phase_of(pair[0].time) == phase]


def latency_s(pair: Pair, end_of_history: float) -> float:
    """Completion minus invoke; an op that never completed counts as (end of history - invoke)."""
    invoke, completion = pair
    return (completion.time if completion is not None else end_of_history) - invoke.time


def is_ok(pair: Pair) -> bool:
    """True when the op completed ok (fail, info and never-completed are not ok)."""
    return pair[1] is not None and pair[1].type == "ok"


def phase_pairs(history: History, f: FOp, fault: str | None, phase: str,
                window: FaultWindow | None = None) -> tuple[list[Pair], str]:
    """The client pairs invoked in ``phase`` of the window (given, named or first) and its label."""
    window = window or select_window(history, fault)
    if window is None:
        return [], "no fault window in the history"
    pairs = in_phase(client_pairs(history, f), window, phase)
    return pairs, f"{phase} {window.name}"


def error_rate(history: History, *, f: FOp = None, fault: str | None = None, phase: str = "during",
               window: FaultWindow | None = None) -> Measurement:
    """Percent of ops invoked in ``phase`` that did not complete ok."""
    pairs, label = phase_pairs(history, f, fault, phase, window)
    if not pairs:
        return Measurement(None, "%", f"no client ops invoked {label}")
    bad = sum(1 for p in pairs if not is_ok(p))
    return Measurement(100.0 * bad / len(pairs), "%", f"{bad} of {len(pairs)} ops invoked {label} failed, "
                       f"were indeterminate or never completed")


def availability(history: History, *, f: FOp = None, fault: str | None = None, phase: str = "during",
                 window: FaultWindow | None = None) -> Measurement:
    """Percent of ops invoked in ``phase`` that completed ok."""
    rate = error_rate(history, f=f, fault=fault, phase=phase, window=window)
    if rate.value is None:
        return rate
    return Measurement(100.0 - rate.value, "%", rate.explanation)


def quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def latency_quantile(history: History, q: float, *, f: FOp = None, fault: str | None = None,
                     phase: str = "during", window: FaultWindow | None = None) -> Measurement:
    """The ``q`` latency quantile in ms of ops invoked in ``phase``; a lower bound when a
    never-completed op ranks at or below it (see the module docstring)."""
    pairs, label = phase_pairs(history, f, fault, phase, window)
    if not pairs:
        return Measurement(None, "ms", f"no client ops invoked {label}")
    end = history.end_time()
    value = quantile([latency_s(p, end) * 1000.0 for p in pairs], q)
    hung = [latency_s(p, end) * 1000.0 for p in pairs if p[1] is None]
    what = (f"p{format_number(q * 100)} of {len(pairs)} ops invoked {label} "
            f"(t={format_number(pairs[0][0].time)}..{format_number(pairs[-1][0].time)} s)")
    if any(bound <= value for bound in hung):
        return Measurement(None, "ms", f"{what} is at least {format_number(value)} ms: {len(hung)} op(s) "
                           f"never completed by the end of history at {_t(end)}, so their latency and "
                           f"the quantile are only lower bounds", at_least=value)
    note = f"; {len(hung)} never completed, all slower than the quantile" if hung else ""
    return Measurement(value, "ms", f"{what}{note}")
