"""Every branch of the recovery measures, as exact measurements on small hand-built histories.

Each row is (history, measure, options, value, lower bound, explanation): the value a person would
compute by hand from the module docstring of harness/judging/checkers.py, and the sentence that
justifies it. Failing writes are interleaved with the reads in the "mixed" histories so that a
measure that forgot its ``f=`` filter cannot give the same answer.
"""

import pytest

from harness.history import History
from harness.judging.checkers import (check, describe_ids, disruption, judge, lost_writes, observed_outage,
                                      outage_accuracy, recovery_time, rpo, seconds, slow_limit_ms,
                                      steady_state_after_heal, unexpected_writes, write_loss, writes)
from harness.judging.objectives import parse_limit
from harness.judging.phases import fault_windows
from harness.judging.verdicts import Measurement
from test_checkers import call, fault, inserts, objective, outage_history, probes


def _unhealed():
    h = History()
    fault(h, heal_at=None)
    probes(h, 0.0, 2.0, outcome=lambda t: "fail" if t >= 1.0 else "ok")
    return h


def _quiet_after_heal():
    h = History()
    fault(h, heal_at=3.0)
    probes(h, 0.0, 2.0)
    return h


def _never_recovers():
    h = History()
    fault(h, heal_at=3.0)
    probes(h, 0.0, 5.0, outcome=lambda t: "fail" if t >= 1.0 else "ok")
    return h


def _mixed(h):
    """Failing writes between every two reads: only an ``f="read"`` filter sees the reads alone."""
    for k in range(500):
        call(h, "write", k, k * 0.01 + 0.005, k * 0.01 + 0.006, outcome="fail")
    return h


HISTORIES = {
    "empty": History,
    "unhealed": _unhealed,
    "no_ops_after_heal": _quiet_after_heal,
    "never_recovers": _never_recovers,
    "outage_mixed": lambda: _mixed(outage_history()),
    "all_ok": lambda: outage_history(down_until=1.0),
    "late": lambda: _mixed(outage_history(down_until=3.5)),
}

