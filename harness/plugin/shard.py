"""``--shard I/N``: a deterministic, duration-balanced share of the collected tests for CI runner I of N.

The weight of a test is what it cost in the newest earlier runs: ``read_durations`` reads the
``report.json`` of the newest ``RECENT_RUNS`` (5) run folders of the reports dir and takes, per node
id without its ``[repeatKofN]`` suffix, the median of every recorded ``duration_s`` (plus the
harness's own ``setup_s`` and ``teardown_s`` where a report has them; every repeat pooled). A median
of a few nights rather than the newest value, so one slow night does not reshuffle the split. A test
with no recorded duration weighs the median of the known ones; when nothing is known every test
weighs 1 and the split balances the count.

``plan`` is longest-processing-time greedy: tests by weight, heaviest first (ties by node id), each
to the shard with the least weight so far (ties to the lowest shard index). It depends only on the
ids and the durations read, so the controller and every pytest-xdist worker that read the same reports
dir compute the same split; ``digest`` names the split, and ``dr-harness report merge`` refuses shards
whose digests differ (runners that read different reports would leave tests in no shard).

    durations = read_durations(Path("reports"))
    shards = plan(ids, durations, 3)        # [[ids of shard 1], [ids of shard 2], [ids of shard 3]]
    shard_line(Shard(2, 3), shards, weights(ids, durations), len(ids), bool(durations))
    # 'harness: shard 2/3: 14 of 40 tests, ~312 s of recorded time (shares 305/312/298 s)'
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.report.trends import base_id

RECENT_RUNS = 5  # run reports whose durations are pooled (median per test)


@dataclass(frozen=True)
class Shard:
    """Which share of the tests this runner takes: ``index`` (from 1) of ``count``."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @classmethod
    def parse(cls, raw: str, where: str = "--shard / HARNESS_SHARD") -> "Shard":
        """``"2/3"`` -> Shard(2, 3); anything else is one ConfigError line."""
        index, sep, count = str(raw).strip().partition("/")
        if sep and index.isdigit() and count.isdigit() and 1 <= int(index) <= int(count):
            return cls(int(index), int(count))
        raise ConfigError(f"shard {raw!r} is not I/N with 1 <= I <= N", where=where,
                          fix="give e.g. --shard 1/2 on the first of two runners and --shard 2/2 on the second")


def _seconds(x: object) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and x >= 0 else None


def _cost(scenario: dict) -> float | None:
    """A recorded scenario's seconds: its call plus the harness's set-up and tear-down where recorded."""
    call = _seconds(scenario.get("duration_s"))
    own = scenario.get("harness_s") if isinstance(scenario.get("harness_s"), dict) else {}
    extra = [_seconds(own.get(k)) for k in ("setup_s", "teardown_s")]
    return None if call is None else call + sum(x for x in extra if x is not None)


def read_durations(reports_dir: Path, runs: int = RECENT_RUNS) -> dict[str, float]:
    """{node id without repeat suffix: median seconds} over the newest ``runs`` readable run reports.

    Run folders are ordered by name (run ids start with their UTC start time); ``latest``, hidden
    temporary folders and unreadable reports are skipped, never fatal: no durations means a split
    by count.
    """
    folders = sorted((p for p in Path(reports_dir).glob("*/report.json")
                      if not p.parent.is_symlink() and not p.parent.name.startswith(".")),
                     key=lambda p: p.parent.name, reverse=True)
    seen: dict[str, list[float]] = {}
    used = 0
    for path in folders:
        if used == runs:
            break
        try:
            scenarios = json.loads(path.read_text(encoding="utf-8"))["scenarios"]
            costs = [(base_id(str(s["id"])), _cost(s)) for s in scenarios]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
        used += 1
        for sid, cost in costs:
            if cost is not None:
                seen.setdefault(sid, []).append(cost)
    return {sid: statistics.median(values) for sid, values in seen.items()}


def weights(ids: list[str], durations: dict[str, float]) -> dict[str, float]:
    """Each id's weight: its recorded seconds, else the median of the known ones; 1 each if none is known."""
    known = [durations[base_id(i)] for i in ids if base_id(i) in durations]
    if not known:
        return {i: 1.0 for i in ids}
    fallback = statistics.median(known)
    return {i: durations.get(base_id(i), fallback) for i in ids}


