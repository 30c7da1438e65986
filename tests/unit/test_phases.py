"""Unit tests for harness.judging.phases on hand-built histories: windows, evidence, phases, quantiles."""

import pytest

from harness.history import History
from harness.judging.phases import (FaultWindow, availability, client_pairs, error_rate, fault_windows,
                                    in_phase, is_ok, latency_quantile, latency_s, matches, quantile,
                                    select_window)

DOWN = {"name": "down(redis)", "kind": "down", "target": "redis"}


def step(h, f, t, outcome="ok", value=None, error=None, spec=DOWN, done_after=0.001):
    op = h.invoke("nemesis", f, spec, time=t)
    if outcome is not None:
        h.complete(op, outcome, time=t + done_after, value=value, error=error)
    return op


def read(h, t, outcome="ok", latency=0.002, process="client", f="read"):
    op = h.invoke(process, f, None, time=t)
    if outcome is not None:
        h.complete(op, outcome, time=t + latency)


def test_a_window_spans_inject_invoke_to_heal_completion_with_its_evidence():
    """The window opens at the inject's invoke, closes at the heal's ok completion, carries the probe."""
    h = History()
    step(h, "inject", 1.0)
    step(h, "probe", 1.002, value="a probe through 127.0.0.1:1: closed after 0.2 ms")
    step(h, "heal", 3.0, done_after=0.05)
    [w] = fault_windows(h)
    assert (w.name, w.kind, w.target, w.injected_at, w.healed_at) == ("down(redis)", "down", "redis", 1.0, 3.05)
    assert w.in_effect is True and w.evidence == "a probe through 127.0.0.1:1: closed after 0.2 ms"
    assert w.duration_s == pytest.approx(2.05)
    assert w.to_dict() == {"name": "down(redis)", "kind": "down", "target": "redis", "injected_at": 1.0,
                           "healed_at": 3.05}


def test_a_failed_probe_leaves_the_window_not_shown_with_the_reason():
    """A probe that failed gives in_effect False and its error as the evidence."""
    h = History()
    step(h, "inject", 1.0)
    step(h, "probe", 1.002, outcome="fail", error="still got a reply")
    step(h, "heal", 2.0)
    [w] = fault_windows(h)
    assert (w.in_effect, w.evidence) == (False, "still got a reply")


def test_a_probe_never_completed_or_missing_is_not_evidence():
    """No probe, or one that never completed, leaves the default 'no probe recorded' evidence."""
    for with_probe in (False, True):
        h = History()
        step(h, "inject", 1.0)
        if with_probe:
            step(h, "probe", 1.002, outcome=None)
        step(h, "heal", 2.0)
        [w] = fault_windows(h)
        assert (w.in_effect, w.evidence) == (False, "no probe of its effect was recorded")


def test_a_later_failed_probe_does_not_undo_an_earlier_success():
    """Once shown in effect, the window stays shown."""
    h = History()
    step(h, "inject", 1.0)
    step(h, "probe", 1.01, value="shown")
    step(h, "probe", 1.02, outcome="fail", error="later miss")
    [w] = fault_windows(h)
    assert (w.in_effect, w.evidence, w.healed_at) == (True, "shown", None)


def test_probes_attach_to_their_own_fault_by_name():
    """With two faults open, each probe goes to the window of the same name."""
    other = {"name": "latency(postgres)", "kind": "latency", "target": "postgres"}
    h = History()
    step(h, "inject", 1.0)
    step(h, "inject", 1.1, spec=other)
    step(h, "probe", 1.2, value="down shown")
    step(h, "probe", 1.3, outcome="fail", error="latency not shown", spec=other)
    step(h, "heal", 2.0, spec=other)
    step(h, "heal", 3.0)
    first, second = fault_windows(h)
    assert (first.name, first.in_effect, first.evidence, first.healed_at) == ("down(redis)", True, "down shown", 3.001)
    assert (second.name, second.in_effect, second.evidence, second.healed_at) == (
        "latency(postgres)", False, "latency not shown", 2.001)


def test_a_failed_inject_opens_no_window_and_a_failed_heal_closes_none():
    """Only ok injects open windows; a heal that failed leaves the window open (never healed)."""
    h = History()
    step(h, "inject", 1.0, outcome="fail", error="proxy not found")
    assert fault_windows(h) == []
    step(h, "inject", 2.0)
    step(h, "heal", 3.0, outcome="fail", error="boom")
    [w] = fault_windows(h)
    assert (w.injected_at, w.healed_at, w.duration_s) == (2.0, None, None)
    assert "never healed" in str(w)


