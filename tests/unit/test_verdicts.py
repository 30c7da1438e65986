"""Unit tests for harness.judging.verdicts: the record, its one-line rendering, merging and assertion."""

import pytest

from harness.judging.verdicts import Verdict, assert_met, format_number, merge_validity

LOST = Verdict("pg-kill-durability", "rpo_lost_writes", 0.0, 6.0, "writes", "fail",
               "6 acknowledged inserts (ids 295..300) missing after recovery at t=12.41 s")
FAST = Verdict("redis-outage-fail-fast", "rto", 1.0, 0.12, "s", "pass", "first of 3 ok ops at t=3.13 s")
BLIND = Verdict("pg-kill-durability", "rto", 30.0, None, "s", "unknown", "no client op invoked after the heal")


def test_to_dict_has_exactly_the_report_keys():
    """to_dict gives exactly the keys report.json and dashboards read."""
    assert LOST.to_dict() == {"objective": "pg-kill-durability", "metric": "rpo_lost_writes", "limit": 0.0,
                              "measured": 6.0, "unit": "writes", "validity": "fail",
                              "explanation": "6 acknowledged inserts (ids 295..300) missing after recovery at t=12.41 s"}


def test_failed_verdict_reads_as_one_line():
    """A failure names objective, metric, measured vs limit with units, and the evidence."""
    assert str(LOST) == ("FAIL pg-kill-durability rpo_lost_writes: measured 6 writes > limit 0 writes — "
                         "6 acknowledged inserts (ids 295..300) missing after recovery at t=12.41 s")


def test_pass_min_and_unknown_verdicts_read_as_one_line():
    """Passes show <=, a breached minimum shows <, an unknown says it was not measured."""
    assert str(FAST) == "PASS redis-outage-fail-fast rto: measured 0.12 s <= limit 1 s — first of 3 ok ops at t=3.13 s"
    low = Verdict("pg-latency-visible", "latency_p50_during_fault_min", 250.0, 201.5, "ms", "fail", "p50 of 30 ops")
    assert str(low).startswith("FAIL pg-latency-visible latency_p50_during_fault_min: measured 201.5 ms < limit 250 ms")
    assert str(BLIND) == ("UNKNOWN pg-kill-durability rto: not measured (limit 30 s) — "
                          "no client op invoked after the heal")


def test_str_stays_on_one_line():
    """Newlines in an explanation never break the line."""
    v = Verdict("x", "rto", 1.0, 2.0, "s", "fail", "first line\nsecond line")
    assert "\n" not in str(v) and str(v).endswith("first line second line")


def test_validity_must_be_known():
    """A validity other than pass/fail/unknown is refused."""
    with pytest.raises(ValueError, match="not one of pass, fail, unknown"):
        Verdict("x", "rto", 1.0, 0.5, "s", "ok", "")


@pytest.mark.parametrize(("items", "merged"), [
    (["pass", "pass"], "pass"),
    (["pass", "unknown"], "unknown"),
    (["unknown", "fail", "pass"], "fail"),
    ([], "unknown"),
])
def test_merge_validity_by_severity(items, merged):
    """fail beats unknown beats pass; nothing at all is unknown."""
    assert merge_validity(items) == merged


def test_merge_validity_accepts_verdicts():
    """Verdicts merge by their validity."""
    assert merge_validity([FAST, BLIND]) == "unknown"
    assert merge_validity([FAST, LOST, BLIND]) == "fail"


def test_assert_met_lists_every_failed_verdict():
    """The assertion message holds one line per failed verdict and none for passes."""
    slow = Verdict("pg-kill-durability", "rto", 30.0, 41.0, "s", "fail", "first ok at t=52 s")
    with pytest.raises(AssertionError) as err:
        assert_met([FAST, LOST, slow, BLIND])
    message = str(err.value)
    assert "2 of 4 objective limits failed" in message
    assert str(LOST) in message and str(slow) in message
    assert str(FAST) not in message and str(BLIND) not in message


def test_assert_met_passes_unknown_unless_strict():
    """Unknown does not fail by default; strict mode fails it too."""
    assert_met([FAST, BLIND])
    with pytest.raises(AssertionError, match="1 of 2 objective limits failed or unknown") as err:
        assert_met([FAST, BLIND], strict=True)
    assert str(BLIND) in str(err.value)


def test_assert_met_refuses_an_empty_list():
    """Checking nothing is not a pass."""
    with pytest.raises(AssertionError, match="no verdicts"):
        assert_met([])


@pytest.mark.parametrize(("value", "text"), [(6.0, "6"), (12.41, "12.41"), (0.123456, "0.1235"), (1500.0, "1500"),
                                             (250.25, "250.2"), (0.0, "0"), (-0.00001, "0")])
def test_format_number(value, text):
    """Numbers render short, without trailing zeros."""
    assert format_number(value) == text


def test_format_number_boundaries():
    """One decimal from 100 up, three from 1, four below; no trailing zeros; nan and -0 readable."""
    from harness.judging.verdicts import format_number
    assert format_number(100.04) == "100" and format_number(99.9996) == "100"
    assert format_number(1.23456) == "1.235" and format_number(0.123456) == "0.1235"
    assert format_number(float("nan")) == "nan" and format_number(-0.00001) == "0"
    assert format_number(250.0) == "250" and format_number(12.5) == "12.5" and format_number(0) == "0"


def test_verdict_lines_name_the_relation_found():
    """=, <=, >, < and >= as measured against the limit, with and without an explanation."""
    from harness.judging.verdicts import Verdict
    assert str(Verdict("o", "rto", 1.0, 1.0, "s", "pass", "")) == "PASS o rto: measured 1 s = limit 1 s"
    assert str(Verdict("o", "rto", 1.0, 0.5, "s", "pass", "why")) == "PASS o rto: measured 0.5 s <= limit 1 s — why"
    assert str(Verdict("o", "rto", 1.0, 2.0, "s", "fail", "")) == "FAIL o rto: measured 2 s > limit 1 s"
    assert str(Verdict("o", "avail", 90.0, 80.0, "%", "fail", "")) == "FAIL o avail: measured 80 % < limit 90 %"
    assert str(Verdict("o", "avail", 90.0, 95.0, "%", "pass", "")) == "PASS o avail: measured 95 % >= limit 90 %"


def test_assert_met_lists_each_breach_on_its_own_line():
    """The message counts the breaches and lists each verdict indented, one a line."""
    from harness.judging.verdicts import Verdict, assert_met
    bad = [Verdict("o", "rto", 1.0, 2.0, "s", "fail", ""), Verdict("o", "rpo", 0.0, 1.0, "s", "fail", "")]
    with pytest.raises(AssertionError) as err:
        assert_met(bad)
    assert str(err.value) == ("2 of 2 objective limits failed:\n  FAIL o rto: measured 2 s > limit 1 s\n"
                              "  FAIL o rpo: measured 1 s > limit 0 s")
    with pytest.raises(AssertionError, match="^no verdicts to assert: the scenario checked no objective limit$"):
        assert_met([])
    unknown = [Verdict("o", "rto", 1.0, None, "s", "unknown", "nothing")]
    assert_met(unknown)
    with pytest.raises(AssertionError, match="^1 of 1 objective limits failed or unknown:\n  UNKNOWN o rto"):
        assert_met(unknown, strict=True)
