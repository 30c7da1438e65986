"""Unit tests for harness.judging.checkers on hand-built histories: each checker passes, fails and says unknown."""

import pytest

from harness.errors import ConfigError
from harness.history import History
from harness.judging import checkers
from harness.judging.checkers import (check, latency_quantile, observed_outage, quantile, recovery_time,
                                      steady_state_after_heal, write_loss)
from harness.judging.objectives import Objective, load_objectives, parse_limit


def objective(**limits):
    return Objective("obj", "test objective", "team-test", "", tuple(parse_limit(k, v) for k, v in limits.items()))


def call(h, f, value, t0, t1=None, outcome="ok", process="client", error=None):
    op = h.invoke(process, f, value, time=t0)
    if outcome is not None:
        h.complete(op, outcome, time=t0 if t1 is None else t1, error=error)
    return op


def fault(h, name="redis-down", inject_at=1.0, heal_at=3.0, kind="down", target="redis", shown=True):
    """Inject at ``inject_at`` (ok 1 ms later), probe its effect (shown or not, 2 ms later) and,
    unless None, heal at ``heal_at`` (ok 1 ms later)."""
    value = {"name": name, "kind": kind, "target": target}
    call(h, "inject", value, inject_at, inject_at + 0.001, process="nemesis")
    if shown is not None:
        probe = h.invoke("nemesis", "probe", value, time=inject_at + 0.002)
        if shown:
            h.complete(probe, "ok", value="a probe through 127.0.0.1:1: closed after 0.3 ms", time=inject_at + 0.003)
        else:
            h.complete(probe, "fail", error="a probe through 127.0.0.1:1 still got a reply", time=inject_at + 0.003)
    if heal_at is not None:
        call(h, "heal", value, heal_at, heal_at + 0.001, process="nemesis")


def probes(h, start, stop, outcome=lambda t: "ok", latency_s=0.002, every=0.01, f="read"):
    """One probe every ``every`` s in [start, stop); outcome None means it never completed."""
    for k in range(round((stop - start) / every)):
        t = round(start + k * every, 6)
        out = outcome(t)
        lat = latency_s(t) if callable(latency_s) else latency_s
        call(h, f, k, t, t + lat, outcome=out)


def outage_history(down_until=3.0, heal_at=3.0, end=5.0):
    """Redis down by proxy from t=1.0 to heal_at, 10 ms probes failing from 1.0 until down_until."""
    h = History()
    fault(h, inject_at=1.0, heal_at=heal_at)
    probes(h, 0.0, end, outcome=lambda t: "fail" if 1.0 <= t < down_until else "ok",
           latency_s=lambda t: 0.001 if 1.0 <= t < down_until else 0.002)
    return h


def inserts(h, n=300, every=0.04, latency_s=0.005):
    """Inserts 1..n, one every ``every`` s from t=0, all acknowledged."""
    for k in range(1, n + 1):
        call(h, "insert", k, k * every, k * every + latency_s)


# --- lost acknowledged writes ------------------------------------------------------------------

def test_all_acknowledged_writes_present_passes():
    """Every acknowledged insert read back: 0 lost writes, RPO 0 s, both pass."""
    h = History()
    inserts(h)
    verdicts = check(objective(rpo_lost_writes="0 writes", rpo="0 s"), h, f="insert",
                     observed=range(1, 301), read_at=20.0)
    assert [(v.metric, v.validity, v.measured) for v in verdicts] == [("rpo_lost_writes", "pass", 0.0),
                                                                       ("rpo", "pass", 0.0)]
    assert "all 300 acknowledged inserts read back at t=20 s" in verdicts[0].explanation


def test_lost_acknowledged_writes_fail_with_their_ids():
    """Negative control: six acknowledged inserts missing after recovery fail the objective."""
    h = History()
    inserts(h)
    objective_ = Objective("pg-kill-durability", "d", "o", "", (parse_limit("rpo_lost_writes", "0 writes"),
                                                                 parse_limit("rpo", "0 s")))
    lost, span = check(objective_, h, f="insert", observed=range(1, 295), read_at=12.41)
    assert str(lost) == ("FAIL pg-kill-durability rpo_lost_writes: measured 6 writes > limit 0 writes — "
                         "6 acknowledged inserts (ids 295..300) missing after recovery at t=12.41 s")
    assert span.validity == "fail"
    assert span.measured == pytest.approx(300 * 0.04 + 0.005 - 295 * 0.04)


