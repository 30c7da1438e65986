"""The records the judges read and the lines they print: history files, drills, verdicts, objectives.

Written against mutants that survived ``make mutation`` (docs/mutation-survivors.md): each test
states a behaviour a user relies on.
"""

import time

import pytest

from harness import history as history_module
from harness.errors import ConfigError
from harness.history import NOT_SENT, History, Op
from harness.judging import drills
from harness.judging.checkers import check
from harness.judging.objectives import load_objectives, parse_limit
from harness.judging.phases import FaultWindow, fault_windows
from harness.judging.verdicts import Measurement, Verdict, format_number, merge_validity
from test_checkers import call, objective
from test_objectives import GOOD, error_of, write

# --- the history -----------------------------------------------------------------------------------


def test_ops_without_a_time_are_on_the_run_clock():
    """An op recorded now is stamped with seconds since the run started, not an absolute clock."""
    before = time.monotonic() - history_module.RUN_START
    op = History().invoke("client", "read")
    assert before <= op.time <= time.monotonic() - history_module.RUN_START


def test_errors_and_unsortable_sets_survive_a_round_trip(tmp_path):
    """An op's error comes back from history.jsonl; a set that cannot be sorted is written as reprs."""
    h = History()
    op = h.invoke("client", "insert", {1, "a"}, time=1.0)
    h.complete(op, "fail", time=1.5, error="OperationalError: gone")
    back = History.read_jsonl(h.write_jsonl(tmp_path / "history.jsonl"))
    assert back.ops[1].error == "OperationalError: gone"
    assert sorted(back.ops[0].value) == ["'a'", "1"]


def test_a_reloaded_history_still_refuses_a_second_completion(tmp_path):
    """Completions read back from a file count: completing the same invoke again is an error."""
    h = History()
    op = h.invoke("client", "read", time=1.0)
    h.complete(op, "ok", time=1.25)
    back = History(h.ops)
    with pytest.raises(ValueError, match=r"op #0 \(client read\) was already completed"):
        back.complete(back.ops[0], "ok")


def test_an_invoke_from_another_history_is_refused():
    """An invoke whose index is past this history's end does not belong to it (not an IndexError)."""
    other = History()
    other.invoke("client", "a", time=0.0)
    foreign = other.invoke("client", "b", time=0.0)
    mine = History()
    mine.invoke("client", "a", time=0.0)
    with pytest.raises(ValueError, match="op #1 does not belong to this history"):
        mine.complete(foreign, "ok")


def test_a_not_sent_attempt_keeps_its_value_and_reason():
    """not_sent records what was scheduled and why it was not sent."""
    h = History()
    done = h.not_sent("writer", "insert", 17, scheduled_at=2.0, reason="every lane busy")
    invoke = h.ops[0]
    assert (invoke.time, invoke.value) == (2.0, 17)
    assert (done.type, done.value, done.error) == (NOT_SENT, 17, "every lane busy")


def test_an_empty_history_ends_at_zero():
    """No op yet: the history ends at t=0."""
    assert History().end_time() == 0.0


def test_an_op_reads_as_one_line():
    """str(op): index, time, process, type, name, value, and the error in brackets when there is one."""
    assert str(Op(3, 1.5, "client", "fail", "read", 7, "timeout")) == "#3 t=1.500 client fail read 7 (timeout)"
    assert str(Op(3, 1.5, "client", "ok", "read", 7)) == "#3 t=1.500 client ok read 7"


# --- fault windows ---------------------------------------------------------------------------------


def test_a_heal_or_probe_without_an_open_fault_is_ignored():
    """A heal (or probe) recorded with no fault open opens nor closes anything."""
    h = History()
    value = {"name": "ghost", "kind": "down", "target": "redis"}
    call(h, "probe", value, 0.5, 0.5, process="nemesis")
    call(h, "heal", value, 1.0, 1.0, process="nemesis")
    assert fault_windows(h) == []


def test_a_window_reads_when_it_was_healed_or_that_it_never_was():
    """str() of a window: its heal time, or "never healed"."""
    assert str(FaultWindow("a", "down", "redis", 1.0, None)) == "a (down redis) injected at t=1.000 s, never healed"
    assert str(FaultWindow("a", "down", "redis", 1.0, 2.5)) == "a (down redis) injected at t=1.000 s, healed at t=2.500 s"


# --- drills ----------------------------------------------------------------------------------------


def drill_step(h, f, t0, t1, outcome="ok", value=None, spec=None):
    op = h.invoke("drill", f, spec if spec is not None else {"name": "d", "kind": "pg", "target": "postgres"}, time=t0)
    h.complete(op, outcome, time=t1, value=value, error=None if outcome == "ok" else "boom")


