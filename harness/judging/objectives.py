"""The objectives file: documented recovery/degradation limits, loaded and validated once.

``objectives.toml`` at the repo root holds one table per objective::

    [objectives.pg-kill-durability]
    description = "A SIGKILLed PostgreSQL loses no acknowledged insert."
    owner = "team-data"
    runbook = "docs/runbooks/pg-restart.md"
    [objectives.pg-kill-durability.limits]
    rpo_lost_writes = "0 writes"
    rto = "30 s"

Every limit value is a string with a unit: ``ms``, ``s`` or ``min`` for durations, ``writes``
for counts, ``%`` for rates. Limit names (see ``LIMIT_HELP``): ``rto``, ``rto_from_inject``,
``rpo``, ``rpo_lost_writes``, ``unexpected_writes``, ``steady_state_after_heal``,
``outage_accuracy``, ``drill_rto``, ``lost_before_restore_point``, ``writes_after_restore_point``,
``max_error_rate_<phase>``, ``min_availability_<phase>``, ``max_5xx_rate_<phase>``,
``max_degraded_rate_<phase>``, ``max_unclean_error_rate_<phase>``, ``min_achieved_rate_<phase>`` and ``latency_p<NN>_<phase>`` (a maximum; append ``_min`` for a minimum), with ``<phase>`` one of
``before_fault``, ``during_fault``, ``after_fault``. Latency limits are kept in ms, other
durations in s. Any mistake is a ConfigError of one line naming the file, the line or key path,
and the fix.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "objectives.toml"
PHASES = ("before", "during", "after")
OBJECTIVE_KEYS = ("description", "owner", "runbook", "limits")
REQUIRED_KEYS = ("description", "owner")

_DURATION_TO_S = {"ms": 0.001, "s": 1.0, "min": 60.0}
_UNITS = {"duration": ("ms, s or min", _DURATION_TO_S), "count": ("writes", {"writes": 1.0, "write": 1.0}),
          "rate": ("%", {"%": 1.0})}
# name -> (metric, kind, canonical unit, bound)
_FIXED: dict[str, tuple[str, str, str, str]] = {
    "rto": ("rto", "duration", "s", "max"),
    "rto_from_inject": ("rto_from_inject", "duration", "s", "max"),
    "rpo": ("rpo", "duration", "s", "max"),
    "rpo_lost_writes": ("rpo_lost_writes", "count", "writes", "max"),
    "unexpected_writes": ("unexpected_writes", "count", "writes", "max"),
    "steady_state_after_heal": ("steady_state_after_heal", "duration", "s", "max"),
    "outage_accuracy": ("outage_accuracy", "duration", "s", "max"),
    "drill_rto": ("drill_rto", "duration", "s", "max"),
    "lost_before_restore_point": ("lost_before_restore_point", "count", "writes", "max"),
    "writes_after_restore_point": ("writes_after_restore_point", "count", "writes", "max"),
}
_RATE = re.compile(r"^(max_error_rate|min_availability|max_5xx_rate|max_degraded_rate|min_achieved_rate"
                   r"|max_unclean_error_rate)"
                   r"_(before|during|after)_fault$")
# prefix -> (metric, bound) of the per-phase rate limits
_RATE_METRICS = {"max_error_rate": ("error_rate", "max"), "min_availability": ("availability", "min"),
                 "max_5xx_rate": ("http_5xx_rate", "max"), "max_degraded_rate": ("degraded_rate", "max"),
                 "min_achieved_rate": ("achieved_rate", "min"),
                 "max_unclean_error_rate": ("unclean_error_rate", "max")}
_LATENCY = re.compile(r"^latency_p(\d{1,4})_(before|during|after)_fault(_min|_max)?$")
_VALUE = re.compile(r"\s*(?P<number>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(?P<unit>[A-Za-z%]+)?\s*")
LIMIT_HELP = ", ".join([*_FIXED, "max_error_rate_<phase>", "min_availability_<phase>",
                        "max_5xx_rate_<phase>", "max_degraded_rate_<phase>", "max_unclean_error_rate_<phase>",
                        "min_achieved_rate_<phase>", "latency_p<NN>_<phase>[_min]"])
_EXAMPLES = [*_FIXED, "max_error_rate_during_fault", "min_availability_after_fault",
             "max_5xx_rate_during_fault", "max_degraded_rate_after_fault", "min_achieved_rate_during_fault",
             "max_unclean_error_rate_during_fault",
             "latency_p99_during_fault", "latency_p50_during_fault_min"]


@dataclass(frozen=True)
class Limit:
    """One limit of an objective, in its canonical unit (latency in ms, durations in s, %, writes)."""

    name: str            # the key as written, e.g. "latency_p99_during_fault"; the verdict's metric
    metric: str          # "rto", "latency", "error_rate", "availability", ...
    bound: str           # "max" (measured must be <= value) or "min" (measured must be >= value)
    value: float
    unit: str
    text: str            # as written, e.g. "250 ms"
    phase: str | None = None       # "before" | "during" | "after" for phase metrics
    quantile: float | None = None  # 0.99 for p99

    def __str__(self) -> str:
        return f'{self.name} = "{self.text}"'


@dataclass(frozen=True)
class Objective:
    """A documented objective: who owns it, what to do when it breaks, and its limits."""

    id: str
    description: str
    owner: str
    runbook: str
    limits: tuple[Limit, ...]

    def limit(self, name: str) -> Limit:
        """The limit called ``name`` (KeyError if the objective has none)."""
        for item in self.limits:
            if item.name == name:
                return item
        raise KeyError(f"objective {self.id!r} has no limit {name!r}")

    def __str__(self) -> str:
        return self.id


class Objectives(Mapping[str, Objective]):
    """The loaded file: a read-only mapping id -> Objective, remembering ``path``."""

    def __init__(self, path: Path, objectives: Mapping[str, Objective]) -> None:
        self.path = path
        self._by_id = dict(objectives)

    def __getitem__(self, key: str) -> Objective:
        return self._by_id[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def require(self, ids: Iterable[str] | str, *, where: str) -> list[Objective]:
        """The objectives ``where`` (e.g. a scenario node id) names; ConfigError for one the file lacks."""
        wanted = [ids] if isinstance(ids, str) else list(ids)
        for ident in wanted:
            if ident not in self._by_id:
                near = difflib.get_close_matches(ident, list(self._by_id), n=1)
                hint = f" (did you mean '{near[0]}'?)" if near else ""
                raise ConfigError(f"objective '{ident}' named by {where} is not in {self.path.name}",
                                  fix=f"add it or fix the name{hint}")
        return [self._by_id[ident] for ident in wanted]


def parse_limit(name: str, raw: Any) -> Limit:
    """The Limit ``name = raw`` describes; ValueError(problem, fix) when it cannot be one."""
    metric, kind, unit, bound, phase, quantile = _classify(name)
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise _Bad(f"{type(raw).__name__} is not a limit", f'write it as a string with a unit, e.g. {name} = "5 s"')
    if not isinstance(raw, str):
        raise _Bad("missing unit", f'write it as a string with a unit, e.g. {name} = "{raw} {unit}"')
    accepted, factors = _UNITS[kind]
    match = _VALUE.fullmatch(raw)
    if not match:
        raise _Bad(f'"{raw}" is not a number with a unit', f'write e.g. {name} = "5 {unit}"')
    number, unit_text = float(match["number"]), match["unit"]
    if unit_text is None:
        raise _Bad("missing unit", f"add one: {accepted}")
    if unit_text not in factors:
        known = {u for _, table in _UNITS.values() for u in table}
        problem = (f'unit "{unit_text}" does not fit this limit' if unit_text in known
                   else f'unknown unit "{unit_text}"')
        raise _Bad(problem, f"use {accepted}")
    if number < 0:
        raise _Bad("negative limit", "limits are 0 or more")
    if kind == "rate" and number > 100:
        raise _Bad("rate above 100 %", "use a percentage from 0 to 100")
    value = number * factors[unit_text]
    if kind == "duration" and unit == "ms":
        value = value * 1000.0
    return Limit(name=name, metric=metric, bound=bound, value=round(value, 9), unit=unit,
                 text=raw.strip(), phase=phase, quantile=quantile)


class _Bad(ValueError):
    """A limit problem: ``problem`` and ``fix`` become one ConfigError line."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.problem, self.fix = problem, fix


