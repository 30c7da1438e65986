"""Merging the run folders of N shards (``--shard I/N`` on N CI runners) into one run report.

``load_run`` reads one run folder back into records: ``report.json`` (each scenario through
``ScenarioRecord.from_dict``), its ops from ``history.jsonl`` (by the ``scenario`` field, checked
against ``ops_count``) and its saved container logs from ``logs/``. Everything is read as written,
that is already redacted: a merge adds nothing and loses nothing (faults with their evidence,
verdicts with their extras, rates, drills, repeats, seeds, workers, the harness's own seconds).

``merge`` checks the shards belong together and builds one :class:`RunRecord`, which
``write_report`` renders like any run (summary.md, timeline, junit.xml, signoff.md, index and trends):

- refused (one ``ConfigError`` line, nothing written): a missing folder, an unreadable or foreign
  report.json, history.jsonl or log file that disagrees with it, the same run given twice, a node id
  in two shards, different commits, and, for runs made with ``--shard``: a shard missing or given
  twice, different shard counts, or different splits (runners that read different reports would
  leave tests in no shard);
- allowed but said (``notes``): different seeds. The merged ``seed`` is the first shard's; every
  scenario keeps the exact seed it ran with (``scenarios[].seed``), and ``environment.shards``
  lists each shard's;
- the merged run: ``started_at`` the earliest, ``finished_at`` the latest, ``environment`` the first
  shard's plus ``shards`` (one entry per source run: run id, seed, times, commit, strict, its
  ``shard`` record, scenario count and its own engine and images), ``strict`` when asked or when any
  shard ran strict (a sign-off stays a sign-off), the scenarios in the order the folders were given.

    runs = [load_run(Path(d)) for d in ("shard-1", "shard-2")]
    record, notes = merge(runs, run_id=new_run_id(), sign_off=True)
    write_report(Path("reports"), record)
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from harness.errors import ConfigError
from harness.report.records import SCHEMA, RunRecord, ScenarioRecord
from harness.report.writer import latest_run_id

RUN_KEYS = ("run_id", "started_at", "finished_at", "seed", "environment", "scenarios")


@dataclass
class LoadedRun:
    """One run folder read back: its report.json document and its scenarios with ops and logs."""

    folder: Path
    doc: dict
    scenarios: list[ScenarioRecord]

    @property
    def run_id(self) -> str:
        return str(self.doc["run_id"])


def _refuse(what: str, where: Path | str, fix: str) -> ConfigError:
    return ConfigError(what, where=str(where), fix=fix)


def run_folder(path: Path) -> Path:
    """``path`` if it holds report.json; a reports dir is read through its ``latest`` pointer."""
    if not path.is_dir():
        raise _refuse(f"no run folder at {path}", path, "give the folder of a shard's run (it holds report.json)")
    if not (path / "report.json").exists() and (latest := latest_run_id(path)) and (path / latest).is_dir():
        return path / latest
    return path


def load_run(path: Path) -> LoadedRun:
    """The run folder at ``path`` (or its reports dir's latest run) read back into records."""
    folder = run_folder(Path(path))
    where = folder / "report.json"
    fix = "give the folder of a shard's finished run; an interrupted run has no complete report to merge"
    try:
        doc = json.loads(where.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _refuse(f"cannot read report.json ({exc.strerror or type(exc).__name__})", where, fix) from None
    except ValueError as exc:
        raise _refuse(f"report.json is not JSON ({exc})", where, fix) from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or any(k not in doc for k in RUN_KEYS) \
            or not isinstance(doc["scenarios"], list) or not isinstance(doc["environment"], dict):
        raise _refuse(f"report.json is not a schema {SCHEMA} run report (needs {', '.join(RUN_KEYS)})", where, fix)
    ops = _ops_by_scenario(folder, doc)
    scenarios, seen = [], set()
    for entry in doc["scenarios"]:
        try:
            sid = str(entry["id"])
            if sid in seen:
                raise _refuse(f"scenario {sid} appears twice in one run", where, fix)
            seen.add(sid)
            mine = ops.pop(sid, [])
            if len(mine) != int(entry.get("ops_count") or 0):
                raise _refuse(f"history.jsonl holds {len(mine)} ops of {sid}, report.json says "
                              f"{entry.get('ops_count')}", folder / "history.jsonl", fix)
            record = ScenarioRecord.from_dict(entry | {"ops": mine, "logs": _logs(folder, entry, fix)})
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise _refuse(f"a scenario of report.json cannot be read ({type(exc).__name__}: {exc})", where,
                          fix) from None
        scenarios.append(record)
    if ops:
        raise _refuse(f"history.jsonl holds ops of {sorted(ops)[0]}, which report.json does not list",
                      folder / "history.jsonl", fix)
    return LoadedRun(folder, doc, scenarios)


def _ops_by_scenario(folder: Path, doc: dict) -> dict[str, list[dict]]:
    path = folder / "history.jsonl"
    if not path.exists() and not any(s.get("ops_count") for s in doc["scenarios"] if isinstance(s, dict)):
        return {}
    ops: dict[str, list[dict]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise _refuse(f"cannot read history.jsonl ({exc.strerror or type(exc).__name__})", path,
                      "copy the whole run folder, history.jsonl included") from None
    for n, line in enumerate(lines, start=1):
        try:
            op = json.loads(line)
            sid = str(op.pop("scenario"))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise _refuse(f"line {n} of history.jsonl is not an op of a scenario", path,
                          "copy the run folder again; it is damaged") from None
        ops.setdefault(sid, []).append(op)
    return ops


def _logs(folder: Path, entry: dict, fix: str) -> dict[str, str]:
    """{service: saved log text} of a scenario, read from the paths report.json names."""
    texts = {}
    for service, rel in (entry.get("logs") or {}).items():
        path = (folder / str(rel)).resolve()
        if not path.is_relative_to(folder.resolve()):
            raise _refuse(f"log path {rel!r} leaves the run folder", folder / "report.json", fix)
        try:
            texts[str(service)] = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise _refuse(f"cannot read the saved log {rel} ({exc.strerror or type(exc).__name__})", path,
                          "copy the whole run folder, logs/ included") from None
    return texts


def _time(run: LoadedRun, key: str) -> datetime:
    try:
        return datetime.fromisoformat(str(run.doc[key]))
    except ValueError:
        raise _refuse(f"{key} {run.doc[key]!r} is not an ISO-8601 time", run.folder / "report.json",
                      "give the folder of a run the harness wrote") from None


def _check_shards(runs: list[LoadedRun]) -> None:
    """Runs made with --shard must be every shard of one split, each once."""
    records = {r.run_id: r.doc["environment"].get("shard") for r in runs}
    if not any(records.values()):
        return
    fix = "merge the run folders of all N shards of one night, made from the same reports/"
    plain = [rid for rid, rec in records.items() if not isinstance(rec, dict)]
    if plain:
        raise _refuse(f"run {plain[0]} was not made with --shard, the others were", "the folders given", fix)
    damaged = [rid for rid, rec in records.items()
               if not all(isinstance(rec.get(k), int) and rec[k] >= 1 for k in ("index", "count"))]
    if damaged:
        raise _refuse(f"the shard record of run {damaged[0]} names no shard I/N: {records[damaged[0]]}",
                      "its report.json, environment.shard", "copy that run folder again; it is damaged")
    counts = {rec.get("count") for rec in records.values()}
    if len(counts) > 1:
        said = ", ".join(f"{rid}: {rec.get('index')}/{rec.get('count')}" for rid, rec in records.items())
        raise _refuse(f"the shards were split different ways ({said})", "the folders given", fix)
    plans = {rec.get("plan") for rec in records.values()}
    if len(plans) > 1:
        raise _refuse(f"the shards computed different splits (plans {', '.join(sorted(map(str, plans)))}): "
                      f"their runners read different durations, so some tests may have run nowhere",
                      "the folders given", "give every shard the same reports/ (one cache key) and run them again")
    [count] = counts
    given = sorted(rec.get("index") for rec in records.values())
    missing = [k for k in range(1, count + 1) if k not in given]
    twice = sorted({k for k in given if given.count(k) > 1})
    if missing or twice:
        said = (f"shard {', '.join(f'{k}/{count}' for k in missing)} missing" if missing else "") + \
               ("; " if missing and twice else "") + \
               (f"shard {', '.join(f'{k}/{count}' for k in twice)} given twice" if twice else "")
        raise _refuse(said, "the folders given", fix)


def merge(runs: list[LoadedRun], run_id: str, sign_off: bool = False) -> tuple[RunRecord, list[str]]:
    """One run record of the shards' runs, and the notes to print (module docstring for the rules)."""
    if not runs:
        raise _refuse("no run folders to merge", "the command line", "give the folders of the shards' runs")
    ids = [r.run_id for r in runs]
    if len(set(ids)) < len(ids):
        twice = next(i for i in ids if ids.count(i) > 1)
        raise _refuse(f"run {twice} is given twice", "the folders given", "give each shard's folder once")
    owner: dict[str, str] = {}
    for run in runs:
        for s in run.scenarios:
            if s.id in owner:
                raise _refuse(f"scenario {s.id} is in run {owner[s.id]} and in run {run.run_id}",
                              "the folders given", "merge shards of one split: each test runs in one shard only")
            owner[s.id] = run.run_id
    commits = {r.doc.get("commit") for r in runs}
    if len(commits) > 1:
        said = ", ".join(f"{r.run_id}: {r.doc.get('commit')}" for r in runs)
        raise _refuse(f"the runs tested different commits ({said})", "the folders given",
                      "merge the shards of one commit (set HARNESS_COMMIT on every runner)")
    _check_shards(runs)
    started = min(runs, key=lambda r: _time(r, "started_at"))
    finished = max(runs, key=lambda r: _time(r, "finished_at"))
    first = runs[0].doc
    notes = []
    seeds = [r.doc["seed"] for r in runs]
    if len(set(map(str, seeds))) > 1:
        said = ", ".join(f"{r.run_id}: {r.doc['seed']}" for r in runs)
        notes.append(f"note: the shards ran with different seeds ({said}); "
                     f"the merged report keeps {seeds[0]} and each scenario the seed it ran with")
    environment = {k: copy.deepcopy(v) for k, v in first["environment"].items() if k not in ("shard", "shards")}
    environment["shards"] = [
        {"run_id": r.run_id, "seed": r.doc["seed"], "started_at": r.doc["started_at"],
         "finished_at": r.doc["finished_at"], "commit": r.doc.get("commit"), "strict": bool(r.doc.get("strict")),
         "shard": r.doc["environment"].get("shard"), "scenarios": len(r.scenarios),
         "objectives_file": r.doc.get("objectives_file"),
         "environment": {k: v for k, v in r.doc["environment"].items() if k not in ("shard", "shards")}}
        for r in runs]
    record = RunRecord(run_id=run_id, started_at=started.doc["started_at"], finished_at=finished.doc["finished_at"],
                       seed=seeds[0], environment=environment, objectives_file=str(first.get("objectives_file") or ""),
                       scenarios=[s for r in runs for s in r.scenarios],
                       strict=sign_off or any(bool(r.doc.get("strict")) for r in runs), commit=first.get("commit"))
    return record, notes
