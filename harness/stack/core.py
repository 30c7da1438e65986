"""The stack: PostgreSQL, Redis and Toxiproxy on one Docker network made for the run.

    stack = Stack(client, run_id, images, StackOptions()).start()   # parallel start, real probes
    stack.reset()                                                   # heal, clear toxics, reset data
    stack.close()                                                   # remove everything it made

Each data service is reached only through its own Toxiproxy proxy (upstream = the service's
network alias), so endpoints stay stable when a container restarts. Every container, network and
volume carries the run's labels. Credentials are generated per stack.
"""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from harness.errors import HarnessError, PortInUse, ServiceNotReady
from harness.history import History
from harness.stack.images import ResolvedImage
from harness.stack.labels import run_labels
from harness.stack.services import POSTGRES, REDIS, PostgresService, RedisService, Service, ServiceSpec
from harness.toxiproxy import ToxiproxyAPI

TOXIPROXY_API_PORT = 8474


@dataclass(frozen=True)
class StackOptions:
    """A variant of the stack: extra server arguments and data-directory limits."""

    postgres_args: tuple[str, ...] = ()
    redis_args: tuple[str, ...] = ("--appendonly", "yes", "--appendfsync", "everysec")
    postgres_data_tmpfs_mb: int | None = None   # a size-limited data directory (disk-full faults)
    postgres_volumes: tuple[str, ...] = ()      # paths given a labelled volume each (e.g. a WAL archive)
    toxiproxy_api_port: int | None = None       # fixed host port for the API, else any free one


class _NotYet(Exception):
    """A readiness probe has not passed yet."""


