"""Cleanup on the real engine: whatever way a run ends, nothing carrying its run label is left behind.

Each test runs pytest on a tiny scenario that uses the ``stack`` fixture (a real PostgreSQL, Redis and
Toxiproxy on a run-made network) and then asks the Docker engine, by label, what the run left: a
passing run, a failing run, Ctrl-C, and a SIGKILLed run whose leftovers the next run sweeps.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import docker
import pytest
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

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
STACK_UP_TIMEOUT_S = 600.0
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


def start(pytester: pytest.Pytester, target: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start the inner pytest as our own child process, output to ``log``."""
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "pytest", str(target), "-p", "no:cacheprovider",
                                 *harness_args(pytester)],
                                cwd=pytester.path, stdout=out, stderr=subprocess.STDOUT,
                                env=dict(os.environ))


class _NotYet(Exception):
    """The awaited condition does not hold yet."""


def wait_for_stack(proc: subprocess.Popen[bytes], marker: Path, log: Path) -> None:
    """Wait (bounded) until the scenario has written its marker, i.e. the stack is up."""
    def check() -> None:
        if proc.poll() is not None:
            pytest.fail(f"inner pytest exited ({proc.returncode}) before the stack was up:\n"
                        + log.read_text(errors="replace"))
        if not marker.exists() or not marker.read_text():
            raise _NotYet()

    for attempt in Retrying(stop=stop_after_delay(STACK_UP_TIMEOUT_S), wait=wait_fixed(0.5),
                            retry=retry_if_exception_type(_NotYet), reraise=True):
        with attempt:
            check()


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


def test_ctrl_c_leaves_nothing(inner: pytest.Pytester, client: docker.DockerClient) -> None:
    """SIGINT while a scenario runs on the stack interrupts the run and leaves nothing behind."""
    target, marker = scenario(inner, "wait")
    log = inner.path / "inner.log"
    proc = start(inner, target, log)
    run_id = None
    try:
        wait_for_stack(proc, marker, log)
        run_id = run_id_of(log.read_text(errors="replace").splitlines())
        created_objects(marker)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=EXIT_TIMEOUT_S)
        output = log.read_text(errors="replace")
        assert code == pytest.ExitCode.INTERRUPTED, output
        assert "KeyboardInterrupt" in output
        assert leftovers(client, run_id) == [], output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=EXIT_TIMEOUT_S)
        if run_id:
            remove_run(client, run_id)


def test_killed_run_is_swept_by_the_next_run(inner: pytest.Pytester, client: docker.DockerClient) -> None:
    """A SIGKILLed run leaves its objects; the next run that connects to the engine sweeps them."""
    target, marker = scenario(inner, "wait")
    log = inner.path / "inner.log"
    proc = start(inner, target, log)
    run_id = None
    try:
        wait_for_stack(proc, marker, log)
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
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=EXIT_TIMEOUT_S)
        if run_id:
            remove_run(client, run_id)
