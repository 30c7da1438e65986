"""Unit tests of the HTTP answer checkers (harness.judging.responses) and the achieved-rate limit,
judged through ``check`` on hand-built histories: exact values, FAIL on a breach, UNKNOWN without
evidence."""

import pytest

from harness.history import NOT_SENT, History
from harness.judging.checkers import check
from harness.judging.objectives import Objective, parse_limit
from harness.judging.rates import achieved_share
from harness.judging.responses import (answered_status, degraded_rate, http_5xx_rate, is_clean_refusal,
                                        is_degraded, unclean_error_rate)

OK = {"status": 200, "degraded": False}
STALE = {"status": 200, "degraded": True, "degraded_by": "stale-cache"}
CRASH = {"status": 500, "degraded": False}
REFUSED = {"status": 503, "degraded": False, "retry_after": "1", "clean": True}


def objective(**limits):
    return Objective("svc", "a service objective", "team-test", "",
                     tuple(parse_limit(k, v) for k, v in limits.items()))


def fault(h, inject_at=1.0, heal_at=2.99, shown=True):
    """Inject at 1 s, a probe (in effect unless ``shown`` is False), the heal confirmed at 2.991 s."""
    value = {"name": "down(redis)", "kind": "down", "target": "redis"}
    for f, t in (("inject", inject_at), ("probe", inject_at + 0.002), ("heal", heal_at)):
        op = h.invoke("nemesis", f, value, time=t)
        h.complete(op, "ok" if f != "probe" or shown else "fail", time=t + 0.001)


def requests(h, start, stop, answer, every=0.1, f="probe", process="http-probe"):
    """One request every ``every`` s in [start, stop); ``answer(t)`` is (type, value) or NOT_SENT/None."""
    for k in range(round((stop - start) / every)):
        t = round(start + k * every, 6)
        outcome = answer(t)
        if outcome == NOT_SENT:
            h.not_sent(process, f, None, scheduled_at=t, reason="all 2 lanes were busy (max_in_flight)")
            continue
        op = h.invoke(process, f, None, time=t)
        if outcome is not None:
            kind, value = outcome
            if value is None:
                h.complete(op, kind, time=t + 0.01, error="TimeoutError: timed out")
            else:
                h.complete(op, kind, value=value, time=t + 0.01,
                           error=None if kind == "ok" else f"HTTP {value['status']}")


def service(during, after=("ok", OK)):
    """1 s before (ok), the fault 1..3 s answering ``during``, 2 s after answering ``after``."""
    h = History()
    fault(h)
    requests(h, 0.0, 1.0, lambda t: ("ok", OK))
    requests(h, 1.0, 3.0, lambda t: during)
    requests(h, 3.0, 5.0, lambda t: after)
    return h


def test_answered_status_reads_only_http_values():
    """A status is read from a dict completion value; bools, ints and missing completions are not one."""
    h = History()
    op = h.invoke("c", "probe", None, time=0.0)
    done = h.complete(op, "ok", value=OK, time=0.1)
    assert answered_status((op, done)) == 200
    assert answered_status((op, None)) is None
    odd = h.invoke("c", "probe", None, time=0.0)
    for value in (200, {"status": True}, {"status": "200"}, None):
        assert answered_status((odd, done.__class__(9, 0.1, "c", "ok", "probe", value))) is None
    assert not is_degraded((op, done))


def test_5xx_rate_counts_every_5xx_and_names_the_clean_ones():
    """Half the fault's requests 500, half clean 503: 100 % 5xx, 10 of them clean."""
    h = service(("fail", CRASH))
    h2 = History()
    fault(h2)
    requests(h2, 0.0, 1.0, lambda t: ("ok", OK))
    requests(h2, 1.0, 3.0, lambda t: ("fail", CRASH) if round(t * 10) % 2 else ("fail", REFUSED))
    m = http_5xx_rate(h2, f="probe", phase="during")
    assert m.value == 100.0 and m.unit == "%"
    assert m.explanation.startswith("20 of 20 ops invoked during down(redis) were answered 5xx "
                                    "(10 of them a clean 503 with Retry-After); 0 got no answer")
    assert http_5xx_rate(h, f="probe", phase="after").value == 0.0
    assert http_5xx_rate(h, f="probe", phase="before").value == 0.0


