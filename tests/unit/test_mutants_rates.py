"""The achieved-rate gate counts the workload the objective names, on the fault window judged.

Written against mutants that survived ``make mutation`` (docs/mutation-survivors.md): each test
states a behaviour a user relies on. The history: a reader and a writer, one attempt each every
0.125 s (exact binary times), two faults, ``a`` from t=1 to 2 s and ``b`` from t=4 to 5 s; the
writer could send only 2 of its 8 attempts during ``b`` (every lane busy), the reader sent all.
"""

import pytest

from harness.history import NOT_SENT, History
from harness.judging import rates
from harness.judging.objectives import parse_limit
from harness.judging.phases import fault_windows


def nemesis(h, name, inject_at, heal_at, shown=True):
    """Inject ``name`` at ``inject_at``, its probe shown in effect, healed (ok) exactly at ``heal_at``."""
    value = {"name": name, "kind": "down", "target": "redis"}
    h.complete(h.invoke("nemesis", "inject", value, time=inject_at), "ok", time=inject_at)
    probe = h.invoke("nemesis", "probe", value, time=inject_at)
    h.complete(probe, "ok" if shown else "fail", time=inject_at, value="refused", error=None if shown else "replied")
    if heal_at is not None:
        h.complete(h.invoke("nemesis", "heal", value, time=heal_at - 0.0625), "ok", time=heal_at)


def attempt(h, process, f, t, outcome="ok", latency_s=0.0078125):
    op = h.invoke(process, f, round(t * 1000), time=t)
    if outcome == NOT_SENT:
        h.complete(op, NOT_SENT, time=t, error="every lane busy")
    elif outcome is not None:
        h.complete(op, outcome, time=t + latency_s)


def two_workloads(heal_b=5.0, hang_last=False):
    h = History()
    nemesis(h, "a", 1.0, 2.0)
    nemesis(h, "b", 4.0, heal_b)
    for k in range(48):                      # t = 0 .. 5.875 s
        attempt(h, "reader", "read", k * 0.125)
        t = k * 0.125 + 0.0625
        busy = 4.0 <= t < 5.0 and t not in (4.0625, 4.5625)
        attempt(h, "writer", "insert", t, NOT_SENT if busy else "ok")
    if hang_last:
        attempt(h, "writer", "insert", 6.0, outcome=None)
    return h


def counts(span):
    return (span.scheduled, span.sent)


ERRORS = parse_limit("max_error_rate_during_fault", "5 %")


def test_the_gate_counts_only_the_named_workload_on_the_named_fault():
    """f= and fault= choose the attempts: the writer's 2 of 8 during b, not the reader's 8 of 8."""
    h = two_workloads()
    assert counts(rates.limit_span(h, ERRORS, f="insert", fault="b")) == (8, 2)
    assert counts(rates.limit_span(h, ERRORS, f="read", fault="b")) == (8, 8)
    assert counts(rates.limit_span(h, ERRORS, f="insert", fault="a")) == (8, 8)
    assert counts(rates.limit_span(h, ERRORS, f="insert", window=fault_windows(h)[1])) == (8, 2)
    avail = parse_limit("min_availability_during_fault", "99 %")
    assert counts(rates.limit_span(h, avail, f="insert", fault="b")) == (8, 2)
    assert rates.deficit(h, avail, f="insert", fault="b").startswith("the clients could not keep the asked rate: "
                                                                      "2 of 8 attempts scheduled during b were sent (25 %)")
    accuracy = parse_limit("outage_accuracy", "1 s")
    assert counts(rates.limit_span(h, accuracy, f="insert", fault="b")) == (8, 2)


def test_deficit_names_the_workload_and_window_it_judged():
    """The writer during b is deficient; the reader during b, and the writer during a, are not."""
    h = two_workloads()
    assert rates.deficit(h, ERRORS, f="insert", fault="b") is not None
    assert rates.deficit(h, ERRORS, f="read", fault="b") is None
    assert rates.deficit(h, ERRORS, f="insert", fault="a") is None
    assert rates.deficit(h, ERRORS, f="insert", window=fault_windows(h)[1]) is not None
    assert rates.deficit(h, ERRORS, f="insert", window=fault_windows(h)[0]) is None


