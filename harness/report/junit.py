"""junit.xml of a run: one ``<testcase>`` per scenario, its verdicts as ``<property>`` elements.

CI systems that read JUnit (GitHub's test reporters, Jenkins, GitLab) show a test case's properties;
each verdict becomes six properties named ``verdict.<n>.<key>`` for the keys objective, metric,
measured, limit, unit and validity (n counts from 1 within the scenario), plus the compact
``verdict:<objective>:<metric>`` line of ``junit_properties`` for readers that show one value per
verdict. A failed scenario carries ``<failure>`` with its one-line error, an errored one
``<error>``, a skipped one ``<skipped>`` with the reason. Written with the standard library's
ElementTree, which escapes every attribute and text.

    xml_text = render_junit(normalised(run))   # the text write_report puts in junit.xml
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness.report.records import RunRecord, ScenarioRecord, num_text, one_line

VERDICT_PROPERTIES = ("objective", "metric", "measured", "limit", "unit", "validity")


def _text(x: object) -> str:
    return "" if x is None else num_text(x)


def verdict_properties(s: ScenarioRecord) -> list[tuple[str, str]]:
    """``verdict.<n>.<key>`` pairs, one group per verdict of a normalised scenario."""
    return [(f"verdict.{n}.{key}", _text(v.get(key)))
            for n, v in enumerate(s.verdicts, start=1) for key in VERDICT_PROPERTIES]


def _names(node_id: str) -> tuple[str, str]:
    """(classname, name) the way pytest's junitxml writes them: dotted module path, test name."""
    path, _, name = node_id.partition("::")
    module = path.removesuffix(".py").replace("/", ".")
    if "::" in name:  # a test class
        cls, _, name = name.rpartition("::")
        module = f"{module}.{cls.replace('::', '.')}"
    return module, name or path


def render_junit(run: RunRecord, compact: list[list[tuple[str, str]]] | None = None) -> str:
    """The junit.xml text for a normalised run; ``compact`` is each scenario's junit_properties."""
    count = {o: sum(s.outcome == o for s in run.scenarios) for o in ("failed", "error", "skipped")}
    total = sum(s.duration_s for s in run.scenarios)
    suites = ET.Element("testsuites", name="dr-harness")
    suite = ET.SubElement(suites, "testsuite", name=f"dr-harness run {run.run_id}",
                          tests=str(len(run.scenarios)), failures=str(count["failed"]),
                          errors=str(count["error"]), skipped=str(count["skipped"]),
                          time=f"{total:.3f}", timestamp=run.started_at)
    props = ET.SubElement(suite, "properties")
    for key, value in (("run_id", run.run_id), ("seed", str(run.seed)), ("strict", str(run.strict).lower()),
                       ("objectives_file", run.objectives_file)):
        ET.SubElement(props, "property", name=key, value=value)
    for i, s in enumerate(run.scenarios):
        classname, name = _names(s.id)
        case = ET.SubElement(suite, "testcase", classname=classname, name=name, time=f"{s.duration_s:.3f}")
        pairs = verdict_properties(s) + (compact[i] if compact else [])
        if pairs:
            box = ET.SubElement(case, "properties")
            for key, value in pairs:
                ET.SubElement(box, "property", name=key, value=value)
        if s.outcome == "failed":
            ET.SubElement(case, "failure", message=one_line(s.error or "failed")).text = s.error or ""
        elif s.outcome == "error":
            ET.SubElement(case, "error", message=one_line(s.error or "error")).text = s.error or ""
        elif s.outcome == "skipped":
            ET.SubElement(case, "skipped", message=one_line(s.skip_reason or "skipped"))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
