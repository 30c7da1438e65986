"""Container faults through the Docker API: kill, stop, pause, restart, crash, network partition.

They act on the docker SDK's ``Container`` (for a testcontainers wrapper pass
``wrapper.get_wrapped_container()``), never on the testcontainers wrapper itself, whose
``stop()`` removes the container and its anonymous volumes.

Healing a container fault waits until the container is *running* again (up to
``running_timeout_s``), then calls the optional ``wait_ready`` hook; whether the service
inside is ready is for the scenario to measure. A fault that cannot be healed in time raises
``FaultError`` with the container's last log lines as evidence. Each fault shows it is in effect
by the container's own state, read back from the engine (for up to ``EFFECT_WAIT_S``): killed or
stopped means not running, paused means paused, restarted means a new start time, partitioned
means no longer attached to the network, crashed means the engine saw the container exit or
restart after its process was killed from inside::

    with Kill(pg.get_wrapped_container()):          # SIGKILL; heal starts it again
        writer.run_for(5)
    with Partition(redis_container, stack_network): # heal reconnects with the same aliases
        ...
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import docker.errors
from docker.models.containers import Container
from docker.models.networks import Network
from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from harness.errors import FaultError
from harness.faults.base import Effect, Fault

LOG_TAIL_LINES = 20
EFFECT_WAIT_S = 2.0


def container_status(container: Container) -> str:
    """The container's current state ("running", "paused", "exited", ..., or "removed")."""
    try:
        container.reload()
    except docker.errors.NotFound:
        return "removed"
    return str(container.attrs["State"]["Status"])


def _tail(container: Container) -> str:
    try:
        return container.logs(tail=LOG_TAIL_LINES).decode("utf-8", "replace")
    except docker.errors.APIError as exc:
        return f"(logs unavailable: {exc})"


def wait_running(container: Container, timeout_s: float) -> None:
    """Block until ``container`` is running (not paused); FaultError after ``timeout_s``."""
    try:
        Retrying(stop=stop_after_delay(timeout_s), wait=wait_fixed(0.1),
                 retry=retry_if_result(lambda status: status != "running"))(container_status, container)
    except RetryError as exc:
        status = container_status(container)
        raise FaultError(f"container {container.name} is {status}, not running, {timeout_s:g} s "
                         f"after healing", where=f"container {container.short_id}",
                         fix="read its last log lines (evidence) for why it does not start",
                         evidence=_tail(container)) from exc


@dataclass(frozen=True, eq=False)
class ContainerFault(Fault):
    """A fault on one Docker container (the docker SDK object)."""

    container: Container = field(repr=False)
    wait_ready: Callable[[], None] | None = field(default=None, kw_only=True, repr=False)
    running_timeout_s: float = field(default=30.0, kw_only=True)
    service: str | None = field(default=None, kw_only=True)  # names the target in labels

    @property
    def target(self) -> str:
        return self.service or str(self.container.name)

    def _validate(self) -> None:
        if not isinstance(self.container, Container):
            raise ValueError(f"{type(self).__name__}: container must be a docker SDK Container "
                             f"(testcontainers: wrapper.get_wrapped_container()), "
                             f"got {type(self.container).__name__}")
        if self.running_timeout_s <= 0:
            raise ValueError(f"{type(self).__name__}: running_timeout_s must be > 0, "
                             f"got {self.running_timeout_s}")

    def _describe(self) -> str:
        return ""

    def _docker(self, action: str, call: Callable[[], object]) -> None:
        """Run one Docker API call, translating its error into a one-line FaultError."""
        try:
            call()
        except docker.errors.DockerException as exc:
            raise FaultError(f"could not {action} container {self.target}: {exc}",
                             where=f"container {self.container.short_id}",
                             fix="is the container still there (docker ps -a)?") from exc

    def _state_shows(self, wanted: Callable[[dict], bool], what: str) -> Effect:
        """Poll the container's state for up to EFFECT_WAIT_S until ``wanted(State)`` holds."""
        deadline = time.monotonic() + EFFECT_WAIT_S
        while True:
            try:
                self.container.reload()
                state = self.container.attrs["State"]
            except docker.errors.NotFound:
                state = {"Status": "removed"}
            if wanted(state):
                return Effect(True, f"container {self.target} is {what} (engine state "
                                    f"{state.get('Status')})")
            if time.monotonic() >= deadline:
                return Effect(False, f"container {self.target} is not {what}: engine state "
                                     f"{state.get('Status')} {EFFECT_WAIT_S:g} s after injection")
            time.sleep(0.05)

    def _start_and_wait(self) -> None:
        """Start the container unless it runs, wait until it runs, then call ``wait_ready``."""
        status = container_status(self.container)
        if status == "paused":
            self._docker("unpause", self.container.unpause)
        elif status != "running":
            self._docker("start", self.container.start)
        wait_running(self.container, self.running_timeout_s)
        if self.wait_ready is not None:
            self.wait_ready()


