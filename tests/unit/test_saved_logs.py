"""Container logs of failed scenarios (writer.py, timeline.py): saved beside the report and linked."""

from __future__ import annotations

import json

from test_report import FAIL_V, PASS_V, _run, _scenario

from harness.report.writer import write_report


def test_logs_are_written_per_scenario_and_linked_from_every_view(tmp_path):
    """Each service's log lands in logs/<n>-<test>/<service>.log, named in report.json and linked
    from summary.md and the timeline; a scenario without logs gets no folder and no link."""
    failed = _scenario(id="scenarios/test_x.py::test_breach[a/b]", outcome="failed", verdicts=[dict(FAIL_V)],
                       logs={"postgres": "LOG: ready\n", "web app": "started\n"})
    run_dir = write_report(tmp_path, _run(scenarios=[_scenario(verdicts=[dict(PASS_V)]), failed]))
    doc = json.loads((run_dir / "report.json").read_text())
    assert doc["scenarios"][0]["logs"] == {}
    logs = doc["scenarios"][1]["logs"]
    assert logs == {"postgres": "logs/02-test_x.py_test_breach_a_b/postgres.log",
                    "web app": "logs/02-test_x.py_test_breach_a_b/web_app.log"}
    assert (run_dir / logs["postgres"]).read_text() == "LOG: ready\n"
    summary = (run_dir / "summary.md").read_text()
    assert "## Container logs of failed scenarios" in summary and f"[web app]({logs['web app']})" in summary
    timeline = (run_dir / "timeline.html").read_text()
    assert timeline.count('href="logs/') == 2 and f'href="{logs["postgres"]}"' in timeline
    assert sorted(p.name for p in (run_dir / "logs").iterdir()) == ["02-test_x.py_test_breach_a_b"]


def test_no_logs_no_section(tmp_path):
    """A run where nothing failed has no logs folder and no logs section."""
    run_dir = write_report(tmp_path, _run())
    assert not (run_dir / "logs").exists()
    assert "Container logs" not in (run_dir / "summary.md").read_text()
