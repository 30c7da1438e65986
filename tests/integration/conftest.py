"""Shared fixtures of the integration lane (real Docker engine, real services)."""

from collections.abc import Iterator

import docker
import pytest

from harness.stack.engine import connect


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