def test_indeterminate_writes_may_be_present_or_absent():
    """info and never-completed writes are never lost; present ones count as recovered_from_info."""
    h = History()
    call(h, "insert", 1, 0.1, 0.2)
    call(h, "insert", 2, 0.3, 0.8, outcome="info", error="timeout")
    call(h, "insert", 3, 0.4, outcome=None)
    call(h, "insert", 4, 0.5, 0.9, outcome="info")
    loss = write_loss(h, {1, 2}, f="insert")
    assert loss.lost == frozenset() and loss.recovered_from_info == {2}
    assert loss.indeterminate == {2, 3, 4} and loss.unexpected == frozenset()
    assert check(objective(rpo_lost_writes="0 writes"), h, f="insert", observed={1, 2})[0].validity == "pass"


def test_unexpected_ids_are_reported():
    """Negative control: ids read back that failed or were never written fail unexpected_writes."""
    h = History()
    call(h, "insert", 1, 0.1, 0.2)
    call(h, "insert", 2, 0.3, 0.4, outcome="fail", error="disk full")
    loss = write_loss(h, {1, 2, 99}, f="insert")
    assert loss.failed == {2} and loss.unexpected == {2, 99}
    verdict = check(objective(unexpected_writes="0 writes"), h, f="insert", observed={1, 2, 99})[0]
    assert (verdict.validity, verdict.measured) == ("fail", 2.0)
    assert "ids 2, 99" in verdict.explanation
    assert check(objective(unexpected_writes="0 writes"), h, f="insert", observed={1})[0].validity == "pass"


def test_writes_acknowledged_after_the_read_are_not_expected():
    """An insert acknowledged after read_at is indeterminate, so its absence is no loss."""
    h = History()
    call(h, "insert", 1, 0.1, 0.2)
    call(h, "insert", 2, 4.9, 5.2)
    loss = write_loss(h, {1}, f="insert", read_at=5.0)
    assert loss.lost == frozenset() and loss.indeterminate == {2}
    assert write_loss(h, {1}, f="insert").lost == {2}


def test_write_filter_ignores_other_ops():
    """Only the named ops are writes: reads and the default write names are told apart."""
    h = History()
    call(h, "insert", 1, 0.1, 0.2)
    call(h, "read", 7, 0.3, 0.4)
    call(h, "set", "k", 0.5, 0.6)
    assert write_loss(h, {1}, f="insert").acknowledged == {1}
    assert write_loss(h, set()).acknowledged == {1, "k"}


def test_no_read_back_or_no_acknowledged_write_is_unknown():
    """Without a read-back, or without an acknowledged write, loss is unknown, never a pass."""
    h = History()
    inserts(h, n=5)
    assert check(objective(rpo_lost_writes="0 writes"), h, f="insert")[0].validity == "unknown"
    refused = History()
    call(refused, "insert", 1, 0.1, 0.2, outcome="fail")
    verdict = check(objective(rpo_lost_writes="0 writes", rpo="0 s"), refused, f="insert", observed=set())
    assert [v.validity for v in verdict] == ["unknown", "unknown"]
    assert "no acknowledged inserts" in verdict[0].explanation


def test_a_crashing_checker_gives_unknown():
    """Unhashable written values make the loss checker raise: the verdict is unknown, not pass."""
    h = History()
    call(h, "insert", {"id": 1}, 0.1, 0.2)
    verdict = check(objective(rpo_lost_writes="0 writes"), h, f="insert", observed=[])[0]
    assert verdict.validity == "unknown" and verdict.measured is None
    assert verdict.explanation.startswith("checker crashed: TypeError")