ROWS = [
    ("empty", recovery_time, {}, None, None,
     'no fault was injected in the history'),
    ("empty", recovery_time, {'since': 'inject'}, None, None,
     'no fault was injected in the history'),
    ("empty", observed_outage, {}, None, None,
     'no fault window in the history'),
    ("empty", outage_accuracy, {}, None, None,
     'no healed fault window in the history'),
    ("empty", steady_state_after_heal, {}, None, None,
     'no healed fault window in the history'),
    ("unhealed", recovery_time, {}, None, None,
     'fault redis-down was never healed'),
    ("unhealed", recovery_time, {'since': 'inject'}, None, 0.992,
     'no 3 ok ops in a row after the inject at t=1 s; history ends at t=1.992 s'),
    ("unhealed", observed_outage, {}, None, 0.992,
     'down from t=1 s, no 3 ok ops in a row by the end at t=1.992 s'),
    ("unhealed", outage_accuracy, {}, None, None,
     'no healed fault window in the history'),
    ("unhealed", steady_state_after_heal, {}, None, None,
     'no healed fault window in the history'),
    ("no_ops_after_heal", recovery_time, {}, None, None,
     'no client op invoked after the heal at t=3 s'),
    ("no_ops_after_heal", recovery_time, {'since': 'inject'}, 0.0, None,
     'all 100 ops after the inject at t=1 s succeeded'),
    ("no_ops_after_heal", observed_outage, {}, 0.0, None,
     'all 100 ops after the inject at t=1 s succeeded'),
    ("no_ops_after_heal", outage_accuracy, {}, 2.001, None,
     'observed outage 0 s vs injected 2.001 s: all 100 ops after the inject at t=1 s succeeded'),
    ("no_ops_after_heal", steady_state_after_heal, {}, None, 0.0,
     'no 3 ok ops within 7 ms in a row after the heal at t=3.001 s by the end at t=3.001 s'),
    ("never_recovers", recovery_time, {}, None, 1.992,
     'no 3 ok ops in a row after the heal at t=3 s; history ends at t=4.992 s'),
    ("never_recovers", recovery_time, {'since': 'inject'}, None, 3.992,
     'no 3 ok ops in a row after the inject at t=1 s; history ends at t=4.992 s'),
    ("never_recovers", observed_outage, {}, None, 3.992,
     'down from t=1 s, no 3 ok ops in a row by the end at t=4.992 s'),
    ("never_recovers", outage_accuracy, {}, None, 1.991,
     'down from t=1 s, no 3 ok ops in a row by the end at t=4.992 s'),
    ("never_recovers", steady_state_after_heal, {}, None, 1.991,
     'no 3 ok ops within 7 ms in a row after the heal at t=3.001 s by the end at t=4.992 s'),
    ("outage_mixed", recovery_time, {}, 0.002, None,
     'redis-down heal began at t=3 s, 3 ok ops in a row, the first served at t=3.002 s'),
    ("outage_mixed", recovery_time, {'since': 'inject'}, 2.002, None,
     'redis-down inject at t=1 s, 3 ok ops in a row, the first served at t=3.002 s'),
    ("outage_mixed", observed_outage, {}, 2.0, None,
     'first failed op invoked at t=1 s, first of 3 ok ops invoked at t=3 s'),
    ("outage_mixed", outage_accuracy, {}, 0.001, None,
     'observed outage 2 s vs injected 2.001 s: first failed op invoked at t=1 s, first of 3 ok ops invoked at t=3 s'),
    ("outage_mixed", steady_state_after_heal, {}, 0.009, None,
     'heal at t=3.001 s; from t=3.01 s 3 ok ops in a row within 7 ms (before-fault p99 2 ms)'),
    ("all_ok", recovery_time, {}, 0.002, None,
     'redis-down heal began at t=3 s, 3 ok ops in a row, the first served at t=3.002 s'),
    ("all_ok", recovery_time, {'since': 'inject'}, 0.0, None,
     'all 400 ops after the inject at t=1 s succeeded'),
    ("all_ok", observed_outage, {}, 0.0, None,
     'all 400 ops after the inject at t=1 s succeeded'),
    ("all_ok", outage_accuracy, {}, 2.001, None,
     'observed outage 0 s vs injected 2.001 s: all 400 ops after the inject at t=1 s succeeded'),
    ("all_ok", steady_state_after_heal, {}, 0.009, None,
     'heal at t=3.001 s; from t=3.01 s 3 ok ops in a row within 7 ms (before-fault p99 2 ms)'),
    ("late", recovery_time, {}, 0.502, None,
     'redis-down heal began at t=3 s, 3 ok ops in a row, the first served at t=3.502 s'),
    ("late", recovery_time, {'since': 'inject'}, 2.502, None,
     'redis-down inject at t=1 s, 3 ok ops in a row, the first served at t=3.502 s'),
    ("late", observed_outage, {}, 2.5, None,
     'first failed op invoked at t=1 s, first of 3 ok ops invoked at t=3.5 s'),
    ("late", outage_accuracy, {}, 0.499, None,
     'observed outage 2.5 s vs injected 2.001 s: first failed op invoked at t=1 s, first of 3 ok ops invoked at t=3.5 s'),
    ("late", steady_state_after_heal, {}, 0.499, None,
     'heal at t=3.001 s; from t=3.5 s 3 ok ops in a row within 7 ms (before-fault p99 2 ms)'),

]


@pytest.mark.parametrize("history, measure, options, value, at_least, explanation", ROWS)
def test_measure_branches(history, measure, options, value, at_least, explanation):
    """The measure gives exactly this value (or lower bound) in seconds, with this sentence."""
    m = measure(HISTORIES[history](), f="read", **options)
    assert (m.unit, m.explanation) == ("s", explanation)
    assert m.value == (None if value is None else pytest.approx(value, abs=1e-6))
    assert m.at_least == (None if at_least is None else pytest.approx(at_least, abs=1e-6))


