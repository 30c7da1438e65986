"""Unit tests for harness/report/writer.py and harness/report/timeline.py on hand-made run records."""

from __future__ import annotations

import dataclasses
import json
import os
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.report import timeline
from harness.report import writer as report
from harness.report.records import RunRecord, ScenarioRecord, faults_from_ops, shown_outcome, verdict_line
from harness.report.writer import go_no_go, junit_properties, latest_run_id, report_dict, write_report

# The keys CI jobs and dashboards read (DESIGN.md, "Report"). Renaming one must fail these tests.
DESIGN_RUN_KEYS = {"schema", "run_id", "started_at", "finished_at", "seed", "environment", "scenarios"}
DESIGN_ENVIRONMENT_KEYS = {"engine", "images"}
DESIGN_IMAGE_KEYS = {"ref", "id", "source"}
DESIGN_SCENARIO_KEYS = {"id", "outcome", "skip_reason", "faults", "verdicts"}
DESIGN_FAULT_KEYS = {"name", "kind", "target", "injected_at", "healed_at"}
DESIGN_VERDICT_KEYS = {"objective", "metric", "limit", "measured", "unit", "validity", "explanation"}

NODE = "scenarios/test_redis.py::test_outage"
PASS_V = {"objective": "redis-outage-fail-fast", "metric": "latency_p99_during_fault", "limit": 250,
          "measured": 87.0, "unit": "ms", "validity": "pass", "explanation": "p99 of 93 ops was 87 ms."}
FAIL_V = {"objective": "pg-rto", "metric": "rto", "limit": 5.0, "measured": 8.21, "unit": "s",
          "validity": "fail", "explanation": "Writes resumed 8.21 s after the kill; 5 s allowed."}
UNKNOWN_V = {"objective": "redis-outage-fail-fast", "metric": "error_rate_after_heal", "limit": 0.01,
             "measured": None, "unit": "", "validity": "unknown",
             "explanation": "No op completed after the heal."}


def _ops(process: str = "api", start_s: float = 1.0) -> list[dict]:
    """An ok, a fail, an info and a never-completed op, plus one fault inject/heal by the nemesis."""
    rows = [
        (0, start_s, "nemesis", "invoke", "inject", {"name": "down(redis)", "kind": "down",
                                                    "target": "redis"}, None, None),
        (1, start_s + 0.01, "nemesis", "ok", "inject", None, None, 0),
        (2, start_s + 0.1, process, "invoke", "get", 1, None, None),
        (3, start_s + 0.102, process, "ok", "get", 1, None, 2),
        (4, start_s + 0.2, process, "invoke", "get", 2, None, None),
        (5, start_s + 0.201, process, "fail", "get", None, "ConnectionError: refused", 4),
        (6, start_s + 0.3, process, "invoke", "set", 3, None, None),
        (7, start_s + 0.55, process, "info", "set", None, "TimeoutError: 250 ms", 6),
        (8, start_s + 0.6, process, "invoke", "set", 4, None, None),
        (9, start_s + 2.0, "nemesis", "invoke", "heal", {"name": "down(redis)", "kind": "down",
                                                        "target": "redis"}, None, None),
        (10, start_s + 2.02, "nemesis", "ok", "heal", None, None, 9),
    ]
    keys = ("index", "time", "process", "type", "f", "value", "error", "invoke_index")
    return [dict(zip(keys, row)) for row in rows]


def _scenario(**overrides) -> ScenarioRecord:
    fields = dict(id=NODE, outcome="passed", skip_reason=None, duration_s=3.5,
                  faults=[{"name": "down(redis)", "kind": "down", "target": "redis",
                           "injected_at": 1.01, "healed_at": 3.02}],
                  verdicts=[dict(PASS_V)], ops=_ops(), error=None)
    return ScenarioRecord(**(fields | overrides))


