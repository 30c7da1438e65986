"""The run report: pure rendering of a run's results into ``reports/<run-id>/``.

The pytest plugin fills a :class:`RunRecord` of :class:`ScenarioRecord` s (``records.py``);
``write_report`` renders it (no Docker, no pytest) into one folder per run with fixed file names:

    report.json     schema 1: the keys CI jobs and dashboards read (DESIGN.md, "Report"), plus extras
    history.jsonl   every scenario's ops, one JSON object a line, each with a "scenario" field
    summary.md      for people: run header, scenario table, every FAIL/unknown verdict explained
    timeline.html   one self-contained chart per scenario (harness/report/timeline.py)
    logs/<n>-<test>/<service>.log   for a failed or breached scenario, the last lines of each container
    ../index.jsonl  one line per verdict of every kept run; ../trends.html draws them (trends.py)
    signoff.md      sign-off runs only: the one-page go/no-go with pointers to the evidence (repeats.py)
    junit.xml       one test case per scenario, its verdicts as properties (harness/report/junit.py)

The folder is rendered into a hidden temporary sibling and renamed into place, so a crash never leaves
a half-written report; every file passes through ``redact.redact`` (the run's passwords and any
credentials inside URLs become ``***``); then ``reports/latest`` is pointed at the newest run (a symlink replaced
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
import os
import secrets
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.report import repeats, timeline, trends
from harness.report.junit import render_junit
from harness.report.redact import redact
from harness.report.records import (NO_EVIDENCE, OUTCOMES, SCHEMA, VALIDITIES, RunRecord, ScenarioRecord,
                                    comparison, drills_from_ops, log_paths, normalised, num_text, one_line, shown_outcome,
                                    verdict_dict, verdict_line)


def junit_properties(scenario: ScenarioRecord) -> list[tuple[str, str]]:
    """Properties for the junit XML: ("verdict:<objective>:<metric>", "pass 87.0ms<=250ms"), faults."""
    s = normalised(RunRecord("", "", "", 0, {}, "", [scenario])).scenarios[0]
    props = []
    for v in s.verdicts:
        value = f"{v['validity']} {comparison(v, sep='')}"
        if v["validity"] != "pass" and v.get("explanation"):
            value += f": {v['explanation']}"
        props.append((f"verdict:{v['objective']}:{v['metric']}", one_line(value)))
    for f in s.faults:
        healed = f"healed_at={num_text(f['healed_at'])}s" if f["healed_at"] is not None else "not healed"
        injected = (f"injected_at={num_text(f['injected_at'])}s" if f["injected_at"] is not None
                    else "not injected")
        props.append((f"fault:{f['name']}", f"{f['kind']} on {f['target']} {injected} {healed}"))
    if s.skip_reason:
        props.append(("skip_reason", one_line(s.skip_reason)))
    return props


def empty_share(run: RunRecord) -> bool:
    """A ``--shard I/N`` run whose share of the tests was empty (more shards than tests)."""
    shard = run.environment.get("shard")
    return isinstance(shard, dict) and shard.get("tests") == 0


def go_no_go(run: RunRecord, strict: bool) -> tuple[bool, list[str]]:
    """Sign-off: strict turns every skip, failure, error, FAIL or unknown verdict into no-go. A shard
    with nothing to run is no no-go by itself: the merge of all shards judges the night."""
    reasons = []
    if strict and not run.scenarios and not empty_share(run):
        reasons.append("no scenarios ran")
    for s in run.scenarios:
        if s.outcome in ("failed", "error"):
            reasons.append(f"{s.outcome}: {s.id}" + (f": {one_line(s.error)}" if s.error else ""))
        elif s.outcome == "skipped" and strict:
            reasons.append(f"skipped: {s.id}: {one_line(s.skip_reason or 'no reason given')}")
        for v in map(verdict_dict, s.verdicts):
            if v["validity"] == "fail" or (strict and v["validity"] == "unknown"):
                reasons.append(verdict_line(v, s.id))
    if strict:
        reasons += repeats.flaky_reasons(run)
    return not reasons, reasons


# ---------------------------------------------------------------- files

def report_dict(run: RunRecord) -> dict:
    """The content of report.json: DESIGN's keys first, then extras (duration_s, error, summary...)."""
    return _document(normalised(run))


