"""Unit tests for harness.history and the fault windows derived from it (no Docker)."""

import json
import threading

import pytest

from harness.history import History, Op, now
from harness.judging.phases import FaultWindow, fault_windows


def test_invoke_then_complete_pairs_up():
    """An invoke and its completion form one pair; the completion points back at its invoke."""
    h = History()
    op = h.invoke(process="pg-writer", f="insert", value=17)
    done = h.complete(op, "ok")
    assert op.type == "invoke" and done.type == "ok"
    assert done.invoke_index == op.index and done.value == 17
    assert h.pairs() == [(op, done)]


def test_completion_value_and_error_are_recorded():
    """A completion may carry its own value (even None) and an error text."""
    h = History()
    read = h.invoke("r", "get", "key")
    done = h.complete(read, "ok", value=None)
    failed = h.complete(h.invoke("w", "insert", 1), "fail", error="OperationalError: refused")
    assert done.value is None
    assert failed.error == "OperationalError: refused"


def test_never_completed_op_pairs_with_none():
    """An invoke without a completion pairs with None."""
    h = History()
    h.invoke("w", "insert", 1)
    b = h.invoke("w", "insert", 2)
    h.complete(b, "info", error="timeout")
    assert [(i.value, c.type if c else None) for i, c in h.pairs()] == [(1, None), (2, "info")]


@pytest.mark.parametrize("bad", ["ok-ish", "invoke", ""])
def test_completion_type_must_be_ok_fail_or_info(bad):
    """Only ok, fail and info complete an op."""
    h = History()
    with pytest.raises(ValueError, match="not one of ok, fail, info"):
        h.complete(h.invoke("w", "insert", 1), bad)


def test_an_op_completes_once():
    """Completing the same invoke twice is refused."""
    h = History()
    op = h.invoke("w", "insert", 1)
    h.complete(op, "ok")
    with pytest.raises(ValueError, match="already completed"):
        h.complete(op, "fail")


def test_only_invokes_of_this_history_complete():
    """A completion op or an op of another history cannot be completed."""
    h, other = History(), History()
    done = h.complete(h.invoke("w", "insert", 1), "ok")
    with pytest.raises(ValueError, match="not an invoke"):
        h.complete(done, "ok")
    foreign = other.invoke("w", "insert", 9, time=5.0)
    with pytest.raises(ValueError, match="does not belong"):
        h.complete(foreign, "ok")


def test_ops_is_an_immutable_snapshot():
    """``ops`` is a tuple that later appends do not change."""
    h = History()
    h.invoke("w", "insert", 1)
    snapshot = h.ops
    h.invoke("w", "insert", 2)
    assert isinstance(snapshot, tuple) and len(snapshot) == 1 and len(h.ops) == 2


def test_now_is_run_relative_and_monotonic():
    """now() starts near zero at import and never goes backwards; ops are stamped with it."""
    first = now()
    op = History().invoke("w", "insert", 1)
    second = now()
    assert 0 <= first <= op.time <= second