def _run(run_id: str = "20261129T014501-aaaa", started_at: str = "2026-11-29T01:45:01+00:00",
         scenarios: list[ScenarioRecord] | None = None, strict: bool = False) -> RunRecord:
    return RunRecord(run_id=run_id, started_at=started_at, finished_at="2026-11-29T01:47:00+00:00",
                     seed=123,
                     environment={"engine": {"version": "20.10.24", "api_version": "1.41"},
                                  "images": {"postgres": {"ref": "postgres:16.4", "id": "sha256:" + "a" * 64,
                                                          "source": "built"}}},
                     objectives_file="objectives.toml",
                     scenarios=[_scenario()] if scenarios is None else scenarios, strict=strict)


def _missing_design_keys(doc: dict) -> list[str]:
    """Every DESIGN key absent from a report.json document, as a dotted path."""
    missing = [k for k in DESIGN_RUN_KEYS if k not in doc]
    env = doc.get("environment", {})
    missing += [f"environment.{k}" for k in DESIGN_ENVIRONMENT_KEYS if k not in env]
    for name, image in env.get("images", {}).items():
        missing += [f"environment.images.{name}.{k}" for k in DESIGN_IMAGE_KEYS if k not in image]
    for s in doc.get("scenarios", []):
        missing += [f"scenarios[].{k}" for k in DESIGN_SCENARIO_KEYS if k not in s]
        for f in s.get("faults", []):
            missing += [f"scenarios[].faults[].{k}" for k in DESIGN_FAULT_KEYS if k not in f]
        for v in s.get("verdicts", []):
            missing += [f"scenarios[].verdicts[].{k}" for k in DESIGN_VERDICT_KEYS if k not in v]
    return missing


def _load(run_dir: Path) -> dict:
    return json.loads((run_dir / "report.json").read_text(encoding="utf-8"))


def test_report_json_has_every_design_key(tmp_path):
    """report.json carries every key DESIGN.md promises to CI jobs and dashboards, at every level."""
    doc = _load(write_report(tmp_path, _run()))
    assert _missing_design_keys(doc) == []
    assert doc["schema"] == 1


def test_key_check_catches_a_renamed_key():
    """Negative control: renaming a DESIGN key (here verdict 'measured') is reported as missing."""
    doc = report_dict(_run())
    doc["scenarios"][0]["verdicts"][0]["measured_value"] = doc["scenarios"][0]["verdicts"][0].pop("measured")
    doc["runid"] = doc.pop("run_id")
    assert sorted(_missing_design_keys(doc)) == ["run_id", "scenarios[].verdicts[].measured"]


def test_report_json_values_round_trip(tmp_path):
    """Every value of the record comes back unchanged from report.json, with the extras alongside."""
    run = _run(scenarios=[_scenario(), _scenario(id="b::t", outcome="skipped", skip_reason="no ES",
                                                 faults=[], verdicts=[], ops=[], duration_s=0.0),
                          _scenario(id="c::t", outcome="failed", error="AssertionError: boom",
                                    verdicts=[dict(FAIL_V)])])
    doc = _load(write_report(tmp_path, run))
    assert (doc["run_id"], doc["started_at"], doc["finished_at"], doc["seed"]) == \
        (run.run_id, run.started_at, run.finished_at, run.seed)
    assert doc["environment"] == run.environment
    assert doc["objectives_file"] == "objectives.toml" and doc["strict"] is False
    for got, want in zip(doc["scenarios"], run.scenarios, strict=True):
        assert (got["id"], got["outcome"], got["skip_reason"], got["duration_s"], got["error"]) == \
            (want.id, want.outcome, want.skip_reason, want.duration_s, want.error)
        assert got["faults"] == want.faults and got["verdicts"] == want.verdicts
        assert got["ops_count"] == len(want.ops)
    summary = doc["summary"]
    assert (summary["passed"], summary["skipped"], summary["failed"], summary["error"]) == (1, 1, 1, 0)
    assert summary["verdicts"] == {"pass": 1, "fail": 1, "unknown": 0}
    assert summary["go"] is False and len(summary["reasons"]) == 2