def test_a_fault_named_but_absent_is_named_in_the_explanation():
    """recovery_time(fault="x") on a history without it says which fault is missing."""
    assert recovery_time(History(), fault="x").explanation == "no fault x was injected in the history"
    h = outage_history()
    fault(h, name="second", inject_at=6.0, heal_at=7.0)
    assert recovery_time(h, f="read", fault="second").explanation == \
        "no client op invoked after the heal at t=7 s"


def test_consecutive_counts_how_many_ok_ops_make_a_recovery():
    """Four ok ops from the start of the heal, then a failure: 3 or 4 in a row recover at the first
    of them, 5 only after the failure; the same for the outage and steady-state measures."""
    h = History()
    fault(h, inject_at=1.0, heal_at=3.0)
    probes(h, 0.0, 5.0, outcome=lambda t: "fail" if 1.0 <= t < 3.0 or round(t, 3) == 3.04 else "ok")
    assert recovery_time(h, f="read").value == pytest.approx(3.002 - 3.0)
    assert recovery_time(h, f="read", consecutive=4).value == pytest.approx(3.002 - 3.0)
    assert recovery_time(h, f="read", consecutive=5).value == pytest.approx(3.052 - 3.0)
    assert "5 ok ops in a row" in recovery_time(h, f="read", consecutive=5).explanation
    assert observed_outage(h, f="read").value == pytest.approx(2.0)
    assert observed_outage(h, f="read", consecutive=5).value == pytest.approx(2.05)
    assert outage_accuracy(h, f="read").value == pytest.approx(0.001)
    assert outage_accuracy(h, f="read", consecutive=5).value == pytest.approx(0.049)
    assert steady_state_after_heal(h, f="read").value == pytest.approx(3.01 - 3.001)
    assert steady_state_after_heal(h, f="read", consecutive=4).value == pytest.approx(3.05 - 3.001)


def test_ops_invoked_exactly_at_the_reference_count():
    """An op invoked exactly at the reference belongs after it (>=): the start of the heal (2.0)
    for recovery, its completion (2.001) for steady state."""
    h = History()
    fault(h, inject_at=1.0, heal_at=2.0)
    probes(h, 0.0, 1.0)
    call(h, "read", "x", 1.5, 1.501, outcome="fail")
    for t in (2.0, 2.001, 2.002, 2.003):
        call(h, "read", t, t, t + 0.001)
    assert recovery_time(h, f="read").value == pytest.approx(0.001)   # 2.001 - 2.0
    assert steady_state_after_heal(h, f="read").value == pytest.approx(0.0)


def test_outage_accuracy_lower_bound_only_when_worse_than_injected():
    """A never-ending outage gives a positive lower bound on accuracy; none when it is not worse."""
    h = History()
    fault(h, inject_at=1.0, heal_at=3.0)
    probes(h, 0.0, 3.5, outcome=lambda t: "fail" if t >= 1.0 else "ok")
    m = outage_accuracy(h, f="read")   # down 1.0 .. end 3.492: at least 2.492 s seen vs 2.001 injected
    assert m.value is None and m.at_least == pytest.approx(0.491)
    short = History()
    fault(short, inject_at=1.0, heal_at=3.0)   # the history ends at the heal's completion, 3.001
    probes(short, 0.0, 2.5, outcome=lambda t: "fail" if t >= 1.0 else "ok")
    m = outage_accuracy(short, f="read")   # at least 2.001 s seen: not worse than injected, no bound
    assert m.value is None and m.at_least is None


