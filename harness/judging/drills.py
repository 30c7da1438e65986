"""Drill runs read from a History: each drill's steps with their times, and the drill measures
(RTO of a restore, writes lost before the restore point, writes present from after it). Pure
functions of the history's ``drill`` ops (harness/drills/base.py writes them); definitions in
harness/judging/checkers.py's module docstring.

    for run in drill_runs(history): print(run.name, run.durations_s(), run.backup_bytes)
    drill_rto(history)                                  # Measurement in s
    restore_point_loss(history, observed_ids, f="insert")
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from harness.history import DRILL, History
from harness.judging.phases import FOp, client_pairs
from harness.judging.verdicts import Measurement, format_number


@dataclass(frozen=True)
class DrillStep:
    """One step of a drill: when it began and ended (run seconds), how, and what it reported."""

    f: str
    started_at: float
    finished_at: float | None
    outcome: str            # ok | fail | info | pending (never completed)
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def duration_s(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.started_at


@dataclass(frozen=True)
class DrillRun:
    """Every step of one drill (one ``name``), in the order they began."""

    name: str
    kind: str
    target: str
    steps: tuple[DrillStep, ...]

    def step(self, f: str) -> DrillStep | None:
        """The latest step called ``f``."""
        return next((s for s in reversed(self.steps) if s.f == f), None)

    @property
    def outcome(self) -> str:
        """``ok`` when every step ended ok and it was verified, ``fail`` when a step failed, else ``incomplete``."""
        if any(s.outcome != "ok" for s in self.steps):
            return "fail"
        verified = self.step("verify")
        return "ok" if verified is not None and verified.outcome == "ok" else "incomplete"

    @property
    def backup_bytes(self) -> int | None:
        backup = self.step("backup")
        size = (backup.details or {}).get("bytes") if backup is not None else None
        return int(size) if isinstance(size, (int, float)) else None

    def durations_s(self) -> dict[str, float | None]:
        """Seconds each step took (the latest of each name)."""
        return {s.f: (None if s.duration_s is None else round(s.duration_s, 3)) for s in self.steps}

    def to_dict(self) -> dict[str, Any]:
        """The report's drill record."""
        return {"name": self.name, "kind": self.kind, "target": self.target, "outcome": self.outcome,
                "backup_bytes": self.backup_bytes, "durations_s": self.durations_s(),
                "steps": [{"step": s.f, "started_at": s.started_at, "finished_at": s.finished_at,
                           "outcome": s.outcome, "error": s.error} for s in self.steps]}


def drill_runs(history: History) -> list[DrillRun]:
    """Every drill in the history, in the order each began."""
    grouped: dict[str, list[DrillStep]] = {}
    meta: dict[str, tuple[str, str]] = {}
    for invoke, done in history.pairs():
        if invoke.process != DRILL:
            continue
        value = invoke.value if isinstance(invoke.value, dict) else {"name": str(invoke.value or "drill")}
        name = str(value.get("name", "drill"))
        meta.setdefault(name, (str(value.get("kind", "")), str(value.get("target", ""))))
        details = {k: v for k, v in (done.value or {}).items() if k not in ("name", "kind", "target")} \
            if done is not None and done.type == "ok" and isinstance(done.value, dict) else {}
        grouped.setdefault(name, []).append(DrillStep(
            invoke.f, invoke.time, None if done is None else done.time,
            "pending" if done is None else done.type, details, None if done is None else done.error))
    return [DrillRun(name, *meta[name], tuple(steps)) for name, steps in grouped.items()]


def _t(seconds: float) -> str:
    return f"t={format_number(seconds)} s"


def _latest(history: History) -> DrillRun | None:
    runs = drill_runs(history)
    return runs[-1] if runs else None