@dataclass(frozen=True, eq=False)
class Kill(ContainerFault):
    """SIGKILL the container (a process crash); heal starts it again unless ``restart=False``."""

    kind: ClassVar[str] = "kill"
    restart: bool = field(default=True, kw_only=True)

    def _describe(self) -> str:
        return "SIGKILL" + ("" if self.restart else ", stays down")

    def _inject(self) -> None:
        self._docker("kill", lambda: self.container.kill(signal="SIGKILL"))

    def _check_effect(self) -> Effect:
        return self._state_shows(lambda st: not st.get("Running") and st.get("Status") != "paused",
                                 "not running after SIGKILL")

    def _heal(self) -> None:
        if self.restart:
            self._start_and_wait()


@dataclass(frozen=True, eq=False)
class Stop(ContainerFault):
    """SIGTERM, then SIGKILL after ``grace_s`` seconds (a clean shutdown); heal starts it again."""

    kind: ClassVar[str] = "stop"
    grace_s: int = 10

    def _validate(self) -> None:
        super()._validate()
        if isinstance(self.grace_s, bool) or not isinstance(self.grace_s, int) or self.grace_s < 0:
            raise ValueError(f"Stop: grace_s must be a whole number of seconds >= 0, got {self.grace_s!r}")

    def _describe(self) -> str:
        return f"grace {self.grace_s}s"

    def _inject(self) -> None:
        self._docker("stop", lambda: self.container.stop(timeout=self.grace_s))

    def _check_effect(self) -> Effect:
        return self._state_shows(lambda st: not st.get("Running"), "stopped")

    def _heal(self) -> None:
        self._start_and_wait()


@dataclass(frozen=True, eq=False)
class Pause(ContainerFault):
    """Freeze every process of the container (SIGSTOP-like, cgroup freezer); heal unpauses."""

    kind: ClassVar[str] = "pause"

    def _inject(self) -> None:
        self._docker("pause", self.container.pause)

    def _check_effect(self) -> Effect:
        return self._state_shows(lambda st: st.get("Status") == "paused", "paused")

    def _heal(self) -> None:
        self._start_and_wait()


class _StartedAt:
    """The container's start time read just before a restart."""

    def __init__(self) -> None:
        self.at: str | None = None


@dataclass(frozen=True, eq=False)
class Restart(ContainerFault):
    """Restart the container (SIGTERM, SIGKILL after ``grace_s``, start); heal only waits for it."""

    kind: ClassVar[str] = "restart"
    grace_s: int = 10
    _started: _StartedAt = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_started", _StartedAt())
        super().__post_init__()

    def _validate(self) -> None:
        super()._validate()
        if isinstance(self.grace_s, bool) or not isinstance(self.grace_s, int) or self.grace_s < 0:
            raise ValueError(f"Restart: grace_s must be a whole number of seconds >= 0, got {self.grace_s!r}")

    def _describe(self) -> str:
        return f"grace {self.grace_s}s"

    def _inject(self) -> None:
        self.container.reload()
        self._started.at = self.container.attrs["State"].get("StartedAt")
        self._docker("restart", lambda: self.container.restart(timeout=self.grace_s))

    def _check_effect(self) -> Effect:
        before = self._started.at
        return self._state_shows(lambda st: bool(before) and st.get("StartedAt") != before,
                                 f"started again (it had started at {before})")

    def _heal(self) -> None:
        self._start_and_wait()


class _CrashMemo:
    """The container's restart count and start time just before the crash."""

    def __init__(self) -> None:
        self.restarts: int | None = None
        self.started_at: str | None = None


