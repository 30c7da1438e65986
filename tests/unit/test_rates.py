"""Unit tests for harness.judging.rates and the rate gate in check(), on hand-built histories."""

import pytest

from harness.history import NOT_SENT, History
from harness.judging.checkers import check, error_rate, latency_quantile, recovery_time, write_loss
from harness.judging.objectives import Objective, parse_limit
from harness.judging.rates import MIN_SHARE, deficit, phase_rates, rates_by_process, span_rate


def objective(**limits):
    return Objective("obj", "test objective", "team-test", "", tuple(parse_limit(k, v) for k, v in limits.items()))


def fault(h, inject_at=1.0, heal_at=3.0, name="pg-stop"):
    """Inject (ok 1 ms later), a probe showing it in effect, and the heal (ok 1 ms later)."""
    value = {"name": name, "kind": "stop", "target": "postgres"}
    for f, t in (("inject", inject_at), ("probe", inject_at + 0.002), ("heal", heal_at)):
        op = h.invoke("nemesis", f, value, time=t)
        h.complete(op, "ok", time=t + 0.001)


def schedule(h, start, stop, every=0.025, outcome=lambda t: "ok", latency_s=0.004, f="insert",
             process="pg-writer", first_id=1):
    """One attempt every ``every`` s in [start, stop); outcome NOT_SENT records it not-sent."""
    n = first_id
    for k in range(round((stop - start) / every)):
        t = round(start + k * every, 6)
        kind = outcome(t)
        if kind == NOT_SENT:
            h.not_sent(process, f, n, scheduled_at=t, reason="all 2 lanes were busy (max_in_flight)")
        else:
            op = h.invoke(process, f, n, time=t)
            if kind is not None:
                h.complete(op, kind, time=t + latency_s, error=None if kind == "ok" else "timeout")
        n += 1
    return n


def open_loop_stop():
    """40/s open loop: every attempt sent; failing during the 1.0..3.0 s stop, ok from 3.2 s."""
    h = History()
    fault(h)
    schedule(h, 0.0, 6.0, outcome=lambda t: "fail" if 1.0 <= t < 3.2 else "ok")
    return h


def closed_loop_stop():
    """The issue's trace: one attempt at 1.0 s hangs 2 s; slots it blocked are not-sent."""
    h = History()
    fault(h, inject_at=0.9, heal_at=2.5)
    schedule(h, 0.0, 1.0)
    op = h.invoke("pg-writer", "insert", 41, time=1.0)
    h.complete(op, "fail", time=3.0, error="connection timeout expired")
    schedule(h, 1.025, 3.0, outcome=lambda t: NOT_SENT, first_id=42)
    schedule(h, 3.0, 6.0, first_id=122)
    return h


def test_not_sent_attempts_are_no_service_errors():
    """not-sent attempts count in neither error rate, latency, RTO nor write loss."""
    h = History()
    fault(h)
    schedule(h, 0.0, 6.0, outcome=lambda t: NOT_SENT if 1.5 <= t < 2.0 else "ok")
    assert error_rate(h, f="insert", phase="during").value == 0.0
    assert latency_quantile(h, 0.99, f="insert", phase="during").value == pytest.approx(4.0)
    assert recovery_time(h, f="insert").value == pytest.approx(3.0 + 0.004 - 3.0, abs=1e-6)  # the op invoked as the heal began
    loss = write_loss(h, set(range(1, 241)), f="insert")
    assert loss.lost == frozenset() and len(loss.unexpected) == 20   # ids never sent read back


def test_phase_rates_count_scheduled_and_sent_per_phase():
    """Before/during/after: scheduled = every slot, sent = those not not-sent, Hz over the span."""
    h = History()
    fault(h)
    schedule(h, 0.0, 6.0, outcome=lambda t: NOT_SENT if 1.5 <= t < 2.0 else "ok")
    rates = phase_rates(h, f="insert")
    assert [(p, r.scheduled, r.sent) for p, r in rates.items()] == [
        ("before", 40, 40), ("during", 81, 61), ("after", 119, 119)]   # heal confirmed at 3.001
    assert rates["during"].asked_hz == pytest.approx(40.0, rel=0.02)
    assert rates["during"].achieved_hz == pytest.approx(30.0, rel=0.02)
    assert rates["during"].share == pytest.approx(61 / 81) and rates["during"].deficient
    assert not rates["after"].deficient
    assert "61 of 81 attempts scheduled during pg-stop were sent (75.309 %)" in str(rates["during"])


