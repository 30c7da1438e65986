"""The run report: pure rendering of a run's results into ``reports/<run-id>/``.

The pytest plugin fills a :class:`RunRecord` of :class:`ScenarioRecord` s; ``write_report`` renders it
(no Docker, no pytest) into one folder per run with fixed file names:

    report.json     schema 1: the keys CI jobs and dashboards read (DESIGN.md, "Report"), plus extras
    history.jsonl   every scenario's ops, one JSON object a line, each with a "scenario" field
    summary.md      for people: run header, scenario table, every FAIL/unknown verdict explained
    timeline.html   one self-contained chart per scenario (harness/timeline.py)

The folder is rendered into a hidden temporary sibling and renamed into place, so a crash never leaves
a half-written report; then ``reports/latest`` is pointed at the newest run (a symlink replaced
atomically, or a text file holding the run id where symlinks fail). ``verdict_line``, ``go_no_go`` and
``junit_properties`` serve the terminal summary, the strict sign-off and the junit XML.

    run = RunRecord(run_id="20261129T014501-3f9a", started_at="2026-11-29T01:45:01+00:00",
                    finished_at="2026-11-29T01:47:12+00:00", seed=123, environment={"engine": {...},
                    "images": {...}}, objectives_file="objectives.toml", scenarios=[...])
    run_dir = write_report(Path("reports"), run)        # reports/20261129T014501-3f9a
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from harness import timeline
from harness.errors import HarnessError

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

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"scenario {self.id!r} has outcome {self.outcome!r}; "
                             f"expected one of {', '.join(OUTCOMES)}")


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


# ---------------------------------------------------------------- normalising records

def _plain(x: Any) -> Any:
    """A JSON-safe copy: dataclasses and ops become dicts, non-finite floats become null."""
    if hasattr(x, "to_dict") and callable(x.to_dict):
        x = x.to_dict()
    elif dataclasses.is_dataclass(x) and not isinstance(x, type):
        x = dataclasses.asdict(x)
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set, frozenset)):
        return [_plain(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if x is None or isinstance(x, (str, int, float, bool)):
        return x
    return str(x)


def _validity(v: dict) -> str:
    value = str(v.get("validity", "")).strip().lower()
    return value if value in VALIDITIES else "unknown"


def _verdict(v: Any) -> dict:
    """DESIGN's verdict keys first, extras after; an unrecognised validity is unknown, never a pass."""
    v = _plain(v)
    out = {k: v.get(k) for k in VERDICT_KEYS} | {k: x for k, x in v.items() if k not in VERDICT_KEYS}
    if str(out["validity"]).strip().lower() not in VALIDITIES:
        out["explanation"] = (f"validity {out['validity']!r} not recognised, treated as unknown; "
                              f"{out['explanation'] or ''}").rstrip("; ")
    out["validity"] = _validity(v)
    return out


def faults_from_ops(ops: list[dict]) -> list[dict]:
    """Fault windows read from the nemesis ops: injected_at/healed_at are the ok completions' times."""
    ops = [op if isinstance(op, dict) else _plain(op) for op in ops]
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


def _normalised(run: RunRecord) -> RunRecord:
    scenarios = []
    for s in run.scenarios:
        ops = [_plain(op) for op in s.ops]
        faults = [_plain(f) for f in s.faults] or faults_from_ops(ops)
        faults = [{k: f.get(k) for k in FAULT_KEYS} | f for f in faults]
        scenarios.append(dataclasses.replace(s, faults=faults, ops=ops,
                                             verdicts=[_verdict(v) for v in s.verdicts]))
    return dataclasses.replace(run, environment=_plain(run.environment), scenarios=scenarios)


# ---------------------------------------------------------------- one-line views

def _num(x: Any) -> str:
    if isinstance(x, float):
        text = f"{x:.3f}".rstrip("0")
        return text + "0" if text.endswith(".") else text
    return str(x)


def _one_line(text: Any) -> str:
    return " ".join(str(text).split())


def _comparison(v: dict, sep: str = " ") -> str:
    """``87.0 ms <= 250 ms``: the relation actually found between measured and limit."""
    unit = f"{sep}{v['unit']}" if v.get("unit") else ""
    measured, limit = v.get("measured"), v.get("limit")
    if measured is None:
        return "not measured" + (f" (limit {_num(limit)}{unit})" if limit is not None else "")
    if limit is None or isinstance(measured, bool) or not isinstance(measured, (int, float)) \
            or not isinstance(limit, (int, float)):
        return f"{_num(measured)}{unit}" + (f" (limit {_num(limit)}{unit})" if limit is not None else "")
    at_least = v.get("comparison") == ">="
    within = measured >= limit if at_least else measured <= limit
    relation = (">=" if within else "<") if at_least else ("<=" if within else ">")
    return f"{_num(measured)}{unit}{sep}{relation}{sep}{_num(limit)}{unit}"