@dataclass
class Stack:
    """A running stack; build it with ``Stack(...).start()`` and always ``close()`` it."""

    client: docker.DockerClient
    run_id: str
    images: dict[str, ResolvedImage]
    options: StackOptions = field(default_factory=StackOptions)
    ready_timeout_s: float = 90.0
    progress: Callable[[str], None] = print
    history: History | None = None
    fault_records: list[Any] | None = None
    postgres: PostgresService = field(init=False)
    redis: RedisService = field(init=False)
    toxiproxy: ToxiproxyAPI = field(init=False)
    toxiproxy_url: str = field(init=False, default="")
    network_name: str = field(init=False, default="")
    started_s: float = field(init=False, default=0.0)
    _network: Network | None = field(init=False, default=None)
    _containers: dict[str, DockerContainer] = field(init=False, default_factory=dict)
    _volumes: list[Any] = field(init=False, default_factory=list)
    _passwords: dict[str, str] = field(init=False, default_factory=dict)
    _uid: str = field(init=False, default_factory=lambda: secrets.token_hex(3))

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "Stack":
        began = time.monotonic()
        try:
            self._check_port_free()
            labels = run_labels(self.run_id)
            self._network = Network(docker_network_kw={"labels": labels}).create()
            self.network_name = self._network.name
            specs = {"postgres": self._postgres_container, "redis": self._redis_container,
                     "toxiproxy": self._toxiproxy_container}
            with ThreadPoolExecutor(max_workers=len(specs)) as pool:
                built = {name: pool.submit(make) for name, make in specs.items()}
                self._containers = {name: fut.result() for name, fut in built.items()}
            self._wire()
            with ThreadPoolExecutor(max_workers=2) as pool:
                for fut in [pool.submit(self._wait_ready, s) for s in (self.postgres, self.redis)]:
                    fut.result()
        except BaseException:
            self.close()
            raise
        self.started_s = time.monotonic() - began
        self.progress(f"[harness] stack {self.run_id} ready in {self.started_s:.1f} s "
                      f"(postgres {self.postgres.port}, redis {self.redis.port}, "
                      f"toxiproxy {self.toxiproxy_url})")
        return self

    def close(self) -> None:
        """Remove the stack's containers, volumes and network; safe to call twice."""
        for container in self._containers.values():
            try:
                container.stop()
            except docker.errors.NotFound:
                pass
        self._containers = {}
        for volume in self._volumes:
            try:
                volume.remove(force=True)
            except docker.errors.NotFound:
                pass
        self._volumes = []
        if self._network is not None:
            try:
                self._network.remove()
            except docker.errors.NotFound:
                pass
            self._network = None

    def bind(self, history: History | None, fault_records: list[Any] | None) -> None:
        """Record the next scenario's faults into ``history`` and ``fault_records``."""
        self.history = history
        self.fault_records = fault_records

    def reset(self) -> float:
        """Heal every fault, remove every toxic and reset data; returns the seconds it took."""
        began = time.monotonic()
        self.toxiproxy.reset()
        for service in (self.postgres, self.redis):
            self._revive(service)
        for service in (self.postgres, self.redis):
            self._wait_ready(service, timeout_s=min(self.ready_timeout_s, 30.0))
            service.reset_data()
        return time.monotonic() - began

    @property
    def services(self) -> tuple[Service, ...]:
        return (self.postgres, self.redis)

    # -- containers ---------------------------------------------------------------------------
    def _base(self, service: str, alias: str) -> DockerContainer:
        container = DockerContainer(self.images[service].ref)
        container.with_network(self._network).with_network_aliases(alias)
        container.with_kwargs(labels=run_labels(self.run_id))
        return container

    def _volume(self, service: str) -> str:
        volume = self.client.volumes.create(name=f"dr-{self.run_id}-{self._uid}-{service}",
                                            labels=run_labels(self.run_id))
        self._volumes.append(volume)
        return volume.name

    def _postgres_container(self) -> DockerContainer:
        self._passwords["postgres"] = password = secrets.token_urlsafe(18)
        container = self._base("postgres", POSTGRES.name)
        container.with_envs(POSTGRES_USER=PostgresService.user, POSTGRES_DB=PostgresService.dbname,
                            POSTGRES_PASSWORD=password)
        if self.options.postgres_data_tmpfs_mb:
            container.with_tmpfs_mount(POSTGRES.data_dir, f"size={self.options.postgres_data_tmpfs_mb}m")
        else:
            container.with_volume_mapping(self._volume("postgres"), POSTGRES.data_dir, "rw")
        for number, path in enumerate(self.options.postgres_volumes):
            container.with_volume_mapping(self._volume(f"postgres-extra{number}"), path, "rw")
        if self.options.postgres_args:
            container.with_command(["postgres", *self.options.postgres_args])
        container.ports[f"{POSTGRES.port}/tcp"] = ("127.0.0.1", None)
        return _started(container)

    def _redis_container(self) -> DockerContainer:
        self._passwords["redis"] = password = secrets.token_urlsafe(18)
        container = self._base("redis", REDIS.name)
        container.with_volume_mapping(self._volume("redis"), REDIS.data_dir, "rw")
        container.with_command(["redis-server", "--protected-mode", "no", "--requirepass",
                                password, *self.options.redis_args])
        container.ports[f"{REDIS.port}/tcp"] = ("127.0.0.1", None)
        return _started(container)

    def _toxiproxy_container(self) -> DockerContainer:
        container = self._base("toxiproxy", "toxiproxy")
        container.ports[f"{TOXIPROXY_API_PORT}/tcp"] = ("127.0.0.1", self.options.toxiproxy_api_port)
        for spec in (POSTGRES, REDIS):
            container.ports[f"{spec.proxy_port}/tcp"] = ("127.0.0.1", None)
        return _started(container)

    def _wire(self) -> None:
        proxy = self._containers["toxiproxy"]
        api_port = _host_port(proxy, TOXIPROXY_API_PORT, "toxiproxy")
        self.toxiproxy_url = f"http://127.0.0.1:{api_port}"
        self.toxiproxy = ToxiproxyAPI(self.toxiproxy_url)
        _retry(lambda: self.toxiproxy.version(), timeout_s=self.ready_timeout_s,
               what="toxiproxy", logs=lambda: _logs(proxy))
        for spec in (POSTGRES, REDIS):
            self.toxiproxy.create_proxy(spec.name, listen=f"0.0.0.0:{spec.proxy_port}",
                                        upstream=f"{spec.name}:{spec.port}")
        self.postgres = self._service(PostgresService, POSTGRES, self._passwords["postgres"])
        self.redis = self._service(RedisService, REDIS, self._passwords["redis"])

    def _service(self, cls: type, spec: ServiceSpec, password: str) -> Any:
        proxy = self._containers["toxiproxy"]
        own = self._containers[spec.name]
        return cls(spec=spec, stack=self, container=own.get_wrapped_container(),
                   port=_host_port(proxy, spec.proxy_port, "toxiproxy"),
                   direct_port=_host_port(own, spec.port, spec.name), password=password)

    def _revive(self, service: Service) -> None:
        box = service.container
        box.reload()
        if box.status == "paused":
            box.unpause()
        elif box.status != "running":
            box.start()
        networks = box.attrs["NetworkSettings"]["Networks"]
        if self.network_name not in networks:
            self.client.networks.get(self.network_name).connect(box, aliases=[service.name])
        box.reload()
        service.direct_port = int(box.ports[f"{service.spec.port}/tcp"][0]["HostPort"])

    def _wait_ready(self, service: Service, timeout_s: float | None = None) -> None:
        _retry(service.probe, timeout_s=timeout_s or self.ready_timeout_s, what=service.name,
               logs=lambda: _logs(self._containers[service.name]),
               alive=lambda: _running(service.container))

    def _check_port_free(self) -> None:
        port = self.options.toxiproxy_api_port
        if port is None:
            return
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                raise PortInUse(f"port 127.0.0.1:{port} for the Toxiproxy API is already in use",
                                where="HARNESS_TOXIPROXY_API_PORT",
                                fix="stop what holds it or unset HARNESS_TOXIPROXY_API_PORT "
                                    "to let the harness pick a free port") from None


