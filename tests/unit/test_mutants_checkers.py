"""Checkers judge the workload and the fault window they are asked about, and say why when they cannot.

Written against mutants that survived ``make mutation`` (docs/mutation-survivors.md). Times are
exact binary fractions (multiples of 1/128 s) so that "exactly at the limit" means exactly.
"""

from harness.history import NOT_SENT, History
from harness.judging import checkers
from harness.judging.checkers import (check, disruption, observed_outage, outage_accuracy, slow_limit_ms,
                                      steady_state_after_heal, write_loss)
from harness.judging.phases import availability, error_rate, fault_windows, latency_quantile
from harness.judging.verdicts import Measurement
from test_checkers import call, objective
from test_mutants_rates import attempt, nemesis

MS = 0.0078125        # 7.8125 ms, exactly


def steady(h, process, f, start, stop, latency_s=MS, outcome="ok", every=0.125):
    t = start
    while t < stop:
        attempt(h, process, f, t, outcome, latency_s)
        t += every


def slow_during_a_then_b():
    """Reads of 7.8125 ms; during a (t=1..2) they take 125 ms; during b (t=4..5) 31.25 ms."""
    h = History()
    nemesis(h, "a", 1.0, 2.0)
    nemesis(h, "b", 4.0, 5.0)
    steady(h, "reader", "read", 0.0, 1.0)
    steady(h, "reader", "read", 1.0, 2.0, latency_s=0.125)
    steady(h, "reader", "read", 2.0, 4.0)
    steady(h, "reader", "read", 4.0, 5.0, latency_s=0.03125)
    steady(h, "reader", "read", 5.0, 6.0)
    return h


def test_each_window_is_disrupted_by_its_own_baseline():
    """Before b, a's 125 ms reads are in the p99: b's 31.25 ms reads are no disruption of b (limit 250 ms)."""
    h = slow_during_a_then_b()
    a, b = fault_windows(h)
    assert slow_limit_ms(h, a) == (15.625, "before-fault p99 7.812 ms")
    assert slow_limit_ms(h, b) == (250.0, "before-fault p99 125 ms")
    assert disruption(h, a) == "read invoked at t=1 s took 125 ms, over 15.625 ms"
    assert disruption(h, b) is None
    [verdict] = check(objective(rto="10 s"), h, fault="b")
    assert verdict.validity == "unknown" and verdict.explanation.startswith("nothing to recover from: fault b")


def test_steady_state_uses_the_baseline_before_the_window_judged():
    """After b, 31.25 ms reads are steady against b's baseline (250 ms); after a, only 15.625 ms or less is."""
    h = slow_during_a_then_b()
    a, b = fault_windows(h)
    assert steady_state_after_heal(h, fault="b").value == 0.0
    assert steady_state_after_heal(h, window=b).explanation.endswith("(before-fault p99 125 ms)")
    assert steady_state_after_heal(h, fault="a").value == 0.0


def baselines_differ_by_workload():
    """Reads take 125 ms all along; inserts 7.8125 ms, then 31.25 ms during the fault (t=1..2)."""
    h = History()
    nemesis(h, "a", 1.0, 2.0)
    steady(h, "reader", "read", 0.0, 3.0, latency_s=0.125)
    steady(h, "writer", "insert", 0.0625, 1.0)
    steady(h, "writer", "insert", 1.0625, 2.0, latency_s=0.03125)
    steady(h, "writer", "insert", 2.0625, 3.0)
    return h


def test_disruption_and_steady_state_compare_a_workload_with_its_own_baseline():
    """Inserts slowed to 31.25 ms are disrupted against the inserts' 7.8 ms, not the reads' 125 ms."""
    h = baselines_differ_by_workload()
    [a] = fault_windows(h)
    assert slow_limit_ms(h, a, f="insert") == (15.625, "before-fault p99 7.812 ms")
    assert disruption(h, a, f="insert") == "insert invoked at t=1.062 s took 31.25 ms, over 15.625 ms"
    assert disruption(h, a, f="read") is None
    assert steady_state_after_heal(h, f="insert").explanation.endswith("(before-fault p99 7.812 ms)")


def test_an_op_exactly_at_the_steady_limit_is_steady():
    """Steady means no slower than the limit: an op taking exactly 15.625 ms counts."""
    h = History()
    nemesis(h, "a", 1.0, 2.0)
    steady(h, "reader", "read", 0.0, 1.0)
    steady(h, "reader", "read", 1.0, 2.0, outcome="fail")
    steady(h, "reader", "read", 2.0, 3.0, latency_s=0.015625)
    m = steady_state_after_heal(h)
    assert m.value == 0.0 and "3 ok ops in a row within 15.625 ms" in m.explanation