def test_history_jsonl_holds_every_op_with_its_scenario(tmp_path):
    """history.jsonl has one line per op of every scenario, each tagged with the scenario id."""
    run = _run(scenarios=[_scenario(), _scenario(id="b::t", ops=_ops("worker", 5.0))])
    lines = (write_report(tmp_path, run) / "history.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == 22
    assert [r["scenario"] for r in rows] == [NODE] * 11 + ["b::t"] * 11
    assert {k: v for k, v in rows[5].items() if k != "scenario"} == _ops()[5]


def test_faults_are_read_from_nemesis_ops_when_not_given(tmp_path):
    """A scenario without explicit faults gets its windows from the nemesis ops' ok completions."""
    assert faults_from_ops(_ops()) == [{"name": "down(redis)", "kind": "down", "target": "redis",
                                        "injected_at": 1.01, "healed_at": 3.02}]
    doc = _load(write_report(tmp_path, _run(scenarios=[_scenario(faults=[])])))
    assert doc["scenarios"][0]["faults"][0]["healed_at"] == 3.02


def test_unhealed_fault_and_failed_inject_are_not_invented():
    """A fault whose heal never completed keeps healed_at None; a failed inject keeps injected_at None."""
    ops = _ops()[:9]
    ops[1] = ops[1] | {"type": "fail", "error": "proxy missing"}
    assert faults_from_ops(ops)[0] == {"name": "down(redis)", "kind": "down", "target": "redis",
                                            "injected_at": None, "healed_at": None}


def test_non_finite_measurements_become_null(tmp_path):
    """An infinite measured value (never recovered) is written as null so report.json stays valid JSON."""
    v = dict(FAIL_V, measured=float("inf"))
    text = (write_report(tmp_path, _run(scenarios=[_scenario(verdicts=[v])])) / "report.json").read_text()
    assert json.loads(text)["scenarios"][0]["verdicts"][0]["measured"] is None
    assert "Infinity" not in text


def test_latest_points_to_the_newest_of_two_runs(tmp_path):
    """latest follows the newer run, and re-rendering the older run does not move it back."""
    old = _run("20261129T010000-aaaa", "2026-11-29T01:00:00+00:00")
    new = _run("20261129T020000-bbbb", "2026-11-29T02:00:00+00:00")
    write_report(tmp_path, old)
    assert latest_run_id(tmp_path) == old.run_id
    write_report(tmp_path, new)
    assert (tmp_path / "latest").is_symlink() and latest_run_id(tmp_path) == new.run_id
    assert _load(tmp_path / "latest")["run_id"] == new.run_id
    write_report(tmp_path, old)
    assert latest_run_id(tmp_path) == new.run_id
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["latest", old.run_id, new.run_id, "index.jsonl", "trends.html"])


def test_latest_is_a_text_file_where_symlinks_fail(tmp_path, monkeypatch):
    """Where symlinks cannot be made, latest is a file holding the newest run id."""
    def no_symlink(*args, **kwargs):
        raise OSError(1, "Operation not permitted")
    monkeypatch.setattr(report.os, "symlink", no_symlink)
    write_report(tmp_path, _run("20261129T010000-aaaa"))
    write_report(tmp_path, _run("20261129T020000-bbbb", "2026-11-29T02:00:00+00:00"))
    assert not (tmp_path / "latest").is_symlink()
    assert (tmp_path / "latest").read_text() == "20261129T020000-bbbb\n"


def test_failure_mid_render_leaves_no_run_dir_and_latest_unchanged(tmp_path, monkeypatch):
    """A renderer crash leaves no run folder, no temporary folder, and latest where it was."""
    write_report(tmp_path, _run("20261129T010000-aaaa"))
    before = sorted(p.name for p in tmp_path.iterdir())

    def broken(*args, **kwargs):
        raise RuntimeError("renderer crashed")
    monkeypatch.setattr(timeline, "render_html", broken)
    with pytest.raises(RuntimeError, match="renderer crashed"):
        write_report(tmp_path, _run("20261129T020000-bbbb", "2026-11-29T02:00:00+00:00"))
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert latest_run_id(tmp_path) == "20261129T010000-aaaa"


