"""The stack: declared services on one Docker network made for the run, each behind Toxiproxy.

    stack = Stack(client, run_id, images, StackOptions()).start()   # parallel start, real probes
    stack.reset()                                                   # heal, clear toxics, reset data
    stack.close()                                                   # remove everything it made

The declared set is PostgreSQL and Redis (``catalog.py``) plus ``StackOptions.services``. Start:
check every declaration (``declare.check_declared``), then have every image (pulled, built), and
only then create anything: the network, Toxiproxy with one proxy per service (upstream = the
service's network alias; dependents reach it at the alias ``proxy-<name>``), and the services
level by level in dependency order, each level started in parallel and waited for with its own
readiness check. A failure anywhere removes what was made (also by the stack's own label, for a
container that failed halfway) and raises one line. Every container, network and volume carries
the run's labels; credentials are generated per stack. Starting one container and waiting for a
service's readiness (with its one-line errors) are in ``readiness.py``.
"""

from __future__ import annotations

import secrets
import socket
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from harness.errors import HarnessError, PortInUse
from harness.history import History
from harness.stack import catalog
from harness.stack.builds import resolve_service_image
from harness.stack.cleanup import remove_labelled
from harness.stack.declare import (TOXIPROXY_API_PORT, Endpoint, ServiceSpec, assign_proxy_ports,
                                   check_declared, command_args, render)
from harness.stack.images import ResolvedImage
from harness.stack.labels import object_name, run_labels
from harness.stack.local import LocalProcess
from harness.stack.readiness import (container_logs, free_port, host_port, is_running, start_container,
                                     wait_until_ready)
from harness.stack.services import ElasticsearchService, PostgresService, RedisService, Service
from harness.toxiproxy import ToxiproxyAPI

STACK_LABEL = "dr-harness.stack"
SERVICE_CLASSES: dict[str, type[Service]] = {"postgres": PostgresService, "redis": RedisService,
                                             "elasticsearch": ElasticsearchService, "service": Service}


@dataclass(frozen=True)
class StackOptions:
    """A variant of the stack: server arguments, data-directory limits, and added services."""

    postgres_args: tuple[str, ...] = ()
    redis_args: tuple[str, ...] = ("--appendonly", "yes", "--appendfsync", "everysec")
    postgres_data_tmpfs_mb: int | None = None   # a size-limited data directory (disk-full faults)
    postgres_volumes: tuple[str, ...] = ()      # paths given a labelled volume each (e.g. a WAL archive)
    toxiproxy_api_port: int | None = None       # fixed host port for the API, else any free one
    services: tuple[ServiceSpec, ...] = ()      # declared services added to PostgreSQL and Redis

    def declared(self) -> list[ServiceSpec]:
        """Every service of this variant, data services first, in declaration order."""
        return [catalog.postgres(self.postgres_args, data_tmpfs_mb=self.postgres_data_tmpfs_mb,
                                 extra_volumes=self.postgres_volumes),
                catalog.redis(self.redis_args), *self.services]