def test_concurrent_appends_keep_indices_dense_and_times_ordered():
    """Many threads appending at once give dense indices, ordered times and complete pairs."""
    h = History()

    def writer(name):
        for k in range(200):
            h.complete(h.invoke(name, "insert", (name, k)), "ok")

    threads = [threading.Thread(target=writer, args=(f"w{n}",)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ops = h.ops
    assert [o.index for o in ops] == list(range(3200))
    assert all(a.time <= b.time for a, b in zip(ops, ops[1:]))
    assert len(h.pairs()) == 1600 and all(c is not None and c.value == i.value for i, c in h.pairs())


def test_jsonl_round_trip(tmp_path):
    """write_jsonl then read_jsonl gives back the same ops, one JSON object a line."""
    h = History()
    h.complete(h.invoke("w", "insert", 1, time=0.5), "ok", time=0.6)
    h.complete(h.invoke("nemesis", "inject", {"name": "down", "kind": "down", "target": "redis"}, time=1), "ok", time=1.1)
    h.invoke("r", "read", None, time=2.0)
    path = h.write_jsonl(tmp_path / "run" / "history.jsonl")
    lines = path.read_text().splitlines()
    assert len(lines) == 5 and all(json.loads(line)["index"] == n for n, line in enumerate(lines))
    assert History.read_jsonl(path).ops == h.ops


def test_jsonl_falls_back_to_repr_for_unserialisable_values(tmp_path):
    """Sets become sorted lists and other unserialisable values their repr."""
    h = History()
    h.invoke("w", "write", {3, 1, 2}, time=0.0)
    h.invoke("w", "write", object, time=0.1)
    back = History.read_jsonl(h.write_jsonl(tmp_path / "h.jsonl")).ops
    assert back[0].value == [1, 2, 3]
    assert back[1].value == repr(object)


def test_op_to_dict_has_every_field():
    """Op.to_dict carries all fields and Op.from_dict inverts it."""
    op = Op(index=3, time=1.5, process="w", type="ok", f="insert", value=7, error=None, invoke_index=2)
    assert set(op.to_dict()) == {"index", "time", "process", "type", "f", "value", "error", "invoke_index"}
    assert Op.from_dict(op.to_dict()) == op


def _nemesis(h, f, name, t, outcome="ok", kind="down", target="redis"):
    h.complete(h.invoke("nemesis", f, {"name": name, "kind": kind, "target": target}, time=t), outcome,
               time=t + 0.01)


def test_fault_window_from_inject_invoke_to_heal_completion():
    """A window opens at the inject's invoke and closes at the heal's ok completion."""
    h = History()
    _nemesis(h, "inject", "redis-down", 1.0)
    _nemesis(h, "heal", "redis-down", 3.0)
    assert fault_windows(h) == [FaultWindow("redis-down", "down", "redis", 1.0, 3.01, heal_began_at=3.0)]
    assert fault_windows(h)[0].to_dict()["healed_at"] == 3.01
    assert fault_windows(h)[0].recovery_from == 3.0
    assert FaultWindow("x", "down", "redis", 1.0, 3.01).recovery_from == 3.01   # no heal start known


def test_failed_inject_opens_no_window_and_unhealed_stays_open():
    """A failed inject is no fault; a fault never healed has healed_at None."""
    h = History()
    _nemesis(h, "inject", "a", 1.0, outcome="fail")
    _nemesis(h, "inject", "b", 2.0)
    _nemesis(h, "heal", "b", 3.0, outcome="fail")
    assert fault_windows(h) == [FaultWindow("b", "down", "redis", 2.0, None)]
    _nemesis(h, "heal", "b", 4.0)
    assert fault_windows(h)[0].healed_at == 4.01


def test_heals_match_windows_by_name():
    """Overlapping faults are healed by name, and windows are listed in injection order."""
    h = History()
    _nemesis(h, "inject", "a", 1.0)
    _nemesis(h, "inject", "b", 2.0, target="postgres")
    _nemesis(h, "heal", "a", 3.0)
    _nemesis(h, "heal", "b", 4.0)
    assert [(w.name, w.injected_at, w.healed_at) for w in fault_windows(h)] == [("a", 1.0, 3.01), ("b", 2.0, 4.01)]


def test_phase_of_an_invoke_time():
    """Before the inject is before, up to the heal is during, from the heal on is after."""
    w = FaultWindow("x", "down", "redis", 1.0, 3.0)
    assert [w.phase_of(t) for t in (0.99, 1.0, 2.99, 3.0)] == ["before", "during", "during", "after"]
    assert FaultWindow("x", "down", "redis", 1.0, None).phase_of(100.0) == "during"


def test_write_jsonl_makes_missing_folders_and_writes_sorted_keys(tmp_path):
    """Nested folders are created; each line is one op with its keys sorted (a stable diffable file)."""
    h = History()
    h.complete(h.invoke("client", "read", {"b": 1, "a": "é"}, time=1.0), "ok", time=1.5)
    path = h.write_jsonl(tmp_path / "deep" / "er" / "history.jsonl")
    lines = path.read_bytes().decode("utf-8").splitlines()
    assert lines[0] == ('{"error": null, "f": "read", "index": 0, "invoke_index": null, "process": "client", '
                        '"time": 1.0, "type": "invoke", "value": {"a": "\\u00e9", "b": 1}}')
    assert History.read_jsonl(path).ops == h.ops
