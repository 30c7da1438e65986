"""The fault contract (harness/faults/base.py) on a tiny in-memory fault, plus fault labels and argument checks."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

import pytest

from harness.faults import (Bandwidth, Down, Effect, Fault, FaultRecord, Latency, LimitData, ResetPeer,
                            Slicer, SlowClose, Timeout)
from harness.history import History
from harness.toxiproxy import ToxiproxyAPI


class Board:
    """The world the test fault acts on: two switches, and counters of what happened."""

    def __init__(self, *, fail_inject_after_first: bool = False, heal_failures: int = 0) -> None:
        self.first = False
        self.second = False
        self.heal_calls = 0
        self.fail_inject_after_first = fail_inject_after_first
        self.heal_failures = heal_failures


@dataclass(frozen=True, eq=False)
class Switches(Fault):
    """Turns two switches on (inject) and off (heal); can fail halfway or on heal."""

    kind: ClassVar[str] = "switches"
    board: Board = field(repr=False)
    level: int = 1

    @property
    def target(self) -> str:
        return "board"

    def _describe(self) -> str:
        return f"level {self.level}"

    def _inject(self) -> None:
        self.board.first = True
        if self.board.fail_inject_after_first:
            raise OSError("second switch is stuck")
        self.board.second = True

    def _check_effect(self) -> Effect:
        on = self.board.first and self.board.second
        return Effect(on, "both switches on" if on else "a switch is off")

    def _heal(self) -> None:
        self.board.heal_calls += 1
        if self.board.heal_failures > 0:
            self.board.heal_failures -= 1
            raise OSError("switch will not turn off")
        self.board.first = self.board.second = False


def nemesis_steps(history: History) -> list[tuple[str, str]]:
    return [(op.f, op.type) for op in history.ops if op.process == "nemesis"]


def test_context_manager_injects_on_enter_and_heals_on_exit() -> None:
    """Entering turns the fault on, leaving turns it off."""
    board = Board()
    with Switches(board) as fault:
        assert board.first and board.second
        assert fault.injected
    assert not board.first and not board.second
    assert not fault.injected


def test_heals_when_the_body_raises() -> None:
    """An exception in the body still heals the fault and propagates unchanged."""
    board = Board()
    with pytest.raises(KeyError, match="boom"):
        with Switches(board):
            raise KeyError("boom")
    assert not board.first and not board.second and board.heal_calls == 1


def test_heals_when_inject_failed_halfway() -> None:
    """A half-done injection is healed on enter, and the injection's error propagates."""
    board = Board(fail_inject_after_first=True)
    history = History()
    body_ran = False
    with pytest.raises(OSError, match="second switch is stuck"):
        with Switches(board, history=history):
            body_ran = True
    assert not body_ran
    assert board.heal_calls == 1 and not board.first
    assert nemesis_steps(history) == [("inject", "invoke"), ("inject", "fail"),
                                      ("heal", "invoke"), ("heal", "ok")]
    assert history.ops[1].error == "OSError: second switch is stuck"


def test_direct_inject_failure_leaves_fault_healable() -> None:
    """Without ``with``, a failed inject counts as injected so a direct heal() undoes it."""
    board = Board(fail_inject_after_first=True)
    fault = Switches(board)
    with pytest.raises(OSError):
        fault.inject()
    assert fault.injected and board.first
    fault.heal()
    assert not fault.injected and not board.first


def test_heal_is_idempotent() -> None:
    """Healing twice, or before any injection, does nothing more and records nothing more."""
    board = Board()
    history = History()
    fault = Switches(board, history=history)
    fault.heal()
    assert board.heal_calls == 0 and history.ops == ()
    with fault:
        pass
    fault.heal()
    fault.heal()
    assert board.heal_calls == 1
    assert nemesis_steps(history) == [("inject", "invoke"), ("inject", "ok"), ("probe", "invoke"),
                                      ("probe", "ok"), ("heal", "invoke"), ("heal", "ok")]