def drill_rto(history: History) -> Measurement:
    """Seconds from the invoke of the latest drill's ``disaster`` to the ok completion of its ``verify``."""
    run = _latest(history)
    disaster = run.step("disaster") if run else None
    if run is None or disaster is None:
        return Measurement(None, "s", "no drill disaster in the history")
    verify = run.step("verify")
    if verify is None or verify.outcome != "ok" or verify.finished_at is None:
        end = history.end_time()
        how = "never verified" if verify is None else f"verify ended {verify.outcome}"
        return Measurement(None, "s", f"{run.name} disaster at {_t(disaster.started_at)}, restore {how} "
                           f"by {_t(end)}", at_least=end - disaster.started_at)
    failed = next((s for s in run.steps if s.outcome != "ok" and s.started_at >= disaster.started_at), None)
    if failed is not None:
        return Measurement(None, "s", f"{run.name} step {failed.f} ended {failed.outcome}: {failed.error}")
    return Measurement(verify.finished_at - disaster.started_at, "s",
                       f"{run.name} disaster at {_t(disaster.started_at)}, restored service answered verified "
                       f"reads at {_t(verify.finished_at)}")


@dataclass(frozen=True)
class RestorePointLoss:
    """Writes judged against a restore point: lost from before it, present from after it."""

    lost_before: frozenset
    present_after: frozenset
    before: int           # acknowledged before the restore point
    after: int            # invoked after the restore point
    at: tuple[float, float] | None   # the restore point op's (invoke, completion) times
    name: str


def restore_point_loss(history: History, observed: Iterable[Any], *, f: FOp = None) -> RestorePointLoss | None:
    """Compare the writes with the read-back around the latest drill's ``restore_point`` op (None: no such op)."""
    run = _latest(history)
    point = run.step("restore_point") if run else None
    if run is None or point is None or point.outcome != "ok" or point.finished_at is None:
        return None
    seen = frozenset(observed)
    writes = client_pairs(history, f if f is not None else ("insert", "write", "set", "add"))
    acked_before = {i.value for i, c in writes if c is not None and c.type == "ok" and c.time <= point.started_at}
    invoked_before = {i.value for i, _ in writes if i.time < point.finished_at}
    after = {i.value for i, _ in writes if i.time >= point.finished_at} - invoked_before
    return RestorePointLoss(frozenset(acked_before - seen), frozenset(after & seen), len(acked_before),
                            len(after), (point.started_at, point.finished_at), run.name)


def _ids(ids: frozenset) -> str:
    items = sorted(ids, key=repr)
    return ", ".join(map(str, items[:6])) + (f", ... ({len(items)} in all)" if len(items) > 6 else "")


def lost_before_restore_point(loss: RestorePointLoss | None) -> Measurement:
    """Acknowledged writes completed before the restore point that the restore does not hold."""
    if loss is None:
        return Measurement(None, "writes", "no drill restore point in the history")
    where = f"{loss.name} restore point at {_t(loss.at[0])}"
    if not loss.before:
        return Measurement(None, "writes", f"no write was acknowledged before the {where}")
    if loss.lost_before:
        return Measurement(float(len(loss.lost_before)), "writes", f"{len(loss.lost_before)} of {loss.before} "
                           f"writes acknowledged before the {where} are missing after the restore "
                           f"(ids {_ids(loss.lost_before)})")
    return Measurement(0.0, "writes", f"all {loss.before} writes acknowledged before the {where} were restored")


def present_after_restore_point(loss: RestorePointLoss | None) -> Measurement:
    """Writes invoked after the restore point that the restore nevertheless holds."""
    if loss is None:
        return Measurement(None, "writes", "no drill restore point in the history")
    where = f"{loss.name} restore point (ended {_t(loss.at[1])})"
    if not loss.after:
        return Measurement(None, "writes", f"no write was invoked after the {where}, so none could leak in")
    if loss.present_after:
        return Measurement(float(len(loss.present_after)), "writes", f"{len(loss.present_after)} of {loss.after} "
                           f"writes invoked after the {where} are present after the restore "
                           f"(ids {_ids(loss.present_after)})")
    return Measurement(0.0, "writes", f"none of the {loss.after} writes invoked after the {where} is present")
