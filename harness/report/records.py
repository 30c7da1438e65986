"""The records a run report is made of, and their normalised one-line views.

The pytest plugin fills a :class:`RunRecord` of :class:`ScenarioRecord` s; everything that renders a
run (``writer``, ``timeline``) reads them through ``normalised`` (JSON-safe, DESIGN's keys first, an
unrecognised validity read as unknown) and prints verdicts with ``verdict_line``. Pure data: no
Docker, no pytest, no files.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any

from harness.history import DRILL, History, Op
from harness.judging.drills import drill_runs

SCHEMA = 1
OUTCOMES = ("passed", "failed", "skipped", "error")
VALIDITIES = ("pass", "fail", "unknown")
FAULT_KEYS = ("name", "kind", "target", "injected_at", "healed_at")
VERDICT_KEYS = ("objective", "metric", "limit", "measured", "unit", "validity", "explanation")


@dataclass
class ScenarioRecord:
    """One scenario's results; times are seconds on the run's monotonic clock."""

    id: str  # the pytest node id
    outcome: str  # passed | failed | skipped | error
    skip_reason: str | None = None
    duration_s: float = 0.0
    faults: list[dict] = field(default_factory=list)  # name, kind, target, injected_at, healed_at
    verdicts: list[dict] = field(default_factory=list)  # VERDICT_KEYS
    ops: list[dict] = field(default_factory=list)  # History op dicts (Op.to_dict())
    error: str | None = None  # one-line failure message
    rates: dict = field(default_factory=dict)  # {process: {phase: achieved-rate record}} (judging/rates.py)
    logs: dict = field(default_factory=dict)  # {service: last container log lines}, failed scenarios only
    repeat: int | None = None  # 1..N under --repeat N, else None
    seed: str | None = None  # what ``random`` was seeded with for this scenario (and repeat)
    worker: str | None = None  # the pytest-xdist worker (gw0, gw1 ...) that ran it, or main
    harness_s: dict = field(default_factory=dict)  # the harness's own seconds: setup_s, teardown_s, reset_s, record_s

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"scenario {self.id!r} has outcome {self.outcome!r}; "
                             f"expected one of {', '.join(OUTCOMES)}")

    def to_dict(self) -> dict:
        """Every field, JSON-safe (ops and logs included): what a pytest-xdist worker sends home."""
        return plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, d: dict) -> "ScenarioRecord":
        """The record back from ``to_dict`` or a report.json entry (keys it does not know are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class RunRecord:
    """One run of the scenario suite: when, with what seed, on which engine and images."""

    run_id: str
    started_at: str  # ISO-8601
    finished_at: str  # ISO-8601
    seed: int
    environment: dict  # {"engine": {...}, "images": {service: {"ref", "id", "source", ...}}}
    objectives_file: str
    scenarios: list[ScenarioRecord] = field(default_factory=list)
    strict: bool = False
    commit: str | None = None  # the source commit the run tested, when known
    redact: tuple[str, ...] = field(default=(), repr=False)  # the run's generated passwords: never written


# ---------------------------------------------------------------- normalising records

def plain(x: Any) -> Any:
    """A JSON-safe copy: dataclasses and ops become dicts, non-finite floats become null."""
    if hasattr(x, "to_dict") and callable(x.to_dict):
        x = x.to_dict()
    elif dataclasses.is_dataclass(x) and not isinstance(x, type):
        x = dataclasses.asdict(x)
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set, frozenset)):
        return [plain(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if x is None or isinstance(x, (str, int, float, bool)):
        return x
    return str(x)


def _validity(v: dict) -> str:
    value = str(v.get("validity", "")).strip().lower()
    return value if value in VALIDITIES else "unknown"


def verdict_dict(v: Any) -> dict:
    """DESIGN's verdict keys first, extras after; an unrecognised validity is unknown, never a pass."""
    v = plain(v)
    out = {k: v.get(k) for k in VERDICT_KEYS} | {k: x for k, x in v.items() if k not in VERDICT_KEYS}
    if str(out["validity"]).strip().lower() not in VALIDITIES:
        out["explanation"] = (f"validity {out['validity']!r} not recognised, treated as unknown; "
                              f"{out['explanation'] or ''}").rstrip("; ")
    out["validity"] = _validity(v)
    return out


NO_EVIDENCE = "no evidence"


def shown_outcome(scenario: ScenarioRecord) -> str:
    """The outcome people are shown: a passed scenario whose every verdict is unknown measured
    nothing, so it reads "no evidence", never a green "passed"."""
    verdicts = [verdict_dict(v) for v in scenario.verdicts]
    if scenario.outcome == "passed" and verdicts and all(v["validity"] == "unknown" for v in verdicts):
        return NO_EVIDENCE
    return scenario.outcome


def faults_from_ops(ops: list[dict]) -> list[dict]:
    """Fault windows read from the nemesis ops: injected_at/healed_at are the ok completions' times."""
    ops = [op if isinstance(op, dict) else plain(op) for op in ops]
    invokes = {op.get("index"): op for op in ops if op.get("type") == "invoke"}
    faults: dict[str, dict] = {}
    for op in ops:
        start = invokes.get(op.get("invoke_index"))
        if op.get("process") != "nemesis" or op.get("type") == "invoke" or start is None:
            continue
        desc = start.get("value") if isinstance(start.get("value"), dict) else {}
        name = str(desc.get("name", "?"))
        fault = faults.setdefault(name, {"name": name, "kind": desc.get("kind"),
                                         "target": desc.get("target"),
                                         "injected_at": None, "healed_at": None})
        if op.get("type") == "ok" and start.get("f") in ("inject", "heal"):
            fault["injected_at" if start["f"] == "inject" else "healed_at"] = op.get("time")
    return list(faults.values())


def _history_of(ops: list[dict]) -> History:
    ops = [op if isinstance(op, dict) else plain(op) for op in ops]
    return History(Op.from_dict(op) for op in ops if op.get("process") == DRILL)


def drills_from_ops(ops: list[dict]) -> list[dict]:
    """The report's drill records (backup size, outcome, seconds per step) read from the drill ops."""
    return [plain(run.to_dict()) for run in drill_runs(_history_of(ops))]


def drill_bands(ops: list[dict]) -> list[dict]:
    """Each drill step as a timeline band (the fault keys: name, kind, target, injected_at, healed_at)."""
    return [{"name": f"{step.f} {run.name}", "kind": "drill", "target": run.target,
             "injected_at": step.started_at, "healed_at": step.finished_at}
            for run in drill_runs(_history_of(ops)) for step in run.steps]


def normalised(run: RunRecord) -> RunRecord:
    scenarios = []
    for s in run.scenarios:
        ops = [plain(op) for op in s.ops]
        faults = [plain(f) for f in s.faults] or faults_from_ops(ops)
        faults = [{k: f.get(k) for k in FAULT_KEYS} | f for f in faults]
        scenarios.append(dataclasses.replace(s, faults=faults, ops=ops, rates=plain(s.rates),
                                             verdicts=[verdict_dict(v) for v in s.verdicts]))
    return dataclasses.replace(run, environment=plain(run.environment), scenarios=scenarios)


def log_paths(n: int, scenario: ScenarioRecord) -> dict[str, str]:
    """{service: path of its saved log, relative to the run folder} for the n-th scenario (from 1)."""
    path, sep, rest = scenario.id.partition("::")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.rsplit("/", 1)[-1] + sep + rest)[:80].strip("_.")
    return {service: f"logs/{n:02d}-{slug}/{re.sub(r'[^A-Za-z0-9_.-]+', '_', service)}.log"
            for service in scenario.logs}


# ---------------------------------------------------------------- one-line views

def num_text(x: Any) -> str:
    if isinstance(x, float):
        text = f"{x:.3f}".rstrip("0")
        return text + "0" if text.endswith(".") else text
    return str(x)


def one_line(text: Any) -> str:
    return " ".join(str(text).split())


def comparison(v: dict, sep: str = " ") -> str:
    """``87.0 ms <= 250 ms``: the relation actually found between measured and limit."""
    unit = f"{sep}{v['unit']}" if v.get("unit") else ""
    measured, limit = v.get("measured"), v.get("limit")
    if measured is None:
        return "not measured" + (f" (limit {num_text(limit)}{unit})" if limit is not None else "")
    if limit is None or isinstance(measured, bool) or not isinstance(measured, (int, float)) \
            or not isinstance(limit, (int, float)):
        return f"{num_text(measured)}{unit}" + (f" (limit {num_text(limit)}{unit})" if limit is not None else "")
    at_least = v.get("comparison") == ">="
    within = measured >= limit if at_least else measured <= limit
    relation = (">=" if within else "<") if at_least else ("<=" if within else ">")
    return f"{num_text(measured)}{unit}{sep}{relation}{sep}{num_text(limit)}{unit}"


def verdict_line(v: dict, scenario_id: str | None = None) -> str:
    """``PASS <objective> <metric> 87.0 ms <= 250 ms  (<node id>)``; FAIL/UNKNOWN add the explanation."""
    v = verdict_dict(v)
    line = one_line(f"{v['validity'].upper()} {v['objective']} {v['metric']} {comparison(v)}")
    where = scenario_id or v.get("scenario")
    if where:
        line += f"  ({one_line(where)})"
    if v["validity"] != "pass" and v.get("explanation"):
        line += f": {one_line(v['explanation'])}"
    return line