def masked_then(after):
    """Reads of 7.8 ms, the fault (t=1..2) masked; ``after(h)`` adds what happens from the heal on."""
    h = History()
    nemesis(h, "a", 1.0, 2.0)
    steady(h, "reader", "read", 0.0, 2.0)
    after(h)
    return h


def test_a_slow_first_answer_after_the_heal_is_a_disruption():
    """The first ok op after the heal took 125 ms: the clients saw the fault."""
    h = masked_then(lambda h: (attempt(h, "reader", "read", 2.0, latency_s=0.125), steady(h, "reader", "read", 2.125, 3.0)))
    assert disruption(h, fault_windows(h)[0]) == "read invoked at t=2 s took 125 ms, over 15.625 ms"


def test_a_failure_after_the_first_answer_after_the_heal_is_not_this_faults():
    """Once an op invoked after the heal has been answered ok, later failures are not the fault's doing."""
    def after(h):
        attempt(h, "reader", "read", 2.0, latency_s=0.0078125)
        attempt(h, "reader", "read", 2.0625, outcome="fail", latency_s=0.001)
        steady(h, "reader", "read", 2.125, 3.0)
    h = masked_then(after)
    assert disruption(h, fault_windows(h)[0]) is None


def test_ops_sent_while_the_first_answer_after_the_heal_was_in_flight_are_not_this_faults():
    """Reads take 125 ms all along; the first read after the heal (t=2) is answered ok at t=2.125: a read
    sent at t=2.0625 that then failed came after that first answer began, so it is not the fault's."""
    h = History()
    nemesis(h, "a", 1.0, 2.0)
    steady(h, "reader", "read", 0.0, 2.0, latency_s=0.125)
    attempt(h, "reader", "read", 2.0, latency_s=0.125)
    attempt(h, "reader", "read", 2.0625, outcome="fail", latency_s=0.001)
    steady(h, "reader", "read", 2.125, 3.0, latency_s=0.125)
    assert disruption(h, fault_windows(h)[0]) is None


def test_an_op_exactly_at_the_slow_limit_is_not_slowed():
    """Slower than the limit disrupts; exactly 15.625 ms (the limit) does not."""
    h = History()
    nemesis(h, "a", 1.0, 2.0)
    steady(h, "reader", "read", 0.0, 1.0)
    steady(h, "reader", "read", 1.0, 2.0, latency_s=0.015625)
    steady(h, "reader", "read", 2.0, 3.0)
    assert disruption(h, fault_windows(h)[0]) is None
    attempt(h, "reader", "read", 1.0625, latency_s=0.0234375)
    assert disruption(h, fault_windows(h)[0]) == "read invoked at t=1.062 s took 23.438 ms, over 15.625 ms"


def test_a_fault_never_healed_is_disrupted_until_the_end():
    """No heal: an op failing during the fault is the disruption."""
    h = History()
    nemesis(h, "a", 1.0, None)
    steady(h, "reader", "read", 0.0, 1.0)
    steady(h, "reader", "read", 1.0, 2.0, outcome="fail")
    assert disruption(h, fault_windows(h)[0]) == "read invoked at t=1 s ended fail"


def outage_in_b():
    """Reads fail from t=4 to 5 (fault b, 4..5); during fault a (1..2) only the read at t=1 failed."""
    h = History()
    nemesis(h, "a", 1.0, 2.0)
    nemesis(h, "b", 4.0, 5.0)
    steady(h, "reader", "read", 0.0, 1.0)
    attempt(h, "reader", "read", 1.0, outcome="fail")
    steady(h, "reader", "read", 1.125, 4.0)
    steady(h, "reader", "read", 4.0, 5.0, outcome="fail")
    steady(h, "reader", "read", 5.0, 6.0)
    return h


def test_outage_measures_follow_the_named_fault():
    """observed_outage / outage_accuracy / latency / availability of b, not of the first fault a."""
    h = outage_in_b()
    assert observed_outage(h, fault="b").value == 1.0
    assert observed_outage(h, fault="a").value == 0.125
    assert outage_accuracy(h, fault="b").value == 0.0
    assert outage_accuracy(h, fault="a").value == 0.875
    assert outage_accuracy(h, window=fault_windows(h)[1]).value == 0.0
    assert availability(h, fault="b").value == 0.0
    assert availability(h, fault="a").value == 87.5
    assert latency_quantile(h, 0.5, fault="b").explanation.startswith("p50 of 8 ops invoked during b")
    assert latency_quantile(h, 0.5, window=fault_windows(h)[1]).explanation.startswith("p50 of 8 ops invoked during b")
    assert steady_state_after_heal(h, fault="b").explanation.startswith("heal at t=5 s")


