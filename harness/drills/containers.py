"""The Docker objects a drill makes: labelled volumes, fresh service containers, and a tools
sidecar in which backup commands run (``pg_dump``, ``sha256sum``, ``redis-check-rdb`` ...).

Everything carries the run's labels (``harness.stack.labels.run_labels``) plus ``dr-harness.drill``
with the drill's id, so the run's teardown and the sweep of dead runs remove it too, and a test can
ask the engine what one drill left. Containers join only the stack's network and publish ports on
127.0.0.1 only. ``Resources.close()`` removes containers first (with their anonymous volumes), then
volumes; it is idempotent and never raises for an object that is already gone.

Commands run detached inside the container and are polled (an exec is not bounded by the engine
client's read timeout), each wrapped in coreutils ``timeout`` so that none outlives its bound::

    tools = resources.container(image, name="tools", command=["sleep", "3600"], volumes={...})
    out = exec_ok(tools, "pg_dump -Fc -f /backup/db.dump ...", what="pg_dump", timeout_s=600)
"""

from __future__ import annotations

import secrets
import shlex
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container
from docker.models.volumes import Volume

from harness.errors import DrillError
from harness.stack.labels import object_name, run_labels

DRILL_LABEL = "dr-harness.drill"
POLL_S = 0.02
TAIL_LINES = 6


@dataclass
class Resources:
    """The containers and volumes one drill created, removed by ``close()``."""

    client: docker.DockerClient
    run_id: str
    drill_id: str
    network: str
    containers: list[Container] = field(default_factory=list)
    volumes: list[Volume] = field(default_factory=list)

    @property
    def labels(self) -> dict[str, str]:
        return run_labels(self.run_id) | {DRILL_LABEL: self.drill_id}

    def volume(self, purpose: str) -> Volume:
        """A new labelled named volume, e.g. ``backup``, ``copy``, ``pgdata``."""
        name = object_name(self.run_id, f"drill{self.drill_id}", f"{purpose}-{secrets.token_hex(2)}")
        made = self.client.volumes.create(name=name, labels=self.labels)
        self.volumes.append(made)
        return made

    def container(self, image: str, *, name: str, command: list[str] | None = None,
                  entrypoint: list[str] | None = None, volumes: Mapping[str, str] | None = None,
                  environment: Mapping[str, str] | None = None, aliases: tuple[str, ...] = (),
                  port: int | None = None) -> Container:
        """Start a container on the stack's network (``aliases`` there), volumes as {name: "path:mode"}."""
        binds = {vol: {"bind": spec.split(":")[0], "mode": spec.split(":")[1] if ":" in spec else "rw"}
                 for vol, spec in (volumes or {}).items()}
        endpoint = self.client.api.create_endpoint_config(aliases=list(aliases) or None)
        try:
            box = self.client.containers.create(
                image, command=command, entrypoint=entrypoint, volumes=binds,
                environment=dict(environment or {}), labels=self.labels, detach=True,
                name=object_name(self.run_id, f"drill{self.drill_id}", f"{name}-{secrets.token_hex(2)}"),
                network=self.network,
                networking_config={self.network: endpoint},
                ports={f"{port}/tcp": ("127.0.0.1", None)} if port else None)
        except docker.errors.DockerException as exc:
            raise DrillError(f"could not create the {name} container from {image}: {exc}",
                             where=f"drill {self.drill_id}", fix="is the image present (docker images)?") from exc
        self.containers.append(box)
        try:
            box.start()
        except docker.errors.DockerException as exc:
            raise DrillError(f"could not start the {name} container: {exc}", where=f"drill {self.drill_id}",
                             fix="see the Docker engine log") from exc
        return box

    def close(self) -> list[str]:
        """Remove every container, then every volume; returns what could not be removed."""
        problems = []
        for box in reversed(self.containers):
            try:
                box.remove(force=True, v=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.DockerException as exc:
                problems.append(f"container {box.name}: {exc}")
        self.containers = []
        for vol in reversed(self.volumes):
            try:
                remove_volume(vol)
            except docker.errors.NotFound:
                pass
            except docker.errors.DockerException as exc:
                problems.append(f"volume {vol.name}: {exc}")
        self.volumes = []
        return problems


def owned_volume(box: Container, path: str, *, what: str, drill: str, owner: str) -> str:
    """The named volume mounted at ``path`` in ``box``, made writable by ``owner`` (a new volume
    arrives root-owned); DrillError naming ``what`` and the stack options the drill needs if none."""
    box.reload()
    found = [m["Name"] for m in box.attrs.get("Mounts", []) if m.get("Destination") == path]
    if not found:
        raise DrillError(f"the stack's {box.name} has no {what} volume at {path}", where=f"{drill}(stack, ...)",
                         fix=f"build the stack with stack_factory({drill}.stack_options())")
    box.exec_run(["chown", owner, path], user="root")
    return str(found[0])


def remove_volume(vol: Volume) -> None:
    """Remove a volume; a container that is just going away may hold it for a moment."""
    deadline = time.monotonic() + 10.0
    while True:
        try:
            vol.remove(force=True)
            return
        except docker.errors.APIError as exc:
            if exc.status_code != 409 or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@dataclass(frozen=True)
class ExecResult:
    """What a command inside a container did."""

    exit_code: int
    stdout: str
    stderr: str
    seconds: float


def exec_in(box: Container, script: str, *, timeout_s: float, env: Mapping[str, str] | None = None,
            user: str = "") -> ExecResult:
    """Run ``script`` with sh inside ``box``, bounded by ``timeout_s``; never raises for a non-zero exit."""
    tag = secrets.token_hex(4)
    out, err = f"/tmp/.drill-{tag}.out", f"/tmp/.drill-{tag}.err"
    wrapped = (f"timeout -k 5 {int(timeout_s) + 1} sh -c {shlex.quote(script)} >{out} 2>{err}; "
               f"code=$?; exit $code")
    api = box.client.api
    began = time.monotonic()
    exec_id = api.exec_create(box.id, ["sh", "-c", wrapped], environment=dict(env or {}), user=user)["Id"]
    api.exec_start(exec_id, detach=True)
    deadline = began + timeout_s + 15.0
    while True:
        state: dict[str, Any] = api.exec_inspect(exec_id)
        if not state.get("Running") and state.get("ExitCode") is not None:
            break
        if time.monotonic() > deadline:
            return ExecResult(124, "", f"still running after {timeout_s:g} s", time.monotonic() - began)
        time.sleep(POLL_S)
    seconds = time.monotonic() - began
    _, (streams, errors) = box.exec_run(["sh", "-c", f"cat {out}; cat {err} >&2; rm -f {out} {err}"],
                                        demux=True)
    return ExecResult(int(state["ExitCode"]), (streams or b"").decode("utf-8", "replace"),
                      (errors or b"").decode("utf-8", "replace"), seconds)


def exec_ok(box: Container, script: str, *, what: str, timeout_s: float, fix: str,
            env: Mapping[str, str] | None = None, user: str = "") -> ExecResult:
    """``exec_in`` that raises DrillError (what failed, its last stderr lines, the fix) on a non-zero exit."""
    result = exec_in(box, script, timeout_s=timeout_s, env=env, user=user)
    if result.exit_code != 0:
        tail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-TAIL_LINES:]) or "no output"
        why = f"timed out after {timeout_s:g} s" if result.exit_code == 124 else f"exit {result.exit_code}"
        raise DrillError(f"{what} failed ({why}): {tail}", where=f"container {box.name}", fix=fix,
                         evidence=result.stderr)
    return result
