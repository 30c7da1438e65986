"""Tests for scripts/ensure-engine.sh: it says so when an engine answers and fails in one line elsewhere."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ensure-engine.sh"


def _run(env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **env_extra}
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60,
                          check=False)


def test_elsewhere_branch_fails_with_one_line() -> None:
    """With no engine at DOCKER_HOST and installing forbidden, it exits non-zero with one stderr line."""
    done = _run({"DOCKER_HOST": "unix:///nonexistent.sock", "HARNESS_NO_INSTALL": "1"})
    assert done.returncode != 0
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "no Docker engine answers at unix:///nonexistent.sock" in lines[0]
    assert "DOCKER_HOST" in lines[0] and "install Docker Engine" in lines[0]


def test_foreign_docker_host_is_not_replaced_by_a_local_engine() -> None:
    """Even where installing is allowed, a dead non-default DOCKER_HOST still fails in one line, starting nothing."""
    done = _run({"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "unix:///nonexistent.sock" in done.stderr


@pytest.mark.docker
def test_answering_engine_is_reported_and_left_alone() -> None:
    """When the engine answers, the script says so and exits 0 without installing or starting anything."""
    done = _run({"HARNESS_NO_INSTALL": "1"})
    assert done.returncode == 0, done.stderr
    assert "a Docker engine answers" in done.stdout and "nothing to do" in done.stdout