def test_recovery_spans_run_from_the_heal_to_the_recovery_instant_inclusive():
    """rto: [start of the heal, start + measured], the attempt scheduled at either end included;
    steady state counts from the heal's completion."""
    h = two_workloads()
    rto = parse_limit("rto", "1 s")
    span = rates.limit_span(h, rto, f="insert", fault="b", measured=0.3125)   # writer at 4.9375 (not sent), 5.0625, .1875
    assert counts(span) == (3, 2) and span.label == "between the heal and the recovery (t=4.938..5.25 s)"
    span = rates.limit_span(h, rto, f="insert", fault="b", measured=0.25)     # the attempt at 5.1875 exactly
    assert counts(span) == (3, 2)
    assert counts(rates.limit_span(h, rto, f="insert", fault="b")) == (9, 8)  # nothing measured: from the heal on
    steady = parse_limit("steady_state_after_heal", "1 s")
    assert counts(rates.limit_span(h, steady, f="insert", fault="b", measured=0.3125)) == (3, 3)
    from_inject = parse_limit("rto_from_inject", "5 s")
    span = rates.limit_span(h, from_inject, f="insert", fault="b", measured=0.5625)  # 4.0625 .. 4.5625
    assert counts(span) == (5, 2)


def test_a_recovery_from_inject_never_measured_runs_to_the_end_of_history():
    """No recovery measured: the span runs to the last op, the hung attempt at the very end included."""
    h = two_workloads(hang_last=True)
    span = rates.limit_span(h, parse_limit("rto_from_inject", "5 s"), f="insert", fault="b")
    assert counts(span) == (17, 11)
    assert span.label == "between the inject and the recovery (t=4..6 s)"


def test_a_fault_never_healed_is_judged_to_the_end_of_history():
    """Fault b never healed: its during phase runs to the end, there is no after phase, no rto span."""
    h = two_workloads(heal_b=None)
    during = rates.limit_span(h, ERRORS, f="insert", fault="b")
    assert counts(during) == (16, 10) and during.end == h.end_time()
    assert counts(rates.limit_span(h, parse_limit("outage_accuracy", "1 s"), f="insert", fault="b")) == (16, 10)
    assert rates.limit_span(h, parse_limit("rto", "1 s"), f="insert", fault="b") is None
    phases = rates.phase_rates(h, f="insert", fault="b")
    assert list(phases) == ["before", "during"]
    assert counts(phases["before"]) == (32, 32) and counts(phases["during"]) == (16, 10)


def test_phase_rates_follow_f_and_fault():
    """phase_rates of the writer around b, and of the reader: each its own attempts."""
    h = two_workloads()
    writer = rates.phase_rates(h, f="insert", fault="b")
    assert {p: counts(s) for p, s in writer.items()} == {"before": (32, 32), "during": (8, 2), "after": (8, 8)}
    assert writer["during"].label == "during b"
    reader = rates.phase_rates(h, f="read", fault="b")
    assert {p: counts(s) for p, s in reader.items()} == {"before": (32, 32), "during": (8, 8), "after": (8, 8)}


def test_the_report_rates_per_process_follow_the_named_fault():
    """rates_by_process(fault="b") shows the writer's 2 of 8 during b; a name never injected gives the whole run."""
    h = two_workloads()
    by_b = rates.rates_by_process(h, fault="b")
    assert (by_b["writer"]["during"]["scheduled"], by_b["writer"]["during"]["sent"]) == (8, 2)
    assert (by_b["reader"]["during"]["scheduled"], by_b["reader"]["during"]["sent"]) == (8, 8)
    by_missing = rates.rates_by_process(h, fault="never-injected")
    assert list(by_missing["writer"]) == ["run"]
    assert (by_missing["writer"]["run"]["scheduled"], by_missing["writer"]["run"]["sent"]) == (48, 42)


