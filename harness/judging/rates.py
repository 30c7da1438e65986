"""Achieved rates: how many of the attempts a workload scheduled were actually sent, per phase.

Open-loop workloads (harness/workloads/base.py) record every scheduled attempt: an invoke at its
scheduled time, completed ok/fail/info once sent, or ``not-sent`` (``harness.history.NOT_SENT``)
when every client was busy. So for any span of time the history says how many attempts were
asked for (scheduled) and how many were sent. Pure functions of a History; no Docker.

- scheduled / sent / not sent in a span: client ops (not nemesis, not drill) whose invoke
  (= scheduled) time falls in ``[t0, t1)``; never-completed ops count as sent.
- asked / achieved rate (Hz): scheduled / seconds and sent / seconds, the seconds being the part
  of the span the workloads were scheduling in (from their first to one slot past their last
  scheduled op); ``share`` = sent / scheduled.
- achieved share of a phase (the limit ``min_achieved_rate_<phase>``): sent / scheduled of the
  phase in %, i.e. the achieved rate as a share of the asked rate: 95 % says the workload drove
  the service within 5 % of the rate asked. No attempt scheduled in the phase is no evidence.
- a span is *deficient* when its share is below ``MIN_SHARE`` (90 %): a verdict judged on it is
  turned UNKNOWN by ``check`` (harness/judging/checkers.py), because what the clients did not send
  was not measured. Which span a limit is judged on: the limit's phase for error rate,
  availability, latency, 5xx, degraded and unclean error rates; for ``rto`` and ``steady_state_after_heal`` the span from the heal to
  the measured recovery (the after phase if nothing was measured); for ``rto_from_inject`` the
  span from the inject to the measured recovery; for ``outage_accuracy`` the during phase. Loss
  and RPO limits are judged on read-backs, not rates, and are never gated. A recovery time
  measured over a deficient span is an upper bound (the service may have answered attempts that
  were not sent), so it still passes a maximum it meets, and only a breach turns UNKNOWN.

    rates = phase_rates(history, f="insert")        # {"before": SpanRate, "during": ..., "after": ...}
    rates["during"].share                            # 0.17: 17 % of the asked attempts were sent
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

from harness.history import NOT_SENT, History, Op
from harness.judging.objectives import Limit
from harness.judging.phases import NON_CLIENT, FaultWindow, matches, select_window
from harness.judging.verdicts import Measurement, format_number

MIN_SHARE = 0.9
"""A span whose clients sent less than this share of the attempts they scheduled is deficient."""

PHASES = ("before", "during", "after")
UPPER_BOUNDS = frozenset({"rto", "rto_from_inject", "steady_state_after_heal"})
FOp = str | Iterable[str] | None
__all__ = ["MIN_SHARE", "SpanRate", "achieved_share", "deficit", "limit_span", "phase_rates", "rates_by_process", "span_rate"]


@dataclass(frozen=True)
class SpanRate:
    """Attempts scheduled and sent in ``[start, end)`` (run seconds) and the rates they make."""

    label: str
    start: float
    end: float
    scheduled: int
    sent: int
    seconds: float  # the part of the span the workloads were scheduling in

    @property
    def not_sent(self) -> int:
        return self.scheduled - self.sent

    @property
    def share(self) -> float | None:
        """sent / scheduled, None when nothing was scheduled."""
        return self.sent / self.scheduled if self.scheduled else None

    @property
    def asked_hz(self) -> float | None:
        return self.scheduled / self.seconds if self.seconds > 0 else None

    @property
    def achieved_hz(self) -> float | None:
        return self.sent / self.seconds if self.seconds > 0 else None

    @property
    def deficient(self) -> bool:
        return self.share is not None and self.share < MIN_SHARE

    def to_dict(self) -> dict[str, Any]:
        """The report's record of this span."""
        def r(x: float | None) -> float | None:
            return None if x is None or not math.isfinite(x) else round(x, 3)
        return {"start": r(self.start), "end": r(self.end), "scheduled": self.scheduled, "sent": self.sent,
                "not_sent": self.not_sent, "asked_hz": r(self.asked_hz), "achieved_hz": r(self.achieved_hz),
                "share": None if self.share is None else round(self.share, 4), "deficient": self.deficient}

    def __str__(self) -> str:
        if not self.scheduled:
            return f"no attempts scheduled {self.label}"
        hz = (f" ({format_number(self.achieved_hz)}/s of {format_number(self.asked_hz)}/s asked)"
              if self.asked_hz is not None and self.achieved_hz is not None else "")
        return (f"{self.sent} of {self.scheduled} attempts scheduled {self.label} were sent "
                f"({format_number(100.0 * (self.share or 0.0))} %){hz}")


def _scheduled(history: History, f: FOp) -> list[tuple[Op, bool]]:
    """(invoke, sent) for every client attempt whose name passes ``f``, by scheduled time."""
    out = [(i, c is None or c.type != NOT_SENT) for i, c in history.pairs()
           if i.process not in NON_CLIENT and matches(f, i.f)]
    return sorted(out, key=lambda item: (item[0].time, item[0].index))


