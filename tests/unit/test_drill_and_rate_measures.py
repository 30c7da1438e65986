"""Exact values of the drill measures and the achieved-rate spans on small hand-built histories.

The drill history: ten inserts (ids 1..10, one every 0.1 s) and a drill whose restore point ends at
t=0.56 s, disaster at t=1.2 s, verified at t=2.5 s. The rate history: reads every 0.1 s, a fault
from t=1.0 to t=2.001 s, and ten attempts during it that found every lane busy (not sent).
"""

import math

import pytest

from harness.history import History
from harness.judging import drills, rates
from harness.judging.objectives import parse_limit
from harness.judging.verdicts import Measurement
from test_checkers import call, fault, probes

SPEC = {"name": "pg-logical(postgres)", "kind": "pg-logical", "target": "postgres"}


def step(h, f, t0, t1, outcome="ok", value=None, error=None):
    op = h.invoke("drill", f, SPEC, time=t0)
    if outcome is not None:
        h.complete(op, outcome, time=t1, value=value, error=error)


def drill_history(verify="ok", backup_bytes=4096):
    h = History()
    for k in range(1, 11):
        call(h, "insert", k, k * 0.1, k * 0.1 + 0.01)
    step(h, "restore_point", 0.55, 0.56, value={"lsn": "0/1"})
    step(h, "backup", 0.56, 0.9, value={"bytes": backup_bytes, "name": "ignored"})
    step(h, "copy", 0.9, 1.0)
    step(h, "disaster", 1.2, 1.3)
    step(h, "restore", 1.3, 2.0)
    if verify is not None:
        step(h, "verify", 2.0, 2.5, outcome=verify, error=None if verify == "ok" else "rows differ")
    return h


def test_a_drill_run_as_the_report_records_it():
    """Every step with its times and outcome, the backup size and the step durations."""
    [run] = drills.drill_runs(drill_history())
    assert run.to_dict() == {
        "name": "pg-logical(postgres)", "kind": "pg-logical", "target": "postgres", "outcome": "ok",
        "backup_bytes": 4096,
        "durations_s": {"restore_point": 0.01, "backup": 0.34, "copy": 0.1, "disaster": 0.1, "restore": 0.7,
                        "verify": 0.5},
        "steps": [{"step": "restore_point", "started_at": 0.55, "finished_at": 0.56, "outcome": "ok", "error": None},
                  {"step": "backup", "started_at": 0.56, "finished_at": 0.9, "outcome": "ok", "error": None},
                  {"step": "copy", "started_at": 0.9, "finished_at": 1.0, "outcome": "ok", "error": None},
                  {"step": "disaster", "started_at": 1.2, "finished_at": 1.3, "outcome": "ok", "error": None},
                  {"step": "restore", "started_at": 1.3, "finished_at": 2.0, "outcome": "ok", "error": None},
                  {"step": "verify", "started_at": 2.0, "finished_at": 2.5, "outcome": "ok", "error": None}]}
    assert run.step("backup").details == {"bytes": 4096}   # the drill's own name/kind/target are dropped
    assert run.step("nothing") is None


def test_drill_outcome_and_backup_size_edges():
    """A failed step fails the drill; no verify is incomplete; a size that is not a number is unknown."""
    [failed] = drills.drill_runs(drill_history(verify="fail"))
    assert failed.outcome == "fail" and failed.to_dict()["steps"][-1]["error"] == "rows differ"
    [unverified] = drills.drill_runs(drill_history(verify=None))
    assert unverified.outcome == "incomplete" and unverified.durations_s().get("verify") is None
    [odd] = drills.drill_runs(drill_history(backup_bytes="big"))
    assert odd.backup_bytes is None
    h = drill_history()
    step(h, "copy", 3.0, None, outcome=None)
    [pending] = drills.drill_runs(h)
    assert pending.outcome == "fail" and pending.step("copy").outcome == "pending"
    assert pending.step("copy").duration_s is None and pending.durations_s()["copy"] is None
    bare = History()
    bare.complete(bare.invoke("drill", "backup", "plain", time=0.0), "ok", time=1.0)
    [named] = drills.drill_runs(bare)
    assert (named.name, named.kind, named.target) == ("plain", "", "")


@pytest.mark.parametrize("verify, expected", [
    ("ok", Measurement(1.3, "s", "pg-logical(postgres) disaster at t=1.2 s, restored service answered verified "
                                 "reads at t=2.5 s")),
    (None, Measurement(None, "s", "pg-logical(postgres) disaster at t=1.2 s, restore never verified by t=2 s",
                       at_least=0.8)),
    ("fail", Measurement(None, "s", "pg-logical(postgres) disaster at t=1.2 s, restore verify ended fail by "
                                    "t=2.5 s", at_least=1.3)),
])
def test_drill_rto(verify, expected):
    """From the disaster's invoke to the verify's ok completion; a lower bound while never verified."""
    m = drills.drill_rto(drill_history(verify=verify))
    assert (m.unit, m.explanation) == (expected.unit, expected.explanation)
    assert m.value == (None if expected.value is None else pytest.approx(expected.value))
    assert m.at_least == (None if expected.at_least is None else pytest.approx(expected.at_least))


