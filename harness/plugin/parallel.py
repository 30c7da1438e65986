"""Running scenarios on pytest-xdist workers (``pytest -n N``): one run, N isolated stacks, one report.

- The controller hands every worker its run id and seed (``pytest_configure_node``), so all workers
  label their Docker objects with the same run and their scenarios seed ``random`` alike.
- Each worker starts its own stack (names and labels carry the worker id, see
  ``harness.stack.labels``) and removes only its own objects when it ends; the controller removes
  whatever is left of the run at the very end (a worker killed by SIGKILL never tears down).
- A worker sends each scenario's record (history, faults, verdicts, rates, logs) home on the test
  report; the controller alone writes the run report and decides the sign-off.
- ``@pytest.mark.run_alone``: a timing-sensitive test (or one that reads engine-wide state, such as the
  engine's dangling volumes) runs with no other test of the run beside it.
  Every test holds a shared lock on the run's lock file while it runs, a ``run_alone`` test an
  exclusive one; a turnstile keeps a waiting ``run_alone`` test from being starved by the others.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

RUN_ALONE = "run_alone"
RUN_ALONE_MARKER = (f"{RUN_ALONE}: a test that must not share the machine (timing-sensitive, or reading "
                    "engine-wide state); under pytest -n N it runs with no other test of the run beside it")

_RECORD = "harness_record"    # the attributes a worker's test report carries home
_SECRETS = "harness_secrets"
_ENVIRONMENT = "harness_environment"


def is_worker(config: pytest.Config) -> bool:
    """Is this process a pytest-xdist worker?"""
    return hasattr(config, "workerinput")


def from_controller(config: pytest.Config) -> dict[str, Any]:
    """What the controller handed this worker (``run_id``, ``seed``), empty outside a worker."""
    inp = getattr(config, "workerinput", {})
    return {k.removeprefix("harness_"): v for k, v in inp.items() if k.startswith("harness_")}


def worker_index(config: pytest.Config) -> int:
    """0 for ``gw0`` or a run without workers, 1 for ``gw1`` ..."""
    wid = str(getattr(config, "workerinput", {}).get("workerid", "gw0"))
    digits = wid.removeprefix("gw")
    return int(digits) if digits.isdigit() else 0


class ControllerHooks:
    """Registered on the controller of a pytest-xdist run (only where xdist is installed)."""

    def __init__(self, run_id: str, seed: int) -> None:
        self.run_id, self.seed = run_id, seed
        self.workers = 0

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["harness_run_id"] = self.run_id
        node.workerinput["harness_seed"] = str(self.seed)
        self.workers += 1


def send_home(report: pytest.TestReport, record: dict, secrets: set[str], environment: dict) -> None:
    """Attach a scenario's record to the test report a worker sends to the controller."""
    setattr(report, _RECORD, record)
    setattr(report, _SECRETS, sorted(secrets))
    setattr(report, _ENVIRONMENT, environment)


def received(report: Any) -> tuple[dict, list[str], dict] | None:
    """The (record, secrets, environment) a worker attached to ``report``, or None."""
    record = getattr(report, _RECORD, None)
    if not isinstance(record, dict):
        return None
    return record, list(getattr(report, _SECRETS, None) or ()), dict(getattr(report, _ENVIRONMENT, None) or {})


# ---------------------------------------------------------------- run_alone

def lock_path(run_id: str) -> Path:
    return Path(tempfile.gettempdir()) / f"dr-harness-{run_id}.alone.lock"


@contextmanager
def slot(run_id: str, alone: bool) -> Iterator[None]:
    """Hold the run's lock while a test runs: shared, or exclusive for a ``run_alone`` test.

    flock locks are released by the kernel when a process dies, so a killed worker never blocks the
    others. The turnstile (a second lock taken exclusively for a moment by everyone, and held by a
    ``run_alone`` test while it waits) lets no new shared holder in once a ``run_alone`` test waits.
    """
    path = lock_path(run_id)
    with open(path, "a+") as main, open(path.with_suffix(".turnstile"), "a+") as turnstile:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        try:
            fcntl.flock(main, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(main, fcntl.LOCK_UN)


def remove_lock_files(run_id: str) -> None:
    path = lock_path(run_id)
    for p in (path, path.with_suffix(".turnstile")):
        try:
            os.unlink(p)
        except OSError:
            pass