def test_a_drill_without_a_name_is_called_drill():
    """Steps recorded without a name (None, or a dict without "name") group as the drill "drill"."""
    h = History()
    drill_step(h, "backup", 0.0, 1.0, spec={"kind": "pg"})
    h.complete(h.invoke("drill", "copy", None, time=1.0), "ok", time=2.0)
    [run] = drills.drill_runs(h)
    assert run.name == "drill" and [s.f for s in run.steps] == ["backup", "copy"]


def test_step_details_leave_out_the_drills_own_fields():
    """A step's details keep what it measured, not the drill's name, kind and target."""
    h = History()
    drill_step(h, "backup", 0.0, 1.23456, value={"name": "d", "kind": "pg", "target": "postgres", "bytes": 10})
    [run] = drills.drill_runs(h)
    assert run.step("backup").details == {"bytes": 10}
    assert run.durations_s() == {"backup": 1.235}


def test_a_drill_without_a_disaster_has_no_rto():
    """A drill that never had its disaster: no RTO, said plainly."""
    h = History()
    drill_step(h, "backup", 0.0, 1.0)
    assert drills.drill_rto(h) == Measurement(None, "s", "no drill disaster in the history")
    assert drills.restore_point_loss(History(), []) is None
    assert drills.restore_point_loss(h, []) is None          # a drill, but no restore point step


def test_a_failed_disaster_step_is_no_rto_even_if_verify_passed():
    """The disaster itself failed: there was nothing to recover from, so no RTO."""
    h = History()
    drill_step(h, "disaster", 1.0, 1.5, outcome="fail")
    drill_step(h, "restore", 1.5, 2.0)
    drill_step(h, "verify", 2.0, 2.5)
    assert drills.drill_rto(h) == Measurement(None, "s", "d step disaster ended fail: boom")


def restore_point_history():
    h = History()
    for k, f in enumerate(("insert", "write", "set", "add"), start=1):
        call(h, f, k, k * 0.125, k * 0.125 + 0.0625)
    call(h, "read", 5, 0.75, 0.8125)                  # a read is no write: never lost, never leaked
    drill_step(h, "restore_point", 1.0, 1.25)
    call(h, "set", 9, 2.0, 2.0625)
    call(h, "read", 1, 2.0, 2.0625)
    return h


def test_restore_point_writes_default_to_every_write_name():
    """Without f=, inserts, writes, sets and adds are the writes around a restore point (reads are not)."""
    loss = drills.restore_point_loss(restore_point_history(), [1, 2, 9])
    assert (loss.before, loss.lost_before, loss.after, loss.present_after) == (4, {3, 4}, 1, {9})


def test_restore_point_limits_follow_f_and_say_why_when_unknown():
    """check(f="insert") counts only inserts; with no write before or after the point, the reason is given."""
    h = restore_point_history()
    verdicts = check(objective(lost_before_restore_point="0 writes", writes_after_restore_point="0 writes"), h,
                     f="insert", observed=[1])
    assert [(v.validity, v.measured) for v in verdicts] == [("pass", 0.0), ("unknown", None)]
    assert verdicts[1].explanation == "no write was invoked after the d restore point (ended t=1.25 s), so none could leak in"
    [early] = check(objective(lost_before_restore_point="0 writes"), h, f="nothing-like-this", observed=[])
    assert early.explanation == "no write was acknowledged before the d restore point at t=1 s"
    [blind] = check(objective(lost_before_restore_point="0 writes"), h)
    assert blind.explanation == "no read-back after the restore was recorded (pass observed=...)"


def test_lost_ids_are_listed_up_to_six():
    """Up to six ids are named; more end with the count; ids of mixed types are still listed."""
    h = History()
    for k in range(1, 8):
        call(h, "insert", k, k * 0.125, k * 0.125 + 0.0625)
    drill_step(h, "restore_point", 2.0, 2.25)
    seven = drills.lost_before_restore_point(drills.restore_point_loss(h, []))
    assert seven.explanation.endswith("(ids 1, 2, 3, 4, 5, 6, ... (7 in all))")
    six = drills.lost_before_restore_point(drills.restore_point_loss(h, [7]))
    assert six.explanation.endswith("(ids 1, 2, 3, 4, 5, 6)")
    mixed = History()
    call(mixed, "insert", 10, 0.125, 0.25)
    call(mixed, "insert", "9", 0.25, 0.375)
    drill_step(mixed, "restore_point", 1.0, 1.25)
    assert drills.lost_before_restore_point(drills.restore_point_loss(mixed, [])).explanation.endswith("(ids 9, 10)")


# --- verdicts --------------------------------------------------------------------------------------


def test_a_validity_that_does_not_exist_is_refused_with_the_choices():
    """merge_validity and Verdict refuse a validity outside pass/fail/unknown, listing them."""
    with pytest.raises(ValueError, match=r"^validity 'maybe' is not one of pass, fail, unknown$"):
        merge_validity(["pass", "maybe"])
    with pytest.raises(ValueError, match=r"^validity 'maybe' is not one of pass, fail, unknown$"):
        Verdict("o", "rto", 1.0, 1.0, "s", "maybe", "")