def _document(run: RunRecord, regressions: list[trends.Regression] = ()) -> dict:
    go, reasons = go_no_go(run, run.strict)
    counts = {o: sum(s.outcome == o for s in run.scenarios) for o in OUTCOMES}
    verdicts = [v for s in run.scenarios for v in s.verdicts]
    return {
        "schema": SCHEMA, "run_id": run.run_id, "started_at": run.started_at,
        "finished_at": run.finished_at, "seed": run.seed, "environment": run.environment,
        "scenarios": [{"id": s.id, "outcome": s.outcome, "skip_reason": s.skip_reason,
                       "faults": s.faults, "verdicts": s.verdicts, "duration_s": s.duration_s,
                       "error": s.error, "ops_count": len(s.ops), "rates": s.rates,
                       "drills": drills_from_ops(s.ops), "logs": log_paths(n, s),
                       "repeat": s.repeat, "seed": s.seed, "worker": s.worker,
                       "harness_s": s.harness_s}
                      for n, s in enumerate(run.scenarios, start=1)],
        "commit": run.commit,
        "regressions": [dataclasses.asdict(r) | {"line": r.line()} for r in regressions],
        "repeats": repeats.limit_stats(run) if _repeated(run) else [],
        "objectives_file": run.objectives_file, "strict": run.strict,
        "summary": {"scenarios": len(run.scenarios), **counts,
                    "verdicts": {x: sum(v["validity"] == x for v in verdicts) for x in VALIDITIES},
                    "go": go, "reasons": reasons},
    }


def _repeated(run: RunRecord) -> bool:
    return any(s.repeat is not None for s in run.scenarios)


def _history_jsonl(run: RunRecord) -> str:
    return "".join(json.dumps({"scenario": s.id} | op, allow_nan=False) + "\n"
                   for s in run.scenarios for op in s.ops)


def _cell(text: Any) -> str:
    return one_line(text).replace("|", "\\|")


