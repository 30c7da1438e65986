"""Repeats of one scenario (``--repeat N``): every measured value per limit, its spread, FLAKY, and
the one-page sign-off summary.

With ``--repeat N`` each scenario runs N times (node ids ``test_x[repeat1of3]`` ...), each on a reset
stack and with its own seed (``random`` seeded with ``"<run seed>:<node id>"``, recorded per
scenario). For each objective limit of each scenario, ``limit_stats`` lists every measured value in
repeat order with p50 (the median), p95 and max (nearest rank: the value at rank ceil(0.95 x n) of
the sorted values; with 3 repeats it is the max) and marks the limit FLAKY when its validity differs
between repeats (pass, fail and unknown are three different verdicts). A sign-off is a no-go on
any FLAKY limit, on top of every breach, skip and unknown.

    stats = limit_stats(normalised(run))          # [{"scenario", "objective", "metric", "values", ...}]
    text = signoff_page(normalised(run), go, reasons)   # signoff.md, also printed at the end of the run
"""

from __future__ import annotations

import math
import statistics
from collections import Counter

from harness.report.records import RunRecord, log_paths, num_text, one_line, shown_outcome, verdict_dict
from harness.report.trends import base_id


def nearest_rank(values: list[float], q: float) -> float:
    """The value at rank ceil(q x n) of the sorted values (q in (0, 1])."""
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)), 1) - 1]


def limit_stats(run: RunRecord) -> list[dict]:
    """Per (scenario without repeat suffix, objective, metric): values, validities, p50/p95/max, flaky."""
    groups: dict[tuple[str, str, str], dict] = {}
    for s in run.scenarios:
        for v in map(verdict_dict, s.verdicts):
            key = (base_id(s.id), str(v["objective"]), str(v["metric"]))
            g = groups.setdefault(key, {"scenario": key[0], "objective": key[1], "metric": key[2],
                                        "unit": v.get("unit"), "limit": v.get("limit"), "repeats": [],
                                        "values": [], "validities": [], "seeds": []})
            g["repeats"].append(s.repeat)
            g["values"].append(v.get("measured"))
            g["validities"].append(v["validity"])
            g["seeds"].append(s.seed)
    out = []
    for g in groups.values():
        numbers = [x for x in g["values"] if isinstance(x, (int, float)) and not isinstance(x, bool)]
        g["p50"] = statistics.median(numbers) if numbers else None
        g["p95"] = nearest_rank(numbers, 0.95) if numbers else None
        g["max"] = max(numbers) if numbers else None
        g["flaky"] = len(set(g["validities"])) > 1
        out.append(g)
    return out


def flaky_reasons(run: RunRecord) -> list[str]:
    """One line per FLAKY limit: its validities in repeat order."""
    return [one_line(f"FLAKY {g['objective']} {g['metric']} ({g['scenario']}): "
                     f"{', '.join(g['validities'])} over {len(g['validities'])} repeats")
            for g in limit_stats(run) if g["flaky"]]


def _n(x: object, unit: str | None) -> str:
    return "-" if x is None else f"{num_text(x)}{f' {unit}' if unit else ''}"


def _cell(text: object) -> str:
    return one_line(text).replace("|", "\\|")


def stats_table(run: RunRecord) -> list[str]:
    """Markdown rows: scenario, objective limit, every value, p50, p95, max, verdicts."""
    lines = ["| scenario | objective limit | values (by repeat) | p50 | p95 | max | verdicts |",
             "|---|---|---|---|---|---|---|"]
    for g in limit_stats(run):
        values = ", ".join("-" if x is None else num_text(x) for x in g["values"])
        verdicts = ("**FLAKY** " if g["flaky"] else "") + ", ".join(g["validities"])
        lines.append(f"| `{_cell(g['scenario'])}` | {_cell(g['objective'])} {_cell(g['metric'])} "
                     f"(limit {_n(g['limit'], g['unit'])}) | {values} | {_n(g['p50'], g['unit'])} | "
                     f"{_n(g['p95'], g['unit'])} | {_n(g['max'], g['unit'])} | {verdicts} |")
    return lines


def signoff_page(run: RunRecord, go: bool, reasons: list[str], repeat: int | None = None) -> str:
    """signoff.md: the decision, why, and where the evidence is, on one page."""
    repeats = repeat or max((s.repeat or 1 for s in run.scenarios), default=1)
    lines = [f"# Sign-off {run.run_id}: {'GO' if go else 'NO-GO'}", "",
             f"- {len({base_id(s.id) for s in run.scenarios})} scenarios x {repeats} repeats, seed `{run.seed}`, "
             f"commit `{run.commit or 'unknown'}`, {run.started_at} -> {run.finished_at}",
             "- a no-go on any failed or skipped scenario, FAIL, UNKNOWN or FLAKY verdict",
             "- evidence: [summary.md](summary.md), [timeline.html](timeline.html), [report.json](report.json), "
             "[junit.xml](junit.xml), [trends](../trends.html)", ""]
    if reasons:   # the same reason in several repeats is one line with its count
        grouped = Counter(base_id(r) for r in reasons)
        lines += [f"## Why NO-GO ({len(reasons)})", ""]
        lines += [f"- {_cell(r)}" + (f" (x{k})" if k > 1 else "") for r, k in list(grouped.items())[:30]]
        if len(grouped) > 30:
            lines.append(f"- ... and {len(grouped) - 30} more in summary.md")
        lines.append("")
    lines += ["## Scenarios", "", "| scenario | outcome by repeat | evidence (timeline, logs) |", "|---|---|---|"]
    rows: dict[str, list[str]] = {}
    for n, s in enumerate(run.scenarios, start=1):
        logs = "".join(f" [{_cell(k)}]({p})" for k, p in log_paths(n, s).items())
        rows.setdefault(base_id(s.id), []).append(f"{shown_outcome(s)}\t[#{n}](timeline.html#s{n}){logs}")
    for scenario, cells in rows.items():
        outcomes, links = zip(*(c.split("\t") for c in cells))
        lines.append(f"| `{_cell(scenario)}` | {', '.join(outcomes)} | {' '.join(links)} |")
    lines += ["", "## Every limit across repeats", "", *stats_table(run)]
    return "\n".join(lines) + "\n"