def test_rewriting_a_run_replaces_its_folder(tmp_path):
    """Writing the same run id twice leaves one complete folder with the second content and no debris."""
    write_report(tmp_path, _run())
    run_dir = write_report(tmp_path, _run(scenarios=[_scenario(id="second::t")]))
    assert _load(run_dir)["scenarios"][0]["id"] == "second::t"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["20261129T014501-aaaa", "index.jsonl", "latest", "trends.html"]
    assert sorted(p.name for p in run_dir.iterdir()) == \
        ["history.jsonl", "junit.xml", "report.json", "summary.md", "timeline.html"]


def test_a_run_id_that_is_not_a_folder_name_is_refused(tmp_path):
    """A run id with a path separator or named 'latest' is refused before anything is written."""
    for bad in ("../escape", "latest", ""):
        with pytest.raises(HarnessError, match="cannot name a report folder"):
            write_report(tmp_path, _run(bad))
    assert list(tmp_path.iterdir()) == []


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += attrs
        if tag not in ("meta", "br"):  # HTML void elements used by the page
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs):  # <rect .../> opens and closes at once
        self.tags.append(tag)
        self.attrs += attrs

    def handle_endtag(self, tag):
        assert self.open and self.open.pop() == tag, f"</{tag}> closes {self.open[-1:]}"

    def handle_data(self, data):
        self.text.append(data)


def _parse(html_text: str) -> _Tags:
    parser = _Tags()
    parser.feed(html_text)
    parser.close()
    return parser


def test_timeline_is_self_contained_html_with_an_svg_per_scenario(tmp_path):
    """timeline.html parses with balanced tags, has one chart per scenario with data, no script, no assets."""
    run = _run(scenarios=[_scenario(), _scenario(id="b::t", outcome="skipped", skip_reason="no ES",
                                                 faults=[], verdicts=[], ops=[])])
    page = _parse((write_report(tmp_path, run) / "timeline.html").read_text(encoding="utf-8"))
    assert page.open == []
    assert page.tags.count("svg") >= 2 and "script" not in page.tags
    assert ("class", "chart") in page.attrs
    assert page.tags.count("circle") >= 2 and "rect" in page.tags and "path" in page.tags
    assert not [v for k, v in page.attrs if k in ("src", "href") and not (v or "").startswith("#")]
    text = "".join(page.text)
    assert "No operations or faults recorded." in text and verdict_line(PASS_V) in text


def test_timeline_escapes_text_so_a_script_named_fault_stays_inert(tmp_path):
    """A fault and a process named with markup appear as text, never as tags."""
    evil = "<script>alert(1)</script>"
    ops = [op | {"process": evil} if op["process"] == "api" else op for op in _ops()]
    run = _run(scenarios=[_scenario(id=f"x::t[{evil}]", ops=ops,
                                    faults=[{"name": evil, "kind": "down", "target": "redis\"'",
                                             "injected_at": 1.0, "healed_at": 2.0}])])
    html_text = (write_report(tmp_path, run) / "timeline.html").read_text(encoding="utf-8")
    page = _parse(html_text)
    assert "script" not in page.tags and evil not in html_text
    assert evil in "".join(page.text)


def test_timeline_chart_places_marks_by_outcome():
    """Each invoke becomes one mark: ok, fail, info by its completion, pending when never completed."""
    got = [(m.process, m.kind, None if m.latency_ms is None else round(m.latency_ms, 3))
           for m in timeline.marks(_ops()) if m.process == "api"]
    assert got == [("api", "ok", 2.0), ("api", "fail", 1.0), ("api", "info", 250.0), ("api", "pending", None)]


