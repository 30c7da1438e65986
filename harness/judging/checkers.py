"""Checkers: pure functions of a History that measure, and ``check`` that judges an Objective.

Each measurement returns a ``Measurement`` (value or None, unit, and an explanation naming the
times that justify it). ``value=None`` means no evidence; ``at_least`` then carries a lower
bound when the history ended before the thing happened (e.g. never recovered), which fails a
maximum it already exceeds and is otherwise unknown. ``check`` turns every limit of an objective
into one Verdict; a measurement that raises gives ``unknown``, never a pass. Definitions:

- lost writes: ids acknowledged (``ok`` no later than ``read_at``) but absent from ``observed``;
  ``info``/never-completed/late-acknowledged writes are indeterminate, may be present or not
  (present ones are ``recovered_from_info``); ``unexpected`` ids were read back but never
  attempted or definitely failed.
- RPO in seconds: from the invoke of the oldest lost acknowledged write to the completion of the
  newest lost one (the span of acknowledged work that is gone); 0 when nothing is lost.
- recovery time (``rto``): from the start of the heal (``heal_began_at``: the restart, unpause or
  proxy enable was asked for) to the completion of the first of ``consecutive`` client ops in a
  row that completed ok, among the ops invoked at/after that start, in the order their answers
  came (completion order; never-completed ops last): clients saw answers ok from then on.
  ``rto_from_inject`` counts from ``injected_at`` and only from the first failed op after it.
- availability / error rate / latency quantiles per phase: see harness/judging/phases.py (re-exported
  here); an op's phase is decided by its invoke time, never-completed ops are errors, and a
  latency quantile on which a never-completed op ranks is a lower bound (fails a maximum it
  exceeds, else unknown).
- 5xx rate / degraded rate per phase (``max_5xx_rate_<phase>``, ``max_degraded_rate_<phase>``):
  see harness/judging/responses.py: % of the ops invoked in the phase that an HTTP workload
  recorded answered with a status >= 500 / with the ``X-Degraded`` mark; UNKNOWN when no op of the
  phase recorded a status. Unclean error rate (``max_unclean_error_rate_<phase>``): % of the ops
  of the phase that neither succeeded nor were refused cleanly (a 503 with ``Retry-After``).
- achieved rate per phase (``min_achieved_rate_<phase>``): attempts sent / scheduled in the phase
  in % (harness/judging/rates.py); never turned UNKNOWN by the rate gate, it is what the gate reads.
- steady state after heal: from the heal to the invoke of the first of ``consecutive`` ops in a
  row that are ok AND no slower than max(2 x before-fault p99, before-fault p99 + 5 ms).
- observed outage: from the invoke of the first failed op at/after the inject to the invoke of
  the first of ``consecutive`` ok ops after it (resolution: the probe interval);
  ``outage_accuracy`` = |observed outage - (healed_at - injected_at)|.
- drills (harness/judging/drills.py; the latest drill in the history): ``drill_rto`` is from the
  invoke of its ``disaster`` step to the ok completion of its ``verify`` step (the restored service
  answered verified reads through its proxy); ``lost_before_restore_point`` counts writes
  acknowledged (ok completion) no later than the invoke of its ``restore_point`` step that are
  absent from ``observed``; ``writes_after_restore_point`` counts ids in ``observed`` whose every
  invoke came at or after the completion of that step (PITR: nothing after the target survives).
  A drill's RPO is ``rpo_lost_writes``/``rpo`` above, with ``observed`` read after the restore.

No verdict without evidence (``check``):

- a limit on a fault window is judged only when the fault was shown in effect (its ``probe`` op
  completed ok, see harness/judging/phases.py); otherwise it is unknown, naming the fault and why;
- a recovery limit (``rto``, ``rto_from_inject``, ``steady_state_after_heal``,
  ``outage_accuracy``) also needs a disruption the clients saw: a client op in flight at the
  inject, invoked during the fault, or invoked after the heal until the first ok op, that failed,
  was indeterminate, never completed, was served degraded (its ok value carries
  ``degraded: true``), or took longer than max(2 x before-fault p99, before-fault p99 + 5 ms).
  Without one it is unknown ("nothing to recover from"). Limits on the fault phase (error rate,
  availability, latency) may pass with no client failure: a fault the service masked;
- with several fault windows every window is judged and the worst verdict is kept, naming its
  window; ``fault=`` names the windows to judge, and a name never injected is a ConfigError;
- write-loss limits are judged on the whole history, and are unknown when any fault in it was
  not shown in effect;
- not sent: an attempt completed ``not-sent`` (``harness.history.NOT_SENT``) was scheduled but
  never sent because every client was busy; it is in no measure above (``client_pairs`` leaves it
  out) and counts only in the achieved rate: a verdict whose span sent under 90 % of its scheduled
  attempts is UNKNOWN, with the reason, except a recovery time that meets its maximum (an upper
  bound met); harness/judging/rates.py says which span each limit uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable

from harness.errors import ConfigError
from harness.history import History
from harness.judging import rates
from harness.judging.drills import (drill_rto, lost_before_restore_point, present_after_restore_point,
                                    restore_point_loss)
from harness.judging.objectives import Limit, Objective
from harness.judging.phases import (FaultWindow, Pair, availability, client_pairs, error_rate, fault_windows,
                                    is_ok, latency_quantile, latency_s, quantile, select_window)
from harness.judging.responses import degraded_rate, http_5xx_rate, unclean_error_rate
from harness.judging.verdicts import FAIL, PASS, UNKNOWN, Measurement, Verdict, format_number

WRITE_FS = frozenset({"insert", "write", "set", "add"})
FOp = str | Iterable[str] | None
__all__ = ["FaultWindow", "Measurement", "WriteLoss", "availability", "check", "error_rate", "fault_windows",
           "judge", "latency_quantile", "lost_writes", "observed_outage", "outage_accuracy", "quantile",
           "recovery_time", "rpo", "steady_state_after_heal", "unexpected_writes", "write_loss"]
STEADY_FACTOR, STEADY_SLACK_MS = 2.0, 5.0


@dataclass(frozen=True)
class WriteLoss:
    """The accounting of written ids against the ids read back after recovery."""

    acknowledged: frozenset
    failed: frozenset
    indeterminate: frozenset
    lost: frozenset
    recovered_from_info: frozenset
    unexpected: frozenset
    rpo_s: float
    read_at: float | None
    noun: str  # "inserts", "writes": the op name, for explanations


def describe_ids(ids: Iterable[Any]) -> str:
    """'id 7', 'ids 295..300' for a contiguous run of ints, else the first few and a count."""
    try:
        items = sorted(ids)
    except TypeError:
        items = sorted(ids, key=repr)
    if len(items) == 1:
        return f"id {items[0]}"
    if items and all(isinstance(i, int) for i in items) and items[-1] - items[0] == len(items) - 1:
        return f"ids {items[0]}..{items[-1]}"
    shown = ", ".join(str(i) for i in items[:6])
    return f"ids {shown}" + (f", ... ({len(items)} in all)" if len(items) > 6 else "")


def _t(at: float) -> str:
    return f"t={format_number(at)} s"


def seconds(value: float | None, explanation: str, at_least: float | None = None) -> Measurement:
    """A measurement in seconds (``at_least``: a lower bound when ``value`` is None)."""
    return Measurement(value, "s", explanation, at_least=at_least)


def writes(value: float | None, explanation: str) -> Measurement:
    """A count of writes."""
    return Measurement(value, "writes", explanation)


def write_loss(history: History, observed: Iterable[Any], *, f: FOp = None,
               read_at: float | None = None) -> WriteLoss:
    """Compare the writes (ops named in ``f``, default insert/write/set/add) with ``observed``."""
    pairs = client_pairs(history, WRITE_FS if f is None else f)
    seen = frozenset(observed)
    ok_pairs: dict[Any, list[Pair]] = {}
    indeterminate, failed = set(), set()
    for invoke, completion in pairs:
        if completion is None or completion.type == "info":
            indeterminate.add(invoke.value)
        elif completion.type == "ok":
            if read_at is not None and completion.time > read_at:
                indeterminate.add(invoke.value)
            else:
                ok_pairs.setdefault(invoke.value, []).append((invoke, completion))
        else:
            failed.add(invoke.value)
    acknowledged = frozenset(ok_pairs)
    indeterminate -= acknowledged
    lost = acknowledged - seen
    lost_pairs = [p for i in lost for p in ok_pairs[i]]
    rpo_s = (max(c.time for _, c in lost_pairs) - min(i.time for i, _ in lost_pairs)) if lost_pairs else 0.0
    names = sorted({i.f for i, _ in pairs})
    return WriteLoss(acknowledged=acknowledged, failed=frozenset(failed - acknowledged - indeterminate),
                     indeterminate=frozenset(indeterminate), lost=lost,
                     recovered_from_info=frozenset(indeterminate & seen),
                     unexpected=frozenset(seen - acknowledged - indeterminate), rpo_s=rpo_s,
                     read_at=read_at, noun=f"{names[0]}s" if len(names) == 1 else "writes")


def lost_writes(loss: WriteLoss) -> Measurement:
    """How many acknowledged writes are missing from the read-back (unit: writes)."""
    at = f" at {_t(loss.read_at)}" if loss.read_at is not None else ""
    if not loss.acknowledged:
        return writes(None, f"no acknowledged {loss.noun} in the history, so no loss can be shown")
    if loss.lost:
        return writes(float(len(loss.lost)), f"{len(loss.lost)} acknowledged {loss.noun} "
                      f"({describe_ids(loss.lost)}) missing after recovery{at}")
    extra = f"; {len(loss.recovered_from_info)} of {len(loss.indeterminate)} indeterminate also present" \
        if loss.indeterminate else ""
    return writes(0.0, f"all {len(loss.acknowledged)} acknowledged {loss.noun} read back{at}{extra}")


def rpo(loss: WriteLoss) -> Measurement:
    """The span of lost acknowledged work in seconds (see the module docstring)."""
    if not loss.acknowledged:
        return seconds(None, f"no acknowledged {loss.noun} in the history, so no loss can be shown")
    if not loss.lost:
        return seconds(0.0, f"no acknowledged {loss.noun} lost of {len(loss.acknowledged)}")
    return seconds(loss.rpo_s, f"{len(loss.lost)} lost acknowledged {loss.noun} "
                   f"({describe_ids(loss.lost)}) span {format_number(loss.rpo_s)} s")


def unexpected_writes(loss: WriteLoss) -> Measurement:
    """How many ids were read back that were never attempted or definitely failed."""
    if not (loss.acknowledged or loss.indeterminate or loss.failed):
        return writes(None, f"no {loss.noun} attempted in the history")
    if loss.unexpected:
        return writes(float(len(loss.unexpected)), f"{len(loss.unexpected)} ids read back that were "
                      f"never acknowledged or failed ({describe_ids(loss.unexpected)})")
    return writes(0.0, "every id read back was written")


def _completed_at(pair: Pair) -> float:
    return math.inf if pair[1] is None else pair[1].time


def _streak(pairs: list[Pair], n: int, good: Callable[[Pair], bool]) -> int | None:
    """Index of the first op of the first run of ``n`` consecutive good ops, or None."""
    run = 0
    for index, pair in enumerate(pairs):
        run = run + 1 if good(pair) else 0
        if run >= n:
            return index - n + 1
    return None


def recovery_time(history: History, *, f: FOp = None, fault: str | None = None, consecutive: int = 3,
                  since: str = "heal", window: FaultWindow | None = None) -> Measurement:
    """Seconds from the heal (or inject) to the first of ``consecutive`` ok ops in a row."""
    window = window or select_window(history, fault)
    if window is None:
        return seconds(None, f"no fault {fault or ''} was injected in the history".replace("  ", " "))
    if since == "heal" and window.healed_at is None:
        return seconds(None, f"fault {window.name} was never healed")
    ref = window.recovery_from if since == "heal" else window.injected_at
    assert ref is not None
    pairs = [p for p in client_pairs(history, f) if p[0].time >= ref]
    if not pairs:
        return seconds(None, f"no client op invoked after the {since} at {_t(ref)}")
    if since == "inject":
        first_bad = next((k for k, p in enumerate(pairs) if not is_ok(p)), None)
        if first_bad is None:
            return seconds(0.0, f"all {len(pairs)} ops after the inject at {_t(ref)} succeeded")
        pairs = pairs[first_bad:]
    # in the order the clients saw the answers: an op whose connect was sent while a container
    # was still starting waits for a SYN retransmit (1 s) and answers ok long after later ops
    # were served or refused; a never-completed op was never seen, so it comes last
    seen = sorted(pairs, key=_completed_at)
    start = _streak(seen, consecutive, is_ok)
    if start is None:
        end = history.end_time()
        return seconds(None, f"no {consecutive} ok ops in a row after the {since} at {_t(ref)}; "
                       f"history ends at {_t(end)}", at_least=end - ref)
    done = _completed_at(seen[start])
    began = "began at" if since == "heal" and window.heal_began_at is not None else "at"
    return seconds(done - ref, f"{window.name} {since} {began} {_t(ref)}, {consecutive} ok ops in a row, "
                   f"the first served at {_t(done)}")


def slow_limit_ms(history: History, window: FaultWindow, f: FOp = None) -> tuple[float | None, str]:
    """The latency above which an op counts as disrupted: max(2 x before p99, before p99 + 5 ms)."""
    baseline = latency_quantile(history, 0.99, f=f, window=window, phase="before")
    if baseline.value is None:
        return None, f"no baseline: {baseline.explanation}"
    return max(baseline.value * STEADY_FACTOR, baseline.value + STEADY_SLACK_MS), \
        f"before-fault p99 {format_number(baseline.value)} ms"


def disruption(history: History, window: FaultWindow, *, f: FOp = None) -> str | None:
    """What the clients saw of ``window``'s fault (see the module docstring), or None if nothing."""
    end = history.end_time()
    healed = window.healed_at if window.healed_at is not None else end
    slow_ms, _ = slow_limit_ms(history, window, f)
    pairs = client_pairs(history, f)
    after = [p for p in pairs if p[0].time >= healed]
    first_ok_after = next((p[0].time for p in after if is_ok(p)), end)
    for invoke, completion in pairs:
        done = completion.time if completion is not None else math.inf
        touched = (window.injected_at <= invoke.time < healed or invoke.time < window.injected_at < done
                   or healed <= invoke.time <= first_ok_after)
        if not touched:
            continue
        what = f"{invoke.f} invoked at {_t(invoke.time)}"
        if completion is None:
            return f"{what} never completed"
        if completion.type != "ok":
            return f"{what} ended {completion.type}"
        if isinstance(completion.value, dict) and completion.value.get("degraded"):
            return f"{what} was served degraded"
        took_ms = (completion.time - invoke.time) * 1000.0
        if slow_ms is not None and took_ms > slow_ms:
            return f"{what} took {format_number(took_ms)} ms, over {format_number(slow_ms)} ms"
    return None