def test_5xx_rate_is_a_share_of_every_op_in_the_phase():
    """Unanswered ops are in the denominator, not in the count: 5 of 20 answered 500 is 25 %."""
    h = History()
    fault(h)
    requests(h, 1.0, 3.0, lambda t: ("fail", CRASH) if t < 1.5 else ("info", None))
    m = http_5xx_rate(h, f="probe", phase="during")
    assert m.value == 25.0
    assert "15 got no answer" in m.explanation


def test_degraded_rate_counts_marked_answers():
    """A stale-cache answer counts; a plain 200 and a 5xx do not."""
    h = History()
    fault(h)
    requests(h, 1.0, 3.0, lambda t: ("ok", STALE) if t < 2.0 else ("ok", OK))
    requests(h, 3.0, 4.0, lambda t: ("ok", STALE) if t < 3.25 else ("fail", CRASH))
    assert degraded_rate(h, f="probe", phase="during").value == 50.0
    after = degraded_rate(h, f="probe", phase="after")
    assert after.value == pytest.approx(30.0)
    assert after.explanation == "3 of 10 ops invoked after down(redis) were served degraded (X-Degraded); 10 answered"


@pytest.mark.parametrize("measure", [http_5xx_rate, degraded_rate])
def test_no_status_recorded_is_no_evidence(measure):
    """A history of non-HTTP ops, or one where nothing answered, gives no value."""
    h = History()
    fault(h)
    requests(h, 1.0, 3.0, lambda t: ("ok", 7))
    m = measure(h, f="probe", phase="during")
    assert m.value is None and "none of the 20 ops invoked during down(redis) recorded an HTTP status" in m.explanation
    assert measure(h, f="probe", phase="after").value is None   # no op after the heal
    assert measure(History(), f="probe").explanation == "no fault window in the history"


def test_limits_judge_5xx_and_degraded_per_phase():
    """The sound service: no 5xx during, all degraded during, none after: every limit PASSes."""
    h = service(("ok", STALE))
    verdicts = check(objective(max_5xx_rate_during_fault="0 %", max_degraded_rate_after_fault="10 %",
                               max_degraded_rate_during_fault="100 %"), h, f="probe")
    assert [(v.metric, v.measured, v.validity) for v in verdicts] == [
        ("max_5xx_rate_during_fault", 0.0, "pass"), ("max_degraded_rate_after_fault", 0.0, "pass"),
        ("max_degraded_rate_during_fault", 100.0, "pass")]


def test_limits_fail_a_service_that_answers_5xx_or_stays_degraded():
    """The fragile service: 500s during the fault and degraded answers after it: both FAIL, measured."""
    h = service(("fail", CRASH), after=("ok", STALE))
    verdicts = check(objective(max_5xx_rate_during_fault="0 %", max_degraded_rate_after_fault="10 %"),
                     h, f="probe")
    assert [(v.metric, v.measured, v.validity) for v in verdicts] == [
        ("max_5xx_rate_during_fault", 100.0, "fail"), ("max_degraded_rate_after_fault", 100.0, "fail")]
    assert str(verdicts[0]).startswith("FAIL svc max_5xx_rate_during_fault: measured 100 % > limit 0 %")


def test_limits_are_unknown_without_evidence():
    """Fault not shown in effect, no HTTP status, a deficient rate: UNKNOWN, never a pass."""
    unshown = History()
    fault(unshown, shown=False)
    requests(unshown, 1.0, 3.0, lambda t: ("ok", OK))
    [v] = check(objective(max_5xx_rate_during_fault="0 %"), unshown, f="probe")
    assert v.validity == "unknown" and "not shown in effect" in v.explanation

    plain = History()
    fault(plain)
    requests(plain, 1.0, 3.0, lambda t: ("ok", 1))
    [v] = check(objective(max_degraded_rate_during_fault="0 %"), plain, f="probe")
    assert (v.validity, v.measured) == ("unknown", None)

    starved = History()
    fault(starved)
    requests(starved, 1.0, 3.0, lambda t: ("ok", OK) if t < 1.5 else NOT_SENT)
    [v] = check(objective(max_5xx_rate_during_fault="0 %"), starved, f="probe")
    assert v.validity == "unknown" and v.explanation.startswith("the clients could not keep the asked rate")


