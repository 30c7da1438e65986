"""Repeats (harness/report/repeats.py): every value per limit, p50/p95/max, FLAKY, the sign-off page."""

from __future__ import annotations

import json

from test_report import NODE, PASS_V, _run, _scenario

from harness.report.repeats import limit_stats, nearest_rank, signoff_page
from harness.report.records import normalised
from harness.report.writer import go_no_go, write_report


def _repeats(values_and_validities, strict=False):
    n = len(values_and_validities)
    scenarios = [_scenario(id=f"{NODE}[repeat{k}of{n}]", repeat=k, seed=f"123:{NODE}[repeat{k}of{n}]",
                           verdicts=[dict(PASS_V, measured=m, validity=v)])
                 for k, (m, v) in enumerate(values_and_validities, start=1)]
    return _run(scenarios=scenarios, strict=strict)


def test_every_value_of_a_limit_with_p50_p95_and_max():
    """Three repeats of one limit: the values in repeat order, median, nearest-rank p95, max; the seeds."""
    [g] = limit_stats(normalised(_repeats([(80.0, "pass"), (120.0, "pass"), (90.0, "pass")])))
    assert (g["scenario"], g["values"], g["p50"], g["p95"], g["max"], g["flaky"]) == \
        (NODE, [80.0, 120.0, 90.0], 90.0, 120.0, 120.0, False)
    assert g["seeds"] == [f"123:{NODE}[repeat{k}of3]" for k in (1, 2, 3)]


def test_nearest_rank_p95():
    """p95 of 1..20 is 19 (rank 19), of 1..100 is 95; of one value, that value."""
    assert nearest_rank(list(range(1, 21)), 0.95) == 19
    assert nearest_rank(list(range(100, 0, -1)), 0.95) == 95
    assert nearest_rank([7.0], 0.95) == 7.0


def test_verdicts_that_differ_between_repeats_are_flaky_and_a_sign_off_no_go():
    """pass, unknown, pass: FLAKY; a sign-off says NO-GO naming it, a non-strict run does not block."""
    run = _repeats([(80.0, "pass"), (None, "unknown"), (90.0, "pass")], strict=True)
    [g] = limit_stats(normalised(run))
    assert g["flaky"] and g["values"] == [80.0, None, 90.0] and g["p50"] == 85.0
    go, reasons = go_no_go(run, strict=True)
    assert not go and reasons[-1] == (f"FLAKY redis-outage-fail-fast latency_p99_during_fault ({NODE}): "
                                      "pass, unknown, pass over 3 repeats")
    assert go_no_go(_repeats([(80.0, "pass"), (None, "unknown")]), strict=False)[0]


def test_a_sign_off_run_writes_the_one_page_summary_with_its_evidence(tmp_path):
    """signoff.md: decision, reasons, a link per scenario to its timeline section, the limits table."""
    run_dir = write_report(tmp_path, _repeats([(80.0, "pass"), (300.0, "fail"), (90.0, "pass")], strict=True))
    page = (run_dir / "signoff.md").read_text()
    assert page.startswith(f"# Sign-off {run_dir.name}: NO-GO")
    assert "FLAKY redis-outage-fail-fast latency_p99_during_fault" in page
    assert f"| `{NODE}` | passed, passed, passed | [#1](timeline.html#s1) [#2](timeline.html#s2) " \
           "[#3](timeline.html#s3) |" in page and "[summary.md](summary.md)" in page
    assert "| 80.0, 300.0, 90.0 | 90.0 ms | 300.0 ms | 300.0 ms | **FLAKY** pass, fail, pass |" in page
    assert len(page.splitlines()) < 60   # one page
    doc = json.loads((run_dir / "report.json").read_text())
    assert doc["repeats"][0]["flaky"] is True and [s["repeat"] for s in doc["scenarios"]] == [1, 2, 3]
    assert "## Repeats" in (run_dir / "summary.md").read_text()


def test_no_sign_off_page_outside_sign_off(tmp_path):
    """A non-strict run has no signoff.md and no repeats table."""
    run_dir = write_report(tmp_path, _run())
    assert not (run_dir / "signoff.md").exists()
    assert json.loads((run_dir / "report.json").read_text())["repeats"] == []


def test_the_same_reason_in_every_repeat_is_one_line_with_its_count():
    """Three repeats skipped for one reason: one NO-GO line marked x3, one scenario row."""
    scenarios = [_scenario(id=f"{NODE}[repeat{k}of3]", repeat=k, outcome="skipped", skip_reason="no image",
                           verdicts=[]) for k in (1, 2, 3)]
    run = normalised(_run(scenarios=scenarios, strict=True))
    go, reasons = go_no_go(run, strict=True)
    page = signoff_page(run, go, reasons)
    assert f"- skipped: {NODE}: no image (x3)" in page and "## Why NO-GO (3)" in page
    assert page.count(f"| `{NODE}` | skipped, skipped, skipped |") == 1