def _started(container: DockerContainer) -> DockerContainer:
    try:
        return container.start()
    except docker.errors.APIError as exc:
        text = str(exc)
        if "port is already allocated" in text or "address already in use" in text:
            raise PortInUse(f"a port for {container.image} is already in use",
                            fix="free the port or let the harness choose one") from exc
        raise HarnessError(f"could not start {container.image}: {exc.explanation or exc}",
                           fix="see the Docker engine log") from exc


def _host_port(container: DockerContainer, port: int, what: str) -> int:
    box = container.get_wrapped_container()
    box.reload()
    bound = (box.ports or {}).get(f"{port}/tcp")
    if not bound:
        tail = _logs(container)
        raise ServiceNotReady(f"{what} exited before it became ready "
                              f"(status {box.status}); last log lines: {' | '.join(tail.splitlines()[-8:])}",
                              fix="check the image and the server arguments", evidence=tail)
    return int(bound[0]["HostPort"])


def _logs(container: DockerContainer, lines: int = 15) -> str:
    try:
        raw = container.get_wrapped_container().logs(tail=lines)
    except docker.errors.APIError:
        return "(logs unavailable)"
    return raw.decode(errors="replace").strip()


def _running(box: Any) -> bool:
    try:
        box.reload()
    except docker.errors.NotFound:
        return False
    return box.status in ("running", "paused", "restarting", "created")


def _retry(probe: Callable[[], Any], *, timeout_s: float, what: str, logs: Callable[[], str],
           alive: Callable[[], bool] | None = None) -> None:
    def attempt() -> None:
        if alive is not None and not alive():
            raise _Exited()
        try:
            probe()
        except Exception as exc:  # noqa: BLE001 - any failure of a real probe means "not yet"
            raise _NotYet(f"{type(exc).__name__}: {exc}") from exc

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
        raise ServiceNotReady(f"{what} was not ready after {timeout_s:g} s ({exc}); last log lines: "
                              f"{' | '.join(tail.splitlines()[-8:])}",
                              fix="raise HARNESS_READY_TIMEOUT_S or check the service's logs",
                              evidence=tail) from None


class _Exited(Exception):
    """The container stopped while we waited for it."""