def test_error_rate_defaults_to_the_during_phase():
    """error_rate(history) and availability(history): the fault phase of the first fault."""
    h = outage_in_b()
    assert error_rate(h, fault="b").explanation == ("8 of 8 ops invoked during b failed, were indeterminate "
                                                    "or never completed")
    assert availability(h, fault="b").explanation == error_rate(h, fault="b").explanation


def test_latency_follows_the_named_workload():
    """p50 of the inserts, not of every op."""
    h = baselines_differ_by_workload()
    assert latency_quantile(h, 0.5, f="insert", phase="before").value == 7.8125
    assert latency_quantile(h, 0.5, f="read", phase="before").value == 125.0


def test_nothing_invoked_is_unknown_in_the_limits_unit():
    """No op in the phase: an unknown latency in ms, with the reason (never a unit mismatch crash)."""
    h = History()
    nemesis(h, "a", 1.0, 2.0)
    steady(h, "reader", "read", 0.0, 1.0)
    assert latency_quantile(h, 0.99) == Measurement(None, "ms", "no client ops invoked during a")
    [v] = check(objective(latency_p99_during_fault="100 ms"), h)
    assert v.explanation == "no client ops invoked during a"


def test_an_op_in_flight_at_the_inject_does_not_start_the_outage():
    """The outage starts at the first failed op invoked at/after the inject, not at one sent before it."""
    h = History()
    nemesis(h, "a", 1.0, 2.0)
    steady(h, "reader", "read", 0.0, 0.875)
    attempt(h, "reader", "read", 0.875, outcome="fail", latency_s=0.25)   # failed at 1.125, sent before
    steady(h, "reader", "read", 1.0, 1.5, outcome="fail")
    steady(h, "reader", "read", 1.5, 3.0)
    assert observed_outage(h).value == 0.5


def test_outage_without_ops_after_the_inject_says_so():
    """No op after the inject: unknown, with the reason, for the outage and its accuracy."""
    h = History()
    nemesis(h, "a", 1.0, 2.0)
    steady(h, "reader", "read", 0.0, 1.0)
    assert observed_outage(h) == Measurement(None, "s", "no client op invoked after the inject at t=1 s")
    assert outage_accuracy(h) == Measurement(None, "s", "no client op invoked after the inject at t=1 s")


def test_a_short_unrecovered_tail_gives_no_lower_bound_on_accuracy():
    """Down for 0.5 s when the history ends after a 1 s fault: the error is not yet known to be anything."""
    h = History()
    nemesis(h, "a", 1.0, 2.0)
    steady(h, "reader", "read", 0.0, 1.5)
    steady(h, "reader", "read", 1.5, 2.0, outcome="fail")
    m = outage_accuracy(h)
    assert m.value is None and m.at_least is None


def test_the_gate_judges_the_named_workload():
    """Inserts mostly not sent, reads all sent: a read limit is judged, an insert one is unknown."""
    h = History()
    nemesis(h, "a", 1.0, 2.0)
    steady(h, "reader", "read", 0.0, 1.0)
    steady(h, "reader", "read", 1.0, 2.0, outcome="fail")
    steady(h, "reader", "read", 2.0, 3.0)
    steady(h, "writer", "insert", 0.0625, 3.0, outcome=NOT_SENT)
    [v] = check(objective(max_error_rate_during_fault="5 %"), h, f="read")
    assert (v.validity, v.measured) == ("fail", 100.0)


def test_a_deficient_second_window_is_unknown_not_failed():
    """Window b failed every op but its clients sent 1 of 8: unknown; window a passed: unknown is the worst."""
    h = History()
    nemesis(h, "a", 1.0, 2.0)
    nemesis(h, "b", 4.0, 5.0)
    steady(h, "reader", "read", 0.0, 4.0)
    attempt(h, "reader", "read", 4.0, outcome="fail")
    steady(h, "reader", "read", 4.125, 5.0, outcome=NOT_SENT)
    steady(h, "reader", "read", 5.0, 6.0)
    [v] = check(objective(max_error_rate_during_fault="5 %"), h)
    assert v.validity == "unknown"
    assert "window 2 (b): the clients could not keep the asked rate: 1 of 8" in v.explanation
    assert v.explanation.endswith("[others: a: pass]")