def test_a_crash_in_one_measure_leaves_the_others_judged(monkeypatch):
    """A measure that raises yields unknown for its limit only."""
    def boom(limit, ctx):
        raise RuntimeError("probe exploded")
    monkeypatch.setitem(checkers.MEASURES, "rto", boom)
    verdicts = check(objective(rto="1 s", max_error_rate_during_fault="100 %"), outage_history(), f="read")
    assert [(v.metric, v.validity) for v in verdicts] == [("rto", "unknown"), ("max_error_rate_during_fault", "pass")]
    assert verdicts[0].explanation == "checker crashed: RuntimeError: probe exploded"


# --- recovery time -----------------------------------------------------------------------------

def test_recovery_time_from_heal_passes():
    """Probes ok right after the heal: recovery is counted from the start of the heal (3.0) to the
    first ok completion of the streak."""
    h = outage_history()
    m = recovery_time(h, f="read")
    assert m.value == pytest.approx(3.002 - 3.0)
    assert "heal began at t=3 s" in m.explanation and "first served at t=3.002 s" in m.explanation
    assert check(objective(rto="1 s"), h, f="read")[0].validity == "pass"


def test_slow_recovery_fails():
    """Negative control: clients still failing 1.5 s after the heal breach a 1 s RTO."""
    verdict = check(objective(rto="1 s"), outage_history(down_until=4.5), f="read")[0]
    assert verdict.validity == "fail" and verdict.measured == pytest.approx(4.502 - 3.0)


def test_recovery_counts_from_the_start_of_a_slow_heal():
    """A container restart that takes 0.5 s to return: clients waited from when the restart was
    asked for, so rto counts from the heal's invoke (3.0), not its completion (3.5)."""
    h = History()
    fault(h, kind="kill", target="postgres", heal_at=None)
    call(h, "heal", {"name": "redis-down", "kind": "kill", "target": "postgres"}, 3.0, 3.5, process="nemesis")
    for t, out in [(3.1, "fail"), (3.6, "ok"), (3.7, "ok"), (3.8, "ok")]:
        call(h, "read", t, t, t + 0.01, outcome=out)
    m = recovery_time(h)
    assert m.value == pytest.approx(3.61 - 3.0)
    assert "heal began at t=3 s" in m.explanation
    assert check(objective(rto="500 ms"), h)[0].validity == "fail"   # 0.11 s from the heal's end


def test_recovery_is_read_in_the_order_the_answers_came():
    """An op invoked while the server was still starting completes after ops invoked later: the
    service was serving at the first of 3 ok answers in a row as they came (3.45), not at 3.6."""
    h = History()
    fault(h, heal_at=3.0)
    call(h, "read", 1, 3.1, 3.11, outcome="fail")
    call(h, "read", 2, 3.2, 3.6)      # waited in the starting server
    call(h, "read", 3, 3.3, 3.45)
    call(h, "read", 4, 3.4, 3.5)
    call(h, "read", 5, 3.5, 3.51)
    m = recovery_time(h)
    assert m.value == pytest.approx(3.45 - 3.0)
    assert "first served at t=3.45 s" in m.explanation
    assert recovery_time(h, consecutive=1).value == pytest.approx(3.45 - 3.0)


def test_ops_stuck_through_a_restart_do_not_make_a_recovery_of_their_own():
    """Seen on a stopped PostgreSQL restarted behind Toxiproxy: connects sent during the restart
    wait for a SYN retransmit and answer ok at +1.06 s, ops sent just after the restart are refused
    until +0.53 s, and from +0.55 s every op is served at once. Recovery is +0.55 s (what a direct
    probe sees), not the stuck ops' +1.06 s, and a failure answered after ok answers restarts the count."""
    h = History()
    fault(h, kind="stop", target="postgres", heal_at=None)
    call(h, "heal", {"name": "redis-down", "kind": "stop", "target": "postgres"}, 3.0, 3.385, process="nemesis")
    for t in (3.026, 3.066, 3.106):
        call(h, "read", t, t, 4.06 + (t - 3.026))            # stuck, ok at 4.06 .. 4.14
    for t in (3.346, 3.386, 3.426, 3.466):
        call(h, "read", t, t, t + 0.01, outcome="fail")      # refused: starting up
    call(h, "read", "late-fail", 3.49, 3.56, outcome="fail")   # answered after the first ok below
    for t in (3.506, 3.546, 3.586, 3.626, 3.666):
        call(h, "read", t, t, t + 0.04)                      # served: ok at 3.546 .. 3.706
    m = recovery_time(h)
    assert m.value == pytest.approx(3.586 - 3.0)          # 3.546 ok, 3.56 fail, then 3.586, 3.626, 3.666
    assert check(objective(rto="1 s"), h)[0].validity == "pass"