def verdict_line(v: dict, scenario_id: str | None = None) -> str:
    """``PASS <objective> <metric> 87.0 ms <= 250 ms  (<node id>)``; FAIL/UNKNOWN add the explanation."""
    v = _verdict(v)
    line = _one_line(f"{v['validity'].upper()} {v['objective']} {v['metric']} {_comparison(v)}")
    where = scenario_id or v.get("scenario")
    if where:
        line += f"  ({_one_line(where)})"
    if v["validity"] != "pass" and v.get("explanation"):
        line += f": {_one_line(v['explanation'])}"
    return line


def junit_properties(scenario: ScenarioRecord) -> list[tuple[str, str]]:
    """Properties for the junit XML: ("verdict:<objective>:<metric>", "pass 87.0ms<=250ms"), faults."""
    s = _normalised(RunRecord("", "", "", 0, {}, "", [scenario])).scenarios[0]
    props = []
    for v in s.verdicts:
        value = f"{v['validity']} {_comparison(v, sep='')}"
        if v["validity"] != "pass" and v.get("explanation"):
            value += f": {v['explanation']}"
        props.append((f"verdict:{v['objective']}:{v['metric']}", _one_line(value)))
    for f in s.faults:
        healed = f"healed_at={_num(f['healed_at'])}s" if f["healed_at"] is not None else "not healed"
        injected = (f"injected_at={_num(f['injected_at'])}s" if f["injected_at"] is not None
                    else "not injected")
        props.append((f"fault:{f['name']}", f"{f['kind']} on {f['target']} {injected} {healed}"))
    if s.skip_reason:
        props.append(("skip_reason", _one_line(s.skip_reason)))
    return props


def go_no_go(run: RunRecord, strict: bool) -> tuple[bool, list[str]]:
    """Sign-off: strict turns every skip, failure, error, FAIL or unknown verdict into no-go."""
    reasons = []
    if strict and not run.scenarios:
        reasons.append("no scenarios ran")
    for s in run.scenarios:
        if s.outcome in ("failed", "error"):
            reasons.append(f"{s.outcome}: {s.id}" + (f": {_one_line(s.error)}" if s.error else ""))
        elif s.outcome == "skipped" and strict:
            reasons.append(f"skipped: {s.id}: {_one_line(s.skip_reason or 'no reason given')}")
        for v in map(_verdict, s.verdicts):
            if v["validity"] == "fail" or (strict and v["validity"] == "unknown"):
                reasons.append(verdict_line(v, s.id))
    return not reasons, reasons


# ---------------------------------------------------------------- files

def report_dict(run: RunRecord) -> dict:
    """The content of report.json: DESIGN's keys first, then extras (duration_s, error, summary...)."""
    return _document(_normalised(run))


def _document(run: RunRecord) -> dict:
    go, reasons = go_no_go(run, run.strict)
    counts = {o: sum(s.outcome == o for s in run.scenarios) for o in OUTCOMES}
    verdicts = [v for s in run.scenarios for v in s.verdicts]
    return {
        "schema": SCHEMA, "run_id": run.run_id, "started_at": run.started_at,
        "finished_at": run.finished_at, "seed": run.seed, "environment": run.environment,
        "scenarios": [{"id": s.id, "outcome": s.outcome, "skip_reason": s.skip_reason,
                       "faults": s.faults, "verdicts": s.verdicts, "duration_s": s.duration_s,
                       "error": s.error, "ops_count": len(s.ops)} for s in run.scenarios],
        "objectives_file": run.objectives_file, "strict": run.strict,
        "summary": {"scenarios": len(run.scenarios), **counts,
                    "verdicts": {x: sum(v["validity"] == x for v in verdicts) for x in VALIDITIES},
                    "go": go, "reasons": reasons},
    }


def _history_jsonl(run: RunRecord) -> str:
    return "".join(json.dumps({"scenario": s.id} | op, allow_nan=False) + "\n"
                   for s in run.scenarios for op in s.ops)


def _cell(text: Any) -> str:
    return _one_line(text).replace("|", "\\|")


