"""Every path through ``check`` keeps the objective's id, honours ``f=`` and names the right window."""

import pytest

from harness.errors import ConfigError
from harness.history import History
from harness.judging.checkers import check
from harness.judging.phases import availability, error_rate, fault_windows
from test_checkers import call, fault, objective, outage_history, probes


def _with_failing_writes(h):
    for k in range(500):
        call(h, "write", k, k * 0.01 + 0.005, k * 0.01 + 0.006, outcome="fail")
    return h


def test_every_unknown_path_names_the_objective_and_the_limit():
    """Not shown in effect, nothing to recover from, unshown fault under a loss limit, no window."""
    unshown = History()
    fault(unshown, shown=False)
    probes(unshown, 0.0, 5.0, outcome=lambda t: "fail" if 1.0 <= t < 3.0 else "ok")
    calm = outage_history(down_until=1.0)
    paths = [
        (check(objective(rto="1 s"), unshown, f="read"), "fault redis-down was not shown in effect"),
        (check(objective(rto="1 s"), calm, f="read"), "nothing to recover from"),
        (check(objective(rpo="1 s"), unshown, f="read", observed=[]), "so the loss it should have caused"),
        (check(objective(rto="1 s"), History(), f="read"), "no fault was injected in the history"),
    ]
    for verdicts, why in paths:
        [v] = verdicts
        assert (v.objective, v.validity) == ("obj", "unknown") and why in v.explanation, v


def test_the_op_filter_reaches_every_measure_and_gate():
    """With failing writes between the reads, f="read" judges the reads alone, on every path."""
    h = _with_failing_writes(outage_history())
    [rto, err] = check(objective(rto="1 s", max_error_rate_after_fault="1 %"), h, f="read")
    assert (rto.validity, err.validity, err.measured) == ("pass", "pass", 0.0)
    calm = _with_failing_writes(outage_history(down_until=1.0))
    [v] = check(objective(rto="1 s"), calm, f="read")
    assert v.explanation.startswith("nothing to recover from")   # the failing writes are not the reads'
    assert check(objective(rto="1 s"), calm, f="write")[0].validity == "fail"   # writes never recover


def test_a_name_never_injected_lists_none_when_there_is_no_window():
    """The error names the windows there are, or says none."""
    with pytest.raises(ConfigError) as err:
        check(objective(rto="1 s"), History(), fault="ghost")
    assert str(err.value) == ("fault 'ghost' was never injected in this history (fault windows: none) "
                              "(in check('obj', fault=...)); name a fault from the list, exactly as "
                              "str(fault) prints it, or leave fault= out")


def test_the_worst_window_is_a_fail_over_an_unknown_over_a_pass():
    """Severity orders the windows first; among equals the larger measured value is worse for a maximum."""
    h = History()
    fault(h, name="a", inject_at=1.0, heal_at=1.5)                 # disrupted, recovers fast: pass
    fault(h, name="b", inject_at=2.0, heal_at=2.5, shown=False)    # not shown: unknown
    probes(h, 0.0, 4.0, outcome=lambda t: "fail" if 1.0 <= t < 1.5 else "ok")
    [v] = check(objective(rto="1 s"), h, f="read")
    assert v.validity == "unknown" and "window 2 (b)" in v.explanation and "[others: a: pass]" in v.explanation
    h2 = History()
    fault(h2, name="a", inject_at=1.0, heal_at=1.5)
    fault(h2, name="b", inject_at=2.0, heal_at=2.5)
    probes(h2, 0.0, 4.0, outcome=lambda t: "fail" if 1.0 <= t < 1.5 or 2.0 <= t < 2.9 else "ok")
    [worst] = check(objective(rto="1 s"), h2, f="read")
    assert worst.validity == "pass" and "window 2 (b)" in worst.explanation
    assert worst.measured == pytest.approx(2.902 - 2.5)


def test_error_rate_by_name_window_and_filter():
    """error_rate and availability honour fault=, window= and f=."""
    h = _with_failing_writes(outage_history())
    fault(h, name="later", inject_at=4.0, heal_at=4.5)
    assert error_rate(h, f="read", fault="later", phase="during").value == 0.0
    assert error_rate(h, f="read", phase="during").value == pytest.approx(100.0 * 200 / 201)
    later = fault_windows(h)[1]
    assert error_rate(h, f="read", window=later, phase="during").value == 0.0
    assert error_rate(h, f="write", window=later, phase="during").value == pytest.approx(100.0)
    assert availability(h, f="read", window=later, phase="during").value == pytest.approx(100.0)
    m = error_rate(History(), phase="during")
    assert (m.value, m.unit) == (None, "%")


def test_a_fault_recorded_by_name_alone_opens_a_window():
    """A nemesis value that is a plain string is the fault's name, with no kind or target."""
    h = History()
    call(h, "inject", "my-fault", 1.0, 1.001, process="nemesis")
    call(h, "heal", "my-fault", 2.0, 2.001, process="nemesis")
    [w] = fault_windows(h)
    assert (w.name, w.kind, w.target) == ("my-fault", "", "")
    blank = History()
    call(blank, "inject", None, 1.0, 1.001, process="nemesis")
    assert fault_windows(blank)[0].name == ""