def test_recovery_needs_consecutive_successes():
    """A lone success between failures is not recovery; the first run of N oks is."""
    h = History()
    fault(h, heal_at=3.0)
    for t, out in [(3.1, "ok"), (3.2, "fail"), (3.3, "ok"), (3.4, "ok"), (3.5, "ok")]:
        call(h, "read", t, t, t + 0.01, outcome=out)
    assert recovery_time(h, consecutive=3).value == pytest.approx(3.31 - 3.0)
    assert recovery_time(h, consecutive=1).value == pytest.approx(3.11 - 3.0)


def test_never_recovering_fails_once_the_limit_is_exceeded():
    """Negative control: no success up to 2 s after the heal fails a 1 s RTO; a short tail is unknown."""
    long_tail = outage_history(down_until=99.0, end=5.0)
    verdict = check(objective(rto="1 s"), long_tail, f="read")[0]
    assert verdict.validity == "fail" and verdict.measured == pytest.approx(long_tail.end_time() - 3.0)
    assert "no 3 ok ops in a row after the heal" in verdict.explanation
    short_tail = outage_history(down_until=99.0, end=3.5)
    assert check(objective(rto="1 s"), short_tail, f="read")[0].validity == "unknown"


def test_recovery_without_evidence_is_unknown():
    """No fault, a fault never healed, or no op after the heal: unknown."""
    no_fault = History()
    probes(no_fault, 0.0, 1.0)
    assert "no fault" in recovery_time(no_fault).explanation
    unhealed = History()
    fault(unhealed, heal_at=None)
    probes(unhealed, 0.0, 2.0)
    assert "never healed" in recovery_time(unhealed).explanation
    quiet = History()
    probes(quiet, 0.0, 1.0)
    fault(quiet, heal_at=3.0)
    for h in (no_fault, unhealed, quiet):
        assert check(objective(rto="1 s"), h)[0].validity == "unknown"


def test_recovery_from_inject_starts_after_the_first_failure():
    """Ops still succeeding right after the inject do not count as recovery."""
    h = History()
    fault(h, inject_at=1.0, heal_at=2.0)
    probes(h, 1.0, 4.0, outcome=lambda t: "fail" if 1.05 <= t < 2.5 else "ok")
    m = recovery_time(h, since="inject")
    assert m.value == pytest.approx(2.502 - 1.0)
    assert check(objective(rto_from_inject="1 s"), h)[0].validity == "fail"
    assert check(objective(rto_from_inject="2 s"), h)[0].validity == "pass"


# --- availability, error rate and latency per phase -------------------------------------------

def test_error_rate_and_availability_per_phase():
    """The outage is all errors during the fault (the t=3.00 probe races the heal) and none before or after."""
    h = outage_history()
    verdicts = check(objective(max_error_rate_during_fault="100 %", min_availability_before_fault="100 %",
                               min_availability_after_fault="99 %"), h, f="read")
    assert [v.validity for v in verdicts] == ["pass", "pass", "pass"]
    assert [v.measured for v in verdicts] == [pytest.approx(100 * 200 / 201), 100.0, 100.0]
    assert "200 of 201 ops invoked during redis-down" in verdicts[0].explanation