def _summary_md(run: RunRecord, regressions: list[trends.Regression] = ()) -> str:
    go, reasons = go_no_go(run, run.strict)
    engine = run.environment.get("engine") or {}
    lines = [f"# Run {run.run_id}", "",
             f"- verdict: **{'GO' if go else 'NO-GO'}** ({'strict' if run.strict else 'non-strict'})",
             f"- seed: `{run.seed}`", f"- started: {run.started_at}, finished: {run.finished_at}",
             f"- objectives: `{run.objectives_file}`",
             "- engine: " + (", ".join(f"{k} {one_line(v)}" for k, v in engine.items()) or "unknown"),
             "", "| service | image | id | source |", "|---|---|---|---|"]
    for service, image in (run.environment.get("images") or {}).items():
        image = image if isinstance(image, dict) else {"ref": image}
        lines.append(f"| {_cell(service)} | `{_cell(image.get('ref'))}` | "
                     f"`{_cell(str(image.get('id') or '')[:19])}` | {_cell(image.get('source'))} |")
    lines += ["", "## Scenarios", "", "| scenario | outcome | duration | verdicts |", "|---|---|---|---|"]
    for s in run.scenarios:
        verdicts = "<br>".join(_cell(verdict_line({**v, "explanation": None})) for v in s.verdicts)
        lines.append(f"| `{_cell(s.id)}` | {shown_outcome(s)} | {s.duration_s:.1f} s | {verdicts or '-'} |")
    if empty_share(run):
        shard = run.environment["shard"]
        lines += ["", f"Shard {shard.get('index')}/{shard.get('count')} had nothing to run (more shards than "
                  f"the {shard.get('collected')} tests collected); the merge of all shards judges the night."]
    blind = [s for s in run.scenarios if shown_outcome(s) == NO_EVIDENCE]
    if blind:
        lines += ["", "## Scenarios without evidence", "",
                  "Every verdict of these scenarios is unknown: they passed as tests but measured nothing, "
                  "so they are not a pass (and a sign-off is a no-go on them).", ""]
        lines += [f"- `{_cell(s.id)}`" for s in blind]
    lines += ["", "## Why not go" if reasons else "## Nothing blocks sign-off", ""]
    lines += [f"- {one_line(r)}" for r in reasons]
    if _repeated(run):
        lines += ["", "## Repeats", "", "Every measured value of each limit, by repeat; FLAKY when the verdicts "
                  "differ between repeats (p95 by nearest rank):", "", *repeats.stats_table(run)]
    if regressions:
        lines += ["", "## Regressions", "",
                  f"Still passing, but worse than the median of the last runs by more than the margin "
                  f"(`harness/report/trends.py`; see `../{trends.PAGE}`):", ""]
        lines += [f"- {_cell(r.line())}" for r in regressions]
    with_logs = [(n, s) for n, s in enumerate(run.scenarios, start=1) if s.logs]
    if with_logs:
        lines += ["", "## Container logs of failed scenarios", "",
                  "The last lines of every container of the scenario's stack, saved when it failed or breached:", ""]
        lines += [f"- `{_cell(s.id)}`: " + ", ".join(f"[{_cell(service)}]({path})"
                                                    for service, path in log_paths(n, s).items())
                  for n, s in with_logs]
    problems = [(s, v) for s in run.scenarios for v in s.verdicts if v["validity"] != "pass"]
    if problems:
        lines += ["", "## FAIL and unknown verdicts", ""]
        for s, v in problems:
            lines += [f"### {v['validity'].upper()} {one_line(v['objective'])} {one_line(v['metric'])}",
                      "", f"- scenario: `{s.id}`", f"- measured: {comparison(v)}",
                      f"- explanation: {one_line(v.get('explanation') or 'none given')}", ""]
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


def write_report(reports_root: Path, run: RunRecord, keep_runs: int = trends.KEEP_RUNS) -> Path:
    """Render ``reports_root/<run_id>/`` atomically, point ``latest`` at the newest run, add the run to
    the index and the trends page (pruning runs beyond ``keep_runs``), return the dir."""
    _check_run_id(run.run_id)
    reports_root = Path(reports_root)
    reports_root.mkdir(parents=True, exist_ok=True)
    run = normalised(run)
    final = reports_root / run.run_id
    tmp = Path(tempfile.mkdtemp(prefix=f".{run.run_id}.", suffix=".tmp", dir=reports_root))
    try:
        regressions = trends.regressions(trends.read_index(reports_root), trends.rows_of(run))
        go, reasons = go_no_go(run, run.strict)
        status = ("GO" if go else f"NO-GO ({len(reasons)} reasons)") + (" strict" if run.strict else "")
        files = {
            "report.json": json.dumps(_document(run, regressions), indent=2, allow_nan=False) + "\n",
            "history.jsonl": _history_jsonl(run),
            "summary.md": _summary_md(run, regressions),
            "timeline.html": timeline.render_html(run, verdict_line=verdict_line, status=status),
            "junit.xml": render_junit(run, [junit_properties(s) for s in run.scenarios]),
        }
        if run.strict:
            files["signoff.md"] = repeats.signoff_page(run, go, reasons)
        for n, s in enumerate(run.scenarios, start=1):   # container logs of failed scenarios
            for service, path in log_paths(n, s).items():
                files[path] = s.logs[service]
        for name, text in files.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            _write_file(tmp / name, redact(text, run.redact))
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
    trends.update(reports_root, run, keep_runs)
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
