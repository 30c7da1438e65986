"""Run-wide and per-scenario state the plugin keeps on pytest's config and items.

``RunState`` lives on the config (settings, objectives, what the run recorded); ``ScenarioData`` on
each test item (its history, fault records and verdicts). ``say`` prints a progress line past
pytest's output capture.
"""

from __future__ import annotations

import sys
import threading
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from harness.history import History
from harness.judging.objectives import Objectives
from harness.judging.verdicts import Verdict
from harness.plugin.settings import Settings


@dataclass
class ScenarioData:
    """What one scenario recorded: its history, faults and verdicts."""

    history: History = field(default_factory=History)
    fault_records: list[Any] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    used_stack: bool = False
    stacks: list[Any] = field(default_factory=list)  # the stacks it used: their logs are saved if it fails
    harness_s: dict[str, float] = field(default_factory=dict)  # the harness's own seconds (reset_s ...)


@dataclass
class RunState:
    """Run-wide state kept on the pytest config."""

    settings: Settings
    objectives: Objectives
    started_at: str
    scenarios: list[Any] = field(default_factory=list)
    verdict_lines: list[str] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    client: Any = None
    report_dir: Path | None = None
    no_go: list[str] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)  # every stack's generated passwords: kept out of the report
    objectives_missing: str | None = None   # the default objectives file is absent: an error for scenarios only
    controller: Any = None   # ControllerHooks on the controller of a pytest-xdist run


RUN = pytest.StashKey[RunState]()


HARNESS_FIXTURES = {"stack", "stack_factory", "history", "judge", "docker_client", "images"}


DATA = pytest.StashKey[ScenarioData]()


CONFIGS: list[pytest.Config] = []


_SAY_LOCK = threading.Lock()  # images are resolved in parallel threads


def say(line: str) -> None:
    """Print a progress line past pytest's output capture, so long set-up steps are visible."""
    plugins = CONFIGS[-1].pluginmanager if CONFIGS else None
    capman = plugins.getplugin("capturemanager") if plugins else None
    terminal = plugins.getplugin("terminalreporter") if plugins else None
    worker = getattr(CONFIGS[-1], "workerinput", None) if CONFIGS else None
    if worker is not None:   # a pytest-xdist worker's terminal goes nowhere: its stderr reaches the user's
        with _SAY_LOCK, (capman.global_and_fixture_disabled() if capman else nullcontext()):
            sys.stderr.write(f"[{worker.get('workerid', '?')}] {line}\n")
            sys.stderr.flush()
        return
    if capman is None or terminal is None:
        print(line, flush=True)
        return
    with _SAY_LOCK, capman.global_and_fixture_disabled():
        terminal.ensure_newline()      # after a test file's name, start a line of our own
        terminal.write_line(line)
        terminal.flush()


def data_of(item: pytest.Item) -> ScenarioData:
    """The scenario data of ``item``, created on first use."""
    if DATA not in item.stash:
        item.stash[DATA] = ScenarioData()
    return item.stash[DATA]


def iso_now() -> str:
    """Now, as an ISO-8601 UTC timestamp to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