def test_a_limit_without_a_phase_is_gated_on_the_during_phase():
    """A hand-made phase limit with no phase is measured on "during" (checkers.MEASURES) and gated there too."""
    h = two_workloads()
    bare = parse_limit("max_error_rate_during_fault", "5 %").__class__(
        name="errors", metric="error_rate", bound="max", value=5.0, unit="%", text="5 %")
    span = rates.limit_span(h, bare, f="insert", fault="b")
    assert counts(span) == (8, 2) and span.label == "during b"


def test_one_attempt_or_none_reads_plainly():
    """A span of one attempt has no rate (no interval to divide by); an empty span has no share."""
    h = History()
    attempt(h, "writer", "insert", 1.0)
    one = rates.span_rate(h, 0.0, 2.0)
    assert one.seconds == 0.0 and one.asked_hz is None
    assert str(one) == "1 of 1 attempts scheduled in t=0..2 s were sent (100 %)"
    empty = rates.span_rate(h, 5.0, 6.0)
    assert empty.to_dict() == {"start": 5.0, "end": 6.0, "scheduled": 0, "sent": 0, "not_sent": 0,
                               "asked_hz": None, "achieved_hz": None, "share": None, "deficient": False}
    assert str(empty) == "no attempts scheduled in t=5..6 s"
    attempt(h, "writer", "insert", 9.0)                      # a workload scheduling across the empty span
    between = rates.span_rate(h, 5.0, 6.0)
    assert (between.scheduled, between.seconds, between.asked_hz) == (0, 0.0, None)


def test_a_span_where_nothing_was_sent_reads_zero_percent():
    """Three attempts, none sent: 0 %, not 100 %."""
    h = History()
    for t in (1.0, 1.5, 2.0):
        attempt(h, "writer", "insert", t, NOT_SENT)
    span = rates.span_rate(h, 0.0, 3.0, label="in the test")
    assert str(span) == "0 of 3 attempts scheduled in the test were sent (0 %) (0/s of 2/s asked)"


def test_active_seconds_are_per_workload_averaged():
    """Two workloads scheduling over 1 s and 0.5 s: 0.75 s on average; each one's slot is its median gap."""
    h = History()
    for k in range(8):
        attempt(h, "reader", "read", k * 0.125)               # 0 .. 0.875, slot 0.125: 1 s
    for k in range(4):
        attempt(h, "writer", "insert", 0.5 + k * 0.125)       # 0.5 .. 0.875, slot 0.125: 0.5 s
    span = rates.span_rate(h, 0.0, 10.0)
    assert span.seconds == 0.75 and span.asked_hz == 16.0


def test_the_slot_is_the_median_of_the_distinct_gaps():
    """Gaps 0.125 and 0.25, then two attempts at the same instant: the slot is the upper median of
    the distinct gaps, 0.25 s (a zero gap would shrink it)."""
    h = History()
    for t in (0.0, 0.125, 0.375, 0.375):
        attempt(h, "writer", "insert", t)
    span = rates.span_rate(h, 0.0, 10.0)
    assert span.seconds == 0.375 + 0.25


def test_the_report_record_rounds_times_and_rates_to_the_millisecond():
    """start/end/Hz in report.json: three decimals; the share: four."""
    h = History()
    for k in range(3):
        attempt(h, "writer", "insert", 1.0 + k / 3)
    span = rates.span_rate(h, 1.00049, 2.12345, label="x")
    record = span.to_dict()
    assert (record["start"], record["end"]) == (1.0, 2.123)
    assert record["asked_hz"] == 2.001 and record["share"] == 1.0   # 2 attempts in 0.99951 s


@pytest.mark.parametrize("phase", ["before", "during", "after"])
def test_phase_bounds_are_open_ended_outside_the_fault(phase):
    """before runs from -inf, after to +inf: attempts far from the fault still count."""
    h = History()
    nemesis(h, "a", 100.0, 200.0)
    for t in (-1e6, 150.0, 1e6):
        attempt(h, "writer", "insert", t)
    assert rates.phase_rates(h)[phase].scheduled == 1