def test_failed_heal_keeps_fault_injected_for_a_retry() -> None:
    """A heal that raises records a fail, leaves the fault injected, and a retry heals it."""
    board = Board(heal_failures=1)
    history = History()
    records: list[FaultRecord] = []
    fault = Switches(board, history=history, records=records)
    fault.inject()
    with pytest.raises(OSError, match="will not turn off"):
        fault.heal()
    assert fault.injected and records[0].healed_at is None
    fault.heal()
    assert not fault.injected and records[0].healed_at is not None
    assert nemesis_steps(history)[4:] == [("heal", "invoke"), ("heal", "fail"),
                                          ("heal", "invoke"), ("heal", "ok")]


def test_heal_failure_after_body_error_is_a_note_not_a_mask() -> None:
    """When both the body and the heal fail, the body's error propagates with the heal failure noted."""
    board = Board(heal_failures=1)
    with pytest.raises(ValueError, match="body failed") as caught:
        with Switches(board):
            raise ValueError("body failed")
    assert any("healing switches(board, level 1) also failed" in note
               for note in caught.value.__notes__)


def test_records_and_history_carry_times() -> None:
    """Each injection appends a record whose times match the history's nemesis ops."""
    history = History()
    records: list[FaultRecord] = []
    fault = Switches(Board(), level=2, history=history, records=records)
    with fault:
        assert records[0].healed_at is None
    with fault:
        pass
    assert len(records) == 2 and fault.record is records[1]
    first = records[0]
    assert first.to_dict() == {"name": "switches(board, level 2)", "kind": "switches",
                               "target": "board", "injected_at": first.injected_at,
                               "healed_at": first.healed_at, "in_effect": True,
                               "evidence": "both switches on"}
    ops = history.ops
    assert ops[0].f == "inject" and ops[0].type == "invoke"
    assert ops[0].value == {"name": "switches(board, level 2)", "kind": "switches", "target": "board"}
    assert first.injected_at == ops[0].time
    assert (ops[2].f, ops[3].f, ops[3].type, ops[3].value) == ("probe", "probe", "ok", "both switches on")
    assert first.healed_at == ops[5].time and ops[5].f == "heal" and ops[5].type == "ok"
    assert first.injected_at <= ops[1].time <= ops[4].time <= first.healed_at <= records[1].injected_at
    assert all(op.invoke_index == op.index - 1 for op in ops if op.type != "invoke")


def test_injecting_twice_without_heal_is_refused() -> None:
    """A second inject() while injected raises instead of stacking the fault."""
    fault = Switches(Board())
    fault.inject()
    with pytest.raises(RuntimeError, match="already injected"):
        fault.inject()
    fault.heal()