@dataclass
class Stack:
    """A running stack; build it with ``Stack(...).start()`` and always ``close()`` it.

    ``stack.postgres``, ``stack.redis`` and ``stack.<name>`` (or ``stack["<name>"]``) are the
    running services; ``images`` may hold images already resolved by name (the others are
    resolved or built at start).
    """

    client: docker.DockerClient
    run_id: str
    images: dict[str, ResolvedImage]
    options: StackOptions = field(default_factory=StackOptions)
    ready_timeout_s: float = 90.0
    progress: Callable[[str], None] = print
    history: History | None = None
    fault_records: list[Any] | None = None
    logs_dir: Path | None = None                # local commands' output (default: a temp dir)
    toxiproxy: ToxiproxyAPI = field(init=False)
    toxiproxy_url: str = field(init=False, default="")
    network_name: str = field(init=False, default="")
    started_s: float = field(init=False, default=0.0)
    resolved: dict[str, ResolvedImage] = field(init=False, default_factory=dict)
    _specs: dict[str, ServiceSpec] = field(init=False, default_factory=dict)
    _levels: list[list[ServiceSpec]] = field(init=False, default_factory=list)
    _proxy_ports: dict[str, int] = field(init=False, default_factory=dict)
    _services: dict[str, Service] = field(init=False, default_factory=dict)
    _network: Network | None = field(init=False, default=None)
    _containers: dict[str, DockerContainer] = field(init=False, default_factory=dict)
    _processes: dict[str, LocalProcess] = field(init=False, default_factory=dict)
    _volumes: list[Any] = field(init=False, default_factory=list)
    _passwords: dict[str, str] = field(init=False, default_factory=dict)
    _uid: str = field(init=False, default_factory=lambda: secrets.token_hex(3))

    # -- the running services -----------------------------------------------------------------
    @property
    def postgres(self) -> PostgresService:
        return self._services["postgres"]  # type: ignore[return-value]

    @property
    def redis(self) -> RedisService:
        return self._services["redis"]  # type: ignore[return-value]

    @property
    def services(self) -> tuple[Service, ...]:
        """Every running service, in start order."""
        return tuple(self._services.values())

    def __getitem__(self, name: str) -> Service:
        try:
            return self._services[name]
        except KeyError:
            raise KeyError(f"the stack has no service {name!r} (it has: "
                           f"{', '.join(self._services) or 'none yet'})") from None

    def __getattr__(self, name: str) -> Service:
        services = self.__dict__.get("_services") or {}
        if name in services:
            return services[name]
        raise AttributeError(f"{type(self).__name__!r} has no attribute or service {name!r}")

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "Stack":
        began = time.monotonic()
        specs = self.options.declared()
        self._levels = check_declared(specs)           # declaration mistakes: nothing made yet
        self._specs = {spec.name: spec for level in self._levels for spec in level}
        self._proxy_ports = assign_proxy_ports(list(self._specs.values()))
        self._passwords = {name: secrets.token_urlsafe(18) for name in self._specs}
        try:
            self._check_port_free()
            self._resolve_images()
            labels = self._labels()
            network = Network(docker_network_kw={"labels": labels})
            network.name = object_name(self.run_id, self._uid, "net")
            self._network = network.create()
            self.network_name = self._network.name
            first, *rest = self._levels
            with ThreadPoolExecutor(max_workers=len(first) + 1) as pool:
                proxy = pool.submit(self._toxiproxy_container)
                starts = [pool.submit(self._start_one, spec) for spec in first]
                self._containers["toxiproxy"] = proxy.result()
                for fut in starts:
                    fut.result()
            self._wire()
            self._attach(first)
            for level in rest:
                with ThreadPoolExecutor(max_workers=len(level)) as pool:
                    for fut in [pool.submit(self._start_one, spec) for spec in level]:
                        fut.result()
                self._attach(level)
        except BaseException:
            self.close()
            raise
        self.started_s = time.monotonic() - began
        ports = ", ".join(f"{s.name} {s.port}" for s in self._services.values())
        self.progress(f"[harness] stack {self.run_id} ready in {self.started_s:.1f} s "
                      f"({ports}, toxiproxy {self.toxiproxy_url})")
        return self

    def close(self) -> None:
        """Stop local commands; remove the stack's containers, volumes and network. Idempotent."""
        for process in self._processes.values():
            process.stop()
        self._processes = {}
        for container in self._containers.values():
            try:
                container.stop()
            except docker.errors.NotFound:
                pass
        self._containers = {}
        if self._network is not None or self._volumes:
            # a container whose start failed halfway is not in _containers: remove by label
            remove_labelled(self.client, f"{STACK_LABEL}={self._uid}")
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

    def container_logs(self, lines: int = 50) -> dict[str, str]:
        """The last ``lines`` log lines of every container of this stack (and of each local command),
        keyed by service name; evidence for a failed scenario. Never raises for one missing log."""
        names = {}
        for name, container in self._containers.items():
            wrapped = container.get_wrapped_container()
            if wrapped is not None:
                names[wrapped.id] = name
        out: dict[str, str] = {}
        try:
            boxes = self.client.containers.list(all=True, filters={"label": f"{STACK_LABEL}={self._uid}"})
        except docker.errors.APIError as exc:
            return {"engine": f"(container list unavailable: {exc})"}
        for box in boxes:
            name = names.get(box.id, box.name)
            name = f"{name}-{box.short_id}" if name in out else name
            try:
                out[name] = box.logs(tail=lines, timestamps=True).decode(errors="replace")
            except docker.errors.APIError as exc:
                out[name] = f"(logs unavailable: {exc})"
        for name, process in self._processes.items():
            try:
                out[name] = "".join(Path(process.log_path).read_text(errors="replace").splitlines(True)[-lines:])
            except OSError as exc:
                out[name] = f"(output unavailable: {exc})"
        return out

    def secrets(self) -> tuple[str, ...]:
        """The passwords generated for this stack's services (the report keeps them out of evidence)."""
        return tuple(self._passwords.values())

    def bind(self, history: History | None, fault_records: list[Any] | None) -> None:
        """Record the next scenario's faults into ``history`` and ``fault_records``."""
        self.history = history
        self.fault_records = fault_records

    def reset(self) -> float:
        """Heal every fault, remove every toxic and reset data; returns the seconds it took."""
        began = time.monotonic()
        self.toxiproxy.reset()
        for service in self._services.values():
            self._revive(service)
        for level in self._levels:
            for spec in level:
                service = self._services[spec.name]
                self._wait_ready(service, timeout_s=min(self._ready_timeout(spec), 30.0))
                service.reset_data()
                if spec.kind == "service" and service.container is not None:   # restarted: see reset_data
                    self._revive(service)
                    self._wait_ready(service, timeout_s=min(self._ready_timeout(spec), 30.0))
        return time.monotonic() - began

    # -- images, containers, processes -----------------------------------------------------------
    def _labels(self) -> dict[str, str]:
        return run_labels(self.run_id) | {STACK_LABEL: self._uid}

    def _resolve_images(self) -> None:
        wanted = [s for s in self._specs.values() if not s.local]
        missing = [s for s in wanted if s.name not in self.images]
        self.resolved = {s.name: self.images[s.name] for s in wanted if s.name in self.images}
        if "toxiproxy" not in self.images:
            raise HarnessError("no Toxiproxy image was given to the stack",
                               fix="resolve SPECS['toxiproxy'] and pass it in images")
        self.resolved["toxiproxy"] = self.images["toxiproxy"]
        if missing:
            with ThreadPoolExecutor(max_workers=len(missing)) as pool:
                futures = {s.name: pool.submit(resolve_service_image, self.client, s, self.run_id,
                                               progress=self.progress) for s in missing}
                for name, fut in futures.items():
                    self.resolved[name] = fut.result()

    def _volume(self, service: str, key: str) -> str:
        volume = self.client.volumes.create(name=object_name(self.run_id, self._uid, f"{service}-{key}"),
                                            labels=self._labels())
        self._volumes.append(volume)
        return volume.name

    def _container_endpoints(self, spec: ServiceSpec) -> dict[str, Endpoint]:
        """How a container reaches every other service: its proxy's alias and listen port."""
        out = {}
        for name, other in self._specs.items():
            if other.local:   # reachable from containers only by its host port: not offered
                continue
            out[name] = Endpoint(f"proxy-{name}", self._proxy_ports[name], self._passwords[name],
                                 other.user, other.dbname, other.url)
        return out

    def _host_endpoints(self) -> dict[str, Endpoint]:
        """How the host and local commands reach every service started so far."""
        return {name: service.endpoint for name, service in self._services.items()}

    def _start_one(self, spec: ServiceSpec) -> None:
        if spec.local:
            self._start_local(spec)
            return
        own = Endpoint(spec.name, spec.port, self._passwords[spec.name])
        endpoints = self._container_endpoints(spec)
        container = DockerContainer(self.resolved[spec.name].ref).with_name(object_name(self.run_id, self._uid, spec.name))
        container.with_network(self._network).with_network_aliases(spec.name)
        kwargs: dict[str, Any] = {"labels": self._labels()}
        if spec.restart != "no":
            kwargs["restart_policy"] = {"Name": spec.restart}
        container.with_kwargs(**kwargs)
        for path, size in spec.tmpfs.items():
            container.with_tmpfs_mount(path, f"size={size}")   # the value is tmpfs's option string
        for key, value in spec.environment.items():
            container.with_env(key, render(spec, value, own=own, endpoints=endpoints))
        for key, path in spec.volumes.items():
            container.with_volume_mapping(self._volume(spec.name, key), path, "rw")
        if spec.command:
            container.with_command([render(spec, arg, own=own, endpoints=endpoints) for arg in spec.command])
        container.ports[f"{spec.port}/tcp"] = ("127.0.0.1", None)
        self._containers[spec.name] = start_container(container, spec.name)

    def _start_local(self, spec: ServiceSpec) -> None:
        port = free_port()
        own = Endpoint("127.0.0.1", port, self._passwords[spec.name])
        endpoints = self._host_endpoints()
        env = {k: render(spec, v, own=own, endpoints=endpoints) for k, v in spec.environment.items()}
        run = spec.run if isinstance(spec.run, str) else tuple(spec.run or ())
        rendered = (render(spec, run, own=own, endpoints=endpoints) if isinstance(run, str)
                    else [render(spec, arg, own=own, endpoints=endpoints) for arg in run])
        logs = self.logs_dir or Path(tempfile.gettempdir()) / f"dr-harness-{self.run_id}-{self._uid}"
        process = LocalProcess(spec.name, command_args(spec, rendered), env, logs, port=port, cwd=spec.cwd)
        self._processes[spec.name] = process
        process.start()
        self.progress(f"[harness] {spec.name}: started local command (pid {process.pid}) on "
                      f"127.0.0.1:{port}; output in {process.log_path}")

    def _toxiproxy_container(self) -> DockerContainer:
        container = DockerContainer(self.resolved["toxiproxy"].ref).with_name(
            object_name(self.run_id, self._uid, "toxiproxy"))
        aliases = ["toxiproxy", *[f"proxy-{name}" for name in self._proxy_ports]]
        container.with_network(self._network).with_network_aliases(*aliases)
        container.with_kwargs(labels=self._labels())
        container.ports[f"{TOXIPROXY_API_PORT}/tcp"] = ("127.0.0.1", self.options.toxiproxy_api_port)
        for port in self._proxy_ports.values():
            container.ports[f"{port}/tcp"] = ("127.0.0.1", None)
        return start_container(container, "toxiproxy")

    def _wire(self) -> None:
        proxy = self._containers["toxiproxy"]
        api_port = host_port(proxy, TOXIPROXY_API_PORT, "toxiproxy")
        self.toxiproxy_url = f"http://127.0.0.1:{api_port}"
        self.toxiproxy = ToxiproxyAPI(self.toxiproxy_url)
        wait_until_ready(lambda: self.toxiproxy.version(), timeout_s=self.ready_timeout_s,
               what="toxiproxy", logs=lambda: container_logs(proxy))
        for name, port in self._proxy_ports.items():
            spec = self._specs[name]
            self.toxiproxy.create_proxy(name, listen=f"0.0.0.0:{port}", upstream=f"{name}:{spec.port}")

    def _attach(self, level: list[ServiceSpec]) -> None:
        """Make the level's service objects and wait until each is ready (in parallel)."""
        for spec in level:
            self._services[spec.name] = self._service(spec)
        with ThreadPoolExecutor(max_workers=len(level)) as pool:
            for fut in [pool.submit(self._wait_ready, self._services[s.name]) for s in level]:
                fut.result()

    def _service(self, spec: ServiceSpec) -> Service:
        cls = SERVICE_CLASSES.get(spec.kind, Service)
        password = self._passwords[spec.name]
        if spec.local:
            process = self._processes[spec.name]
            port = process.port
            return cls(spec=spec, stack=self, container=None, port=port, direct_port=port,
                       password=password, process=process)
        own = self._containers[spec.name]
        toxiproxy = self._containers["toxiproxy"]
        return cls(spec=spec, stack=self, container=own.get_wrapped_container(),
                   port=host_port(toxiproxy, self._proxy_ports[spec.name], "toxiproxy"),
                   direct_port=host_port(own, spec.port, spec.name), password=password,
                   proxy_port=self._proxy_ports[spec.name])

    def _revive(self, service: Service) -> None:
        if service.process is not None:
            if not service.process.alive():
                service.process.start()
            return
        box = service.container
        assert box is not None
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

    def _ready_timeout(self, spec: ServiceSpec) -> float:
        return spec.ready_timeout_s if spec.ready_timeout_s is not None else self.ready_timeout_s

    def _wait_ready(self, service: Service, timeout_s: float | None = None) -> None:
        spec = service.spec
        if service.process is not None:
            process = service.process
            logs, alive = (lambda: process.tail()), process.alive
            fix = (f"make the command listen on 127.0.0.1:{service.port} (the {{port}} it is given) "
                   f"and answer {spec.ready}; its output is in {process.log_path}")
        else:
            container = self._containers[service.name]
            box = service.container
            logs, alive = (lambda: container_logs(container)), (lambda: is_running(box))
            fix = (f"make it listen on port {spec.port} on all interfaces and answer {spec.ready}, "
                   f"or raise ready_timeout_s / HARNESS_READY_TIMEOUT_S")
        wait_until_ready(service.probe, timeout_s=timeout_s or self._ready_timeout(spec), what=service.name,
               logs=logs, alive=alive, check=str(spec.ready), fix=fix)

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