def test_drill_rto_names_a_failed_step_after_the_disaster_and_needs_a_disaster():
    """A step that failed after the disaster (though verify passed) makes the RTO no evidence."""
    h = drill_history()
    step(h, "restore", 2.6, 2.7, outcome="fail", error="pg_restore exit 1")
    assert drills.drill_rto(h) == Measurement(None, "s", "pg-logical(postgres) step restore ended fail: "
                                                         "pg_restore exit 1")
    assert drills.drill_rto(History()) == Measurement(None, "s", "no drill disaster in the history")


def test_writes_around_the_restore_point():
    """Lost: acknowledged no later than the restore point began, not read back; present: invoked after it ended."""
    loss = drills.restore_point_loss(drill_history(), [1, 2, 3, 4, 7, 8], f="insert")
    assert (loss.lost_before, loss.present_after, loss.before, loss.after, loss.at, loss.name) == (
        frozenset({5}), frozenset({7, 8}), 5, 5, (0.55, 0.56), "pg-logical(postgres)")
    assert drills.lost_before_restore_point(loss) == Measurement(
        1.0, "writes", "1 of 5 writes acknowledged before the pg-logical(postgres) restore point at t=0.55 s are "
                       "missing after the restore (ids 5)")
    assert drills.present_after_restore_point(loss) == Measurement(
        2.0, "writes", "2 of 5 writes invoked after the pg-logical(postgres) restore point (ended t=0.56 s) are "
                       "present after the restore (ids 7, 8)")
    clean = drills.restore_point_loss(drill_history(), [1, 2, 3, 4, 5])   # default write names include insert
    assert drills.lost_before_restore_point(clean) == Measurement(
        0.0, "writes", "all 5 writes acknowledged before the pg-logical(postgres) restore point at t=0.55 s were "
                       "restored")
    assert drills.present_after_restore_point(clean) == Measurement(
        0.0, "writes", "none of the 5 writes invoked after the pg-logical(postgres) restore point (ended t=0.56 s) "
                       "is present")
    assert drills.restore_point_loss(drill_history(), [1], f="read") == drills.RestorePointLoss(
        frozenset(), frozenset(), 0, 0, (0.55, 0.56), "pg-logical(postgres)")


def test_restore_point_edges():
    """No restore point (or one that failed) is no evidence; a write in flight across it counts for neither."""
    none = drills.restore_point_loss(History(), [1])
    assert none is None
    assert drills.lost_before_restore_point(None) == Measurement(None, "writes", "no drill restore point in the history")
    assert drills.present_after_restore_point(None) == Measurement(None, "writes",
                                                                   "no drill restore point in the history")
    h = History()
    step(h, "restore_point", 0.5, 0.6, outcome="fail", error="x")
    assert drills.restore_point_loss(h, [1]) is None
    h = History()
    call(h, "insert", "edge", 0.5, 0.5)          # acknowledged exactly when the restore point began
    call(h, "insert", "across", 0.58, 0.7)       # invoked before it ended, acknowledged after it began
    call(h, "insert", "after", 0.6, 0.61)        # invoked exactly when it ended
    step(h, "restore_point", 0.5, 0.6)
    loss = drills.restore_point_loss(h, ["across"])
    assert (loss.lost_before, loss.present_after, loss.before, loss.after) == (frozenset({"edge"}), frozenset(), 1, 1)
    quiet = drills.RestorePointLoss(frozenset(), frozenset(), 0, 0, (1.0, 2.0), "d")
    assert drills.lost_before_restore_point(quiet).explanation == "no write was acknowledged before the d restore " \
                                                                  "point at t=1 s"
    assert drills.present_after_restore_point(quiet).explanation == ("no write was invoked after the d restore point "
                                                                     "(ended t=2 s), so none could leak in")


def rate_history():
    h = History()
    fault(h, inject_at=1.0, heal_at=2.0)
    probes(h, 0.0, 3.0, every=0.1)
    for k in range(10):
        op = h.invoke("client", "read", f"ns{k}", time=1.0 + k * 0.1)
        h.complete(op, "not-sent", time=1.0 + k * 0.1, error="every lane busy")
    return h