def test_failures_after_the_heal_breach_availability():
    """Negative control: half the ops after the heal failing breaches a 99 % availability."""
    h = outage_history(down_until=4.0, end=5.0)
    verdict = check(objective(min_availability_after_fault="99 %"), h, f="read")[0]
    assert verdict.validity == "fail" and verdict.measured == pytest.approx(100 * 100 / 199)
    assert "99 of 199 ops invoked after redis-down" in verdict.explanation


def test_never_completed_ops_are_errors_and_slow():
    """An op that never completed counts as an error and as slow as the end of history."""
    h = History()
    fault(h, inject_at=1.0, heal_at=2.0)
    call(h, "read", 1, 1.5, outcome=None)
    call(h, "read", 2, 1.6, 1.61)
    call(h, "read", 3, 2.5, 2.51)
    rate = check(objective(max_error_rate_during_fault="10 %"), h)[0]
    assert (rate.validity, rate.measured) == ("fail", 50.0)
    p99 = latency_quantile(h, 0.99, phase="during")
    assert p99.value is None and p99.at_least == pytest.approx((2.51 - 1.5) * 1000)
    assert "1 op(s) never completed by the end of history at t=2.51 s" in p99.explanation


def test_a_quantile_on_a_hung_op_is_a_lower_bound():
    """p99 falling on a never-completed op: FAIL once the bound exceeds a maximum, else UNKNOWN."""
    h = History()
    fault(h, inject_at=1.0, heal_at=2.0)
    probes(h, 1.0, 1.5, latency_s=0.002)
    call(h, "read", "hung", 1.9, outcome=None)   # bound: end of history - 1.9
    call(h, "read", "late", 2.1, 2.15)           # the history ends at t=2.15: bound 250 ms
    loose, tight = check(objective(latency_p99_during_fault="1 s"), h)[0], \
        check(objective(latency_p99_during_fault="200 ms"), h)[0]
    assert (loose.validity, loose.measured) == ("unknown", None)
    assert "only lower bounds" in loose.explanation
    assert (tight.validity, tight.measured) == ("fail", pytest.approx(250.0))
    # a minimum the bound already reaches is met: the real latency can only be higher
    assert check(objective(latency_p99_during_fault_min="100 ms"), h)[0].validity == "pass"


def test_hung_ops_above_the_quantile_leave_it_exact():
    """A never-completed op whose bound is above the quantile cannot move it: the value is exact."""
    h = History()
    fault(h, inject_at=1.0, heal_at=2.0)
    probes(h, 1.0, 1.9, latency_s=0.002)
    call(h, "read", "hung", 1.0, outcome=None)   # bound 1.2 s, above p50 of 2 ms
    call(h, "read", "last", 2.1, 2.2)
    m = latency_quantile(h, 0.5, phase="during")
    assert m.value == pytest.approx(2.0) and "1 never completed, all slower than the quantile" in m.explanation


def test_fail_fast_latency_during_fault():
    """Failures answered in 1 ms keep p99 under 250 ms; hung requests breach it (negative control)."""
    assert check(objective(latency_p99_during_fault="250 ms"), outage_history(), f="read")[0].validity == "pass"
    h = History()
    fault(h)
    probes(h, 0.0, 5.0, outcome=lambda t: "info" if 1.0 <= t < 3.0 else "ok",
           latency_s=lambda t: 2.0 if 1.0 <= t < 3.0 else 0.002)
    verdict = check(objective(latency_p99_during_fault="250 ms"), h, f="read")[0]
    assert verdict.validity == "fail" and verdict.measured == pytest.approx(2000.0)


@pytest.mark.parametrize(("delay_s", "validities"), [(0.3, ["pass", "pass"]), (0.2, ["fail", "pass"]),
                                                     (0.4, ["pass", "fail"])])
def test_latency_between_a_minimum_and_a_maximum(delay_s, validities):
    """A 300 ms toxic is seen within 250..350 ms (p50); 200 ms or 400 ms are caught."""
    h = History()
    fault(h, name="pg-latency", kind="latency", target="postgres")
    probes(h, 0.0, 4.0, latency_s=lambda t: delay_s + 0.003 if 1.0 <= t < 3.0 else 0.003, every=0.1)
    verdicts = check(objective(latency_p50_during_fault_min="250 ms", latency_p50_during_fault="350 ms"), h)
    assert [v.validity for v in verdicts] == validities
    assert verdicts[0].measured == pytest.approx((delay_s + 0.003) * 1000)


