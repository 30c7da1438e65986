"""Starting containers and waiting for services: the stack's readiness and retry helpers.

Every wait polls a real probe with one retry helper (tenacity), and every failure is one line with
the service's last log lines as evidence (``ServiceNotReady``), or ``PortInUse`` / ``HarnessError``
for a container the engine would not start::

    wait_until_ready(service.probe, timeout_s=90, what="web", logs=lambda: container_logs(c),
                     alive=lambda: is_running(box), check="HTTP GET /health")
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import docker
import docker.errors
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed
from testcontainers.core.container import DockerContainer

from harness.errors import HarnessError, PortInUse, ServiceNotReady

__all__ = ["container_logs", "free_port", "host_port", "is_running", "start_container", "wait_until_ready"]


class _NotYet(Exception):
    """A readiness probe has not passed yet."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_container(container: DockerContainer, what: str) -> DockerContainer:
    try:
        return container.start()
    except docker.errors.APIError as exc:
        text = str(exc)
        if "port is already allocated" in text or "address already in use" in text:
            raise PortInUse(f"a port for {what} ({container.image}) is already in use",
                            fix="free the port or let the harness choose one") from exc
        raise HarnessError(f"could not start {what} ({container.image}): {exc.explanation or exc}",
                           fix="see the Docker engine log") from exc


def host_port(container: DockerContainer, port: int, what: str) -> int:
    box = container.get_wrapped_container()
    box.reload()
    bound = (box.ports or {}).get(f"{port}/tcp")
    if not bound:
        tail = container_logs(container)
        raise ServiceNotReady(f"{what} exited before it became ready "
                              f"(status {box.status}); last log lines: {' | '.join(tail.splitlines()[-8:])}",
                              fix="check the image and the server arguments", evidence=tail)
    return int(bound[0]["HostPort"])


def container_logs(container: DockerContainer, lines: int = 15) -> str:
    try:
        raw = container.get_wrapped_container().logs(tail=lines)
    except docker.errors.APIError:
        return "(logs unavailable)"
    return raw.decode(errors="replace").strip()


def is_running(box: Any) -> bool:
    try:
        box.reload()
    except docker.errors.NotFound:
        return False
    return box.status in ("running", "paused", "restarting", "created")


def wait_until_ready(probe: Callable[[], Any], *, timeout_s: float, what: str, logs: Callable[[], str],
           alive: Callable[[], bool] | None = None, check: str | None = None,
           fix: str | None = None) -> None:
    def attempt() -> None:
        if alive is not None and not alive():
            raise _Exited()
        try:
            probe()
        except Exception as exc:  # noqa: BLE001 - any failure of a real probe means "not yet"
            raise _NotYet(f"{type(exc).__name__}: {exc}") from exc

    checked = f"{check}: " if check else ""
    try:
        for step in Retrying(stop=stop_after_delay(timeout_s), wait=wait_fixed(0.1),
                             retry=retry_if_exception_type(_NotYet), reraise=True):
            with step:
                attempt()
    except _Exited:
        tail = logs()
        raise ServiceNotReady(f"{what} exited before it became ready; last log lines: "
                              f"{' | '.join(tail.splitlines()[-8:])}",
                              fix="check the image and the server arguments", evidence=tail) from None
    except _NotYet as exc:
        tail = logs()
        raise ServiceNotReady(f"{what} was not ready after {timeout_s:g} s ({checked}{exc}); last log lines: "
                              f"{' | '.join(tail.splitlines()[-8:])}",
                              fix=fix or "raise HARNESS_READY_TIMEOUT_S or check the service's logs",
                              evidence=tail) from None


class _Exited(Exception):
    """The container stopped while we waited for it."""
