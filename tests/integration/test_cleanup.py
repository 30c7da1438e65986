"""Cleanup on the real engine: whatever way a run ends, nothing carrying its run label is left behind.

Each test runs pytest on a tiny scenario that uses the ``stack`` fixture (a real PostgreSQL, Redis and
Toxiproxy on a run-made network) and then asks the Docker engine, by label, what the run left: a
passing run, a failing run, Ctrl-C, and a SIGKILLed run whose leftovers the next run sweeps.
"""

from __future__ import annotations

import json
import re
import signal
from pathlib import Path

import docker
import pytest

from harness.stack.cleanup import leftovers, remove_run

pytestmark = pytest.mark.docker

OBJECTIVES = Path(__file__).resolve().parents[2] / "objectives.toml"
INNER_INI = """
[pytest]
addopts = --strict-markers -p no:cacheprovider
markers =
    docker: needs a Docker engine
    objectives(*ids): the objective ids a scenario checks
"""
HEADER = re.compile(r"harness: run (\S+), seed \d+, objectives ")
SWEEP_LINE = "[harness] swept leftovers"
RUN_TIMEOUT_S = 600.0     # the first run may build the Toxiproxy image
EXIT_TIMEOUT_S = 120.0

# The scenario writes what carries its run label once the stack is up, so every test can show the
# run did create objects (the "nothing left" checks are not vacuous), then does what MODE says.
SCENARIO = """
import json
import time
from pathlib import Path

from harness.stack.cleanup import leftovers

MARKER = Path({marker!r})


def test_stack_then_{mode}(stack, docker_client, harness_run):
    seen = leftovers(docker_client, harness_run.settings.run_id)
    MARKER.write_text(json.dumps(seen))
    if "{mode}" == "fail":
        assert False, "this scenario fails on purpose"
    if "{mode}" == "wait":
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.2)
"""

SWEEPER = """
def test_engine_answers(docker_client):
    assert docker_client.ping()
"""


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INNER_INI)
    return pytester


def scenario(pytester: pytest.Pytester, mode: str) -> tuple[Path, Path]:
    """Write the scenario for ``mode`` (pass, fail, wait); returns (file, marker path)."""
    marker = pytester.path / f"stack-up-{mode}.json"
    path = pytester.makepyfile(**{f"test_{mode}": SCENARIO.format(marker=str(marker), mode=mode)})
    return path, marker


def run_id_of(lines: list[str]) -> str:
    found = [m[1] for line in lines if (m := HEADER.search(line))]
    assert len(found) == 1, "no harness header in:\n" + "\n".join(lines)
    return found[0]


def harness_args(pytester: pytest.Pytester) -> list[str]:
    return [f"--objectives={OBJECTIVES}", f"--reports-dir={pytester.path / 'reports'}"]


def created_objects(marker: Path) -> list[str]:
    """What the scenario saw carrying its run label while the stack was up."""
    seen = json.loads(marker.read_text())
    assert any(item.startswith("container ") for item in seen), seen
    assert any(item.startswith("network ") for item in seen), seen
    assert any(item.startswith("volume ") for item in seen), seen
    return seen


def start(inner_runs, pytester: pytest.Pytester, mode: str) -> tuple:  # noqa: ANN001
    """Start the inner pytest on the scenario for ``mode``; returns (process, marker, log)."""
    target, marker = scenario(pytester, mode)
    log = pytester.path / "inner.log"
    proc = inner_runs.start(pytester.path, [str(target), "-p", "no:cacheprovider", *harness_args(pytester)], log)
    return proc, marker, log


def stack_up(marker: Path) -> bool:
    """The scenario has written its marker: the stack is up."""
    return marker.exists() and bool(marker.read_text())


def test_passing_run_leaves_nothing(inner: pytest.Pytester, client: docker.DockerClient) -> None:
    """After a passing run no container, network or volume carries its run label."""
    target, marker = scenario(inner, "pass")
    run_id = None
    try:
        result = inner.runpytest_subprocess(str(target), *harness_args(inner), timeout=RUN_TIMEOUT_S)
        run_id = run_id_of(result.outlines)
        assert result.ret == 0, "\n".join(result.outlines)
        created_objects(marker)
        assert leftovers(client, run_id) == []
    finally:
        if run_id:
            remove_run(client, run_id)


def test_failing_run_leaves_nothing(inner: pytest.Pytester, client: docker.DockerClient) -> None:
    """After a run whose scenario fails no container, network or volume carries its run label."""
    target, marker = scenario(inner, "fail")
    run_id = None
    try:
        result = inner.runpytest_subprocess(str(target), *harness_args(inner), timeout=RUN_TIMEOUT_S)
        run_id = run_id_of(result.outlines)
        assert result.ret == pytest.ExitCode.TESTS_FAILED, "\n".join(result.outlines)
        result.stdout.fnmatch_lines(["*this scenario fails on purpose*"])
        created_objects(marker)
        assert leftovers(client, run_id) == []
    finally:
        if run_id:
            remove_run(client, run_id)


def test_ctrl_c_leaves_nothing(inner: pytest.Pytester, client: docker.DockerClient, inner_runs) -> None:  # noqa: ANN001
    """SIGINT while a scenario runs on the stack interrupts the run and leaves nothing behind."""
    proc, marker, log = start(inner_runs, inner, "wait")
    run_id = None
    try:
        inner_runs.wait_until(proc, log, lambda: stack_up(marker))
        run_id = run_id_of(log.read_text(errors="replace").splitlines())
        created_objects(marker)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=EXIT_TIMEOUT_S)
        output = log.read_text(errors="replace")
        assert code == pytest.ExitCode.INTERRUPTED, output
        assert "KeyboardInterrupt" in output
        assert leftovers(client, run_id) == [], output
    finally:
        inner_runs.end(proc)
        if run_id:
            remove_run(client, run_id)


def test_killed_run_is_swept_by_the_next_run(inner: pytest.Pytester, client: docker.DockerClient, inner_runs) -> None:  # noqa: ANN001
    """A SIGKILLed run leaves its objects; the next run that connects to the engine sweeps them."""
    proc, marker, log = start(inner_runs, inner, "wait")
    run_id = None
    try:
        inner_runs.wait_until(proc, log, lambda: stack_up(marker))
        run_id = run_id_of(log.read_text(errors="replace").splitlines())
        created = created_objects(marker)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=EXIT_TIMEOUT_S)   # reaped: its pid no longer answers, so its objects are stale
        assert sorted(leftovers(client, run_id)) == sorted(created)

        sweeper = inner.makepyfile(test_sweeper=SWEEPER)
        second = inner.runpytest_subprocess(str(sweeper), *harness_args(inner), timeout=RUN_TIMEOUT_S)
        assert second.ret == 0, "\n".join(second.outlines)
        assert [line for line in second.outlines if SWEEP_LINE in line], \
            "\n".join(second.outlines)
        assert leftovers(client, run_id) == []
    finally:
        inner_runs.end(proc)
        if run_id:
            remove_run(client, run_id)