def test_achieved_rate_limit_passes_a_full_schedule_and_fails_a_short_one():
    """min_achieved_rate: 20 of 20 sent is 100 % (PASS); 15 of 20 is 75 % (FAIL, named)."""
    full = service(("ok", OK))
    [v] = check(objective(min_achieved_rate_during_fault="95 %"), full, f="probe")
    assert (v.measured, v.validity) == (100.0, "pass")
    short = History()
    fault(short)
    requests(short, 0.0, 1.0, lambda t: ("ok", OK))
    requests(short, 1.0, 3.0, lambda t: NOT_SENT if t >= 2.5 else ("ok", OK))
    [v] = check(objective(min_achieved_rate_during_fault="95 %"), short, f="probe")
    assert (v.measured, v.validity) == (75.0, "fail")
    assert "15 of 20 attempts scheduled during down(redis) were sent (75 %)" in v.explanation


def test_achieved_rate_without_attempts_is_unknown():
    """No attempt scheduled in the phase (or no fault) is no evidence."""
    h = History()
    fault(h)
    requests(h, 0.0, 1.0, lambda t: ("ok", OK))
    m = achieved_share(h, f="probe", phase="during")
    assert m.value is None and m.explanation == "no attempts scheduled during down(redis)"
    assert achieved_share(History()).explanation == "no fault window in the history"
    [v] = check(objective(min_achieved_rate_after_fault="95 %"), h, f="probe")
    assert v.validity == "unknown"


@pytest.mark.parametrize(("name", "metric", "bound", "phase"), [
    ("max_5xx_rate_during_fault", "http_5xx_rate", "max", "during"),
    ("max_degraded_rate_after_fault", "degraded_rate", "max", "after"),
    ("min_achieved_rate_before_fault", "achieved_rate", "min", "before"),
])
def test_new_limit_names_parse(name, metric, bound, phase):
    """Each new limit kind parses to its metric, bound, phase and the % unit."""
    limit = parse_limit(name, "5 %")
    assert (limit.metric, limit.bound, limit.phase, limit.unit, limit.value) == (metric, bound, phase, "%", 5.0)


def test_new_limits_refuse_other_units():
    """A 5xx rate in ms is a one-line mistake that says to use %."""
    with pytest.raises(ValueError, match="does not fit this limit"):
        parse_limit("max_5xx_rate_during_fault", "5 ms")


def test_unclean_error_rate_spares_clean_refusals_only():
    """Clean 503s and oks are clean; a 500, a timeout and a never-completed op are unclean."""
    h = History()
    fault(h)
    answers = {1.0: ("fail", REFUSED), 1.1: ("ok", OK), 1.2: ("fail", CRASH), 1.3: ("info", None), 1.4: None,
               1.5: ("fail", {"status": 503, "degraded": False})}
    requests(h, 1.0, 1.6, lambda t: answers[round(t, 1)])
    m = unclean_error_rate(h, f="probe", phase="during")
    assert m.value == pytest.approx(400 / 6)
    assert m.explanation == ("4 of 6 ops invoked during down(redis) failed uncleanly (5xx without Retry-After, "
                             "no answer, or never completed); 1 ok, 1 clean 503s")
    assert is_clean_refusal((h.ops[6], h.ops[7])) and not is_clean_refusal((h.ops[10], h.ops[11]))


def test_unclean_error_rate_limit_passes_clean_503s_and_fails_hangs():
    """A service that refuses cleanly PASSes max_unclean_error_rate; one whose requests time out FAILs."""
    clean = service(("fail", REFUSED))
    [v] = check(objective(max_unclean_error_rate_during_fault="0 %"), clean, f="probe")
    assert (v.measured, v.validity) == (0.0, "pass")
    hung = service(("info", None))
    [v] = check(objective(max_unclean_error_rate_during_fault="0 %"), hung, f="probe")
    assert (v.measured, v.validity) == (100.0, "fail")
    assert str(v).startswith("FAIL svc max_unclean_error_rate_during_fault: measured 100 % > limit 0 %")


def test_unclean_error_rate_without_ops_is_unknown():
    """No fault, or no op in the phase, is no evidence."""
    assert unclean_error_rate(History()).value is None
    h = History()
    fault(h)
    m = unclean_error_rate(h, f="probe", phase="during")
    assert m.value is None and m.explanation == "no client ops invoked during down(redis)"
