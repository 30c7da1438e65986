"""The run's history: an append-only, thread-safe record of operations (record first, judge later).

Every operation is an ``invoke`` followed by exactly one completion: ``ok`` (it happened),
``fail`` (it definitely did not happen) or ``info`` (unknown: e.g. a timeout after the request
was sent). Operations that never complete stay un-paired. An attempt the harness scheduled but
could not send (every client busy) is an invoke at its scheduled time completed ``not-sent``
(``NOT_SENT``, ``error`` says why): it is no service outcome, checkers leave it out of error
rates and latencies and count it only in the achieved rate (harness/judging/rates.py). Fault injections and heals are ops of
process ``"nemesis"`` (``f="inject"``/``"heal"``, ``value={"name", "kind", "target"}``); drill
steps are ops of process ``"drill"``. Times are seconds on the run's monotonic clock: ``now()``
is ``time.monotonic()`` minus the moment this module was first imported.

    h = History()
    op = h.invoke(process="pg-writer", f="insert", value=17)
    h.complete(op, "ok")                      # or "fail"/"info", error="OperationalError: ..."
    for invoke, completion in h.pairs(): ...
    h.write_jsonl("reports/run/history.jsonl"); History.read_jsonl(...)

Checkers read histories and never touch Docker; see harness/judging/checkers.py.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

RUN_START: float = time.monotonic()
"""``time.monotonic()`` at import: the zero of every time in every history of this run."""

INVOKE = "invoke"
COMPLETIONS = ("ok", "fail", "info")
NOT_SENT = "not-sent"
"""The completion of an attempt that was scheduled but never sent: not an outcome of the service."""
NEMESIS = "nemesis"
DRILL = "drill"
_UNSET: Any = object()


def now() -> float:
    """Seconds since the run started, on the monotonic clock."""
    return time.monotonic() - RUN_START


@dataclass(frozen=True)
class Op:
    """One history entry: an invoke or the completion of one (``invoke_index`` points back)."""

    index: int
    time: float
    process: str
    type: str  # "invoke" | "ok" | "fail" | "info"
    f: str
    value: Any = None
    error: str | None = None
    invoke_index: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The op as a plain dict (the JSON-lines record)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Op:
        """The op a ``to_dict()`` record describes."""
        return cls(index=int(data["index"]), time=float(data["time"]), process=str(data["process"]),
                   type=str(data["type"]), f=str(data["f"]), value=data.get("value"),
                   error=data.get("error"), invoke_index=data.get("invoke_index"))

    def __str__(self) -> str:
        text = f"#{self.index} t={self.time:.3f} {self.process} {self.type} {self.f} {self.value!r}"
        return text + (f" ({self.error})" if self.error else "")


def _json_default(value: Any) -> Any:
    """Sets become sorted lists where possible; anything else not JSON-able becomes its repr."""
    if isinstance(value, (set, frozenset)):
        try:
            return sorted(value)
        except TypeError:
            return [repr(v) for v in value]
    return repr(value)


class History:
    """Append-only, thread-safe operation log; ``ops`` is an immutable snapshot.

    ``time=`` on ``invoke``/``complete`` overrides the clock; it exists for hand-built
    histories in tests and for replaying recorded runs.
    """

    def __init__(self, ops: Iterable[Op] = ()) -> None:
        self._lock = threading.Lock()
        self._ops: list[Op] = list(ops)
        self._completed: set[int] = {o.invoke_index for o in self._ops if o.invoke_index is not None}

    def invoke(self, process: str, f: str, value: Any = None, *, time: float | None = None) -> Op:
        """Record that ``process`` starts operation ``f`` with ``value``; returns the invoke op."""
        with self._lock:
            op = Op(index=len(self._ops), time=now() if time is None else float(time),
                    process=process, type=INVOKE, f=f, value=value)
            self._ops.append(op)
            return op

    def complete(self, op: Op, type: str, *, value: Any = _UNSET, error: str | None = None,
                 time: float | None = None) -> Op:
        """Record the outcome of invoke ``op``; ``value`` defaults to the invoke's value."""
        if type not in COMPLETIONS and type != NOT_SENT:
            raise ValueError(f"completion type {type!r} is not one of {', '.join(COMPLETIONS)}, {NOT_SENT}")
        if op.type != INVOKE:
            raise ValueError(f"op #{op.index} is a {op.type!r}, not an invoke; complete the invoke op")
        with self._lock:
            if op.index >= len(self._ops) or self._ops[op.index] != op:
                raise ValueError(f"op #{op.index} does not belong to this history")
            if op.index in self._completed:
                raise ValueError(f"op #{op.index} ({op.process} {op.f}) was already completed")
            done = Op(index=len(self._ops), time=now() if time is None else float(time),
                      process=op.process, type=type, f=op.f,
                      value=op.value if value is _UNSET else value, error=error,
                      invoke_index=op.index)
            self._ops.append(done)
            self._completed.add(op.index)
            return done

    def not_sent(self, process: str, f: str, value: Any = None, *, scheduled_at: float,
                 reason: str) -> Op:
        """Record an attempt scheduled at ``scheduled_at`` that was never sent; returns the completion."""
        op = self.invoke(process, f, value, time=scheduled_at)
        return self.complete(op, NOT_SENT, error=reason)

    @property
    def ops(self) -> tuple[Op, ...]:
        """A snapshot of every op so far, in index order."""
        with self._lock:
            return tuple(self._ops)

    def __len__(self) -> int:
        with self._lock:
            return len(self._ops)

    def pairs(self) -> list[tuple[Op, Op | None]]:
        """Each invoke with its completion (``None`` if it never completed), in invoke order."""
        ops = self.ops
        completion = {o.invoke_index: o for o in ops if o.invoke_index is not None}
        return [(o, completion.get(o.index)) for o in ops if o.type == INVOKE]

    def end_time(self) -> float:
        """The time of the latest op (0.0 for an empty history)."""
        return max((o.time for o in self.ops), default=0.0)

    def write_jsonl(self, path: str | Path) -> Path:
        """Write one JSON object per op; values that JSON cannot hold are written as their repr."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps(o.to_dict(), default=_json_default, sort_keys=True) for o in self.ops]
        target.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return target

    @classmethod
    def read_jsonl(cls, path: str | Path) -> History:
        """The history a ``write_jsonl`` file holds (tuples come back as lists, sets as sorted lists)."""
        text = Path(path).read_text(encoding="utf-8")
        return cls(Op.from_dict(json.loads(line)) for line in text.splitlines() if line.strip())
