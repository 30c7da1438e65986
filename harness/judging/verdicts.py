"""Measurements and verdicts: what a checker measured, and one objective limit judged against it.

A ``Measurement`` is a value in a unit (None when there was no evidence) with the sentence that
justifies it; ``at_least`` is a lower bound when the history ended first (e.g. never recovered).

``pass`` means measured and met, ``fail`` means measured and breached, ``unknown`` means there
was no evidence (nothing measured, or the checker crashed) and is never silently a pass.
Several verdicts merge by severity: fail > unknown > pass.

    v = Verdict("pg-kill-durability", "rpo_lost_writes", 0.0, 6.0, "writes", "fail",
                "6 acknowledged inserts (ids 295..300) missing after recovery at t=12.41 s")
    str(v)  # FAIL pg-kill-durability rpo_lost_writes: measured 6 writes > limit 0 writes — 6 ...
    assert_met([v])  # AssertionError listing every failed verdict, one line each
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"
VALIDITIES = (PASS, FAIL, UNKNOWN)
_SEVERITY = {PASS: 0, UNKNOWN: 1, FAIL: 2}


def format_number(value: float) -> str:
    """A short human rendering: 12.41, 0.123, 250, 1500 (no trailing zeros, no exponent)."""
    if value != value:  # NaN
        return "nan"
    if abs(value) >= 100:
        text = f"{value:.1f}"
    elif abs(value) >= 1:
        text = f"{value:.3f}"
    else:
        text = f"{value:.4f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return "0" if text in ("-0", "") else text


@dataclass(frozen=True)
class Measurement:
    """A measured value in ``unit`` (None: no evidence) and the sentence that justifies it."""

    value: float | None
    unit: str
    explanation: str
    at_least: float | None = None  # lower bound when value is None because the history ended first


@dataclass(frozen=True)
class Verdict:
    """The judgement of one limit of one objective; ``str()`` is one line for a person."""

    objective: str
    metric: str
    limit: float
    measured: float | None
    unit: str
    validity: str  # "pass" | "fail" | "unknown"
    explanation: str

    def __post_init__(self) -> None:
        if self.validity not in VALIDITIES:
            raise ValueError(f"validity {self.validity!r} is not one of {', '.join(VALIDITIES)}")

    def to_dict(self) -> dict[str, Any]:
        """The report.json record: exactly objective, metric, limit, measured, unit, validity, explanation."""
        return {"objective": self.objective, "metric": self.metric, "limit": self.limit,
                "measured": self.measured, "unit": self.unit, "validity": self.validity,
                "explanation": self.explanation}

    @property
    def met(self) -> bool:
        """True only for a pass."""
        return self.validity == PASS

    def __str__(self) -> str:
        head = f"{self.validity.upper()} {self.objective} {self.metric}"
        limit = f"{format_number(self.limit)} {self.unit}"
        if self.measured is None:
            body = f"not measured (limit {limit})"
        else:
            measured = f"{format_number(self.measured)} {self.unit}"
            if self.measured == self.limit:
                op = "="
            elif self.validity == FAIL:
                op = ">" if self.measured > self.limit else "<"
            else:
                op = "<=" if self.measured < self.limit else ">="
            body = f"measured {measured} {op} limit {limit}"
        line = f"{head}: {body} — {self.explanation}" if self.explanation else f"{head}: {body}"
        return " ".join(line.split())


def _validity_of(item: Verdict | str) -> str:
    validity = item.validity if isinstance(item, Verdict) else item
    if validity not in _SEVERITY:
        raise ValueError(f"validity {validity!r} is not one of {', '.join(VALIDITIES)}")
    return validity


def merge_validity(items: Iterable[Verdict | str]) -> str:
    """The most severe validity (fail > unknown > pass); no verdicts at all is ``unknown``."""
    validities = [_validity_of(item) for item in items]
    if not validities:
        return UNKNOWN
    return max(validities, key=_SEVERITY.__getitem__)


def assert_met(verdicts: Iterable[Verdict], *, strict: bool = False) -> None:
    """Raise AssertionError listing every failed verdict (and every unknown one when ``strict``).

    An empty list also fails: a scenario that judged nothing has shown nothing.
    """
    __tracebackhide__ = True
    verdicts = list(verdicts)
    if not verdicts:
        raise AssertionError("no verdicts to assert: the scenario checked no objective limit")
    bad = {FAIL, UNKNOWN} if strict else {FAIL}
    broken = [v for v in verdicts if v.validity in bad]
    if broken:
        what = "failed or unknown" if strict else "failed"
        lines = "\n".join(f"  {v}" for v in broken)
        raise AssertionError(f"{len(broken)} of {len(verdicts)} objective limits {what}:\n{lines}")