def test_a_failed_minimum_outranks_an_unknown_one():
    """Availability 0 % in b fails; a's fault was not shown: the worst is b's FAIL; the others are listed."""
    h = History()
    nemesis(h, "a", 1.0, 2.0, shown=False)
    nemesis(h, "b", 4.0, 5.0)
    nemesis(h, "c", 7.0, 8.0, shown=False)
    steady(h, "reader", "read", 0.0, 4.0)
    steady(h, "reader", "read", 4.0, 5.0, outcome="fail")
    steady(h, "reader", "read", 5.0, 9.0)
    [v] = check(objective(min_availability_during_fault="99 %"), h)
    assert (v.validity, v.measured) == ("fail", 0.0)
    assert v.explanation.endswith("[others: a: unknown, c: unknown]")
    [u] = check(objective(min_availability_during_fault="99 %"), h, fault="a")
    assert (u.validity, u.limit, u.unit) == ("unknown", 99.0, "%")


def test_a_crashed_checker_keeps_the_objective_and_limit(monkeypatch):
    """A measure that raises gives UNKNOWN for the same objective id, limit and unit."""
    monkeypatch.setitem(checkers.MEASURES, "rto", lambda lim, c: 1 / 0)
    h = outage_in_b()
    [v] = check(objective(rto="10 s"), h, fault="b")
    assert (v.objective, v.metric, v.limit, v.unit, v.validity) == ("obj", "rto", 10.0, "s", "unknown")
    assert v.explanation == "checker crashed: ZeroDivisionError: division by zero"


def test_loss_is_judged_on_the_named_writes():
    """f="insert": the lost "set" ops of another workload are not this objective's loss."""
    h = History()
    for k in range(1, 4):
        call(h, "insert", k, k * 0.125, k * 0.125 + MS)
        call(h, "set", 100 + k, k * 0.125, k * 0.125 + MS)
    [v] = check(objective(rpo_lost_writes="0 writes"), h, f="insert", observed=[1, 2, 3])
    assert (v.validity, v.measured) == ("pass", 0.0)


def test_a_write_acknowledged_exactly_at_the_read_is_expected():
    """ok no later than read_at: an insert acknowledged at the read's very instant must be read back."""
    h = History()
    call(h, "insert", 1, 1.0, 1.5)
    loss = write_loss(h, [], read_at=1.5)
    assert loss.lost == {1} and loss.rpo_s == 0.5
    assert write_loss(h, [1], read_at=1.5).rpo_s == 0.0


def test_indeterminate_writes_are_counted_in_the_explanation_only_when_there_are_some():
    """The note "k of n indeterminate also present" appears only when some write was indeterminate."""
    h = History()
    call(h, "insert", 1, 1.0, 1.25)
    assert checkers.lost_writes(write_loss(h, [1])).explanation == "all 1 acknowledged inserts read back"
    call(h, "insert", 2, 1.5, 1.75, outcome="info")
    assert checkers.lost_writes(write_loss(h, [1, 2])).explanation == (
        "all 1 acknowledged inserts read back; 1 of 1 indeterminate also present")


def test_unexpected_ids_are_judged_when_every_write_was_indeterminate():
    """Only timed-out writes, and an id read back that nobody wrote: one unexpected write."""
    h = History()
    call(h, "insert", 1, 1.0, 1.25, outcome="info")
    m = checkers.unexpected_writes(write_loss(h, [1, 99]))
    assert m.value == 1.0 and "(id 99)" in m.explanation


def test_an_op_hung_since_the_fault_does_not_block_the_recovery_measure():
    """A read sent during the fault that never completed: recovery is still measured from the heal."""
    from harness.judging.checkers import recovery_time
    h = History()
    nemesis(h, "a", 1.0, 2.0)                                    # heal asked at 1.9375, confirmed at 2
    steady(h, "reader", "read", 0.0, 1.0)
    attempt(h, "reader", "read", 1.5, outcome=None)              # hung
    steady(h, "reader", "read", 2.0, 3.0)
    assert recovery_time(h).value == 2.0078125 - 1.9375


def test_an_op_hung_after_the_heal_was_never_seen_and_does_not_block_recovery():
    """A read sent after the heal that never completed comes last in answer order: recovery is the
    three ok answers that came."""
    from harness.judging.checkers import recovery_time
    h = History()
    nemesis(h, "a", 1.0, 2.0)                                    # heal asked at 1.9375, confirmed at 2
    steady(h, "reader", "read", 0.0, 1.0)
    attempt(h, "reader", "read", 1.9375, outcome=None)           # hung, sent as the heal began
    steady(h, "reader", "read", 2.0, 3.0)
    assert recovery_time(h).value == 2.0078125 - 1.9375