@dataclass(frozen=True, eq=False)
class Crash(ContainerFault):
    """SIGKILL the service's own process from inside the container (``docker exec``), as a crash.

    Unlike ``Kill`` (``docker kill``, after which Docker ignores the restart policy), the
    container's process dies by itself, so its restart policy (``on-failure``, ``always``)
    decides what happens: the heal only waits until the container runs again. Without a restart
    policy the heal does nothing: the service stays down, as it would in production (the stack's
    reset starts it again for the next scenario). ``pid_file`` is a file in the container holding
    the PID to kill; without it every process but the container's init is killed (``kill -KILL
    -1``), which crashes a service run under an init such as tini. The effect is shown by the
    engine: the container exited, or its restart count or start time moved.
    """

    kind: ClassVar[str] = "crash"
    pid_file: str | None = field(default=None, kw_only=True)
    _memo: _CrashMemo = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_memo", _CrashMemo())
        super().__post_init__()

    def _describe(self) -> str:
        return f"SIGKILL pid in {self.pid_file}" if self.pid_file else "SIGKILL from inside"

    def _command(self) -> list[str]:
        if self.pid_file:
            return ["sh", "-c", f'kill -KILL "$(cat {self.pid_file})"']
        return ["sh", "-c", "kill -KILL -1"]

    def _inject(self) -> None:
        self.container.reload()
        state = self.container.attrs["State"]
        self._memo.restarts = int(self.container.attrs.get("RestartCount") or 0)
        self._memo.started_at = state.get("StartedAt")
        result: list[object] = []
        self._docker("exec kill in", lambda: result.append(self.container.exec_run(self._command())))
        exit_code = getattr(result[0], "exit_code", None) if result else None
        if exit_code not in (0, None, 137, -1):
            output = getattr(result[0], "output", b"") or b""
            raise FaultError(f"the kill inside container {self.target} exited {exit_code}: "
                             f"{output.decode(errors='replace').strip()[:200]}",
                             where=f"Crash of container {self.container.short_id}",
                             fix="check pid_file names the service's PID file, and that the image has sh and kill")

    def _check_effect(self) -> Effect:
        restarts, started = self._memo.restarts, self._memo.started_at

        def crashed(state: dict) -> bool:
            count = int(self.container.attrs.get("RestartCount") or 0)
            return (not state.get("Running") or state.get("Restarting") is True
                    or (restarts is not None and count > restarts) or state.get("StartedAt") != started)
        effect = self._state_shows(crashed, "crashed (exited or restarted by its policy)")
        count = int(self.container.attrs.get("RestartCount") or 0)
        return Effect(effect.in_effect, f"{effect.evidence}; restart count {restarts} -> {count}, "
                                        f"exit code {self.container.attrs['State'].get('ExitCode')}")

    def _heal(self) -> None:
        policy = (self.container.attrs.get("HostConfig", {}).get("RestartPolicy") or {}).get("Name") or "no"
        if policy == "no":
            return
        wait_running(self.container, self.running_timeout_s)
        if self.wait_ready is not None:
            self.wait_ready()


class _PartitionMemo:
    """What a partition must restore: the aliases and fixed IPv4 the container had."""

    def __init__(self) -> None:
        self.aliases: list[str] | None = None
        self.ipv4_address: str | None = None


@dataclass(frozen=True, eq=False)
class Partition(ContainerFault):
    """Disconnect the container from ``network``; heal reconnects it with the same aliases."""

    kind: ClassVar[str] = "partition"
    network: Network = field(repr=False)
    _memo: _PartitionMemo = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_memo", _PartitionMemo())
        super().__post_init__()

    def _validate(self) -> None:
        super()._validate()
        if not isinstance(self.network, Network):
            raise ValueError(f"Partition: network must be a docker SDK Network, "
                             f"got {type(self.network).__name__}")

    def _describe(self) -> str:
        return f"from {self.network.name}"

    def _endpoint(self) -> dict | None:
        """The container's endpoint settings on the network, or None when not attached."""
        self.container.reload()
        networks = self.container.attrs["NetworkSettings"]["Networks"] or {}
        return networks.get(self.network.name)

    def _inject(self) -> None:
        self._memo.aliases = None
        endpoint = self._endpoint()
        if endpoint is None:
            raise FaultError(f"container {self.target} is not attached to network {self.network.name}",
                             where=f"Partition of container {self.container.short_id}",
                             fix="partition it from a network it is on")
        short_id = self.container.id[:12]
        self._memo.aliases = [a for a in endpoint.get("Aliases") or [] if a != short_id]
        self._memo.ipv4_address = (endpoint.get("IPAMConfig") or {}).get("IPv4Address") or None
        self._docker(f"disconnect from network {self.network.name}",
                     lambda: self.network.disconnect(self.container))

    def _check_effect(self) -> Effect:
        if self._endpoint() is None:
            return Effect(True, f"container {self.target} is no longer attached to network "
                                f"{self.network.name}")
        return Effect(False, f"container {self.target} is still attached to network {self.network.name}")

    def _heal(self) -> None:
        if self._memo.aliases is None or self._endpoint() is not None:
            return  # never disconnected (injection failed before) or already reconnected
        self._docker(f"reconnect to network {self.network.name}",
                     lambda: self.network.connect(self.container, aliases=self._memo.aliases,
                                                  ipv4_address=self._memo.ipv4_address))
        wait_running(self.container, self.running_timeout_s)
        if self.wait_ready is not None:
            self.wait_ready()
