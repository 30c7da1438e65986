"""junit.xml (harness/report/junit.py): one test case per scenario, every verdict as properties."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from test_report import FAIL_V, NODE, PASS_V, UNKNOWN_V, _run, _scenario

from harness.report.junit import render_junit
from harness.report.records import normalised
from harness.report.writer import write_report


def _cases(text: str) -> list[ET.Element]:
    return ET.fromstring(text).findall("./testsuite/testcase")


def _props(case: ET.Element) -> dict[str, str]:
    return {p.get("name"): p.get("value") for p in case.findall("./properties/property")}


def test_every_run_writes_junit_with_each_verdict_as_properties(tmp_path):
    """write_report puts junit.xml beside report.json; each verdict gives objective, metric, measured,
    limit, unit and validity as properties of its scenario's test case."""
    run_dir = write_report(tmp_path, _run(scenarios=[_scenario(verdicts=[dict(PASS_V), dict(FAIL_V)],
                                                               outcome="failed", error="1 of 2 failed")]))
    [case] = _cases((run_dir / "junit.xml").read_text(encoding="utf-8"))
    assert case.get("classname") == "scenarios.test_redis" and case.get("name") == "test_outage"
    props = _props(case)
    assert {k: props[f"verdict.1.{k}"] for k in ("objective", "metric", "measured", "limit", "unit",
                                                  "validity")} == {
        "objective": "redis-outage-fail-fast", "metric": "latency_p99_during_fault", "measured": "87.0",
        "limit": "250", "unit": "ms", "validity": "pass"}
    assert props["verdict.2.validity"] == "fail" and props["verdict.2.measured"] == "8.21"
    assert props["verdict:pg-rto:rto"].startswith("fail 8.21s>5.0s")
    assert case.find("failure").get("message") == "1 of 2 failed"


def test_unknown_verdict_has_an_empty_measured_and_a_skip_is_skipped():
    """Nothing measured is an empty value, never 0; a skipped scenario carries its reason."""
    run = normalised(_run(scenarios=[_scenario(verdicts=[dict(UNKNOWN_V)]),
                                     _scenario(id=NODE + "2", outcome="skipped", skip_reason="no image",
                                               verdicts=[])]))
    text = render_junit(run)
    first, second = _cases(text)
    assert _props(first)["verdict.1.measured"] == "" and _props(first)["verdict.1.validity"] == "unknown"
    assert second.find("skipped").get("message") == "no image"
    suite = ET.fromstring(text).find("testsuite")
    assert (suite.get("tests"), suite.get("skipped"), suite.get("failures")) == ("2", "1", "0")


def test_junit_escapes_hostile_text():
    """Markup in a node id or an explanation stays text: the file still parses."""
    v = dict(FAIL_V, objective='a"<b>&', explanation="</property><x/>")
    run = normalised(_run(scenarios=[_scenario(id='scenarios/t.py::test[<&">]', verdicts=[v])]))
    [case] = _cases(render_junit(run))
    assert case.get("name") == 'test[<&">]' and _props(case)["verdict.1.objective"] == 'a"<b>&'