def test_span_with_nothing_scheduled_is_not_deficient():
    """No attempt in a span is no rate at all: neither deficient nor a share."""
    span = span_rate(History(), 0.0, 1.0)
    assert span.scheduled == 0 and span.share is None and not span.deficient


def test_open_loop_trace_keeps_its_verdicts():
    """Every attempt sent: rto and error rate are judged as measured (pass or fail)."""
    h = open_loop_stop()
    verdicts = {v.metric: v for v in check(objective(rto="1 s", max_error_rate_during_fault="10 %"), h,
                                           f="insert")}
    assert verdicts["rto"].validity == "pass"
    assert verdicts["rto"].measured == pytest.approx(3.2 + 0.004 - 3.0)
    assert verdicts["max_error_rate_during_fault"].validity == "fail"


def test_rto_breach_measured_while_the_client_could_not_send_is_unknown():
    """The closed-loop trace: rto looks like 0.5 s but almost nothing was sent in it, so a breach
    of a 0.1 s limit is UNKNOWN (the service may have recovered sooner)."""
    h = closed_loop_stop()
    [rto] = check(objective(rto="100 ms"), h, f="insert")
    assert rto.validity == "unknown"
    assert rto.measured == pytest.approx(3.004 - 2.5)
    assert "could not keep the asked rate" in rto.explanation
    assert "1 of 21 attempts scheduled between the heal and the recovery" in rto.explanation


def test_a_deficient_phase_makes_phase_limits_unknown_but_not_others():
    """Limits on the deficient phases are UNKNOWN; a before-fault limit is judged as measured."""
    h = closed_loop_stop()
    verdicts = {v.metric: v for v in check(objective(latency_p99_during_fault="10 s",
                                                     latency_p99_after_fault="10 s",
                                                     latency_p99_before_fault="10 ms"), h, f="insert")}
    assert verdicts["latency_p99_during_fault"].validity == "unknown"
    assert verdicts["latency_p99_after_fault"].validity == "unknown"   # 19 of 139 not sent: 86 %
    assert verdicts["latency_p99_before_fault"].validity == "pass"


def test_deficit_threshold_is_the_documented_share():
    """Exactly at MIN_SHARE is enough; one attempt fewer is not."""
    assert MIN_SHARE == 0.9
    limit = parse_limit("max_error_rate_during_fault", "100 %")
    for missing, expected in ((8, None), (9, "deficient")):
        h = History()
        fault(h)
        gaps = {round(1.0 + k * 0.025, 6) for k in range(missing)}
        schedule(h, 0.0, 6.0, outcome=lambda t: NOT_SENT if t in gaps else "ok")
        reason = deficit(h, limit, f="insert")
        assert (reason is None) == (expected is None), (missing, reason)


def test_rates_by_process_reports_each_workload():
    """Two workloads in one history get their own phase rates for the report."""
    h = History()
    fault(h)
    schedule(h, 0.0, 6.0, process="pg-writer")
    schedule(h, 0.0, 6.0, every=0.1, f="read", process="pg-reader",
             outcome=lambda t: NOT_SENT if 1.0 <= t <= 3.0 else "ok")
    rates = rates_by_process(h)
    assert set(rates) == {"pg-reader", "pg-writer"}
    assert rates["pg-writer"]["during"]["share"] == 1.0
    assert rates["pg-reader"]["during"]["sent"] == 0 and rates["pg-reader"]["during"]["deficient"]
    assert rates["pg-reader"]["after"]["asked_hz"] == pytest.approx(10.0, rel=0.05)
    assert set(rates_by_process(History())) == set()


def test_rto_met_while_the_client_could_not_send_still_passes():
    """A recovery time is an upper bound however few attempts were sent: meeting a maximum passes."""
    h = closed_loop_stop()
    [rto] = check(objective(rto="1 s"), h, f="insert")
    assert rto.validity == "pass" and rto.measured == pytest.approx(3.004 - 2.5)
    [late] = check(objective(rto_from_inject="1 s"), h, f="insert")
    assert late.validity == "unknown"   # 2.1 s > 1 s measured while the client could not send
