"""Shared fixtures of the integration lane (real Docker engine, real services)."""

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from harness.stack.engine import connect
from harness.stack.images import SPECS, resolve

# Tests that may skip here: only those that need an image this machine cannot have at all.
MAY_SKIP = ("elasticsearch",)
_SKIPPED: list[str] = []


@pytest.fixture(scope="session")
def client() -> Iterator[docker.DockerClient]:
    """A docker SDK client for the engine at DOCKER_HOST or the default socket.

    No engine is an error here, not a skip: the integration lane exists to run against one.
    """
    c = connect(timeout_s=60)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture(scope="session")
def service_image(client: docker.DockerClient) -> Callable[[str], str]:
    """The image reference the harness resolves for a service (present, pulled or built), so that
    no integration test depends on how this machine obtained its images."""
    cache: dict[str, str] = {}

    def get(service: str) -> str:
        if service not in cache:
            cache[service] = resolve(client, SPECS[service]).ref
        return cache[service]

    return get


class _NotYet(Exception):
    """The awaited condition does not hold yet."""


class InnerRuns:
    """An inner pytest run as our own child process (output to a log file), waited on boundedly;
    used by the tests that signal or kill a run while its stacks are up."""

    UP_TIMEOUT_S = 600.0     # the first run may build images
    EXIT_TIMEOUT_S = 120.0

    def start(self, cwd: Path, args: list[str], log: Path) -> subprocess.Popen[bytes]:
        with open(log, "wb") as out:
            return subprocess.Popen([sys.executable, "-m", "pytest", *args], cwd=cwd, stdout=out,
                                    stderr=subprocess.STDOUT, env=dict(os.environ))

    def wait_until(self, proc: subprocess.Popen[bytes], log: Path, ready: Callable[[], bool]) -> None:
        """Wait until ``ready()``; fail with the inner log if the run exits first."""
        def check() -> None:
            if proc.poll() is not None:
                pytest.fail(f"inner pytest exited ({proc.returncode}) too early:\n" + log.read_text(errors="replace"))
            if not ready():
                raise _NotYet()

        for attempt in Retrying(stop=stop_after_delay(self.UP_TIMEOUT_S), wait=wait_fixed(0.5),
                                retry=retry_if_exception_type(_NotYet), reraise=True):
            with attempt:
                check()

    def end(self, proc: subprocess.Popen[bytes]) -> None:
        """Make sure the inner run is gone (killed by its PID if it still runs)."""
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=self.EXIT_TIMEOUT_S)


@pytest.fixture
def inner_runs() -> InnerRuns:
    return InnerRuns()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail") and "integration" in report.nodeid \
            and not any(m in report.nodeid for m in MAY_SKIP):
        _SKIPPED.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """An integration test that skipped on a machine with an engine is a failure of the lane."""
    if _SKIPPED:
        print(f"\nintegration lane: {len(_SKIPPED)} test(s) skipped on a machine with a Docker engine: "
              f"{', '.join(_SKIPPED)}; only the Elasticsearch ones may skip here")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