def steady_state_after_heal(history: History, *, f: FOp = None, fault: str | None = None,
                            consecutive: int = 3, window: FaultWindow | None = None) -> Measurement:
    """Seconds from the heal until ops are ok and as fast as before the fault (see module docstring)."""
    window = window or select_window(history, fault)
    if window is None or window.healed_at is None:
        return seconds(None, "no healed fault window in the history")
    limit_ms, baseline_text = slow_limit_ms(history, window, f)
    if limit_ms is None:
        return seconds(None, baseline_text)
    end = history.end_time()
    pairs = [p for p in client_pairs(history, f) if p[0].time >= window.healed_at]
    start = _streak(pairs, consecutive, lambda p: is_ok(p) and latency_s(p, end) * 1000.0 <= limit_ms)
    if start is None:
        return seconds(None, f"no {consecutive} ok ops within {format_number(limit_ms)} ms in a row after "
                       f"the heal at {_t(window.healed_at)} by the end at {_t(end)}", at_least=end - window.healed_at)
    began = pairs[start][0].time
    return seconds(began - window.healed_at, f"heal at {_t(window.healed_at)}; from {_t(began)} "
                   f"{consecutive} ok ops in a row within {format_number(limit_ms)} ms ({baseline_text})")


def observed_outage(history: History, *, f: FOp = None, fault: str | None = None,
                    consecutive: int = 3, window: FaultWindow | None = None) -> Measurement:
    """Seconds the clients saw the service down: first failed invoke to the first of N ok invokes."""
    window = window or select_window(history, fault)
    if window is None:
        return seconds(None, "no fault window in the history")
    pairs = [p for p in client_pairs(history, f) if p[0].time >= window.injected_at]
    first_bad = next((k for k, p in enumerate(pairs) if not is_ok(p)), None)
    if first_bad is None:
        if not pairs:
            return seconds(None, f"no client op invoked after the inject at {_t(window.injected_at)}")
        return seconds(0.0, f"all {len(pairs)} ops after the inject at {_t(window.injected_at)} succeeded")
    down = pairs[first_bad][0].time
    start = _streak(pairs[first_bad:], consecutive, is_ok)
    if start is None:
        end = history.end_time()
        return seconds(None, f"down from {_t(down)}, no {consecutive} ok ops in a row by the end at {_t(end)}",
                       at_least=end - down)
    up = pairs[first_bad + start][0].time
    return seconds(up - down, f"first failed op invoked at {_t(down)}, first of {consecutive} ok ops "
                   f"invoked at {_t(up)}")


