"""Removing what a run created, and sweeping what a killed run left behind.

Everything is selected by label (see ``harness.stack.labels``), never by name. Order matters:
containers first (with their anonymous volumes), then networks (which refuse while they still
have endpoints), then named volumes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import docker
import docker.errors

from harness.stack.labels import PID_LABEL, PROJECT_LABEL, RUN_LABEL, WORKER_LABEL


@dataclass(frozen=True)
class Removed:
    """How many objects of each kind a cleanup removed."""

    containers: int = 0
    networks: int = 0
    volumes: int = 0

    def __add__(self, other: "Removed") -> "Removed":
        return Removed(self.containers + other.containers, self.networks + other.networks,
                       self.volumes + other.volumes)

    @property
    def total(self) -> int:
        return self.containers + self.networks + self.volumes


def remove_run(client: docker.DockerClient, run_id: str, worker: str | None = None) -> Removed:
    """Remove every container, network and volume labelled with ``run_id`` (of ``worker`` only, when
    given: a pytest-xdist worker that finishes must not pull its siblings' stacks away)."""
    labels = [f"{RUN_LABEL}={run_id}"] + ([f"{WORKER_LABEL}={worker}"] if worker is not None else [])
    return _remove(client, labels, lambda labels: True)


def remove_labelled(client: docker.DockerClient, label: str) -> Removed:
    """Remove every container, network and volume carrying ``label`` (``key`` or ``key=value``)."""
    return _remove(client, label, lambda labels: True)


def sweep_stale(client: docker.DockerClient, *, progress: Callable[[str], None] = print) -> Removed:
    """Remove objects of earlier runs whose process is gone (a run killed before its teardown)."""
    removed = _remove(client, PROJECT_LABEL, _is_stale)
    if removed.total:
        progress(f"[harness] swept leftovers of a dead run: {removed.containers} container(s), "
                 f"{removed.networks} network(s), {removed.volumes} volume(s)")
    return removed


def leftovers(client: docker.DockerClient, run_id: str) -> list[str]:
    """Describe what still carries ``run_id``'s label (empty when the run cleaned up)."""
    label = f"{RUN_LABEL}={run_id}"
    found = [f"container {c['Names'][0].lstrip('/')}" for c in _containers(client, label)]
    found += [f"network {n['Name']}" for n in client.api.networks(filters={"label": label})]
    found += [f"volume {v['Name']}" for v in (client.api.volumes(filters={"label": label}) or {}).get("Volumes") or []]
    return found


def _is_stale(labels: dict[str, str]) -> bool:
    raw = labels.get(PID_LABEL, "")
    if not raw.isdigit():
        return True
    pid = int(raw)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _containers(client: docker.DockerClient, label: str | list[str]) -> list[dict]:
    """The containers carrying ``label`` as the engine lists them (id, names, labels), without
    inspecting each: another run or worker may remove one between the listing and an inspect."""
    return client.api.containers(all=True, filters={"label": label})


def _remove(client: docker.DockerClient, label: str | list[str],
            wanted: Callable[[dict[str, str]], bool]) -> Removed:
    containers = networks = volumes = 0
    for container in _containers(client, label):
        if wanted(container.get("Labels") or {}):
            try:
                client.api.remove_container(container["Id"], force=True, v=True)
                containers += 1
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:   # already being removed by its own run
                if "already in progress" not in str(exc):
                    raise
    for network in client.api.networks(filters={"label": label}):
        if wanted(network.get("Labels") or {}):
            try:
                client.api.remove_network(network["Id"])
                networks += 1
            except docker.errors.NotFound:
                pass
    for volume in (client.api.volumes(filters={"label": label}) or {}).get("Volumes") or []:
        if wanted(volume.get("Labels") or {}):
            try:
                client.api.remove_volume(volume["Name"], force=True)
                volumes += 1
            except docker.errors.NotFound:
                pass
    return Removed(containers, networks, volumes)