def test_windows_come_in_injection_order_and_a_nameless_heal_closes_the_latest():
    """Windows are sorted by their inject; a heal without a name closes the latest open window."""
    other = {"name": "b", "kind": "k", "target": "t"}
    h = History()
    step(h, "inject", 1.0, spec={"name": "a", "kind": "k", "target": "t"})
    step(h, "inject", 2.0, spec=other)
    step(h, "heal", 3.0, spec={})
    [a, b] = fault_windows(h)
    assert (a.name, a.healed_at) == ("a", None)
    assert (b.name, b.healed_at) == ("b", 3.001)
    assert select_window(h) is not None and select_window(h).name == "a"
    assert select_window(h, "b").name == "b" and select_window(h, "zzz") is None
    assert select_window(History()) is None


def test_phase_of_uses_half_open_intervals():
    """before < injected_at <= during < healed_at <= after; a window never healed has no after."""
    w = FaultWindow("f", "k", "t", 1.0, 2.0)
    assert [w.phase_of(t) for t in (0.999, 1.0, 1.999, 2.0, 5.0)] == ["before", "during", "during", "after", "after"]
    open_ = FaultWindow("f", "k", "t", 1.0, None)
    assert open_.phase_of(100.0) == "during"


def test_client_pairs_leave_out_nemesis_and_drill_and_sort_by_invoke():
    """Client ops only, filtered by name, in invoke order."""
    h = History()
    read(h, 2.0)
    step(h, "inject", 1.0)
    read(h, 1.5, f="write")
    read(h, 1.0, process="drill")
    read(h, 0.5)
    assert [(i.time, i.f) for i, _ in client_pairs(h)] == [(0.5, "read"), (1.5, "write"), (2.0, "read")]
    assert [i.time for i, _ in client_pairs(h, "read")] == [0.5, 2.0]
    assert [i.time for i, _ in client_pairs(h, ["write"])] == [1.5]
    assert matches(None, "x") and matches("x", "x") and not matches("x", "y") and matches({"x", "y"}, "y")


def test_is_ok_and_latency_of_a_never_completed_op():
    """Only ok is ok; a never-completed op's latency runs to the end of history."""
    h = History()
    read(h, 1.0, outcome=None)
    read(h, 2.0, outcome="info", latency=0.3)
    (hung, none), (timed, info) = client_pairs(h)
    assert none is None and not is_ok((hung, none)) and not is_ok((timed, info))
    assert latency_s((hung, none), 3.0) == pytest.approx(2.0)
    assert latency_s((timed, info), 99.0) == pytest.approx(0.3)


def test_error_rate_and_availability_count_every_non_ok_op_of_the_phase():
    """3 of 4 ops during the fault not ok: 75 % errors, 25 % availability; no ops: no evidence."""
    h = History()
    step(h, "inject", 1.0)
    step(h, "heal", 2.0)
    read(h, 0.5)
    read(h, 1.1, outcome="fail")
    read(h, 1.2, outcome="info")
    read(h, 1.3, outcome=None)
    read(h, 1.4)
    assert error_rate(h, phase="during").value == pytest.approx(75.0)
    assert availability(h, phase="during").value == pytest.approx(25.0)
    assert error_rate(h, phase="before").value == 0.0
    empty = error_rate(h, phase="after")
    assert empty.value is None and "no client ops invoked after down(redis)" in empty.explanation
    assert error_rate(History()).explanation == "no client ops invoked no fault window in the history"
    assert availability(History()).value is None


def test_nearest_rank_quantile():
    """Nearest rank: p50 of 1..4 is 2, p99 of 1..100 is 99, p100 the max, p0 the min."""
    assert quantile([4, 1, 3, 2], 0.5) == 2
    assert quantile(list(range(1, 101)), 0.99) == 99
    assert quantile([5.0, 1.0], 1.0) == 5.0
    assert quantile([5.0, 1.0], 0.0) == 1.0


def test_latency_quantile_names_its_ops_and_span():
    """p50 of three during-fault ops, with the count and the invoke span in the explanation."""
    h = History()
    step(h, "inject", 1.0)
    step(h, "heal", 2.0)
    read(h, 1.1, latency=0.010)
    read(h, 1.2, latency=0.030)
    read(h, 1.3, latency=0.020)
    m = latency_quantile(h, 0.5)
    assert m.value == pytest.approx(20.0) and m.unit == "ms" and m.at_least is None
    assert m.explanation == "p50 of 3 ops invoked during down(redis) (t=1.1..1.3 s)"
    assert in_phase(client_pairs(h), fault_windows(h)[0], "before") == []