@pytest.mark.parametrize("value, text", [(100.0, "100"), (1.0, "1"), (-0.00001, "0"), (0.5, "0.5"),
                                         (float("inf"), "inf")])
def test_numbers_read_short(value, text):
    """No trailing zeros, no "-0", infinity as inf."""
    assert format_number(value) == text


# --- objectives ------------------------------------------------------------------------------------


def test_a_limit_can_be_found_by_name():
    """Objective.limit(name) finds the limit; a name it lacks is a KeyError naming both."""
    obj = objective(rto="5 s", rpo="1 s")
    assert obj.limit("rpo").value == 1.0
    with pytest.raises(KeyError, match="objective 'obj' has no limit 'drill_rto'"):
        obj.limit("drill_rto")


def test_parse_limit_says_what_is_wrong():
    """parse_limit's ValueError reads as the problem."""
    with pytest.raises(ValueError, match="^negative limit$"):
        parse_limit("rto", "-1 s")


def test_the_first_percentile_is_a_quantile():
    """latency_p1_during_fault is p1 (0.01); p0 is out of range."""
    assert parse_limit("latency_p1_during_fault", "5 ms").quantile == 0.01
    with pytest.raises(ValueError, match='quantile "p0" is out of range'):
        parse_limit("latency_p0_during_fault", "5 ms")


def test_a_missing_runbook_is_empty(tmp_path):
    """runbook is optional: an objective without one has runbook ''."""
    objectives = load_objectives(write(tmp_path, GOOD.replace('runbook = "docs/runbooks/pg.md"\n', "")))
    assert objectives["pg-kill"].runbook == ""


def test_an_error_at_the_end_of_the_file_names_the_file(tmp_path):
    """A TOML error with no line (at end of document) still names the file, without a line."""
    message = error_of(tmp_path, GOOD + 'rpo = "5 s')
    assert "TOML syntax error" in message and "None" not in message


def test_a_range_error_names_the_key_and_the_fix(tmp_path):
    """A latency minimum above its maximum: the line, the key, the problem and the fix."""
    text = GOOD + 'latency_p50_during_fault = "10 ms"\nlatency_p50_during_fault_min = "20 ms"\n'
    message = error_of(tmp_path, text)
    assert message.endswith(':11: [objectives.pg-kill.limits] latency_p50_during_fault_min: minimum "20 ms" is '
                            'above the maximum latency_p50_during_fault = "10 ms"; lower the minimum or raise the maximum')


def test_a_minimum_equal_to_the_maximum_is_allowed(tmp_path):
    """min == max is a satisfiable range (exactly that latency)."""
    text = GOOD + 'latency_p50_during_fault = "10 ms"\nlatency_p50_during_fault_min = "10 ms"\n'
    assert load_objectives(write(tmp_path, text))["pg-kill"].limit("latency_p50_during_fault_min").value == 10.0


def test_an_error_in_an_inline_table_names_the_file_only(tmp_path):
    """No [table] header to point at: the file is named, with no line number."""
    text = 'objectives = { x = { description = "d", owner = "o", limits = { rto = "5 parsecs" } } }\n'
    message = error_of(tmp_path, text)
    assert message.split(": ")[0].endswith("objectives.toml") and ":None" not in message
    assert "[objectives.x.limits] rto" in message


def test_the_line_of_a_quoted_table_header_is_found(tmp_path):
    """[objectives."pg-kill".limits] is the same table: the error points at the key's line."""
    text = GOOD.replace("[objectives.pg-kill.limits]", '[objectives."pg-kill".limits]').replace(
        'rto = "5 s"', 'rto = "5 parsecs"')
    assert ":8: [objectives.pg-kill.limits] rto" in error_of(tmp_path, text)


def test_a_key_the_line_finder_cannot_read_points_at_its_table_not_a_later_one(tmp_path):
    """A single-quoted key: the line given is its table's header, never the same key in a later table."""
    text = GOOD.replace('rto = "5 s"', "'rto' = \"5 parsecs\"") + (
        '  [objectives.other]\n  description = "d"\n  owner = "o"\n'
        '  [objectives.other.limits]\n  rto = "5 s"\n')
    assert ":7: [objectives.pg-kill.limits] rto" in error_of(tmp_path, text)


def test_a_missing_objectives_file_says_how_to_create_one(tmp_path):
    """No objectives file: where it looked, and the two ways out."""
    with pytest.raises(ConfigError) as err:
        load_objectives(tmp_path / "objectives.toml")
    assert str(err.value).endswith("; create one with `dr-harness init` (it writes objectives.toml and an example "
                                   "scenario, overwriting nothing), or pass --objectives PATH")
