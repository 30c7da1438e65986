"""Tests of the pytest plugin (harness/plugin/hooks.py) through ``pytester``: header, bad input, verdicts,
the run report, sign-off and ``--no-report``. No Docker: inner scenarios judge hand-built histories.
"""

from __future__ import annotations

import json
import re

import pytest

from harness.report.writer import latest_run_id

# Mirrors the project's pytest configuration, so inner runs see registered markers and strictness.
INNER_INI = """
[pytest]
addopts = --strict-markers -p no:cacheprovider
filterwarnings = error
markers =
    docker: needs a Docker engine
    objectives(*ids): the objective ids a scenario checks
"""

OBJECTIVES = """
[objectives.demo-recovery]
description = "The demo service serves again within 1 s of the heal, and hardly fails before the fault."
owner = "team-test"
runbook = "docs/runbooks/demo.md"

[objectives.demo-recovery.limits]
rto = "1 s"
max_error_rate_before_fault = "10 %"
"""

# A hand-built history: 10 ok reads, a fault (inject at 1.0 s, shown in effect, heal at 2.0 s) during which reads
# fail, then ``fail_after_heal_s`` more seconds of failures, then ok reads again.
HISTORY_HELPER = """
import pytest

FAULT = {"name": "down(demo)", "kind": "down", "target": "demo"}


def record(history, fail_after_heal_s):
    def read(t, outcome):
        op = history.invoke("reader", "read", None, time=t)
        history.complete(op, outcome, time=t + 0.01)

    for k in range(10):
        read(0.1 * k, "ok")
    inject = history.invoke("nemesis", "inject", FAULT, time=1.0)
    history.complete(inject, "ok", time=1.01)
    probe = history.invoke("nemesis", "probe", FAULT, time=1.02)
    history.complete(probe, "ok", value="a probe through 127.0.0.1:1: refused", time=1.03)
    for k in range(9):
        read(1.05 + 0.1 * k, "fail")
    heal = history.invoke("nemesis", "heal", FAULT, time=2.0)
    history.complete(heal, "ok", time=2.01)
    t = 2.05
    while t < 2.05 + fail_after_heal_s:
        read(t, "fail")
        t += 0.1
    for k in range(5):
        read(t + 0.1 * k, "ok")
"""

HEADER = re.compile(r"harness: run (?P<run>\S+), seed (?P<seed>\d+), objectives (?P<path>.+?) "
                    r"\((?P<count>\d+) objectives\)")

DESIGN_RUN_KEYS = {"schema", "run_id", "started_at", "finished_at", "seed", "environment", "scenarios"}
DESIGN_SCENARIO_KEYS = {"id", "outcome", "skip_reason", "faults", "verdicts"}
DESIGN_FAULT_KEYS = {"name", "kind", "target", "injected_at", "healed_at"}
DESIGN_VERDICT_KEYS = {"objective", "metric", "limit", "measured", "unit", "validity", "explanation"}


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester directory with the project's ini settings and a valid objectives file."""
    pytester.makeini(INNER_INI)
    (pytester.path / "objectives.toml").write_text(OBJECTIVES)
    (pytester.path / "history_helper.py").write_text(HISTORY_HELPER)
    return pytester


def run(pytester: pytest.Pytester, *args: str, objectives: str = "objectives.toml",
        reports: str = "reports") -> pytest.RunResult:
    """Run pytest in a subprocess with the harness options every run here passes."""
    return pytester.runpytest_subprocess(f"--objectives={pytester.path / objectives}",
                                         f"--reports-dir={pytester.path / reports}", *args,
                                         timeout=120)


def header(result: pytest.RunResult) -> re.Match[str]:
    """The harness header line of an inner run (fails the test if there is none)."""
    found = [m for line in result.outlines if (m := HEADER.search(line))]
    assert len(found) == 1, "\n".join(result.outlines)
    return found[0]


def write_scenario(pytester: pytest.Pytester, body: str) -> None:
    pytester.makepyfile(test_scenario="from history_helper import record\n" + body)