def outage_accuracy(history: History, *, f: FOp = None, fault: str | None = None,
                    consecutive: int = 3, window: FaultWindow | None = None) -> Measurement:
    """|observed outage - injected outage| in seconds."""
    window = window or select_window(history, fault)
    if window is None or window.duration_s is None:
        return seconds(None, "no healed fault window in the history")
    seen = observed_outage(history, f=f, consecutive=consecutive, window=window)
    if seen.value is None:
        worse = None if seen.at_least is None else seen.at_least - window.duration_s
        return seconds(None, seen.explanation, at_least=worse if worse and worse > 0 else None)
    return seconds(abs(seen.value - window.duration_s), f"observed outage {format_number(seen.value)} s vs "
                   f"injected {format_number(window.duration_s)} s: {seen.explanation}")


@dataclass(frozen=True)
class CheckContext:
    """The evidence ``check`` passes to every measure."""

    history: History
    f: FOp
    observed: Iterable[Any] | None
    read_at: float | None
    consecutive: int
    window: FaultWindow | None = None

    def loss(self) -> WriteLoss | None:
        if self.observed is None:
            return None
        return write_loss(self.history, self.observed, f=self.f, read_at=self.read_at)


def _loss_measure(measure: Callable[[WriteLoss], Measurement], unit: str, ctx: CheckContext) -> Measurement:
    """``measure`` on the write-loss accounting, or no evidence when no read-back was recorded."""
    loss = ctx.loss()
    if loss is None:
        return Measurement(None, unit, "no read-back after recovery was recorded (pass observed=...)")
    return measure(loss)


