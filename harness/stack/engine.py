"""The Docker engine connection: one place that finds the engine and says plainly when none answers.

``connect()`` honours ``DOCKER_HOST`` (else the default socket), pings the engine and returns a
``docker.DockerClient``; when nothing answers it raises :class:`EngineUnavailable` with one line
naming the URL and what to do (``dr-harness engine``, the same as the repository's
``scripts/ensure-engine.sh``, installs and starts one where it can).
``engine_info()`` extracts the few engine facts a report needs.

    client = connect()
    print(engine_info(client))   # EngineInfo(version='20.10.24+dfsg1', api_version='1.41', ...)
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import docker
import docker.errors
import requests.exceptions

from harness.errors import EngineUnavailable

DEFAULT_DOCKER_URL = "unix:///var/run/docker.sock"
ENGINE_FIX = "run dr-harness engine (in its repository: scripts/ensure-engine.sh) or start Docker / set DOCKER_HOST"


def docker_url() -> str:
    """The engine URL the harness will use: ``DOCKER_HOST`` if set, else the default socket."""
    return os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_URL


def connect(*, timeout_s: float = 120.0) -> docker.DockerClient:
    """A client for the engine at :func:`docker_url`, checked with a ping.

    ``timeout_s`` bounds each read from the engine (builds and pulls stream, so it is the
    longest silence tolerated, not the total time).
    """
    url = docker_url()
    client: docker.DockerClient | None = None
    try:
        _probe_unix_socket(url)
        client = docker.DockerClient(base_url=url, timeout=int(timeout_s))
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
        if client is not None:
            client.close()
        raise EngineUnavailable(f"no Docker engine answers at {url}", fix=ENGINE_FIX) from exc
    return client


def _probe_unix_socket(url: str) -> None:
    """Connect to a ``unix://`` URL's socket once and close it (raises OSError when nothing listens).

    docker's own unix transport leaks the socket of a failed connect, which pytest reports as an
    unraisable ResourceWarning, so a dead socket is detected here first.
    """
    if not url.startswith("unix://"):
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5.0)
        sock.connect(url[len("unix://"):])


@dataclass(frozen=True)
class EngineInfo:
    """What the report says about the engine a run used."""

    version: str
    api_version: str
    os: str
    cgroup: str

    def as_dict(self) -> dict[str, str]:
        return {"version": self.version, "api_version": self.api_version,
                "os": self.os, "cgroup": self.cgroup}


def engine_info(client: docker.DockerClient) -> dict[str, str]:
    """Engine version, API version, OS and cgroup driver/version, for the run report."""
    try:
        version = client.version()
        info = client.info()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise EngineUnavailable("the Docker engine stopped answering while reading its info",
                                fix=ENGINE_FIX) from exc
    cgroup = f"{info.get('CgroupDriver', '?')} v{info.get('CgroupVersion', '?')}"
    return EngineInfo(
        version=str(version.get("Version", "?")),
        api_version=str(version.get("ApiVersion", "?")),
        os=str(info.get("OperatingSystem", "?")),
        cgroup=cgroup,
    ).as_dict()