def test_judge_edges():
    """Exactly at the limit passes; a lower bound fails a maximum it exceeds and meets a minimum it reaches."""
    rto = parse_limit("rto", "1 s")
    floor = parse_limit("latency_p50_during_fault_min", "250 ms")
    assert judge("o", rto, seconds(1.0, "e")).validity == "pass"
    assert judge("o", rto, seconds(1.0001, "e")).validity == "fail"
    assert judge("o", rto, seconds(None, "e", at_least=1.0)).validity == "unknown"
    v = judge("o", rto, seconds(None, "e", at_least=1.5))
    assert (v.validity, v.measured, v.limit, v.unit, v.metric, v.objective) == ("fail", 1.5, 1.0, "s", "rto", "o")
    assert judge("o", floor, Measurement(250.0, "ms", "e")).validity == "pass"
    assert judge("o", floor, Measurement(249.9, "ms", "e")).validity == "fail"
    assert judge("o", floor, Measurement(None, "ms", "e", at_least=250.0)).validity == "pass"
    assert judge("o", floor, Measurement(None, "ms", "e", at_least=249.0)).validity == "unknown"
    assert judge("o", rto, seconds(0.1234567891, "e")).measured == 0.123457
    with pytest.raises(ValueError, match="measure for rto gave 'ms', the limit is in 's'"):
        judge("o", rto, Measurement(1.0, "ms", "e"))


def test_slow_limit_is_twice_the_baseline_or_five_ms_more():
    """max(2 x before p99, before p99 + 5 ms): 2 ms -> 7 ms, 20 ms -> 40 ms; no ops before: none."""
    fast, slow = outage_history(), History()
    fault(slow, inject_at=1.0, heal_at=2.0)
    probes(slow, 0.0, 1.0, latency_s=0.020)
    assert slow_limit_ms(fast, fault_windows(fast)[0], "read") == (pytest.approx(7.0), "before-fault p99 2 ms")
    assert slow_limit_ms(slow, fault_windows(slow)[0], "read")[0] == pytest.approx(40.0)
    empty = History()
    fault(empty, inject_at=0.0, heal_at=1.0)
    limit, why = slow_limit_ms(empty, fault_windows(empty)[0])
    assert limit is None and why.startswith("no baseline: no client ops invoked before")


def test_disruption_window_edges():
    """Touched: invoked in [inject, heal), in flight across the inject, or after the heal until the
    first ok; an op invoked after that first ok, or completed before the inject, is not touched."""
    def history_with(*ops):
        h = History()
        fault(h, inject_at=1.0, heal_at=2.0)   # healed at 2.001
        probes(h, 0.0, 0.9, latency_s=0.001)
        for t0, t1, outcome in ops:
            call(h, "read", t0, t0, t1, outcome=outcome)
        return h, fault_windows(h)[0]

    cases = [
        ((0.95, 0.999, "fail"), None),                       # over before the inject
        ((0.95, 1.0, "ok"), None),                           # completed at the inject: not in flight
        ((0.95, 1.2, "info"), "ended info"),                 # in flight across the inject
        ((1.0, 1.001, "fail"), "read invoked at t=1 s ended fail"),   # at the inject
        ((2.001, 2.002, "fail"), "ended fail"),              # at the heal, before any ok
    ]
    for op, seen in cases:
        h, w = history_with(op)
        found = disruption(h, w, f="read")
        assert (found is None) if seen is None else (seen in found), (op, found)
    h, w = history_with((2.01, 2.011, "ok"), (2.02, 2.021, "fail"))  # a failure after the first ok
    assert disruption(h, w, f="read") is None
    h, w = history_with((1.5, 1.5059, "ok"))   # slow means over max(2 x 1 ms, 1 ms + 5 ms) = 6 ms
    assert disruption(h, w, f="read") is None
    h, w = history_with((1.5, 1.5061, "ok"))
    assert "took 6.1 ms, over 6 ms" in disruption(h, w, f="read")
    h, w = history_with((1.5, 1.6, "fail"))
    assert disruption(h, w, f="write") is None   # the filter decides which ops count


def test_describe_ids_shapes():
    """One id, a contiguous run, the first six of many, and ids that do not sort together."""
    assert describe_ids([7]) == "id 7"
    assert describe_ids([3, 1, 2]) == "ids 1..3"
    assert describe_ids([1, 3, 5]) == "ids 1, 3, 5"
    assert describe_ids([1, 3, 5, 7, 9, 11]) == "ids 1, 3, 5, 7, 9, 11"
    assert describe_ids([1, 3, 5, 7, 9, 11, 13]) == "ids 1, 3, 5, 7, 9, 11, ... (7 in all)"
    assert describe_ids(["b", 1]) == "ids b, 1"   # unorderable: sorted by repr