def _restore_point_measure(measure: Callable[[Any], Measurement], ctx: CheckContext) -> Measurement:
    if ctx.observed is None:
        return Measurement(None, "writes", "no read-back after the restore was recorded (pass observed=...)")
    return measure(restore_point_loss(ctx.history, ctx.observed, f=ctx.f))


def _http_5xx_measure(lim: Limit, c: CheckContext) -> Measurement:
    return http_5xx_rate(c.history, f=c.f, phase=lim.phase or "during", window=c.window)


def _degraded_measure(lim: Limit, c: CheckContext) -> Measurement:
    return degraded_rate(c.history, f=c.f, phase=lim.phase or "during", window=c.window)


def _unclean_measure(lim: Limit, c: CheckContext) -> Measurement:
    return unclean_error_rate(c.history, f=c.f, phase=lim.phase or "during", window=c.window)


def _achieved_measure(lim: Limit, c: CheckContext) -> Measurement:
    return rates.achieved_share(c.history, f=c.f, phase=lim.phase or "during", window=c.window)


MEASURES: dict[str, Callable[[Limit, CheckContext], Measurement]] = {
    "rpo_lost_writes": lambda lim, c: _loss_measure(lost_writes, "writes", c),
    "rpo": lambda lim, c: _loss_measure(rpo, "s", c),
    "unexpected_writes": lambda lim, c: _loss_measure(unexpected_writes, "writes", c),
    "rto": lambda lim, c: recovery_time(c.history, f=c.f, consecutive=c.consecutive, window=c.window),
    "rto_from_inject": lambda lim, c: recovery_time(c.history, f=c.f, consecutive=c.consecutive,
                                                    since="inject", window=c.window),
    "error_rate": lambda lim, c: error_rate(c.history, f=c.f, phase=lim.phase or "during", window=c.window),
    "availability": lambda lim, c: availability(c.history, f=c.f, phase=lim.phase or "during",
                                                window=c.window),
    "latency": lambda lim, c: latency_quantile(c.history, lim.quantile or 0.99, f=c.f,
                                               phase=lim.phase or "during", window=c.window),
    "steady_state_after_heal": lambda lim, c: steady_state_after_heal(c.history, f=c.f,
                                                                      consecutive=c.consecutive,
                                                                      window=c.window),
    "outage_accuracy": lambda lim, c: outage_accuracy(c.history, f=c.f, consecutive=c.consecutive,
                                                      window=c.window),
    "http_5xx_rate": _http_5xx_measure,
    "degraded_rate": _degraded_measure,
    "achieved_rate": _achieved_measure,
    "unclean_error_rate": _unclean_measure,
    "drill_rto": lambda lim, c: drill_rto(c.history),
    "lost_before_restore_point": lambda lim, c: _restore_point_measure(lost_before_restore_point, c),
    "writes_after_restore_point": lambda lim, c: _restore_point_measure(present_after_restore_point, c),
}
"""metric -> measure; ``check`` looks measures up here (tests replace one to simulate a crash)."""