def test_fault_description_is_immutable() -> None:
    """Fields of a fault cannot be changed after construction."""
    fault = Switches(Board(), level=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fault.level = 4  # type: ignore[misc]


API = ToxiproxyAPI("http://127.0.0.1:8474")  # never contacted: labels and checks are local


@pytest.mark.parametrize(("fault", "label"), [
    (Latency(API, "postgres", 300, 50), "latency(postgres, 300ms±50, downstream)"),
    (Latency(API, "postgres", 300, direction="both", toxicity=0.25),
     "latency(postgres, 300ms, both, 25%)"),
    (Bandwidth(API, "redis", 64, direction="upstream"), "bandwidth(redis, 64KB/s, upstream)"),
    (Timeout(API, "redis", 0), "timeout(redis, blackhole, downstream)"),
    (Timeout(API, "redis", 500), "timeout(redis, 500ms, downstream)"),
    (ResetPeer(API, "redis", 100), "reset_peer(redis, after 100ms, downstream)"),
    (Slicer(API, "pg", 10, 2, 500), "slicer(pg, 10B±2/500us, downstream)"),
    (LimitData(API, "pg", 1000), "limit_data(pg, 1000B, downstream)"),
    (SlowClose(API, "pg", 600), "slow_close(pg, 600ms, downstream)"),
    (Down(API, "pg"), "down(pg)"),
])
def test_network_fault_labels(fault: Fault, label: str) -> None:
    """str(fault) is the readable label used as pytest id and timeline label."""
    assert str(fault) == label


def test_toxic_names_follow_toxiproxy_defaults() -> None:
    """Default toxic names are <type>_<stream>; a given name gets a stream suffix only for both."""
    assert Latency(API, "pg", 1, direction="both").toxic_names() == {
        "upstream": "latency_upstream", "downstream": "latency_downstream"}
    assert Latency(API, "pg", 1, name="slow").toxic_names() == {"downstream": "slow"}
    assert Latency(API, "pg", 1, name="slow", direction="both").toxic_names() == {
        "upstream": "slow_upstream", "downstream": "slow_downstream"}


@pytest.mark.parametrize(("build", "message"), [
    (lambda: Latency(API, "pg", -1), "latency_ms must be >= 0"),
    (lambda: Latency(API, "pg", 1.5), "latency_ms must be an integer"),  # type: ignore[arg-type]
    (lambda: Bandwidth(API, "pg", 0), "rate_kbps must be >= 1"),
    (lambda: Bandwidth(API, "pg", -5), "rate_kbps must be >= 1"),
    (lambda: Slicer(API, "pg", 0), "average_size_bytes must be >= 1"),
    (lambda: Slicer(API, "pg", 5, 5), "must be below average_size_bytes"),
    (lambda: Timeout(API, "pg", 10, direction="sideways"), "direction must be one of"),
    (lambda: Timeout(API, "pg", 10, toxicity=1.5), "toxicity must be a probability"),
    (lambda: Down(API, ""), "proxy must be a non-empty proxy name"),
])
def test_bad_arguments_are_refused_on_construction(build, message: str) -> None:
    """Arguments that Toxiproxy would reject, stall on or crash on fail early with one line."""
    with pytest.raises(ValueError, match=message) as caught:
        build()
    assert "\n" not in str(caught.value)


@dataclass(frozen=True, eq=False)
class NoProbe(Switches):
    """A fault kind that never says how to show its effect."""

    kind: ClassVar[str] = "no_probe"

    def _check_effect(self) -> Effect:
        return Fault._check_effect(self)


@dataclass(frozen=True, eq=False)
class BrokenProbe(Switches):
    """A fault whose probe raises."""

    kind: ClassVar[str] = "broken_probe"

    def _check_effect(self) -> Effect:
        raise OSError("probe socket exploded")


def test_an_effect_not_shown_is_a_failed_probe_op_and_on_the_record() -> None:
    """A fault whose effect cannot be shown stays injected, and says so in a failed probe op."""
    history = History()
    records: list[FaultRecord] = []
    board = Board()
    with Switches(board, history=history, records=records):
        board.second = False  # pretend the second switch never turned: the probe must notice
    assert (records[0].in_effect, records[0].evidence) == (True, "both switches on")
    for cls, why in ((NoProbe, "no probe of its effect exists for fault kind 'no_probe'"),
                     (BrokenProbe, "the probe of its effect failed: OSError: probe socket exploded")):
        history = History()
        records = []
        with cls(Board(), history=history, records=records):
            pass
        probe = [op for op in history.ops if op.f == "probe"]
        assert [op.type for op in probe] == ["invoke", "fail"] and probe[1].error == why
        assert (records[0].in_effect, records[0].evidence) == (False, why)
        assert records[0].healed_at is not None


def test_the_probe_runs_after_the_injection_and_sees_its_result() -> None:
    """The probe sees the world as the injection left it: a half-done board is not in effect."""
    board = Board()
    fault = Switches(board)
    fault.inject()
    assert fault.record.in_effect is True
    fault.heal()
    board2 = Board()

    @dataclass(frozen=True, eq=False)
    class Half(Switches):
        def _inject(self) -> None:
            self.board.first = True

    half = Half(board2)
    half.inject()
    assert half.record.in_effect is False and half.record.evidence == "a switch is off"
    half.heal()
