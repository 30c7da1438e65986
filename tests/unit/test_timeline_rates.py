"""Unit tests of the open-loop additions to the report: not-sent attempts and achieved rates."""

import json

from harness.history import NOT_SENT, History
from harness.judging.rates import rates_by_process
from harness.report import RunRecord, ScenarioRecord, write_report
from harness.report import timeline


def _history() -> History:
    h = History()
    inject = h.invoke("nemesis", "inject", {"name": "pg-stop", "kind": "stop", "target": "postgres"}, time=1.0)
    h.complete(inject, "ok", time=1.001)
    heal = h.invoke("nemesis", "heal", {"name": "pg-stop", "kind": "stop", "target": "postgres"}, time=2.0)
    h.complete(heal, "ok", time=2.001)
    for n in range(30):
        t = n * 0.1
        if 1.0 <= t < 2.0 and n % 2:
            h.not_sent("pg-writer", "insert", n, scheduled_at=t, reason="all 2 lanes were busy (max_in_flight)")
        else:
            h.complete(h.invoke("pg-writer", "insert", n, time=t), "ok", time=t + 0.01)
    return h


def test_not_sent_attempts_are_ticks_not_outcome_marks():
    """A not-sent attempt is drawn as a violet tick, never as an info/fail mark."""
    ops = [op.to_dict() for op in _history().ops]
    assert all(m.kind == "ok" for m in timeline.marks(ops) if m.process == "pg-writer")
    assert len(timeline.not_sent_times(ops)["pg-writer"]) == 5
    svg = timeline.render_svg(ops, [], rates_by_process(_history()))
    assert svg.count(timeline.NOT_SENT_COLOUR) == 1 and svg.count("v-7") == 5
    assert "during: 6.0/11.0 per s" in svg        # achieved / asked in the fault window (to 2.001)
    assert "5 attempts scheduled but not sent" in svg


def test_report_json_carries_rates_per_process_and_phase(tmp_path):
    """report.json has a rates entry per scenario: per workload process, per phase."""
    h = _history()
    scenario = ScenarioRecord(id="s::t", outcome="passed", ops=[o.to_dict() for o in h.ops],
                              rates=rates_by_process(h))
    run = RunRecord("20261129T000000-abcd", "2026-11-29T00:00:00+00:00", "2026-11-29T00:01:00+00:00", 1,
                    {}, "objectives.toml", [scenario])
    report = json.loads((write_report(tmp_path, run) / "report.json").read_text())
    during = report["scenarios"][0]["rates"]["pg-writer"]["during"]
    assert (during["scheduled"], during["sent"], during["not_sent"], during["deficient"]) == (11, 6, 5, True)  # the heal is confirmed at 2.001
    assert report["scenarios"][0]["rates"]["pg-writer"]["before"]["start"] is None  # -inf is written null
    assert NOT_SENT in (tmp_path / "20261129T000000-abcd" / "history.jsonl").read_text()
