"""Evidence across runs: the verdict index, regressions, pruning and the trends page.

``reports/index.jsonl`` holds one JSON line per verdict of every kept run: ``run_id``, ``started_at``,
``commit`` (null when unknown), ``scenario`` (the node id without a repeat suffix), ``repeat``
(null without ``--repeat``), ``objective``, ``metric``, ``measured``, ``limit``, ``unit``,
``validity`` and ``bound`` (``max``: measured must stay at or under the limit; ``min``: at or over
it, the metrics named ``min_*`` or ``*_min``). A series is one (scenario, objective, metric); a
run's value in a series is the median of its repeats.

REGRESSION: tonight's value still passes, yet is worse than the median of the same series in the
last ``WINDOW`` (5) earlier runs that measured it (at least ``MIN_HISTORY``, 3, of them) by more
than the margin ``min(max(0.20 x |median|, 0.05 x |limit|), 0.5 x |limit - median|)``: 20 % of the
median but never less than 5 % of the limit (so a series near zero does not flag noise), and never
more than half the headroom the median had to the limit (so a value near its limit, such as an
availability of 91 % against a 90 % minimum after nights at 100 %, is flagged). "Worse" is higher
for a ``max`` limit and lower for a ``min`` limit.

Pruning: after each run only the newest ``keep_runs`` run folders (default 30, ``HARNESS_KEEP_RUNS``)
are kept; the index is rewritten atomically at the same time without the pruned runs' lines, so every
run id in the index names a folder that exists. ``trends.html`` beside the index draws each series
across the kept runs with its limit (self-contained, the timeline's style, no scripts).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import statistics
from dataclasses import dataclass
from pathlib import Path

from harness.report.records import RunRecord, num_text, one_line
from harness.report.timeline import CSS, esc

INDEX = "index.jsonl"
PAGE = "trends.html"
KEEP_RUNS = 30
WINDOW, MIN_HISTORY = 5, 3
RELATIVE_MARGIN, LIMIT_MARGIN, HEADROOM_MARGIN = 0.20, 0.05, 0.5
RUN_ID = re.compile(r"^\d{8}T\d{6}-[0-9a-f]{4}$")
# the repeat parameter alone, last, first (``[repeat2of3-0]``: the order pytest gave it) or between others
REPEAT_SUFFIX = re.compile(r"(\[repeat\d+of\d+\]|-repeat\d+of\d+(?=[\]-])|(?<=\[)repeat\d+of\d+-)")


def bound_of(metric: str) -> str:
    """``min`` for lower-bound metrics (``min_availability_*``, ``*_min``), else ``max``."""
    return "min" if metric.startswith("min_") or metric.endswith("_min") else "max"


def base_id(scenario_id: str) -> str:
    """The node id without the ``repeatKofN`` parameter ``--repeat`` adds."""
    return REPEAT_SUFFIX.sub("", scenario_id)


def rows_of(run: RunRecord) -> list[dict]:
    """The index lines of a normalised run, one per verdict."""
    rows = []
    for s in run.scenarios:
        for v in s.verdicts:
            rows.append({"run_id": run.run_id, "started_at": run.started_at, "commit": run.commit,
                         "scenario": base_id(s.id), "repeat": s.repeat, "objective": v["objective"],
                         "metric": v["metric"], "measured": v["measured"], "limit": v["limit"],
                         "unit": v["unit"], "validity": v["validity"], "bound": bound_of(str(v["metric"]))})
    return rows


def read_index(reports_root: Path) -> list[dict]:
    """Every readable line of the index (a torn or foreign line is skipped, never fatal)."""
    path = Path(reports_root) / INDEX
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    rows = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("run_id"), str):
            rows.append(row)
    return rows


def _number(x: object) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def _key(row: dict) -> tuple[str, str, str]:
    return (str(row.get("scenario")), str(row.get("objective")), str(row.get("metric")))


def run_values(rows: list[dict]) -> dict[tuple[str, str, str], dict[str, float]]:
    """{series: {run_id: the median of that run's measured values}} (runs in id = time order)."""
    grouped: dict[tuple[str, str, str], dict[str, list[float]]] = {}
    for row in rows:
        value = _number(row.get("measured"))
        if value is not None:
            grouped.setdefault(_key(row), {}).setdefault(row["run_id"], []).append(value)
    return {key: {run: statistics.median(vals) for run, vals in sorted(runs.items())}
            for key, runs in grouped.items()}


@dataclass(frozen=True)
class Regression:
    """A passing value worse than its recent median by more than the margin."""

    scenario: str
    objective: str
    metric: str
    measured: float
    median: float
    limit: float
    unit: str
    runs: int  # how many earlier runs the median is of

    def line(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return one_line(f"REGRESSION {self.objective} {self.metric} {num_text(self.measured)}{unit} vs median "
                        f"{num_text(self.median)}{unit} of the last {self.runs} runs (limit "
                        f"{num_text(self.limit)}{unit}, still passing)  ({self.scenario})")


def regressions(previous: list[dict], tonight: list[dict]) -> list[Regression]:
    """Tonight's passing series values that are worse than their recent median by more than the margin."""
    history = run_values([r for r in previous if r.get("run_id") not in {t["run_id"] for t in tonight}])
    found = []
    for key, runs in run_values(tonight).items():
        rows = [r for r in tonight if _key(r) == key]
        if any(r.get("validity") != "pass" for r in rows):
            continue
        limit = _number(rows[0].get("limit"))
        earlier = list(history.get(key, {}).values())[-WINDOW:]
        if limit is None or len(earlier) < MIN_HISTORY:
            continue
        value, median = next(iter(runs.values())), statistics.median(earlier)
        margin = min(max(RELATIVE_MARGIN * abs(median), LIMIT_MARGIN * abs(limit)),
                     HEADROOM_MARGIN * abs(limit - median))
        worse = value - median if rows[0].get("bound", bound_of(key[2])) == "max" else median - value
        if worse > margin:
            found.append(Regression(*key, value, median, limit, str(rows[0].get("unit") or ""), len(earlier)))
    return found


# ---------------------------------------------------------------- the index on disk, pruning

def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def run_folders(reports_root: Path) -> list[Path]:
    """The run folders under ``reports_root`` (named like run ids, holding a report.json), oldest first."""
    root = Path(reports_root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir()
                  if RUN_ID.match(p.name) and p.is_dir() and not p.is_symlink() and (p / "report.json").is_file())


def update(reports_root: Path, run: RunRecord, keep_runs: int = KEEP_RUNS) -> list[str]:
    """Add the run's lines to the index, prune beyond ``keep_runs``, redraw the page; returns pruned ids."""
    root = Path(reports_root)
    kept = run_folders(root)
    pruned = kept[:-keep_runs] if keep_runs > 0 and len(kept) > keep_runs else []
    for folder in pruned:
        shutil.rmtree(folder, ignore_errors=True)
    alive = {p.name for p in kept} - {p.name for p in pruned}
    rows = [r for r in read_index(root) if r["run_id"] != run.run_id and r["run_id"] in alive]
    rows += rows_of(run) if run.run_id in alive else []
    rows.sort(key=lambda r: r["run_id"])   # stable: a run's own lines keep their order
    _write_atomic(root / INDEX, "".join(json.dumps(r, allow_nan=False) + "\n" for r in rows))
    _write_atomic(root / PAGE, render_trends(rows))
    return [p.name for p in pruned]


# ---------------------------------------------------------------- the trends page

CHART_W, CHART_H, PAD_L, PAD_R, PAD_T, PAD_B = 1100, 150, 70, 16, 14, 26
DOT = {"pass": "#2e7d32", "fail": "#c62828", "unknown": "#b26a00"}


def _chart(runs: list[str], series: dict[str, float], rows: list[dict], flagged: bool) -> str:
    limit = next((_number(r.get("limit")) for r in reversed(rows) if _number(r.get("limit")) is not None), None)
    values = list(series.values()) + ([limit] if limit is not None else [])
    lo, hi = min(values, default=0.0), max(values, default=1.0)
    lo, hi = (min(lo, 0.0), hi * 1.1 if hi > 0 else 1.0) if lo >= 0 else (lo * 1.1, max(hi, 0.0) * 1.1 or 1.0)
    n = max(len(runs) - 1, 1)

    def x(i: int) -> float:
        return PAD_L + i / n * (CHART_W - PAD_L - PAD_R)

    def y(v: float) -> float:
        return PAD_T + (hi - v) / (hi - lo) * (CHART_H - PAD_T - PAD_B)

    validity = {}
    for r in rows:
        if validity.get(r["run_id"]) != "fail":
            validity[r["run_id"]] = r.get("validity") if r.get("validity") in DOT else "unknown"
    p = [f'<svg class="chart trend" viewBox="0 0 {CHART_W} {CHART_H}" width="{CHART_W}" height="{CHART_H}" '
         f'role="img" aria-label="trend">',
         f'<line x1="{PAD_L}" x2="{CHART_W - PAD_R}" y1="{y(lo):.1f}" y2="{y(lo):.1f}" class="axis"/>',
         f'<text x="{PAD_L - 6}" y="{y(hi) + 4:.1f}" class="tick" text-anchor="end">{esc(num_text(round(hi, 6)))}</text>',
         f'<text x="{PAD_L - 6}" y="{y(lo) + 4:.1f}" class="tick" text-anchor="end">{esc(num_text(round(lo, 6)))}</text>']
    if limit is not None:
        p.append(f'<line x1="{PAD_L}" x2="{CHART_W - PAD_R}" y1="{y(limit):.1f}" y2="{y(limit):.1f}" '
                 f'class="limit" stroke="#c62828" stroke-dasharray="6 4"/>'
                 f'<text x="{CHART_W - PAD_R}" y="{y(limit) - 4:.1f}" class="tick" text-anchor="end" '
                 f'fill="#c62828">limit {esc(num_text(limit))}</text>')
    points = [(runs.index(run), value) for run, value in series.items()]
    if len(points) > 1:
        p.append('<polyline fill="none" stroke="#1565c0" stroke-width="1.5" points="'
                 + " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in points) + '"/>')
    for i, v in points:
        run = runs[i]
        p.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" fill="{DOT[validity.get(run, "unknown")]}">'
                 f'<title>{esc(f"{run}: {num_text(v)} ({validity.get(run)})")}</title></circle>')
    for run in sorted({r["run_id"] for r in rows} - set(series)):   # judged, but nothing measured
        i = runs.index(run)
        p.append(f'<circle cx="{x(i):.1f}" cy="{y(lo) - 5:.1f}" r="3.5" fill="none" stroke="{DOT["unknown"]}" '
                 f'stroke-width="1.5"><title>{esc(f"{run}: not measured ({validity.get(run)})")}</title></circle>')
    if flagged and points:
        i, v = points[-1]
        p.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="8" fill="none" stroke="#c62828" stroke-width="2"/>')
    for i in sorted({0, n // 2, n} if len(runs) > 1 else {0}):
        anchor = "start" if i == 0 else ("end" if i == n else "middle")   # the edge labels stay inside
        p.append(f'<text x="{x(i):.1f}" y="{CHART_H - 8}" class="tick" text-anchor="{anchor}">{esc(runs[i])}</text>')
    p.append("</svg>")
    return "".join(p)


def render_trends(rows: list[dict]) -> str:
    """The trends page: one chart per series across the runs of ``rows`` (the index)."""
    runs = sorted({r["run_id"] for r in rows})
    latest = runs[-1] if runs else None
    values = run_values(rows)
    flagged = {(r.scenario, r.objective, r.metric): r
               for r in regressions([r for r in rows if r["run_id"] != latest],
                                    [r for r in rows if r["run_id"] == latest])} if latest else {}
    keys = sorted({_key(r) for r in rows})
    scenarios = list(dict.fromkeys(k[0] for k in keys))
    nav = "".join(f'<li><a href="#t{n}">{esc(s)}</a></li>' for n, s in enumerate(scenarios, start=1))
    parts = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
             f"<title>Trends over {len(runs)} runs</title><style>{CSS}"
             ".reg{color:#c62828;font-weight:700}</style></head><body>",
             f"<h1>Trends over {len(runs)} runs</h1>",
             f'<p class="meta">{esc(runs[0] if runs else "no runs")} &rarr; {esc(latest or "")}; '
             f"each chart: one objective limit of one scenario, x = run (oldest left), y = measured "
             f"(median of a run's repeats), dashed red = the limit; dot colour = validity, a hollow amber "
             f"ring on the axis = judged but not measured. REGRESSION: the "
             f"newest value passes but is worse than the median of the last {WINDOW} runs by more than "
             f"{RELATIVE_MARGIN:.0%} of that median (at least {LIMIT_MARGIN:.0%} of the limit, at most "
             f"half the headroom to the limit).</p>",
             f'<p class="meta">{len(flagged)} regressions in the newest run.</p>' if latest else "",
             f"<nav><ol>{nav}</ol></nav>"]
    for n, scenario in enumerate(scenarios, start=1):
        parts.append(f'<section id="t{n}"><h2>{esc(scenario)}</h2>')
        for key in (k for k in keys if k[0] == scenario):
            series_rows = [r for r in rows if _key(r) == key]
            reg = flagged.get(key)
            head = f"{key[1]} {key[2]}"
            unit = next((r.get("unit") for r in series_rows if r.get("unit")), "")
            parts.append(f'<h3 class="series">{esc(head)}{f" ({esc(unit)})" if unit else ""}'
                         + (' <span class="reg">REGRESSION</span>' if reg else "") + "</h3>")
            parts.append(_chart(runs, values.get(key, {}), series_rows, reg is not None))
            if reg:
                parts.append(f'<p class="reg">{esc(reg.line())}</p>')
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
