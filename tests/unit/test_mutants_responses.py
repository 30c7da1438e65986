"""The HTTP answer limits and the achieved-rate limit judge the named workload, the window judged and
the limit's phase, and say why when there is no evidence.

Written against mutants that survived ``make mutation`` (docs/mutation-survivors.md). Two faults,
``a`` (t=1..2 s) and ``b`` (t=4..5 s); the ``probe`` workload answers 200 except where a test says
otherwise, every 0.125 s; an ``api`` workload answers 500 all along.
"""

from harness.history import NOT_SENT, History
from harness.judging.checkers import check
from harness.judging.objectives import Limit, Objective, parse_limit
from harness.judging.phases import fault_windows
from harness.judging.rates import achieved_share
from harness.judging.responses import degraded_rate, http_5xx_rate, unclean_error_rate
from test_mutants_rates import nemesis

OK = {"status": 200, "degraded": False}
STALE = {"status": 200, "degraded": True}
CRASH = {"status": 500, "degraded": False}
REFUSED = {"status": 503, "degraded": False, "retry_after": "1", "clean": True}
LIMITS = {"max_5xx_rate": "http_5xx_rate", "max_degraded_rate": "degraded_rate",
          "max_unclean_error_rate": "unclean_error_rate"}


def answer(h, t, value, f="probe", kind=None):
    op = h.invoke(f"http-{f}", f, None, time=t)
    if value == NOT_SENT:
        h.complete(op, NOT_SENT, time=t, error="every lane busy")
    elif value is not None:
        h.complete(op, kind or ("ok" if value["status"] < 500 else "fail"), value=value, time=t + 0.0078125)


def http_history(during_b, after_b=OK, api=True, heal_b=5.0):
    """Both faults; the probe answers ``during_b`` while b is in effect and ``after_b`` after it."""
    h = History()
    nemesis(h, "a", 1.0, 2.0)
    nemesis(h, "b", 4.0, heal_b)
    for k in range(48):
        t = k * 0.125
        answer(h, t, during_b if 4.0 <= t < 5.0 else after_b if t >= 5.0 else OK)
        if api:
            answer(h, t + 0.0625, CRASH, f="api")
    return h


def objective(**limits):
    return Objective("svc", "d", "o", "", tuple(parse_limit(k, v) for k, v in limits.items()))


def test_http_limits_judge_every_window_with_its_own_answers():
    """b answered 500 and degraded, a did not: the worst window, b, fails each limit."""
    h = http_history({"status": 500, "degraded": True})
    verdicts = check(objective(max_5xx_rate_during_fault="10 %", max_unclean_error_rate_during_fault="10 %",
                               min_achieved_rate_during_fault="90 %"), h, f="probe")
    assert [(v.validity, v.measured) for v in verdicts] == [("fail", 100.0), ("fail", 100.0), ("pass", 100.0)]
    h = http_history(STALE)
    [v] = check(objective(max_degraded_rate_during_fault="10 %"), h, f="probe")
    assert (v.validity, v.measured) == ("fail", 100.0) and "window 2 (b)" in v.explanation


def test_http_limits_judge_the_named_workload_only():
    """The api workload's 500s are not the probe's: f="probe" passes every limit."""
    h = http_history(OK)
    verdicts = check(objective(max_5xx_rate_during_fault="10 %", max_unclean_error_rate_during_fault="10 %",
                               max_degraded_rate_during_fault="10 %"), h, f="probe")
    assert [(v.validity, v.measured) for v in verdicts] == [("pass", 0.0)] * 3
    assert http_5xx_rate(h, f="api", fault="b").value == 100.0
    assert unclean_error_rate(h, f="api", fault="b").value == 100.0


def test_http_limits_judge_the_phase_they_name():
    """After b the probe answers 500 or degraded; the during-phase limits pass, the after-phase ones fail."""
    for metric, bad in (("max_5xx_rate", CRASH), ("max_unclean_error_rate", CRASH), ("max_degraded_rate", STALE)):
        h = http_history(OK, after_b=bad, api=False)
        during, after = check(objective(**{f"{metric}_during_fault": "10 %", f"{metric}_after_fault": "10 %"}), h,
                              fault="b")
        assert (during.validity, after.validity) == ("pass", "fail"), metric