def test_loss_measures_exactly():
    """Lost, rpo and unexpected writes with their units and sentences, including the no-evidence cases."""
    h = History()
    inserts(h, n=10)
    call(h, "insert", 11, 0.5, 0.6, outcome="fail")
    call(h, "insert", 12, 0.7, 0.8, outcome="info")
    loss = write_loss(h, [1, 2, 3, 4, 5, 6, 7, 8, 12, 99], f="insert", read_at=9.0)
    assert lost_writes(loss) == writes(2.0, "2 acknowledged inserts (ids 9..10) missing after recovery at t=9 s")
    assert rpo(loss) == seconds(pytest.approx(10 * 0.04 + 0.005 - 9 * 0.04),
                                "2 lost acknowledged inserts (ids 9..10) span 0.045 s")
    assert unexpected_writes(loss) == writes(1.0, "1 ids read back that were never acknowledged or failed (id 99)")
    clean = write_loss(h, range(1, 11), f="insert")
    assert lost_writes(clean) == writes(0.0, "all 10 acknowledged inserts read back; 0 of 1 indeterminate "
                                             "also present")
    assert rpo(clean) == seconds(0.0, "no acknowledged inserts lost of 10")
    assert unexpected_writes(clean) == writes(0.0, "every id read back was written")
    none = write_loss(History(), [1])
    assert lost_writes(none) == writes(None, "no acknowledged writes in the history, so no loss can be shown")
    assert rpo(none) == seconds(None, "no acknowledged writes in the history, so no loss can be shown")
    assert unexpected_writes(none) == writes(None, "no writes attempted in the history")
    only_failed = History()
    call(only_failed, "insert", 1, 0.1, 0.2, outcome="fail")
    assert unexpected_writes(write_loss(only_failed, [1])).value == 1.0


def test_loss_limits_without_a_read_back_say_how_to_give_one():
    """rpo limits judged without observed= are unknown, naming the argument to pass."""
    h = History()
    inserts(h, n=3)
    v = check(objective(rpo_lost_writes="0 writes", rpo="0 s"), h, f="insert")
    assert [(x.validity, x.unit, x.explanation) for x in v] == [
        ("unknown", "writes", "no read-back after recovery was recorded (pass observed=...)"),
        ("unknown", "s", "no read-back after recovery was recorded (pass observed=...)")]


def test_worst_of_several_windows_for_a_minimum_is_the_lowest():
    """Across windows, a minimum's worst passing value is the lowest, named with its window."""
    h = History()
    fault(h, name="a", inject_at=1.0, heal_at=2.0)
    fault(h, name="b", inject_at=3.0, heal_at=4.0)
    probes(h, 0.0, 5.0, outcome=lambda t: "fail" if 1.0 <= t < 1.5 or 3.0 <= t < 3.2 else "ok")
    v = check(objective(min_availability_during_fault="10 %"), h, f="read")[0]
    assert v.validity == "pass" and v.measured == pytest.approx(100 * 51 / 101, abs=1e-4)
    assert v.explanation.startswith("worst of 2 fault windows, window 1 (a): ")
    assert v.explanation.endswith("[others: b: pass]")


def test_a_crash_while_looking_for_a_disruption_is_unknown(monkeypatch):
    """The disruption check crashing gives unknown naming the error, never a pass."""
    import harness.judging.checkers as checkers

    def boom(*args, **kwargs):
        raise KeyError("latency")

    monkeypatch.setattr(checkers, "disruption", boom)
    v = check(objective(rto="1 s"), outage_history(), f="read")[0]
    assert (v.validity, v.explanation) == ("unknown", "checker crashed: KeyError: 'latency'")
    assert v.objective == "obj" and v.metric == "rto"