def test_phase_without_ops_is_unknown():
    """No op invoked in the phase, or no fault at all: unknown."""
    h = History()
    probes(h, 0.0, 1.0)
    fault(h, inject_at=2.0, heal_at=2.5)
    verdicts = check(objective(latency_p99_during_fault="250 ms", max_error_rate_during_fault="0 %"), h)
    assert [v.validity for v in verdicts] == ["unknown", "unknown"]
    no_fault = History()
    probes(no_fault, 0.0, 1.0)
    assert check(objective(min_availability_before_fault="99 %"), no_fault)[0].validity == "unknown"


def test_nearest_rank_quantile():
    """Quantiles are nearest-rank: p50 of 1..10 is 5, p99 is 10, p10 is 1."""
    values = [float(v) for v in range(10, 0, -1)]
    assert (quantile(values, 0.5), quantile(values, 0.99), quantile(values, 0.1)) == (5.0, 10.0, 1.0)


# --- steady state after heal ------------------------------------------------------------------

def slow_after_heal(slow_until):
    h = History()
    fault(h, heal_at=3.0)
    probes(h, 0.0, 6.0, outcome=lambda t: "fail" if 1.0 <= t < 3.0 else "ok",
           latency_s=lambda t: 0.050 if 3.0 <= t < slow_until else 0.002)
    return h


def test_steady_state_after_heal_measures_the_slow_tail():
    """Ops slow for 0.4 s after the heal: steady state is reached when they are fast again."""
    m = steady_state_after_heal(slow_after_heal(3.4))
    assert m.value == pytest.approx(3.4 - 3.001)
    assert "before-fault p99 2 ms" in m.explanation
    assert check(objective(steady_state_after_heal="1 s"), slow_after_heal(3.4))[0].validity == "pass"


def test_staying_slow_after_heal_fails():
    """Negative control: ops that stay 25x slower than before never reach steady state."""
    verdict = check(objective(steady_state_after_heal="1 s"), slow_after_heal(99.0))[0]
    assert verdict.validity == "fail" and verdict.measured > 1.0


def test_steady_state_without_baseline_is_unknown():
    """Without ops before the fault there is no baseline: unknown."""
    h = History()
    fault(h, inject_at=0.0, heal_at=1.0)
    probes(h, 0.5, 2.0, outcome=lambda t: "fail" if t < 1.0 else "ok")
    verdict = check(objective(steady_state_after_heal="1 s"), h)[0]
    assert verdict.validity == "unknown" and "no baseline" in verdict.explanation


# --- outage duration and accuracy -------------------------------------------------------------

def test_two_second_outage_measures_two_seconds():
    """Proxy down t=1.0..3.0 with 10 ms probes failing in between measures 2.0 s +-0.1."""
    m = observed_outage(outage_history(), f="read")
    assert m.value == pytest.approx(2.0, abs=0.1)
    assert "first failed op invoked at t=1 s" in m.explanation


def test_outage_accuracy_objective_from_the_seed_file():
    """The seed outage-accuracy objective passes on an accurate history."""
    accuracy = load_objectives()["outage-accuracy"]
    verdicts = check(accuracy, outage_history(), f="read")
    assert [v.validity for v in verdicts] == ["pass", "pass"]
    assert verdicts[1].measured == pytest.approx(0.001, abs=0.01)


def test_outage_longer_than_injected_fails_accuracy():
    """Negative control: clients down 0.5 s longer than the injected outage fail a 100 ms accuracy."""
    verdict = check(objective(outage_accuracy="100 ms"), outage_history(down_until=3.5), f="read")[0]
    assert verdict.validity == "fail" and verdict.measured == pytest.approx(0.499, abs=0.01)