def test_achieved_rate_judges_the_named_workload_phase_and_window():
    """The probe sent 1 of 8 during b, the api all: min_achieved_rate follows f=, the phase and the window."""
    h = http_history(NOT_SENT, api=True)
    answer(h, 4.0, OK)                                      # the one sent, at the start of b
    [probe] = check(objective(min_achieved_rate_during_fault="90 %"), h, f="probe", fault="b")
    assert probe.validity == "fail" and probe.measured == round(100 / 9, 6)
    [api] = check(objective(min_achieved_rate_during_fault="90 %"), h, f="api", fault="b")
    assert (api.validity, api.measured) == ("pass", 100.0)
    [after] = check(objective(min_achieved_rate_after_fault="90 %"), h, f="probe", fault="b")
    assert (after.validity, after.measured) == ("pass", 100.0)
    [worst] = check(objective(min_achieved_rate_during_fault="90 %"), h, f="probe")
    assert worst.validity == "fail" and "window 2 (b)" in worst.explanation
    assert achieved_share(h, f="probe", fault="b").value == 100 / 9
    assert achieved_share(h, f="probe", window=fault_windows(h)[1]).value == 100 / 9


def test_achieved_rate_of_a_fault_never_healed_runs_to_the_end():
    """b never healed: its during phase runs from t=4 s to the end of history (t=5.875 s, the end itself
    left out as every span's end is)."""
    h = http_history(NOT_SENT, after_b=NOT_SENT, api=False, heal_b=None)
    assert achieved_share(h, fault="b").explanation.startswith("0 of 15 attempts scheduled during b were sent")


def test_a_limit_without_a_phase_is_judged_on_the_fault_phase():
    """A hand-made limit with no phase: each measure reads the during phase."""
    h = http_history(CRASH, api=False)
    for metric, measured in (("http_5xx_rate", 100.0), ("unclean_error_rate", 100.0), ("degraded_rate", 0.0),
                             ("achieved_rate", 100.0)):
        bound = "min" if metric == "achieved_rate" else "max"
        limit = Limit(name=metric, metric=metric, bound=bound, value=50.0, unit="%", text="50 %")
        [v] = check(Objective("svc", "d", "o", "", (limit,)), h, fault="b")
        assert v.measured == measured and "during b" in v.explanation, metric


def test_no_evidence_is_said_in_the_limits_unit_with_the_reason():
    """No fault, no op in the phase, no status recorded: UNKNOWN with the reason, never a unit crash."""
    bare = History()
    answer(bare, 1.0, OK)
    limits = objective(max_5xx_rate_during_fault="1 %", max_degraded_rate_during_fault="1 %",
                       max_unclean_error_rate_during_fault="1 %", min_achieved_rate_during_fault="90 %")
    assert [v.explanation for v in check(limits, bare)] == ["no fault window in the history"] * 4
    quiet = History()
    nemesis(quiet, "a", 1.0, 2.0)
    answer(quiet, 0.5, OK)
    assert [v.explanation for v in check(limits, quiet)] == [
        "no client ops invoked during a", "no client ops invoked during a", "no client ops invoked during a",
        "no attempts scheduled during a"]
    silent = History()
    nemesis(silent, "a", 1.0, 2.0)
    op = silent.invoke("client", "read", 1, time=1.5)
    silent.complete(op, "ok", time=1.5078125)
    explanations = [v.explanation for v in check(limits, silent)[:2]]
    assert explanations == ["none of the 1 ops invoked during a recorded an HTTP status "
                            "(not an HTTP workload, or nothing answered)"] * 2


def test_named_fault_reaches_the_answer_measures():
    """http_5xx_rate / unclean_error_rate with fault="b" read b, not the first fault."""
    h = http_history(CRASH, api=False)
    assert http_5xx_rate(h, fault="b").value == 100.0
    assert http_5xx_rate(h, fault="a").value == 0.0
    assert unclean_error_rate(h, fault="b").value == 100.0
    stale = http_history(STALE, api=False)
    assert (degraded_rate(stale, fault="b").value, degraded_rate(stale, fault="a").value) == (100.0, 0.0)


def test_the_5xx_explanation_counts_the_clean_refusals_apart():
    """Three clean 503s and five 500s during b: "(3 of them a clean 503 with Retry-After)"."""
    h = History()
    nemesis(h, "b", 4.0, 5.0)
    for k in range(8):
        answer(h, 4.0 + k * 0.125, REFUSED if k < 3 else CRASH)
    m = http_5xx_rate(h)
    assert m.explanation == ("8 of 8 ops invoked during b were answered 5xx (3 of them a clean 503 with "
                             "Retry-After); 0 got no answer")


def test_the_rate_gate_reads_the_phase_of_degraded_and_unclean_limits():
    """max_degraded_rate / max_unclean_error_rate are gated on their own phase's attempts, like error rate."""
    from harness.judging.rates import limit_span
    h = http_history(NOT_SENT, api=False)
    for name in ("max_degraded_rate_during_fault", "max_unclean_error_rate_during_fault", "max_5xx_rate_during_fault"):
        span = limit_span(h, parse_limit(name, "10 %"), f="probe", fault="b")
        assert (span.scheduled, span.sent, span.label) == (8, 0, "during b"), name