def test_summary_markdown_explains_every_fail_and_unknown(tmp_path):
    """summary.md has the run header, a scenario table, and each FAIL/unknown verdict's explanation."""
    run = _run(scenarios=[_scenario(verdicts=[dict(PASS_V), dict(UNKNOWN_V)]),
                          _scenario(id="c::t|pipe", outcome="failed", verdicts=[dict(FAIL_V)])])
    md = (write_report(tmp_path, run) / "summary.md").read_text(encoding="utf-8")
    assert md.startswith("# Run 20261129T014501-aaaa\n")
    assert "seed: `123`" in md and "postgres:16.4" in md and "20.10.24" in md
    assert FAIL_V["explanation"] in md and UNKNOWN_V["explanation"] in md
    assert PASS_V["explanation"] not in md
    assert "| `c::t\\|pipe` | failed |" in md


def test_verdict_line_formats():
    """verdict_line gives one line: word, objective, metric, the relation found, node id, explanation."""
    assert verdict_line(PASS_V, NODE) == \
        "PASS redis-outage-fail-fast latency_p99_during_fault 87.0 ms <= 250 ms  (" + NODE + ")"
    assert verdict_line(FAIL_V) == \
        "FAIL pg-rto rto 8.21 s > 5.0 s: Writes resumed 8.21 s after the kill; 5 s allowed."
    assert verdict_line(UNKNOWN_V | {"scenario": "u::t"}) == ("UNKNOWN redis-outage-fail-fast "
        "error_rate_after_heal not measured (limit 0.01)  (u::t): No op completed after the heal.")
    floor = {"objective": "avail", "metric": "success_ratio", "limit": 0.99, "measured": 0.95,
             "unit": "", "validity": "fail", "explanation": "too\nmany\nerrors", "comparison": ">="}
    assert verdict_line(floor) == "FAIL avail success_ratio 0.95 < 0.99: too many errors"


def test_unrecognised_validity_is_unknown_never_pass():
    """A verdict with a validity outside pass/fail/unknown is reported as UNKNOWN and blocks strict go."""
    odd = dict(PASS_V, validity="probably")
    assert verdict_line(odd).startswith("UNKNOWN ")
    assert go_no_go(_run(scenarios=[_scenario(verdicts=[odd])]), strict=True)[0] is False
    assert verdict_line(dict(PASS_V, validity="PASS")).startswith("PASS ")


def test_go_no_go_strict_vs_non_strict():
    """Strict blocks on skips and unknowns too; non-strict only on failures, errors and FAIL verdicts."""
    clean = _run(scenarios=[_scenario()])
    assert go_no_go(clean, strict=True) == (True, [])
    assert go_no_go(clean, strict=False) == (True, [])
    soft = _run(scenarios=[_scenario(verdicts=[dict(UNKNOWN_V)]),
                           _scenario(id="s::t", outcome="skipped", skip_reason="no ES", verdicts=[])])
    assert go_no_go(soft, strict=False) == (True, [])
    go, reasons = go_no_go(soft, strict=True)
    assert not go and len(reasons) == 2
    assert reasons[1] == "skipped: s::t: no ES" and reasons[0].startswith("UNKNOWN ")
    hard = _run(scenarios=[_scenario(verdicts=[dict(FAIL_V)]),
                           _scenario(id="e::t", outcome="error", error="ServiceNotReady: pg", verdicts=[])])
    for strict in (True, False):
        go, reasons = go_no_go(hard, strict=strict)
        assert not go and reasons == [verdict_line(FAIL_V, NODE), "error: e::t: ServiceNotReady: pg"]
    assert go_no_go(_run(scenarios=[]), strict=True) == (False, ["no scenarios ran"])
    assert go_no_go(_run(scenarios=[]), strict=False) == (True, [])


def test_junit_properties():
    """junit properties name each verdict and fault with a compact value."""
    props = junit_properties(_scenario(verdicts=[dict(PASS_V), dict(FAIL_V)], skip_reason=None))
    assert props == [
        ("verdict:redis-outage-fail-fast:latency_p99_during_fault", "pass 87.0ms<=250ms"),
        ("verdict:pg-rto:rto", "fail 8.21s>5.0s: Writes resumed 8.21 s after the kill; 5 s allowed."),
        ("fault:down(redis)", "down on redis injected_at=1.01s healed_at=3.02s"),
    ]