def _active_seconds(items: list[tuple[Op, bool]], start: float, end: float) -> float:
    """Seconds of ``[start, end)`` inside each process's scheduling span, summed per process.

    Per process: from its first scheduled op to one slot (its median gap) past its last. Several
    processes in the same span are averaged, so the Hz figures read per workload.
    """
    by_process: dict[str, list[float]] = {}
    for op, _ in items:
        by_process.setdefault(op.process, []).append(op.time)
    spans = []
    for times in by_process.values():
        gaps = sorted(b - a for a, b in zip(times, times[1:]) if b > a)
        slot = gaps[len(gaps) // 2] if gaps else 0.0
        lo, hi = max(start, times[0]), min(end, times[-1] + slot)
        spans.append(max(0.0, hi - lo))
    return sum(spans) / len(spans) if spans else 0.0


def span_rate(history: History, start: float, end: float, *, f: FOp = None, label: str = "") -> SpanRate:
    """Scheduled and sent attempts with scheduled time in ``[start, end)``."""
    items = _scheduled(history, f)
    inside = [(op, sent) for op, sent in items if start <= op.time < end]
    seconds = _active_seconds(items, start, end) if inside else 0.0
    return SpanRate(label or f"in t={format_number(start)}..{format_number(end)} s", start, end,
                    len(inside), sum(1 for _, sent in inside if sent), seconds)


def _phase_bounds(window: FaultWindow, phase: str, end: float) -> tuple[float, float]:
    healed = window.healed_at if window.healed_at is not None else end
    return {"before": (float("-inf"), window.injected_at), "during": (window.injected_at, healed),
            "after": (healed, float("inf"))}[phase]


def phase_rates(history: History, *, f: FOp = None, fault: str | None = None) -> dict[str, SpanRate]:
    """Before, during and after the fault (the first, or the one named): attempts scheduled and sent."""
    window = select_window(history, fault)
    if window is None:
        return {}
    end = history.end_time()
    out = {}
    for phase in PHASES:
        if phase == "after" and window.healed_at is None:
            continue
        lo, hi = _phase_bounds(window, phase, end)
        out[phase] = span_rate(history, lo, hi, f=f, label=f"{phase} {window.name}")
    return out


def achieved_share(history: History, *, f: FOp = None, fault: str | None = None, phase: str = "during",
                   window: FaultWindow | None = None) -> Measurement:
    """Attempts sent as a percent of those scheduled in ``phase`` (achieved / asked rate)."""
    window = window or select_window(history, fault)
    if window is None:
        return Measurement(None, "%", "no fault window in the history")
    lo, hi = _phase_bounds(window, phase, history.end_time())
    span = span_rate(history, lo, hi, f=f, label=f"{phase} {window.name}")
    if span.share is None:
        return Measurement(None, "%", f"no attempts scheduled {span.label}")
    return Measurement(100.0 * span.share, "%", str(span))


def rates_by_process(history: History, *, fault: str | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """{process: {phase: SpanRate.to_dict()}} for the report (no fault: one "run" span)."""
    processes = sorted({i.process for i, _ in history.pairs() if i.process not in NON_CLIENT})
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for process in processes:
        sub = History(o for o in history.ops if o.process == process)
        spans = phase_rates(_with_nemesis(history, sub), fault=fault) if select_window(history, fault) \
            else {"run": span_rate(sub, float("-inf"), float("inf"), label="in the run")}
        out[process] = {phase: span.to_dict() for phase, span in spans.items()}
    return out


def _with_nemesis(history: History, sub: History) -> History:
    """``sub`` plus the nemesis ops of ``history``, re-indexed so that pairs still match."""
    keep = [o for o in history.ops if o.process in NON_CLIENT or o.process in {s.process for s in sub.ops}]
    index = {o.index: n for n, o in enumerate(keep)}
    return History(Op(index[o.index], o.time, o.process, o.type, o.f, o.value, o.error,
                      None if o.invoke_index is None else index.get(o.invoke_index)) for o in keep)


def limit_span(history: History, limit: Limit, *, f: FOp = None, fault: str | None = None,
               measured: float | None = None, window: FaultWindow | None = None) -> SpanRate | None:
    """The span a verdict on ``limit`` rests on (see the module docstring), or None if not gated."""
    window = window or select_window(history, fault)
    if window is None:
        return None
    end = history.end_time()
    metric = limit.metric
    if metric in ("error_rate", "availability", "latency", "http_5xx_rate", "degraded_rate",
                  "unclean_error_rate"):
        phase = limit.phase or "during"
        lo, hi = _phase_bounds(window, phase, end)
        return span_rate(history, lo, hi, f=f, label=f"{phase} {window.name}")
    if metric in ("rto", "steady_state_after_heal"):
        if window.healed_at is None:
            return None
        lo = window.healed_at if metric == "steady_state_after_heal" else window.recovery_from
        assert lo is not None
        if measured is None:
            return span_rate(history, lo, float("inf"), f=f, label=f"after {window.name}")
        hi = lo + max(measured, 0.0)
        return span_rate(history, lo, hi + 1e-9, f=f,
                         label=f"between the heal and the recovery (t={format_number(lo)}.."
                               f"{format_number(hi)} s)")
    if metric == "rto_from_inject":
        hi = end if measured is None else window.injected_at + max(measured, 0.0)
        return span_rate(history, window.injected_at, hi + 1e-9, f=f,
                         label=f"between the inject and the recovery (t={format_number(window.injected_at)}.."
                               f"{format_number(hi)} s)")
    if metric == "outage_accuracy":
        lo, hi = _phase_bounds(window, "during", end)
        return span_rate(history, lo, hi, f=f, label=f"during {window.name}")
    return None


def deficit(history: History, limit: Limit, *, f: FOp = None, fault: str | None = None,
            measured: float | None = None, window: FaultWindow | None = None,
            validity: str | None = None) -> str | None:
    """Why a verdict on ``limit`` is no evidence (its span's rate is deficient), or None if it is.

    A passed maximum on a recovery time is evidence whatever the rate (an upper bound met)."""
    if validity == "pass" and limit.metric in UPPER_BOUNDS and limit.bound == "max":
        return None
    span = limit_span(history, limit, f=f, fault=fault, measured=measured, window=window)
    if span is None or not span.deficient:
        return None
    return (f"the clients could not keep the asked rate: {span}, below the "
            f"{format_number(100 * MIN_SHARE)} % needed to judge {limit.name}")
