"""The fault contract: an immutable description that injects on enter and heals on exit.

A ``Fault`` is a frozen dataclass (its fields describe *what* goes wrong, with units in their
names) plus a small mutable state (injected or not, its record). Concrete faults implement two
verbs, ``_inject`` and ``_heal``; this base supplies the rest:

* ``with fault:`` injects on enter and heals on exit, also when the body raises and also when
  the injection itself failed halfway (``_heal`` must therefore cope with a partial injection).
* ``heal()`` is idempotent: healing a fault that is not injected does nothing, so a teardown
  may heal again. A heal that raises leaves the fault injected, so it can be retried.
* ``inject()`` / ``heal()`` may be called directly as well.
* Each injection appends a ``FaultRecord`` to ``records`` (if given) and writes
  ``nemesis`` ops to ``history`` (if given): ``invoke inject {name, kind, target}`` then
  ``ok`` or ``fail``; the same for ``heal``. ``injected_at`` is when injection began and
  ``healed_at`` when healing finished, so the record spans every moment the fault could act.
* Once injected, the fault shows that it is in effect: ``_check_effect`` probes the fault's own
  effect (a connection through a disabled proxy is refused, a killed container is not running,
  a latency toxic slows a probe's round trip) and the result is recorded as a ``nemesis``
  ``probe`` op: ``ok`` with the evidence as its value, or ``fail`` with why it could not be
  shown. Checkers judge a fault window only when its probe was ``ok``; a fault kind without a
  probe, or a probe that raises, is "not shown in effect" and its verdicts are unknown.
* ``str(fault)`` is the label used as pytest id and timeline label:
  ``latency(postgres, 300ms±50, downstream)``.

    with Latency(api, "postgres", 300, 50, history=h, records=faults):
        run_workload_for(10)
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar

from harness.history import History, Op, now

NEMESIS_PROCESS = "nemesis"


@dataclass
class FaultRecord:
    """When one injection of a fault began and when its heal finished (run-clock seconds)."""

    name: str
    kind: str
    target: str
    injected_at: float | None = None
    healed_at: float | None = None
    in_effect: bool | None = None  # None until probed
    evidence: str | None = None    # one line: what the probe saw

    def to_dict(self) -> dict[str, Any]:
        """The record as the report's ``faults`` entry (DESIGN's keys, then the evidence)."""
        return {"name": self.name, "kind": self.kind, "target": self.target,
                "injected_at": self.injected_at, "healed_at": self.healed_at,
                "in_effect": self.in_effect, "evidence": self.evidence}


@dataclass(frozen=True)
class Effect:
    """What a probe of a fault's own effect found: shown in effect or not, and the one-line evidence."""

    in_effect: bool
    evidence: str


class _FaultState:
    """The only mutable part of a fault: whether it is injected, and its latest record."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.injected = False
        self.record: FaultRecord | None = None


@dataclass(frozen=True, eq=False)
class Fault(ABC):
    """Base of all faults; subclasses set ``kind`` and implement ``_inject``/``_heal``/``_describe``."""

    kind: ClassVar[str] = "fault"

    history: History | None = field(default=None, kw_only=True, repr=False)
    records: list[FaultRecord] | None = field(default=None, kw_only=True, repr=False)
    _state: _FaultState = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_state", _FaultState())
        self._validate()

    # -- what subclasses provide -----------------------------------------------------------------

    def _validate(self) -> None:
        """Raise ValueError (one line) for a bad argument; called on construction."""

    @property
    @abstractmethod
    def target(self) -> str:
        """What the fault acts on (a proxy or container name)."""

    @abstractmethod
    def _describe(self) -> str:
        """The parameters part of the label, e.g. ``300ms±50, downstream``."""

    @abstractmethod
    def _inject(self) -> None:
        """Make the fault happen."""

    @abstractmethod
    def _heal(self) -> None:
        """Undo the fault; must cope with an injection that failed halfway."""

    def _check_effect(self) -> Effect:
        """Probe the fault's own effect right after injection (bounded in time; may raise)."""
        return Effect(False, f"no probe of its effect exists for fault kind {self.kind!r}")

    # -- the contract ------------------------------------------------------------------------------

    def __str__(self) -> str:
        details = self._describe()
        return f"{self.kind}({self.target}{', ' + details if details else ''})"

    @property
    def injected(self) -> bool:
        """True between the start of ``inject()`` and the end of a successful ``heal()``."""
        return self._state.injected

    @property
    def record(self) -> FaultRecord | None:
        """The record of the latest injection (None before the first)."""
        return self._state.record

    def _op_value(self) -> dict[str, str]:
        return {"name": str(self), "kind": self.kind, "target": self.target}

    def _begin(self, step: str) -> Op | None:
        """Write the invoke op of ``step`` ("inject"/"heal") when recording to a history."""
        if self.history is None:
            return None
        return self.history.invoke(NEMESIS_PROCESS, step, self._op_value())

    def _finish(self, op: Op | None, exc: BaseException | None = None) -> float:
        """Complete ``op`` as ok (or fail with ``exc``); returns the completion's time."""
        if self.history is None or op is None:
            return now()
        if exc is not None:
            return self.history.complete(op, "fail", error=f"{type(exc).__name__}: {exc}").time
        return self.history.complete(op, "ok").time

    def inject(self) -> None:
        """Inject the fault; if this raises, the fault counts as injected so ``heal()`` undoes it."""
        with self._state.lock:
            if self._state.injected:
                raise RuntimeError(f"{self} is already injected; heal it before injecting again")
            op = self._begin("inject")
            record = FaultRecord(name=str(self), kind=self.kind, target=self.target,
                                 injected_at=op.time if op is not None else now())
            self._state.record = record
            self._state.injected = True
            if self.records is not None:
                self.records.append(record)
            try:
                self._inject()
            except BaseException as exc:
                self._finish(op, exc)
                raise
            self._finish(op)
            self._probe(record)

    def _probe(self, record: FaultRecord) -> Effect:
        """Check the fault is in effect; record the evidence as a ``probe`` op and on the record."""
        op = self.history.invoke(NEMESIS_PROCESS, "probe", self._op_value()) if self.history else None
        try:
            effect = self._check_effect()
        except Exception as exc:  # a probe that breaks is no evidence, never a reason to abort
            effect = Effect(False, f"the probe of its effect failed: {type(exc).__name__}: {exc}")
        evidence = " ".join(effect.evidence.split())
        record.in_effect, record.evidence = effect.in_effect, evidence
        if self.history is not None and op is not None:
            if effect.in_effect:
                self.history.complete(op, "ok", value=evidence)
            else:
                self.history.complete(op, "fail", error=evidence)
        return effect

    def heal(self) -> None:
        """Undo the fault; does nothing when it is not injected (idempotent)."""
        with self._state.lock:
            if not self._state.injected:
                return
            op = self._begin("heal")
            try:
                self._heal()
            except BaseException as exc:
                self._finish(op, exc)
                raise
            healed_at = self._finish(op)
            self._state.injected = False
            if self._state.record is not None:
                self._state.record.healed_at = healed_at

    def __enter__(self) -> Fault:
        try:
            self.inject()
        except BaseException as exc:
            self._heal_noting_failure(exc)
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is None:
            self.heal()
        else:
            self._heal_noting_failure(exc)

    def _heal_noting_failure(self, original: BaseException) -> None:
        """Heal while ``original`` propagates; a heal failure becomes a note on it, not a mask."""
        try:
            self.heal()
        except Exception as heal_exc:  # the original error stays the one raised
            original.add_note(f"and healing {self} also failed: {type(heal_exc).__name__}: {heal_exc}")