def test_scenario_record_rejects_an_unknown_outcome():
    """An outcome outside passed/failed/skipped/error is refused at construction."""
    with pytest.raises(ValueError, match="outcome 'xpassed'"):
        _scenario(outcome="xpassed")


def test_written_report_is_readable_by_others(tmp_path):
    """The run folder is world-readable (mkdtemp's 0700 is widened before the rename)."""
    run_dir = write_report(tmp_path, _run())
    assert os.stat(run_dir).st_mode & 0o755 == 0o755


def test_history_ops_and_verdict_objects_are_accepted(tmp_path):
    """Op objects from harness.history and verdict objects with to_dict() render like their dicts."""
    from harness.history import History

    @dataclasses.dataclass(frozen=True)
    class V:
        validity: str

        def to_dict(self) -> dict:
            return dict(PASS_V, validity=self.validity)

    h = History()
    inject = h.invoke(process="nemesis", f="inject", value={"name": "down(redis)", "kind": "down",
                                                            "target": "redis"})
    h.complete(inject, "ok")
    h.complete(h.invoke(process="api", f="get", value=1), "fail", error="ConnectionError: refused")
    run = _run(scenarios=[_scenario(ops=list(h.ops), faults=[], verdicts=[V("fail")])])
    run_dir = write_report(tmp_path, run)
    doc = _load(run_dir)
    assert doc["scenarios"][0]["verdicts"][0] == dict(PASS_V, validity="fail")
    assert doc["scenarios"][0]["faults"][0]["name"] == "down(redis)"
    assert doc["scenarios"][0]["faults"][0]["healed_at"] is None
    rows = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    assert [r["type"] for r in rows] == ["invoke", "ok", "invoke", "fail"]


def test_a_passed_scenario_whose_verdicts_are_all_unknown_shows_no_evidence():
    """shown_outcome: all unknown -> "no evidence"; one pass, a failure or no verdicts keep the outcome."""
    assert shown_outcome(_scenario(verdicts=[dict(UNKNOWN_V), dict(UNKNOWN_V)])) == "no evidence"
    assert shown_outcome(_scenario(verdicts=[dict(UNKNOWN_V), dict(PASS_V)])) == "passed"
    assert shown_outcome(_scenario(verdicts=[])) == "passed"
    assert shown_outcome(_scenario(outcome="failed", verdicts=[dict(UNKNOWN_V)])) == "failed"
    # an unrecognised validity reads as unknown, so it cannot make a scenario look measured
    assert shown_outcome(_scenario(verdicts=[dict(UNKNOWN_V, validity="maybe")])) == "no evidence"


def test_no_evidence_is_never_green_in_summary_or_timeline(tmp_path):
    """summary.md lists the scenario as "no evidence" and the timeline draws it amber, not passed."""
    blind = _scenario(verdicts=[dict(UNKNOWN_V)])
    run_dir = write_report(tmp_path, _run(scenarios=[blind]))
    summary = (run_dir / "summary.md").read_text()
    assert f"| `{NODE}` | no evidence |" in summary and f"| `{NODE}` | passed |" not in summary
    page = (run_dir / "timeline.html").read_text()
    assert 'class="outcome no-evidence">no evidence<' in page and 'class="outcome passed"' not in page
    strict = write_report(tmp_path / "strict", _run(scenarios=[blind], strict=True))
    assert "NO-GO" in (strict / "summary.md").read_text()


def test_only_a_shard_whose_share_was_empty_may_sign_off_with_no_scenarios() -> None:
    """A ``--shard`` run that had nothing to run (its record says 0 tests) is no no-go by itself; a
    shard that should have run tests but recorded none still is ("no scenarios ran")."""
    def shard_run(tests: int) -> RunRecord:
        run = _run(scenarios=[], strict=True)
        run.environment["shard"] = {"index": 2, "count": 2, "tests": tests, "collected": 1, "plan": "x"}
        return run
    assert go_no_go(shard_run(0), strict=True) == (True, [])
    assert go_no_go(shard_run(1), strict=True) == (False, ["no scenarios ran"])