LOSS_METRICS = frozenset({"rpo_lost_writes", "rpo", "unexpected_writes"})
RECOVERY_METRICS = frozenset({"rto", "rto_from_inject", "steady_state_after_heal", "outage_accuracy"})
DRILL_METRICS = frozenset({"drill_rto", "lost_before_restore_point", "writes_after_restore_point"})


def judge(objective_id: str, limit: Limit, m: Measurement) -> Verdict:
    """The verdict of ``m`` against ``limit``: pass, fail, or unknown when nothing was measured.

    A lower bound (``at_least``) fails a maximum it already exceeds and meets a minimum it already
    reaches; otherwise it is unknown.
    """
    if m.unit != limit.unit:
        raise ValueError(f"measure for {limit.name} gave {m.unit!r}, the limit is in {limit.unit!r}")
    value, validity = m.value, UNKNOWN
    if value is None:
        if m.at_least is not None and limit.bound == "max" and m.at_least > limit.value + 1e-9:
            value, validity = m.at_least, FAIL
        elif m.at_least is not None and limit.bound == "min" and m.at_least >= limit.value - 1e-9:
            value, validity = m.at_least, PASS
    elif limit.bound == "max":
        validity = PASS if value <= limit.value + 1e-9 else FAIL
    else:
        validity = PASS if value >= limit.value - 1e-9 else FAIL
    measured = None if value is None else round(value, 6)
    return Verdict(objective_id, limit.name, limit.value, measured, limit.unit, validity, m.explanation)