def _summary_md(run: RunRecord) -> str:
    go, reasons = go_no_go(run, run.strict)
    engine = run.environment.get("engine") or {}
    lines = [f"# Run {run.run_id}", "",
             f"- verdict: **{'GO' if go else 'NO-GO'}** ({'strict' if run.strict else 'non-strict'})",
             f"- seed: `{run.seed}`", f"- started: {run.started_at}, finished: {run.finished_at}",
             f"- objectives: `{run.objectives_file}`",
             "- engine: " + (", ".join(f"{k} {_one_line(v)}" for k, v in engine.items()) or "unknown"),
             "", "| service | image | id | source |", "|---|---|---|---|"]
    for service, image in (run.environment.get("images") or {}).items():
        image = image if isinstance(image, dict) else {"ref": image}
        lines.append(f"| {_cell(service)} | `{_cell(image.get('ref'))}` | "
                     f"`{_cell(str(image.get('id') or '')[:19])}` | {_cell(image.get('source'))} |")
    lines += ["", "## Scenarios", "", "| scenario | outcome | duration | verdicts |", "|---|---|---|---|"]
    for s in run.scenarios:
        verdicts = "<br>".join(_cell(verdict_line({**v, "explanation": None})) for v in s.verdicts)
        lines.append(f"| `{_cell(s.id)}` | {s.outcome} | {s.duration_s:.1f} s | {verdicts or '-'} |")
    lines += ["", "## Why not go" if reasons else "## Nothing blocks sign-off", ""]
    lines += [f"- {_one_line(r)}" for r in reasons]
    problems = [(s, v) for s in run.scenarios for v in s.verdicts if v["validity"] != "pass"]
    if problems:
        lines += ["", "## FAIL and unknown verdicts", ""]
        for s, v in problems:
            lines += [f"### {v['validity'].upper()} {_one_line(v['objective'])} {_one_line(v['metric'])}",
                      "", f"- scenario: `{s.id}`", f"- measured: {_comparison(v)}",
                      f"- explanation: {_one_line(v.get('explanation') or 'none given')}", ""]
    return "\n".join(lines).rstrip() + "\n"


def _write_file(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _check_run_id(run_id: str) -> None:
    if not run_id or run_id in (".", "..", "latest") or run_id.startswith(".") \
            or "/" in run_id or os.sep in run_id:
        raise HarnessError(f"run id {run_id!r} cannot name a report folder",
                           where="RunRecord.run_id", fix="use harness.labels.new_run_id()")


def write_report(reports_root: Path, run: RunRecord) -> Path:
    """Render ``reports_root/<run_id>/`` atomically, point ``latest`` at the newest run, return the dir."""
    _check_run_id(run.run_id)
    reports_root = Path(reports_root)
    reports_root.mkdir(parents=True, exist_ok=True)
    run = _normalised(run)
    final = reports_root / run.run_id
    tmp = Path(tempfile.mkdtemp(prefix=f".{run.run_id}.", suffix=".tmp", dir=reports_root))
    try:
        go, reasons = go_no_go(run, run.strict)
        status = ("GO" if go else f"NO-GO ({len(reasons)} reasons)") + (" strict" if run.strict else "")
        files = {
            "report.json": json.dumps(_document(run), indent=2, allow_nan=False) + "\n",
            "history.jsonl": _history_jsonl(run),
            "summary.md": _summary_md(run),
            "timeline.html": timeline.render_html(run, verdict_line=verdict_line, status=status),
        }
        for name, text in files.items():
            _write_file(tmp / name, text)
        os.chmod(tmp, 0o755)
        if final.exists():  # re-rendering a run: swap the old folder out, then drop it
            old = reports_root / f".{run.run_id}.{secrets.token_hex(4)}.old"
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _point_latest(reports_root, run)
    return final


def latest_run_id(reports_root: Path) -> str | None:
    """The run id ``reports_root/latest`` points at (symlink or text file), or None."""
    link = Path(reports_root) / "latest"
    if link.is_symlink():
        return Path(os.readlink(link)).name
    if link.is_file():
        return link.read_text(encoding="utf-8").strip() or None
    return None


def _started(run_dir: Path) -> datetime | None:
    try:
        return datetime.fromisoformat(json.loads((run_dir / "report.json").read_text())["started_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _point_latest(reports_root: Path, run: RunRecord) -> None:
    current = latest_run_id(reports_root)
    if current and current != run.run_id:
        theirs, ours = _started(reports_root / current), _started(reports_root / run.run_id)
        try:
            if theirs and ours and theirs > ours:
                return  # re-rendering an older run leaves latest on the newer one
        except TypeError:  # one naive, one aware timestamp: the run just written wins
            pass
    link, tmp = reports_root / "latest", reports_root / f".latest.{secrets.token_hex(4)}"
    try:
        os.symlink(run.run_id, tmp, target_is_directory=True)
    except (OSError, NotImplementedError):
        _write_file(tmp, run.run_id + "\n")
    try:
        os.replace(tmp, link)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise HarnessError(f"cannot point {link} at run {run.run_id}: {exc.strerror}",
                           where=str(link), fix="remove it if it is a directory") from exc