def test_clients_never_recovering_fail_accuracy():
    """Negative control: clients still down long after the heal fail accuracy on the lower bound."""
    verdict = check(objective(outage_accuracy="100 ms"), outage_history(down_until=99.0, end=5.0), f="read")[0]
    assert verdict.validity == "fail" and verdict.measured == pytest.approx(3.991 - 2.001)
    short = check(objective(outage_accuracy="100 ms"), outage_history(down_until=99.0, end=3.05), f="read")[0]
    assert short.validity == "unknown"


def test_outage_with_no_failure_is_zero_and_without_ops_unknown():
    """Clients that never failed saw no outage; no ops at all is unknown."""
    h = History()
    fault(h)
    probes(h, 0.0, 4.0)
    assert observed_outage(h).value == 0.0
    empty = History()
    fault(empty)
    assert observed_outage(empty).value is None


# --- check() ------------------------------------------------------------------------------------

def test_check_gives_one_verdict_per_limit_in_order():
    """Every limit of the objective becomes one verdict naming the objective and the limit."""
    limits = dict(rto="1 s", latency_p99_during_fault="250 ms", max_error_rate_during_fault="100 %",
                  steady_state_after_heal="1 s", outage_accuracy="100 ms", rpo_lost_writes="0 writes")
    verdicts = check(objective(**limits), outage_history(), f="read")
    assert [(v.objective, v.metric) for v in verdicts] == [("obj", name) for name in limits]
    assert [v.validity for v in verdicts] == ["pass"] * 5 + ["unknown"]
    assert [v.unit for v in verdicts] == ["s", "ms", "%", "s", "s", "writes"]


def test_fault_selects_the_window_by_name():
    """``fault=`` picks a window by name; a name never injected is a clear error, not an unknown."""
    h = History()
    fault(h, name="first", inject_at=1.0, heal_at=1.5)
    fault(h, name="second", inject_at=3.0, heal_at=4.0)
    probes(h, 0.0, 6.0, outcome=lambda t: "fail" if 1.0 <= t < 1.5 or 3.0 <= t < 4.5 else "ok")
    assert check(objective(rto="0.2 s"), h, fault="first")[0].validity == "pass"
    assert check(objective(rto="0.2 s"), h, fault="second")[0].validity == "fail"
    with pytest.raises(ConfigError, match=r"fault 'third' was never injected .*fault windows: first, second"):
        check(objective(rto="1 s"), h, fault="third")


def test_every_window_is_judged_and_the_worst_is_kept():
    """Without ``fault=``, a breach in the second of two windows fails, naming that window."""
    h = History()
    fault(h, name="first", inject_at=1.0, heal_at=1.5)
    fault(h, name="second", inject_at=3.0, heal_at=4.0)
    probes(h, 0.0, 6.0, outcome=lambda t: "fail" if 1.0 <= t < 1.5 or 3.0 <= t < 4.8 else "ok")
    verdict = check(objective(rto="0.5 s"), h, f="read")[0]
    assert verdict.validity == "fail" and verdict.measured == pytest.approx(0.80, abs=0.01)
    assert "worst of 2 fault windows, window 2 (second)" in verdict.explanation
    assert "[others: first: pass]" in verdict.explanation
    both_pass = check(objective(rto="1 s"), h, f="read")[0]
    assert both_pass.validity == "pass" and both_pass.measured == pytest.approx(0.80, abs=0.01)


def test_a_fault_not_shown_in_effect_makes_its_verdicts_unknown():
    """Every limit judged on a window whose probe failed is unknown, and says which fault and why."""
    h = outage_history()
    h2 = History()
    fault(h2, shown=False)
    probes(h2, 0.0, 5.0, outcome=lambda t: "fail" if 1.0 <= t < 3.0 else "ok")
    limits = dict(rto="1 s", max_error_rate_during_fault="100 %", latency_p99_during_fault="250 ms")
    assert {v.validity for v in check(objective(**limits), h, f="read")} == {"pass"}
    unknown = check(objective(**limits), h2, f="read")
    assert {v.validity for v in unknown} == {"unknown"}
    assert all(v.explanation == "fault redis-down was not shown in effect: a probe through 127.0.0.1:1 "
                                "still got a reply" for v in unknown)