MET = """
import pytest

@pytest.mark.objectives("demo-recovery")
def test_recovers(history, judge):
    record(history, fail_after_heal_s=0.0)
    judge("demo-recovery", f="read")
"""

BREACHED = """
import pytest

@pytest.mark.objectives("demo-recovery")
def test_recovers_slowly(history, judge):
    record(history, fail_after_heal_s=1.5)
    judge("demo-recovery", f="read")
"""

SKIPPED = """
import pytest

@pytest.mark.objectives("demo-recovery")
def test_needs_what_is_missing(history, judge):
    pytest.skip("elasticsearch image cannot be had here")
"""


# -- the header --------------------------------------------------------------------------------
def test_header_names_objectives_seed_and_run_id(inner: pytest.Pytester) -> None:
    """The header prints the objectives file in use, the run's seed and a run id."""
    inner.makepyfile("def test_nothing():\n    pass\n")
    result = run(inner)
    assert result.ret == 0
    found = header(result)
    assert found["path"].endswith("objectives.toml")
    assert found["count"] == "1"
    assert re.fullmatch(r"\d{8}T\d{6}-[0-9a-f]{4}", found["run"])


def test_header_prints_the_seed_given(inner: pytest.Pytester) -> None:
    """``--seed 42`` prints seed 42."""
    inner.makepyfile("def test_nothing():\n    pass\n")
    result = run(inner, "--seed", "42")
    assert result.ret == 0
    assert header(result)["seed"] == "42"


def test_seed_last_reuses_the_newest_reports_seed(inner: pytest.Pytester) -> None:
    """``--seed last`` reuses the seed of ``<reports-dir>/latest/report.json`` after a run wrote one."""
    write_scenario(inner, MET)
    first = run(inner)
    assert first.ret == 0
    seed = header(first)["seed"]
    stored = json.loads((inner.path / "reports" / header(first)["run"] / "report.json").read_text())
    assert str(stored["seed"]) == seed
    second = run(inner, "--seed", "last")
    assert second.ret == 0
    assert header(second)["seed"] == seed
    assert header(second)["run"] != header(first)["run"]


def test_seed_last_without_a_report_is_a_usage_error(inner: pytest.Pytester) -> None:
    """``--seed last`` with no earlier report stops the run with one line saying what to do."""
    inner.makepyfile("def test_nothing():\n    pass\n")
    result = run(inner, "--seed", "last")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    lines = [line for line in result.errlines if "--seed last" in line]
    assert len(lines) == 1 and "report.json" in lines[0]


# -- a bad objectives file ---------------------------------------------------------------------
BAD_OBJECTIVES = {
    "syntax-error": ("[objectives.demo\ndescription = 'x'\n", "TOML syntax error"),
    "unknown-key": (OBJECTIVES.replace('owner = "team-test"', 'owner = "team-test"\nownr = "typo"'),
                    'unknown key "ownr"'),
    "limit-without-unit": (OBJECTIVES.replace('rto = "1 s"', 'rto = "1"'), "missing unit"),
    "limit-not-a-string": (OBJECTIVES.replace('rto = "1 s"', "rto = 1"), "missing unit"),
    "negative-limit": (OBJECTIVES.replace('rto = "1 s"', 'rto = "-1 s"'), "negative limit"),
}