def plan(ids: list[str], durations: dict[str, float], n: int) -> list[list[str]]:
    """The ids split into ``n`` shards by longest-processing-time greedy (module docstring); each
    shard keeps the ids in their given (collection) order."""
    if n < 1:
        raise ValueError(f"cannot split into {n} shards")
    weight = weights(ids, durations)
    loads = [0.0] * n
    owner: dict[str, int] = {}
    for i in sorted(set(ids), key=lambda i: (-weight[i], i)):
        k = min(range(n), key=lambda k: (loads[k], k))
        owner[i] = k
        loads[k] += weight[i]
    return [[i for i in ids if owner[i] == k] for k in range(n)]


def digest(shards: list[list[str]]) -> str:
    """A short name of the whole split: equal on every runner that computed the same one."""
    return hashlib.sha256(json.dumps(shards).encode()).hexdigest()[:12]


def shard_line(shard: Shard, shards: list[list[str]], weight: dict[str, float], total: int, timed: bool) -> str:
    """``harness: shard 2/3: 14 of 40 tests, ~312 s of recorded time (shares 305/312/298 s)``."""
    mine = shards[shard.index - 1]
    head = f"harness: shard {shard}: {len(mine)} of {total} tests"
    if not timed:
        return f"{head}, no recorded durations: split by count (shares {'/'.join(str(len(s)) for s in shards)} tests)"
    loads = [sum(weight[i] for i in s) for s in shards]
    return (f"{head}, ~{loads[shard.index - 1]:.0f} s of recorded time "
            f"(shares {'/'.join(f'{x:.0f}' for x in loads)} s)")


def select(shard: Shard, ids: list[str], reports_dir: Path) -> tuple[set[str], str, dict]:
    """This runner's ids, the line to print and the record for the report's ``environment.shard``."""
    durations = read_durations(reports_dir)
    shards = plan(ids, durations, shard.count)
    weight = weights(ids, durations)
    known = sum(base_id(i) in durations for i in ids)
    record = {"index": shard.index, "count": shard.count, "tests": len(shards[shard.index - 1]),
              "collected": len(ids), "with_durations": known, "plan": digest(shards)}
    return set(shards[shard.index - 1]), shard_line(shard, shards, weight, len(ids), known > 0), record


# ---------------------------------------------------------------- the pytest side (registered by hooks.py)

OPTION_HELP = ("run only share I of N of the collected tests, balanced by the durations recorded in the "
               "newest run reports (by count where none are); merge the N run reports with "
               "'dr-harness report merge'")
SHARD = "harness_shard"  # the key a pytest-xdist worker sends its shard record home under


def shard_of(option: str | None, env: dict | None = None) -> Shard | None:
    """The shard asked for: the option, else ``HARNESS_SHARD``, else None (every test runs)."""
    raw = option or (os.environ if env is None else env).get("HARNESS_SHARD")
    return Shard.parse(raw) if raw else None


class ShardPlugin:
    """``--shard I/N`` / ``HARNESS_SHARD=I/N``: deselects the other runners' tests and records the split.

    Under pytest-xdist only the workers collect: each computes the same split, and the record (with
    the line) comes home in the worker's output, so the controller's report carries it too.
    """

    def __init__(self, shard: Shard | None, reports_dir: Path, environment: dict) -> None:
        self.shard, self.reports_dir, self.environment = shard, reports_dir, environment
        self.line: str | None = None

    def pytest_collection_modifyitems(self, config, items) -> None:  # noqa: ANN001
        if self.shard is None:
            return
        mine, self.line, record = select(self.shard, [item.nodeid for item in items], self.reports_dir)
        self.environment["shard"] = record
        others = [item for item in items if item.nodeid not in mine]
        if others:
            config.hook.pytest_deselected(items=others)
            items[:] = [item for item in items if item.nodeid in mine]
        if hasattr(config, "workeroutput"):
            config.workeroutput[SHARD] = record | {"line": self.line}

    def pytest_report_collectionfinish(self) -> list[str]:
        """The line, right after pytest's ``collected N items / K deselected``."""
        line, self.line = self.line, None
        return [line] if line else []

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:  # noqa: ANN001 (pytest-xdist's hook, controller side)
        record = dict(getattr(node, "workeroutput", {}).get(SHARD) or {})
        if record:   # every worker sends the same: the first one says it
            self.line = self.line or record.pop("line", None)
            record.pop("line", None)
            self.environment.setdefault("shard", record)

    def pytest_terminal_summary(self, terminalreporter) -> None:  # noqa: ANN001
        if self.line:
            terminalreporter.write_line(self.line)
