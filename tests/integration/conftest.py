"""Shared fixtures of the integration lane (real Docker engine, real services)."""

from collections.abc import Callable, Iterator

import docker
import pytest

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