@pytest.mark.parametrize("case", sorted(BAD_OBJECTIVES))
def test_bad_objectives_file_stops_the_run_with_one_line(inner: pytest.Pytester, case: str) -> None:
    """A bad objectives file is a usage error (exit 4): one line naming the file and problem, no test runs."""
    text, problem = BAD_OBJECTIVES[case]
    (inner.path / "bad-objectives.toml").write_text(text)
    inner.makepyfile("from pathlib import Path\n\ndef test_runs():\n    Path('ran').write_text('1')\n")
    result = run(inner, objectives="bad-objectives.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    naming = [line for line in result.errlines + result.outlines if "bad-objectives.toml" in line]
    assert len(naming) == 1, "\n".join(result.errlines + result.outlines)
    assert problem in naming[0]
    assert not (inner.path / "ran").exists()
    assert not (inner.path / "reports").exists()


def test_missing_objectives_file_is_a_usage_error(inner: pytest.Pytester) -> None:
    """An objectives path that does not exist stops the run with one line naming it."""
    inner.makepyfile("def test_nothing():\n    pass\n")
    result = run(inner, objectives="nowhere.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    naming = [line for line in result.errlines if "nowhere.toml" in line]
    assert len(naming) == 1 and "not found" in naming[0]


def test_without_an_objectives_file_plain_tests_run_and_scenarios_are_told(inner: pytest.Pytester) -> None:
    """A project that installed the harness: its plain unit tests run without objectives.toml; the
    first scenario (a test using the harness's fixtures) stops the run with the one line."""
    (inner.path / "objectives.toml").unlink()
    inner.makepyfile(test_plain="def test_plain():\n    assert 1 + 1 == 2\n")
    plain = inner.runpytest_subprocess("test_plain.py", f"--reports-dir={inner.path / 'reports'}", timeout=120)
    plain.assert_outcomes(passed=1)
    inner.makepyfile(test_scenario="def test_scenario(history):\n    pass\n")
    both = inner.runpytest_subprocess(f"--reports-dir={inner.path / 'reports'}", timeout=120)
    assert both.ret == pytest.ExitCode.USAGE_ERROR
    naming = [line for line in both.errlines if "objectives file not found" in line]
    assert len(naming) == 1 and "dr-harness init" in naming[0], both.errlines
    assert not [line for line in both.outlines + both.errlines if "Traceback" in line]


def test_unknown_objective_in_marker_stops_the_run(inner: pytest.Pytester) -> None:
    """``@pytest.mark.objectives("no-such-id")`` stops the run with one line naming the id, test and file."""
    inner.makepyfile(test_marked="""
        import pytest
        from pathlib import Path

        @pytest.mark.objectives("no-such-id")
        def test_checks_a_missing_objective():
            Path("ran").write_text("1")
    """)
    result = run(inner)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    naming = [line for line in result.errlines + result.outlines if "no-such-id" in line]
    assert len(naming) == 1, "\n".join(result.errlines + result.outlines)
    assert "test_marked.py::test_checks_a_missing_objective" in naming[0]
    assert "objectives.toml" in naming[0]
    assert not (inner.path / "ran").exists()


# -- verdicts and the report -------------------------------------------------------------------
def test_met_objective_passes_with_verdicts_and_a_report(inner: pytest.Pytester) -> None:
    """A met objective passes, prints one PASS line per limit and writes report.json with DESIGN's keys."""
    write_scenario(inner, MET)
    result = run(inner)
    assert result.ret == 0, "\n".join(result.outlines)
    result.assert_outcomes(passed=1)
    out = "\n".join(result.outlines)
    assert re.search(r"=+ verdicts =+", out)
    verdicts = [line for line in result.outlines if line.startswith(("PASS ", "FAIL ", "UNKNOWN "))]
    assert sorted(line.split()[2] for line in verdicts) == ["max_error_rate_before_fault", "rto"]
    assert all(line.startswith("PASS demo-recovery ") for line in verdicts)
    assert all("test_scenario.py::test_recovers" in line for line in verdicts)

    found = header(result)
    reports = inner.path / "reports"
    doc = json.loads((reports / found["run"] / "report.json").read_text())
    assert DESIGN_RUN_KEYS <= doc.keys()
    assert doc["schema"] == 1 and doc["run_id"] == found["run"] and str(doc["seed"]) == found["seed"]
    assert doc["started_at"] <= doc["finished_at"]
    assert isinstance(doc["environment"], dict)
    [scenario] = doc["scenarios"]
    assert DESIGN_SCENARIO_KEYS <= scenario.keys()
    assert scenario["id"] == "test_scenario.py::test_recovers"
    assert scenario["outcome"] == "passed" and scenario["skip_reason"] is None
    [fault] = scenario["faults"]
    assert DESIGN_FAULT_KEYS <= fault.keys()
    assert fault["name"] == "down(demo)" and fault["injected_at"] < fault["healed_at"]
    assert len(scenario["verdicts"]) == 2
    for verdict in scenario["verdicts"]:
        assert DESIGN_VERDICT_KEYS <= verdict.keys()
        assert verdict["objective"] == "demo-recovery" and verdict["validity"] == "pass"
    rto = next(v for v in scenario["verdicts"] if v["metric"] == "rto")
    assert rto["limit"] == 1.0 and rto["unit"] == "s" and rto["measured"] == pytest.approx(0.05, abs=0.011)

    assert latest_run_id(reports) == found["run"]
    assert json.loads((reports / "latest" / "report.json").read_text())["run_id"] == found["run"]


def test_breached_objective_fails_with_the_explanation(inner: pytest.Pytester) -> None:
    """A breached objective fails the test with the verdict's explanation; report.json says "fail"."""
    write_scenario(inner, BREACHED)
    result = run(inner)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(failed=1)
    doc = json.loads((inner.path / "reports" / header(result)["run"] / "report.json").read_text())
    [scenario] = doc["scenarios"]
    assert scenario["outcome"] == "failed"
    rto = next(v for v in scenario["verdicts"] if v["metric"] == "rto")
    assert rto["validity"] == "fail" and rto["measured"] > rto["limit"]
    other = next(v for v in scenario["verdicts"] if v["metric"] != "rto")
    assert other["validity"] == "pass"
    out = "\n".join(result.outlines)
    assert "1 of 2 objective limits failed" in out
    assert rto["explanation"] in out
    fail_lines = [line for line in result.outlines if line.startswith("FAIL demo-recovery rto")]
    assert len(fail_lines) == 1 and rto["explanation"] in fail_lines[0]
    assert "owner: team-test; runbook: docs/runbooks/demo.md" in out   # who to call, what to read


# -- sign-off and --no-report ------------------------------------------------------------------
def test_skip_is_a_no_go_in_sign_off(inner: pytest.Pytester) -> None:
    """With ``--sign-off`` a skipped scenario makes the run a no-go: non-zero exit and "NO-GO"."""
    write_scenario(inner, SKIPPED)
    result = run(inner, "--sign-off", "--repeat", "1")
    result.assert_outcomes(skipped=1)
    assert result.ret != 0
    no_go = [line for line in result.outlines if line.startswith("sign-off: NO-GO")]
    assert len(no_go) == 1 and "elasticsearch image cannot be had here" in no_go[0]
    doc = json.loads((inner.path / "reports" / header(result)["run"] / "report.json").read_text())
    assert doc["scenarios"][0]["outcome"] == "skipped"
    assert doc["scenarios"][0]["skip_reason"] == "elasticsearch image cannot be had here"


def test_skip_passes_without_sign_off(inner: pytest.Pytester) -> None:
    """Without ``--sign-off`` the same skipped scenario leaves the run passing (negative control)."""
    write_scenario(inner, SKIPPED)
    result = run(inner)
    result.assert_outcomes(skipped=1)
    assert result.ret == 0
    assert not [line for line in result.outlines if "NO-GO" in line]


def test_met_objective_is_a_go_in_sign_off(inner: pytest.Pytester) -> None:
    """With ``--sign-off`` a run whose every verdict passed is a go and exits 0."""
    write_scenario(inner, MET)
    result = run(inner, "--sign-off")
    assert result.ret == 0
    assert "sign-off: GO" in result.outlines


def test_skip_is_a_no_go_in_sign_off_without_report(inner: pytest.Pytester) -> None:
    """``--sign-off --no-report`` still makes a skipped scenario a no-go."""
    write_scenario(inner, SKIPPED)
    result = run(inner, "--sign-off", "--no-report")
    assert result.ret != 0
    assert [line for line in result.outlines if "NO-GO" in line]


def test_sign_off_with_nothing_checked_is_a_no_go(inner: pytest.Pytester) -> None:
    """``--sign-off`` on a run that judged no objective is a no-go ("no scenarios ran")."""
    inner.makepyfile("def test_nothing():\n    pass\n")
    result = run(inner, "--sign-off")
    assert "sign-off: GO" not in result.outlines
    assert "sign-off: NO-GO: no scenarios ran" in result.outlines, "\n".join(result.outlines)
    assert result.ret != 0


def test_no_report_writes_nothing(inner: pytest.Pytester) -> None:
    """``--no-report`` writes no report folder even when verdicts were recorded."""
    write_scenario(inner, MET)
    result = run(inner, "--no-report")
    assert result.ret == 0
    assert [line for line in result.outlines if line.startswith("PASS demo-recovery")]
    reports = inner.path / "reports"
    assert not reports.exists() or not any(reports.iterdir())
    assert not [line for line in result.outlines if line.startswith("harness report:")]


def test_named_but_unjudged_objective_is_unknown_and_a_no_go_in_sign_off(inner: pytest.Pytester) -> None:
    """A scenario marked with an objective that never calls ``judge`` gets UNKNOWN verdicts, never a pass."""
    oid = "demo-recovery"
    inner.makepyfile(test_unjudged=f'''
import pytest

@pytest.mark.objectives("{oid}")
def test_measures_nothing(history):
    pass
''')
    result = run(inner, "--sign-off")
    unknown = [line for line in result.outlines if line.startswith(f"UNKNOWN {oid}")]
    assert unknown and "never judged" in unknown[0], "\n".join(result.outlines)
    assert result.ret != 0 and any("NO-GO" in line for line in result.outlines)


def test_a_scenario_with_only_unknown_verdicts_is_never_shown_as_a_pass(inner: pytest.Pytester) -> None:
    """Without sign-off the test passes, but the terminal, summary.md and timeline say "no evidence"."""
    inner.makepyfile(test_unjudged='''
import pytest

@pytest.mark.objectives("demo-recovery")
def test_measures_nothing(history):
    pass
''')
    result = run(inner)
    assert result.ret == 0
    assert ("NO EVIDENCE test_unjudged.py::test_measures_nothing: all 2 verdicts unknown, nothing was "
            "measured; this is not a pass") in result.outlines, "\n".join(result.outlines)
    run_dir = next(p for p in (inner.path / "reports").iterdir() if p.is_dir() and p.name != "latest")
    summary = (run_dir / "summary.md").read_text()
    assert "| `test_unjudged.py::test_measures_nothing` | no evidence |" in summary
    assert "## Scenarios without evidence" in summary
    page = (run_dir / "timeline.html").read_text()
    assert 'class="outcome no-evidence">no evidence</span>' in page
    assert 'class="outcome passed"' not in page


def test_seed_makes_random_choices_repeat(inner: pytest.Pytester) -> None:
    """Two runs with the same --seed draw the same random numbers in a scenario; another seed differs."""
    inner.makepyfile(test_draw='''
import random

def test_draw():
    print("DRAW", random.random())
''')

    def draw(seed: str) -> str:
        result = run(inner, "-s", f"--seed={seed}")
        return next(line.split("DRAW", 1)[1].split()[0] for line in result.outlines if "DRAW" in line)

    assert draw("7") == draw("7") != draw("8")


def test_every_run_writes_junit_xml_with_verdict_properties(inner: pytest.Pytester) -> None:
    """No flag needed: reports/<run-id>/junit.xml holds the scenario with its verdicts as properties."""
    import xml.etree.ElementTree as ET

    write_scenario(inner, BREACHED)
    result = run(inner)
    junit = inner.path / "reports" / header(result)["run"] / "junit.xml"
    [case] = ET.parse(junit).getroot().findall("./testsuite/testcase")
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    rto = next(k.rsplit(".", 1)[0] for k, v in props.items() if k.endswith(".metric") and v == "rto")
    assert props[f"{rto}.validity"] == "fail" and props[f"{rto}.objective"] == "demo-recovery"
    assert float(props[f"{rto}.measured"]) > float(props[f"{rto}.limit"]) and props[f"{rto}.unit"] == "s"
    assert case.find("failure") is not None


def test_a_breach_prints_as_a_verdict_without_harness_frames(inner: pytest.Pytester) -> None:
    """The failure pytest prints is the verdict lines, owner, runbook and the judging line of the
    scenario: no source or frame of the harness's own code, and the short summary names the verdict."""
    write_scenario(inner, BREACHED)
    result = run(inner)
    out = "\n".join(result.outlines)
    failure = out.split(" FAILURES ")[1].split(" verdicts ")[0]
    assert "FAIL demo-recovery rto: measured" in failure
    assert "owner: team-test; runbook: docs/runbooks/demo.md" in failure
    assert "judged at test_scenario.py:" in failure
    for internal in ("harness/", "fixtures.py", "def judge_", "raise ", "Traceback", "AssertionError"):
        assert internal not in failure, failure
    assert any(line.startswith("FAILED test_scenario.py::test_recovers_slowly - FAIL demo-recovery rto")
               for line in result.outlines), out


def test_a_breach_is_still_an_assertion_error_to_the_scenario(inner: pytest.Pytester) -> None:
    """A negative control can still expect the breach with ``pytest.raises(AssertionError)``."""
    write_scenario(inner, """
import pytest

def test_expects_the_breach(history, judge):
    record(history, fail_after_heal_s=1.5)
    with pytest.raises(AssertionError, match="FAIL demo-recovery rto"):
        judge("demo-recovery", f="read")
""")
    run(inner).assert_outcomes(passed=1)


# -- repeats -----------------------------------------------------------------------------------
FLAKY = """
import pytest

@pytest.mark.objectives("demo-recovery")
def test_recovers_unless_second(history, judge, harness_repeat):
    record(history, fail_after_heal_s=1.5 if harness_repeat == 2 else 0.0)
    judge("demo-recovery", f="read")
"""


def test_repeat_runs_each_scenario_n_times_with_its_own_seed(inner: pytest.Pytester) -> None:
    """``--repeat 3``: three scenarios recorded, repeats 1..3, three different seeds, one limits table."""
    write_scenario(inner, MET)
    result = run(inner, "--repeat", "3")
    result.assert_outcomes(passed=3)
    doc = json.loads((inner.path / "reports" / header(result)["run"] / "report.json").read_text())
    assert [s["repeat"] for s in doc["scenarios"]] == [1, 2, 3]
    assert len({s["seed"] for s in doc["scenarios"]}) == 3
    assert {g["metric"]: len(g["values"]) for g in doc["repeats"]} == {"rto": 3, "max_error_rate_before_fault": 3}


def test_sign_off_repeats_three_times_by_default_and_flaky_is_a_no_go(inner: pytest.Pytester) -> None:
    """``--sign-off`` alone runs each scenario 3 times; a limit that fails in one repeat is FLAKY, the
    run is a NO-GO and the one-page summary is printed, pointing at the evidence."""
    write_scenario(inner, FLAKY)
    result = run(inner, "--sign-off")
    result.assert_outcomes(passed=2, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = "\n".join(result.outlines)
    assert "sign-off (go/no-go)" in out and "# Sign-off " in out and ": NO-GO" in out
    assert "FLAKY demo-recovery rto (test_scenario.py::test_recovers_unless_second): pass, fail, pass" in out
    assert "[#2](timeline.html#s2)" in out
    run_dir = inner.path / "reports" / header(result)["run"]
    assert (run_dir / "signoff.md").read_text().splitlines()[0] == f"# Sign-off {run_dir.name}: NO-GO"