def _unknown(objective_id: str, limit: Limit, explanation: str) -> Verdict:
    return Verdict(objective_id, limit.name, limit.value, None, limit.unit, UNKNOWN, explanation)


def _measured(objective_id: str, limit: Limit, ctx: CheckContext) -> Verdict:
    try:
        return judge(objective_id, limit, MEASURES[limit.metric](limit, ctx))
    except Exception as exc:  # a crashing checker is no evidence, never a pass
        return _unknown(objective_id, limit, f"checker crashed: {type(exc).__name__}: {exc}")


def _on_window(objective_id: str, limit: Limit, ctx: CheckContext, window: FaultWindow) -> Verdict:
    """One limit judged on one fault window: the fault must be shown in effect, and a recovery
    limit needs a disruption the clients saw."""
    if not window.in_effect:
        return _unknown(objective_id, limit, f"fault {window.name} was not shown in effect: {window.evidence}")
    if limit.metric in RECOVERY_METRICS:
        try:
            seen = disruption(ctx.history, window, f=ctx.f)
        except Exception as exc:
            return _unknown(objective_id, limit, f"checker crashed: {type(exc).__name__}: {exc}")
        if seen is None:
            return _unknown(objective_id, limit, f"nothing to recover from: fault {window.name} was in effect "
                            f"({window.evidence}) but no client op failed, hung, slowed or was served "
                            f"degraded")
    verdict = _measured(objective_id, limit, replace(ctx, window=window))
    short = rates.deficit(ctx.history, limit, f=ctx.f, window=window, measured=verdict.measured,
                          validity=verdict.validity)
    return verdict if short is None else replace(verdict, validity=UNKNOWN, explanation=f"{short}; {verdict.explanation}")