def test_a_fault_with_no_probe_recorded_is_not_evidence():
    """A history with an inject and a heal but no probe op judges nothing on that window."""
    h = History()
    fault(h, shown=None)
    probes(h, 0.0, 5.0, outcome=lambda t: "fail" if 1.0 <= t < 3.0 else "ok")
    verdict = check(objective(rto="1 s"), h, f="read")[0]
    assert verdict.validity == "unknown" and "no probe of its effect was recorded" in verdict.explanation


def test_write_loss_under_a_fault_not_shown_is_unknown():
    """Zero lost writes proves nothing when the kill that should have threatened them never showed."""
    h = History()
    inserts(h, n=50)
    fault(h, name="kill(postgres, SIGKILL)", inject_at=0.5, heal_at=1.0, kind="kill", shown=False)
    verdict = check(objective(rpo_lost_writes="0 writes"), h, f="insert", observed=range(1, 51), read_at=5.0)[0]
    assert verdict.validity == "unknown" and "kill(postgres, SIGKILL) was not shown in effect" in verdict.explanation


@pytest.mark.parametrize("metric", ["rto", "rto_from_inject", "steady_state_after_heal", "outage_accuracy"])
def test_recovery_needs_a_disruption_the_clients_saw(metric):
    """A fault in effect that no client op noticed leaves nothing to recover from: unknown, never pass."""
    h = outage_history(down_until=1.0)   # shown in effect, yet every op succeeded quickly
    verdict = check(objective(**{metric: "10 s"}), h, f="read")[0]
    assert verdict.validity == "unknown" and verdict.explanation.startswith("nothing to recover from")
    # the same fault with failures is judged
    assert check(objective(**{metric: "10 s"}), outage_history(), f="read")[0].validity == "pass"


def test_a_masked_fault_may_pass_its_fault_phase_limits():
    """Error rate and latency during a fault shown in effect pass with no failure: the service masked it."""
    h = outage_history(down_until=1.0)
    verdicts = check(objective(max_error_rate_during_fault="0 %", latency_p99_during_fault="250 ms"), h, f="read")
    assert [v.validity for v in verdicts] == ["pass", "pass"]


@pytest.mark.parametrize("disrupt, seen", [
    (dict(outcome="info"), "ended info"),
    (dict(outcome=None), "never completed"),
    (dict(latency=0.5), "took 500 ms, over 5.4 ms"),
    (dict(degraded=True), "was served degraded"),
    (dict(after_heal="fail"), "ended fail"),
    (dict(in_flight=True), "never completed"),
])
def test_each_kind_of_disruption_counts(disrupt, seen):
    """Indeterminate, hung, slow, degraded, failing-after-heal and in-flight ops are each a disruption."""
    h = History()
    fault(h, inject_at=1.0, heal_at=2.0)
    probes(h, 0.0, 1.0, latency_s=0.0002)        # before p99 0.2 ms: slow is over 5.2 ms... (+5 ms slack)
    if disrupt.get("in_flight"):
        call(h, "read", "x", 0.999, outcome=None)
    elif disrupt.get("after_heal"):
        call(h, "read", "x", 2.05, 2.06, outcome="fail")
    else:
        op = h.invoke("client", "read", "x", time=1.5)
        if disrupt.get("outcome", "ok") is not None:
            value = {"degraded": True} if disrupt.get("degraded") else None
            h.complete(op, disrupt.get("outcome", "ok"), time=1.5 + disrupt.get("latency", 0.001), value=value)
    probes(h, 2.1, 3.0, latency_s=0.0002)
    window = checkers.fault_windows(h)[0]
    found = checkers.disruption(h, window, f="read")
    assert found is not None and seen.split(",")[0] in found
    calm = History()
    fault(calm, inject_at=1.0, heal_at=2.0)
    probes(calm, 0.0, 3.0, latency_s=0.0002)
    assert checkers.disruption(calm, checkers.fault_windows(calm)[0], f="read") is None
