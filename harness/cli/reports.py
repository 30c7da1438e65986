"""``dr-harness report``: the summary of a run (default: the latest), or ``--list`` of every run.

Reads what the pytest plugin wrote: ``<reports>/<run-id>/summary.md`` and ``report.json`` (keys
``run_id``, ``started_at``, ``scenarios[].outcome``, ``scenarios[].verdicts[].validity``) and the
``latest`` pointer. A missing folder or run is one line saying where it looked and what to run.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from harness.errors import ConfigError
from harness.report import latest_run_id

RUN_FIRST = "run the scenarios first (pytest scenarios/), or pass --reports-dir DIR"


def show(reports_dir: Path, run_id: str | None = None) -> int:
    """Print the run's summary.md, after a line naming its folder and files."""
    run_dir = _run_dir(reports_dir, run_id)
    summary = run_dir / "summary.md"
    if not summary.is_file():
        raise ConfigError(f"run {run_dir.name} has no summary.md (looked in {run_dir})",
                          fix="the run may have been interrupted; pick another with dr-harness report --list")
    files = ", ".join(sorted(p.name for p in run_dir.iterdir() if p.is_file()))
    print(f"{run_dir}: {files}\n")
    print(summary.read_text(encoding="utf-8"), end="")
    return 0


def list_runs(reports_dir: Path) -> int:
    """One line per run that has a report.json: id, start, scenario outcomes, verdicts by validity."""
    runs = sorted(p.parent for p in _existing(reports_dir).glob("*/report.json")
                  if not p.parent.is_symlink())
    if not runs:
        raise ConfigError(f"no run reports in {reports_dir}", fix=RUN_FIRST)
    latest = latest_run_id(reports_dir)
    for run_dir in runs:
        print(_run_line(run_dir, latest))
    return 0


def _run_line(run_dir: Path, latest: str | None) -> str:
    try:
        doc = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
        scenarios = doc.get("scenarios") or []
        outcomes = Counter(s.get("outcome", "?") for s in scenarios)
        verdicts = Counter(v.get("validity", "?") for s in scenarios for v in s.get("verdicts") or [])
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        return f"{run_dir.name}  unreadable report.json ({type(exc).__name__})"
    said = lambda counts: ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "none"  # noqa: E731
    mark = "  (latest)" if run_dir.name == latest else ""
    return (f"{run_dir.name}  started {doc.get('started_at', '?')}  scenarios: {said(outcomes)}  "
            f"verdicts: {said(verdicts)}{mark}")


def _existing(reports_dir: Path) -> Path:
    if not reports_dir.is_dir():
        raise ConfigError(f"no reports folder at {reports_dir.resolve()}", fix=RUN_FIRST)
    return reports_dir


def _run_dir(reports_dir: Path, run_id: str | None) -> Path:
    _existing(reports_dir)
    if run_id is None:
        run_id = latest_run_id(reports_dir)
        if run_id is None:
            raise ConfigError(f"no latest run in {reports_dir} (looked for {reports_dir / 'latest'})",
                              fix=RUN_FIRST)
    run_dir = reports_dir / run_id
    if run_id in ("", ".", "..") or "/" in run_id or not run_dir.is_dir():
        raise ConfigError(f"no run {run_id!r} in {reports_dir}",
                          fix="dr-harness report --list shows the runs there")
    return run_dir