def _badness(v: Verdict, limit: Limit) -> tuple[int, float]:
    severity = {PASS: 0, UNKNOWN: 1, FAIL: 2}[v.validity]
    measured = v.measured if v.measured is not None else 0.0
    return severity, (measured if limit.bound == "max" else -measured)


def _worst(limit: Limit, verdicts: list[tuple[FaultWindow, Verdict]]) -> Verdict:
    """The worst verdict over every window, the window named when there are several."""
    if len(verdicts) == 1:
        return verdicts[0][1]
    k, (window, worst) = max(enumerate(verdicts), key=lambda item: _badness(item[1][1], limit))
    others = ", ".join(f"{w.name}: {v.validity}" for j, (w, v) in enumerate(verdicts) if j != k)
    return replace(worst, explanation=f"worst of {len(verdicts)} fault windows, window {k + 1} "
                                      f"({window.name}): {worst.explanation} [others: {others}]")


def check(objective: Objective, history: History, *, f: FOp = None, observed: Iterable[Any] | None = None,
          read_at: float | None = None, consecutive: int = 3, fault: str | None = None) -> list[Verdict]:
    """One verdict per limit of ``objective``; a measure that raises gives an unknown verdict.

    Limits on a fault window are judged on every window (or every window of the fault named
    ``fault``) and the worst verdict is kept; naming a fault that was never injected is a
    ``ConfigError``. Write-loss limits are judged on the whole history, and are unknown when a
    fault in it was not shown in effect.
    """
    windows = fault_windows(history)
    chosen = windows if fault is None else [w for w in windows if w.name == fault]
    if fault is not None and not chosen:
        names = ", ".join(sorted({w.name for w in windows})) or "none"
        raise ConfigError(f"fault {fault!r} was never injected in this history (fault windows: {names})",
                          where=f"check({objective.id!r}, fault=...)",
                          fix="name a fault from the list, exactly as str(fault) prints it, or leave fault= out")
    ctx = CheckContext(history, f, None if observed is None else list(observed), read_at, consecutive)
    verdicts = []
    for limit in objective.limits:
        if limit.metric in LOSS_METRICS:
            unshown = next((w for w in windows if not w.in_effect), None)
            verdicts.append(_measured(objective.id, limit, ctx) if unshown is None else _unknown(
                objective.id, limit, f"fault {unshown.name} was not shown in effect, so the loss it "
                                     f"should have caused is not evidence: {unshown.evidence}"))
        elif not chosen or limit.metric in DRILL_METRICS:   # drill limits are judged on the drill's steps
            verdicts.append(_measured(objective.id, limit, ctx))
        else:
            verdicts.append(_worst(limit, [(w, _on_window(objective.id, limit, ctx, w)) for w in chosen]))
    return verdicts
