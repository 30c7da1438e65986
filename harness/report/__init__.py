"""The report of a run: report.json, history.jsonl, summary.md and the timeline page.

    records.py   RunRecord, ScenarioRecord and their one-line views (``verdict_line``)
    writer.py    ``write_report`` into reports/<run-id>/, ``go_no_go``, junit properties
    timeline.py  the self-contained HTML timeline, one chart per scenario
    merge.py     the run folders of N shards read back and merged into one run record
"""

from harness.report.records import NO_EVIDENCE, RunRecord, ScenarioRecord, shown_outcome, verdict_line
from harness.report.writer import empty_share, go_no_go, junit_properties, latest_run_id, write_report

__all__ = ["NO_EVIDENCE", "RunRecord", "ScenarioRecord", "empty_share", "go_no_go", "junit_properties", "latest_run_id",
           "shown_outcome", "verdict_line", "write_report"]