def test_phase_rates_as_the_report_records_them():
    """Per phase: scheduled, sent, not sent, asked and achieved Hz, share and whether it is deficient."""
    by_phase = rates.rates_by_process(rate_history())
    assert by_phase == {"client": {
        "before": {"start": None, "end": 1.0, "scheduled": 10, "sent": 10, "not_sent": 0, "asked_hz": 10.0,
                   "achieved_hz": 10.0, "share": 1.0, "deficient": False},
        "during": {"start": 1.0, "end": 2.001, "scheduled": 21, "sent": 11, "not_sent": 10, "asked_hz": 20.979,
                   "achieved_hz": 10.989, "share": 0.5238, "deficient": True},
        "after": {"start": 2.001, "end": None, "scheduled": 9, "sent": 9, "not_sent": 0, "asked_hz": 9.009,
                  "achieved_hz": 9.009, "share": 1.0, "deficient": False}}}
    during = rates.phase_rates(rate_history(), f="read")["during"]
    assert str(during) == ("11 of 21 attempts scheduled during redis-down were sent (52.381 %) "
                           "(10.989/s of 20.979/s asked)")
    assert rates.phase_rates(History()) == {}
    nothing = rates.span_rate(rate_history(), 10.0, 11.0, label="later")
    assert (str(nothing), nothing.share, nothing.asked_hz, nothing.deficient) == (
        "no attempts scheduled later", None, None, False)
    assert rates.rates_by_process(History()) == {}


def test_a_run_without_a_fault_is_one_span():
    """No fault: one "run" span per process."""
    h = History()
    probes(h, 0.0, 1.0, every=0.1)
    assert rates.rates_by_process(h) == {"client": {"run": {
        "start": None, "end": None, "scheduled": 10, "sent": 10, "not_sent": 0, "asked_hz": 10.0,
        "achieved_hz": 10.0, "share": 1.0, "deficient": False}}}


@pytest.mark.parametrize("name, measured, label, start, end, scheduled, sent", [
    ("max_error_rate_during_fault", None, "during redis-down", 1.0, 2.001, 21, 11),
    ("latency_p99_after_fault", 0.35, "after redis-down", 2.001, math.inf, 9, 9),
    ("rto", None, "after redis-down", 2.0, math.inf, 10, 10),     # from the start of the heal
    ("rto", 0.35, "between the heal and the recovery (t=2..2.35 s)", 2.0, 2.350000001, 4, 4),
    ("steady_state_after_heal", 0.35, "between the heal and the recovery (t=2.001..2.351 s)", 2.001, 2.351000001,
     3, 3),
    ("rto_from_inject", None, "between the inject and the recovery (t=1..2.902 s)", 1.0, 2.902000001, 30, 20),
    ("rto_from_inject", 0.35, "between the inject and the recovery (t=1..1.35 s)", 1.0, 1.350000001, 8, 4),
    ("outage_accuracy", 0.35, "during redis-down", 1.0, 2.001, 21, 11),
])
def test_the_span_each_limit_rests_on(name, measured, label, start, end, scheduled, sent):
    """Phase limits rest on their phase; recovery limits on the span up to the measured recovery."""
    limit = parse_limit(name, "1 s" if "rate" not in name else "10 %")
    span = rates.limit_span(rate_history(), limit, f="read", measured=measured)
    assert (span.label, span.scheduled, span.sent) == (label, scheduled, sent)
    assert span.start == pytest.approx(start) and span.end == pytest.approx(end)


def test_what_is_never_gated():
    """Loss limits, no fault window, or an unhealed fault's heal-based span: no rate gate."""
    assert rates.limit_span(rate_history(), parse_limit("rpo", "1 s"), f="read") is None
    assert rates.limit_span(History(), parse_limit("rto", "1 s")) is None
    open_fault = History()
    fault(open_fault, heal_at=None)
    assert rates.limit_span(open_fault, parse_limit("rto", "1 s")) is None


def test_the_deficit_sentence_and_when_a_met_recovery_still_passes():
    """A deficient span gives the reason; a recovery time that met its maximum is kept (an upper bound)."""
    h = rate_history()
    rate = parse_limit("max_error_rate_during_fault", "10 %")
    assert rates.deficit(h, rate, f="read") == (
        "the clients could not keep the asked rate: 11 of 21 attempts scheduled during redis-down were sent "
        "(52.381 %) (10.989/s of 20.979/s asked), below the 90 % needed to judge max_error_rate_during_fault")
    from_inject = parse_limit("rto_from_inject", "1 s")
    assert rates.deficit(h, from_inject, f="read", measured=0.35, validity="pass") is None
    assert rates.deficit(h, from_inject, f="read", measured=0.35, validity="fail").startswith(
        "the clients could not keep the asked rate: 4 of 8 attempts scheduled between the inject")
    assert rates.deficit(h, parse_limit("rto", "1 s"), f="read", measured=0.35, validity="fail") is None