def _classify(name: str) -> tuple[str, str, str, str, str | None, float | None]:
    if name in _FIXED:
        metric, kind, unit, bound = _FIXED[name]
        return metric, kind, unit, bound, None, None
    if match := _RATE.match(name):
        metric, bound = _RATE_METRICS[match[1]]
        return metric, "rate", "%", bound, match[2], None
    if match := _LATENCY.match(name):
        digits = match[1]
        percent = 100.0 if digits == "100" else float(digits[:2] + "." + digits[2:])
        if not 0 < percent <= 100:
            raise _Bad(f'quantile "p{digits}" is out of range', "use p50, p90, p99, p999 or similar")
        bound = "min" if match[3] == "_min" else "max"
        return "latency", "duration", "ms", bound, match[2], round(percent / 100.0, 9)
    near = difflib.get_close_matches(name, _EXAMPLES, n=1)
    hint = f'did you mean "{near[0]}"? ' if near else ""
    raise _Bad(f'unknown limit "{name}"', f"{hint}supported: {LIMIT_HELP}")


def _display(path: Path) -> str:
    """The path relative to the working directory when it is under it, else as given."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_objectives(path: str | Path = DEFAULT_PATH) -> Objectives:
    """Read and validate the objectives file; ConfigError (one line) on the first problem."""
    path = Path(path)
    label = _display(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{label}: objectives file not found (looked for {path.absolute()})",
                          fix="create one with `dr-harness init` (it writes objectives.toml and an example "
                              "scenario, overwriting nothing), or pass --objectives PATH") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{label}: cannot read the objectives file ({exc})",
                          fix="fix its permissions or encoding") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        at = re.search(r"\(at line (\d+), column (\d+)\)", message)
        problem = re.sub(r"\s*\(at .*?\)\s*$", "", message)
        location = f"{label}:{at[1]}:{at[2]}" if at else label
        raise ConfigError(f"{location}: TOML syntax error: {problem}",
                          fix='fix that line (keys look like rto = "5 s", tables like [objectives.<id>])') from exc
    return Objectives(path, _validate(label, text, data))


def _validate(path: str, text: str, data: dict[str, Any]) -> dict[str, Objective]:
    def fail(table: str, key: str | None, problem: str, fix: str, shown: str | None = None) -> ConfigError:
        line = _find_line(text, table, key)
        where = f"{path}:{line}" if line else str(path)
        subject = f"[{table}] {shown or key}" if key else f"[{table}]"
        return ConfigError(f"{where}: {subject}: {problem}", fix=fix)

    for key in data:
        if key != "objectives":
            raise ConfigError(f'{path}: unknown top-level key "{key}"',
                              fix="put every objective under [objectives.<id>]")
    tables = data.get("objectives")
    if not isinstance(tables, dict) or not tables:
        raise ConfigError(f"{path}: no objectives",
                          fix="add at least one [objectives.<id>] table with description, owner and limits")
    result: dict[str, Objective] = {}
    for ident, body in tables.items():
        table = f"objectives.{ident}"
        if not isinstance(body, dict):
            raise fail("objectives", ident, "is not a table",
                       f"write it as [{table}] with description, owner and limits")
        for key in body:
            if key not in OBJECTIVE_KEYS:
                raise fail(table, key, f'unknown key "{key}"', f"allowed keys: {', '.join(OBJECTIVE_KEYS)}")
        for key in REQUIRED_KEYS:
            value = body.get(key)
            if not isinstance(value, str) or not value.strip():
                raise fail(table, None, f'missing "{key}"', f'add {key} = "..." (a non-empty string)')
        runbook = body.get("runbook", "")
        if not isinstance(runbook, str):
            raise fail(table, "runbook", "is not a string", 'write runbook = "path or URL"')
        raw_limits = body.get("limits")
        if not isinstance(raw_limits, dict) or not raw_limits:
            raise fail(table, None, "has no limits", f'add [{table}.limits] with at least one limit, e.g. rto = "5 s"')
        limits = []
        for name, raw in raw_limits.items():
            shown = f'{name} = "{raw}"' if isinstance(raw, str) else f"{name} = {raw!r}"
            try:
                limits.append(parse_limit(name, raw))
            except _Bad as bad:
                raise fail(f"{table}.limits", name, bad.problem, bad.fix, shown) from None
        _check_ranges(limits, lambda name, problem, fix: fail(f"{table}.limits", name, problem, fix))
        result[ident] = Objective(id=ident, description=body["description"].strip(), owner=body["owner"].strip(),
                                  runbook=runbook.strip(), limits=tuple(limits))
    return result


def _check_ranges(limits: list[Limit], fail: Any) -> None:
    """A latency minimum above the maximum for the same quantile and phase can never pass."""
    by_key = {(item.metric, item.phase, item.quantile, item.bound): item for item in limits}
    for (metric, phase, quantile, bound), low in by_key.items():
        high = by_key.get((metric, phase, quantile, "max"))
        if bound == "min" and high is not None and low.value > high.value:
            raise fail(low.name, f'minimum "{low.text}" is above the maximum {high.name} = "{high.text}"',
                       "lower the minimum or raise the maximum")


def _find_line(text: str, table: str, key: str | None) -> int | None:
    """Best effort: the 1-based line of ``key`` in ``[table]`` (or of the header), else None."""
    parts = table.split(".")
    header = re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(rf'(?:{re.escape(p)}|"{re.escape(p)}")' for p in parts)
                        + r"\s*\]\s*(#.*)?$")
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        if header.match(line):
            if key is None:
                return number
            key_re = re.compile(rf'^\s*(?:{re.escape(key)}|"{re.escape(key)}")\s*=')
            for offset, candidate in enumerate(lines[number:], start=number + 1):
                if candidate.lstrip().startswith("["):
                    break
                if key_re.match(candidate):
                    return offset
            return number
    return None
