"""Unit tests for the drill measures (harness/judging/drills.py) on hand-built histories, through ``check``."""

import pytest

from harness.history import History
from harness.judging.checkers import check
from harness.judging.drills import drill_runs, drill_rto
from harness.judging.objectives import Objective, parse_limit
from harness.report.records import drill_bands, drills_from_ops

DRILL = {"name": "pg-logical(postgres)", "kind": "pg-logical", "target": "postgres"}


def objective(**limits):
    return Objective("drill", "test drill", "team-test", "", tuple(parse_limit(k, v) for k, v in limits.items()))


def step(h, f, t0, t1, outcome="ok", **details):
    op = h.invoke("drill", f, DRILL, time=t0)
    if outcome is not None:
        h.complete(op, outcome, time=t1, value=DRILL | details, error=None if outcome == "ok" else "DrillError: x")


def writes(h, ids, every=0.1, start=0.0, latency=0.01):
    for i in ids:
        op = h.invoke("pg-writer", "insert", i, time=start + i * every)
        h.complete(op, "ok", time=start + i * every + latency)


def drill_history(verify="ok"):
    """Writes 1..20 every 0.1 s; the restore point at t=1.005..1.015 (ids 1..9 acknowledged before,
    10 in flight, 11.. after); disaster at 3.0; verified at 9.5."""
    h = History()
    writes(h, range(1, 21))
    step(h, "restore_point", 1.005, 1.015, snapshot="s")
    step(h, "backup", 1.015, 1.6, bytes=4096)
    step(h, "copy", 2.5, 2.8, bytes=4096, files=1)
    step(h, "disaster", 3.0, 3.5)
    step(h, "check", 3.5, 4.0)
    step(h, "provision", 4.0, 8.0)
    step(h, "restore", 8.0, 9.0)
    step(h, "verify", 9.0, 9.5, outcome=verify)
    return h


def test_drill_rto_runs_from_the_disaster_to_the_verified_reads():
    """RTO is disaster invoke (3.0) to verify ok (9.5)."""
    m = drill_rto(drill_history())
    assert m.value == pytest.approx(6.5)
    assert "t=3 s" in m.explanation and "t=9.5 s" in m.explanation


def test_a_drill_that_never_verified_fails_a_maximum_it_already_exceeds():
    """A failed verify is no recovery: the RTO is at least the rest of the history, which fails 5 s."""
    [v] = check(objective(drill_rto="5 s"), drill_history(verify="fail"))
    assert v.validity == "fail" and v.measured == pytest.approx(6.5)
    [v] = check(objective(drill_rto="60 s"), drill_history(verify="fail"))
    assert v.validity == "unknown"


def test_a_restore_holding_exactly_the_snapshot_passes_and_writes_after_it_count_as_rpo():
    """Ids 1..10 restored (10 was in flight: indeterminate); 11..20 lost count in the RPO, not before the point."""
    h = drill_history()
    verdicts = check(objective(lost_before_restore_point="0 writes", writes_after_restore_point="0 writes",
                               rpo_lost_writes="10 writes", rpo="0.5 s", drill_rto="10 s"),
                     h, f="insert", observed=range(1, 11))
    by = {v.metric: v for v in verdicts}
    assert all(v.validity == "pass" for v in verdicts if v.metric != "rpo"), [str(v) for v in verdicts]
    assert by["rpo_lost_writes"].measured == 10
    assert by["rpo"].validity == "fail" and by["rpo"].measured == pytest.approx(2.01 - 1.1)  # ids 11..20


def test_a_restore_missing_a_write_acknowledged_before_the_snapshot_fails():
    """Id 5 was acknowledged at 0.51, before the restore point at 1.005: its absence is a FAIL."""
    [v] = check(objective(lost_before_restore_point="0 writes"), drill_history(), f="insert",
                observed=[i for i in range(1, 11) if i != 5])
    assert v.validity == "fail" and v.measured == 1 and "5" in v.explanation


def test_a_write_from_after_the_restore_point_present_after_the_restore_fails():
    """Id 12 was invoked at 1.2, after the restore point ended: present means the restore went past its target."""
    [v] = check(objective(writes_after_restore_point="0 writes"), drill_history(), f="insert",
                observed=list(range(1, 11)) + [12])
    assert v.validity == "fail" and v.measured == 1


def test_without_a_drill_or_a_read_back_the_drill_limits_are_unknown():
    """No restore point or no observed ids is no evidence, never a pass."""
    h = History()
    writes(h, range(1, 5))
    verdicts = check(objective(drill_rto="5 s", lost_before_restore_point="0 writes"), h, f="insert",
                     observed=[1, 2, 3, 4])
    assert [v.validity for v in verdicts] == ["unknown", "unknown"]
    [v] = check(objective(lost_before_restore_point="0 writes"), drill_history(), f="insert")
    assert v.validity == "unknown" and "observed" in v.explanation


def test_drill_limits_are_judged_on_the_drill_even_with_a_fault_window():
    """A fault in the same history does not turn the drill's limits into fault-window checks."""
    h = drill_history()
    value = {"name": "kill(redis)", "kind": "kill", "target": "redis"}
    for f, t in (("inject", 0.2), ("probe", 0.21), ("heal", 0.4)):
        op = h.invoke("nemesis", f, value, time=t)
        h.complete(op, "ok", time=t + 0.001)
    [v] = check(objective(drill_rto="10 s"), h)
    assert v.validity == "pass" and v.measured == pytest.approx(6.5)


def test_the_report_record_gives_backup_size_outcome_and_step_durations():
    """report.json's drill record and the timeline bands come from the drill ops alone."""
    ops = [op.to_dict() for op in drill_history().ops]
    [record] = drills_from_ops(ops)
    assert record["backup_bytes"] == 4096 and record["outcome"] == "ok"
    assert record["durations_s"]["backup"] == pytest.approx(0.585)
    assert {"backup", "copy", "restore", "verify"} <= set(record["durations_s"])
    bands = drill_bands(ops)
    assert bands[0]["name"] == "restore_point pg-logical(postgres)" and bands[-1]["healed_at"] == 9.5
    failed = drill_runs(drill_history(verify="fail"))[0]
    assert failed.outcome == "fail"
