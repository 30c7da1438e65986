"""What an HTTP service answered, per phase: the share of 5xx answers and of degraded answers.

HTTP workloads (harness/workloads/http.py) record on each answered op's completion the response's
``status`` and ``degraded`` (it carried ``X-Degraded``); see docs/report-schema.md. Pure functions
of a History; no Docker.

- 5xx rate of a phase: ops invoked in the phase (``not-sent`` left out, as everywhere) answered
  with a status of 500 or more, in % of all ops invoked in the phase. A 503 with ``Retry-After``
  (a clean refusal) is a 5xx too; the explanation counts them apart. Ops with no answer (refused,
  timed out, never completed) are in the denominator and are not 5xx: other limits (error rate,
  latency) judge them.
- degraded rate of a phase: ops invoked in the phase answered with the ``X-Degraded`` mark, in %
  of all ops invoked in the phase.
- unclean error rate of a phase: ops invoked in the phase that neither succeeded nor were refused
  cleanly (a 503 with ``Retry-After``), in % of all ops invoked in the phase: a 500, a timeout, a
  reset or an op that never completed is unclean. It needs no recorded status: for a workload
  that records none, every failure is unclean.
- no evidence (value None, so the verdict is UNKNOWN): no fault window, no op invoked in the
  phase, or (5xx and degraded rates only) no op of the phase recorded a status (not an HTTP
  workload, or nothing answered).

    http_5xx_rate(history, f="probe", phase="during")        # Measurement in %
    degraded_rate(history, f="probe", phase="after")
"""

from __future__ import annotations

from typing import Any

from harness.history import History
from harness.judging.phases import FOp, FaultWindow, Pair, phase_pairs, select_window
from harness.judging.verdicts import Measurement

__all__ = ["answered_status", "degraded_rate", "http_5xx_rate", "is_clean_refusal", "is_degraded",
           "unclean_error_rate"]


def answered_status(pair: Pair) -> int | None:
    """The HTTP status the op's completion recorded, or None (no answer, or not an HTTP op)."""
    completion = pair[1]
    value: Any = completion.value if completion is not None else None
    if not isinstance(value, dict):
        return None
    status = value.get("status")
    return status if isinstance(status, int) and not isinstance(status, bool) else None


def is_degraded(pair: Pair) -> bool:
    """True when the op was answered with the ``X-Degraded`` mark."""
    completion = pair[1]
    return (answered_status(pair) is not None and completion is not None
            and completion.value.get("degraded") is True)


def is_clean_refusal(pair: Pair) -> bool:
    """True when the op failed with a 503 that carried ``Retry-After`` (recorded ``clean``)."""
    completion = pair[1]
    return (completion is not None and completion.type == "fail" and answered_status(pair) == 503
            and completion.value.get("clean") is True)


def _answered(history: History, f: FOp, phase: str, window: FaultWindow | None,
              fault: str | None) -> tuple[list[Pair], int, str, str | None]:
    """The phase's pairs, how many recorded a status, the label, and why there is no evidence."""
    window = window or select_window(history, fault)
    if window is None:
        return [], 0, "", "no fault window in the history"
    pairs, label = phase_pairs(history, f, fault, phase, window)
    if not pairs:
        return pairs, 0, label, f"no client ops invoked {label}"
    answered = sum(1 for p in pairs if answered_status(p) is not None)
    if not answered:
        return pairs, 0, label, (f"none of the {len(pairs)} ops invoked {label} recorded an HTTP status "
                                 f"(not an HTTP workload, or nothing answered)")
    return pairs, answered, label, None


def http_5xx_rate(history: History, *, f: FOp = None, fault: str | None = None, phase: str = "during",
                  window: FaultWindow | None = None) -> Measurement:
    """Percent of ops invoked in ``phase`` that were answered with a 5xx status."""
    pairs, answered, label, missing = _answered(history, f, phase, window, fault)
    if missing is not None:
        return Measurement(None, "%", missing)
    statuses = [answered_status(p) for p in pairs]
    bad = [s for s in statuses if s is not None and s >= 500]
    clean = sum(1 for p in pairs if (answered_status(p) or 0) >= 500
                and p[1] is not None and p[1].value.get("clean") is True)
    return Measurement(100.0 * len(bad) / len(pairs), "%",
                       f"{len(bad)} of {len(pairs)} ops invoked {label} were answered 5xx "
                       f"({clean} of them a clean 503 with Retry-After); "
                       f"{len(pairs) - answered} got no answer")


def degraded_rate(history: History, *, f: FOp = None, fault: str | None = None, phase: str = "during",
                  window: FaultWindow | None = None) -> Measurement:
    """Percent of ops invoked in ``phase`` that were answered with the ``X-Degraded`` mark."""
    pairs, answered, label, missing = _answered(history, f, phase, window, fault)
    if missing is not None:
        return Measurement(None, "%", missing)
    marked = sum(1 for p in pairs if is_degraded(p))
    return Measurement(100.0 * marked / len(pairs), "%",
                       f"{marked} of {len(pairs)} ops invoked {label} were served degraded (X-Degraded); "
                       f"{answered} answered")


def unclean_error_rate(history: History, *, f: FOp = None, fault: str | None = None, phase: str = "during",
                       window: FaultWindow | None = None) -> Measurement:
    """Percent of ops invoked in ``phase`` that neither succeeded nor were refused cleanly."""
    window = window or select_window(history, fault)
    if window is None:
        return Measurement(None, "%", "no fault window in the history")
    pairs, label = phase_pairs(history, f, fault, phase, window)
    if not pairs:
        return Measurement(None, "%", f"no client ops invoked {label}")
    clean = sum(1 for p in pairs if is_clean_refusal(p))
    ok = sum(1 for p in pairs if p[1] is not None and p[1].type == "ok")
    unclean = len(pairs) - ok - clean
    return Measurement(100.0 * unclean / len(pairs), "%",
                       f"{unclean} of {len(pairs)} ops invoked {label} failed uncleanly (5xx without "
                       f"Retry-After, no answer, or never completed); {ok} ok, {clean} clean 503s")
