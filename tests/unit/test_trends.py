"""Trends (harness/report/trends.py): the verdict index, REGRESSION, pruning and the trends page."""

from __future__ import annotations

import json

from test_report import PASS_V, _run, _scenario

from harness.report import trends
from harness.report.writer import write_report

SERIES = ("scenarios/test_redis.py::test_outage", "redis-outage-fail-fast", "latency_p99_during_fault")


def _night(tmp_path, n: int, measured: float, validity: str = "pass", keep_runs: int = 30, **verdict):
    run = _run(run_id=f"20261129T{n:02d}0000-aaaa", started_at=f"2026-11-29T{n:02d}:00:00+00:00",
               scenarios=[_scenario(verdicts=[dict(PASS_V, measured=measured, validity=validity, **verdict)])])
    run.commit = f"{n:040x}"
    return write_report(tmp_path, run, keep_runs=keep_runs)


def test_every_run_appends_one_index_line_per_verdict(tmp_path):
    """run id, commit, scenario, objective, metric, measured, limit and validity per verdict."""
    _night(tmp_path, 1, 80.0)
    _night(tmp_path, 2, 90.0)
    rows = [json.loads(line) for line in (tmp_path / "index.jsonl").read_text().splitlines()]
    assert [r["run_id"] for r in rows] == ["20261129T010000-aaaa", "20261129T020000-aaaa"]
    assert {k: rows[1][k] for k in ("commit", "scenario", "objective", "metric", "measured", "limit", "unit",
                                    "validity", "bound")} == {
        "commit": f"{2:040x}", "scenario": SERIES[0], "objective": SERIES[1], "metric": SERIES[2],
        "measured": 90.0, "limit": 250, "unit": "ms", "validity": "pass", "bound": "max"}


def test_a_passing_value_far_above_its_median_is_a_regression_everywhere(tmp_path):
    """Four nights near 100 ms, then 140 ms (limit 250 ms): REGRESSION in report.json, summary.md and
    trends.html; the same night at 115 ms (within 20 % of the median) is not one."""
    for n, ms in enumerate((100.0, 95.0, 105.0, 100.0), start=1):
        _night(tmp_path, n, ms)
    quiet = _night(tmp_path, 5, 115.0)
    assert json.loads((quiet / "report.json").read_text())["regressions"] == []
    run_dir = _night(tmp_path, 6, 140.0)
    [reg] = json.loads((run_dir / "report.json").read_text())["regressions"]
    assert (reg["measured"], reg["median"], reg["runs"]) == (140.0, 100.0, 5)
    line = ("REGRESSION redis-outage-fail-fast latency_p99_during_fault 140.0 ms vs median 100.0 ms of the last 5 runs "
            f"(limit 250.0 ms, still passing) ({SERIES[0]})")
    assert reg["line"] == line
    assert "## Regressions" in (run_dir / "summary.md").read_text() and line in (run_dir / "summary.md").read_text()
    page = (tmp_path / "trends.html").read_text()
    assert page.count('class="reg">REGRESSION</span>') == 1 and "1 regressions in the newest run" in page


def test_no_regression_without_history_or_when_it_already_fails(tmp_path):
    """Under three earlier runs there is no median to trust; a FAIL is a breach, not a regression."""
    for n, ms in enumerate((100.0, 100.0), start=1):
        _night(tmp_path, n, ms)
    assert json.loads((_night(tmp_path, 3, 200.0) / "report.json").read_text())["regressions"] == []
    _night(tmp_path, 4, 100.0)
    failing = _night(tmp_path, 5, 300.0, validity="fail")
    assert json.loads((failing / "report.json").read_text())["regressions"] == []


def test_a_lower_bound_regresses_downwards():
    """For a min limit (availability) a lower value is worse; a higher one never regresses."""
    def rows(run, value):
        return [{"run_id": run, "scenario": "s", "objective": "o", "metric": "min_availability_after_fault",
                 "measured": value, "limit": 90.0, "unit": "%", "validity": "pass",
                 "bound": trends.bound_of("min_availability_after_fault")}]
    before = rows("r1", 100.0) + rows("r2", 100.0) + rows("r3", 99.0)
    assert [r.measured for r in trends.regressions(before, rows("r4", 91.0))] == [91.0]
    assert trends.regressions(before, rows("r4", 100.0)) == []
    assert trends.regressions(before, rows("r4", 96.0)) == []   # 3 below the median: within 5 % of the limit


def test_pruning_keeps_the_newest_runs_and_a_valid_index(tmp_path):
    """Beyond keep_runs the oldest folders go, and so do their index lines: every run id in the index
    names a folder that exists, and the page draws only them."""
    for n in range(1, 6):
        _night(tmp_path, n, 100.0 + n, keep_runs=3)
    folders = [p.name for p in trends.run_folders(tmp_path)]
    assert folders == ["20261129T030000-aaaa", "20261129T040000-aaaa", "20261129T050000-aaaa"]
    index_runs = [json.loads(line)["run_id"] for line in (tmp_path / "index.jsonl").read_text().splitlines()]
    assert index_runs == folders
    assert "Trends over 3 runs" in (tmp_path / "trends.html").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]   # no temporary debris


def test_a_torn_index_line_is_skipped_not_fatal(tmp_path):
    """A half-written line (a crash mid-append elsewhere) is dropped when the index is rewritten."""
    _night(tmp_path, 1, 100.0)
    with open(tmp_path / "index.jsonl", "a") as fh:
        fh.write('{"run_id": "2026112')
    _night(tmp_path, 2, 100.0)
    lines = (tmp_path / "index.jsonl").read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(line) for line in lines)


def test_trends_page_draws_each_series_with_its_limit(tmp_path):
    """One chart per (scenario, objective, metric), a dashed limit line, one dot per run; no scripts."""
    for n in range(1, 4):
        _night(tmp_path, n, 100.0 + n)
    page = (tmp_path / "trends.html").read_text()
    assert page.count('<svg class="chart trend"') == 1 and page.count('class="limit"') == 1
    assert page.count("<circle") == 3 and "<script" not in page and "limit 250" in page


def test_a_limit_judged_but_never_measured_is_drawn_as_a_ring(tmp_path):
    """UNKNOWN nights are not silently missing from a chart: a hollow ring sits on its axis."""
    _night(tmp_path, 1, 100.0)
    _night(tmp_path, 2, None, validity="unknown")
    page = (tmp_path / "trends.html").read_text()
    assert page.count("<circle") == 2 and "20261129T020000-aaaa: not measured (unknown)" in page


def test_repeat_suffix_is_not_part_of_the_series():
    """Repeats of one scenario feed one series."""
    assert trends.base_id("s.py::test_x[repeat2of3]") == "s.py::test_x"
    assert trends.base_id("s.py::test_x[fast-repeat2of3]") == "s.py::test_x[fast]"
    assert trends.base_id("s.py::test_x[repeat2of3-0]") == "s.py::test_x[0]"      # parametrized before --repeat
    assert trends.base_id("s.py::test_x[a-repeat2of3-b]") == "s.py::test_x[a-b]"
    assert trends.base_id("s.py::test_x[repeat-of-x]") == "s.py::test_x[repeat-of-x]"
