"""Declared services: what a stack runs, written down as values and checked before anything starts.

A stack is a set of ``ServiceSpec`` values. The data services (``harness.stack.catalog``) and the
team's own service are declared the same way: where the image comes from (an image ref or image
policy, a directory with a Dockerfile, or a local command run on the workstation), environment,
the port it listens on, a readiness check, volumes, restart policy and the services it depends on::

    ServiceSpec("web", build="services/web", port=8080, ready=Ready.http("/health"),
                environment={"DATABASE_URL": "{postgres.url}", "REDIS_URL": "{redis.url}"},
                restart="on-failure")

Every service except a local command gets one Toxiproxy proxy in front of it, shared by all of
its clients (the tests on the host and the services that depend on it): a fault on a service is
then seen by every client, as an outage in production is. Containers reach a dependency at its
proxy's network alias ``proxy-<name>`` on ``proxy_port``; the host and local commands at
127.0.0.1 on the port Toxiproxy publishes for it.

Placeholders in ``environment``, ``command`` and ``run`` name the stack's endpoints and generated
credentials: ``{port}`` and ``{password}`` (the service's own), and ``{<service>.<attr>}`` with
attr one of ``ENDPOINT_ATTRS``; ``{{`` and ``}}`` are literal braces. A service referred to by a
placeholder is a dependency, as if listed in ``depends_on``. ``check_declared`` finds every
declaration mistake (duplicate or unknown names, unknown placeholders, cycles) as one
``ConfigError`` line naming the service and the fix, before any container exists.
"""

from __future__ import annotations

import re
import shlex
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.errors import ConfigError

ENDPOINT_ATTRS = ("host", "port", "url", "user", "password", "dbname")
OWN_FIELDS = ("port", "password")
RESTART_POLICIES = ("no", "on-failure", "always", "unless-stopped")
KINDS = ("postgres", "redis", "elasticsearch", "service")
TOXIPROXY_API_PORT = 8474
PROXY_PORT_OFFSET = 10000        # postgres 5432 -> proxy 15432, web 8080 -> 18080
PROXY_PORT_FALLBACK = 20000      # when port + offset is out of range or already taken
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,30}$")
_RESERVED = frozenset({"toxiproxy", "proxy", "stack", "services", "client", "network", "images"})


@dataclass(frozen=True)
class Ready:
    """How to tell a service is ready: ``sql`` statement, Redis ``ping``, ``http`` GET path, ``tcp``."""

    kind: Literal["sql", "ping", "http", "tcp"]
    target: str = ""

    @classmethod
    def sql(cls, statement: str = "SELECT 1") -> "Ready":
        return cls("sql", statement)

    @classmethod
    def ping(cls) -> "Ready":
        return cls("ping")

    @classmethod
    def http(cls, path: str = "/health") -> "Ready":
        if not path.startswith("/"):
            raise ConfigError(f"readiness path {path!r} must start with '/'", fix="write e.g. '/health'")
        return cls("http", path)

    @classmethod
    def tcp(cls) -> "Ready":
        return cls("tcp")

    def __str__(self) -> str:
        return {"sql": f"SQL {self.target}", "ping": "PING", "http": f"HTTP GET {self.target}",
                "tcp": "TCP connect"}[self.kind]

    def hello(self) -> bytes:
        """Bytes a server of this kind answers at once: the fault probes' hello (empty for tcp)."""
        if self.kind == "http":
            return f"GET {self.target} HTTP/1.0\r\n\r\n".encode()
        if self.kind == "ping":
            return b"PING\r\n"
        return b""


@dataclass(frozen=True)
class ServiceSpec:
    """One declared service; exactly one of ``image``, ``build`` or ``run`` says how it runs.

    ``image`` is an image ref or an ``ImageSpec`` (the pinned-image policy of the data services);
    ``build`` a directory with a Dockerfile (built with the run's labels, reused while its content
    is unchanged; the build argument ``BASE_IMAGE`` names the harness's Debian 12 base); ``run`` a
    command started on the workstation, which must listen on 127.0.0.1:``{port}``.
    """

    name: str
    port: int
    image: Any = None                                 # str ref or harness.stack.images.ImageSpec
    build: str | Path | None = None
    run: str | Sequence[str] | None = None
    command: tuple[str, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    ready: Ready = field(default_factory=Ready.tcp)
    volumes: Mapping[str, str] = field(default_factory=dict)    # volume key -> path in container
    tmpfs: Mapping[str, str] = field(default_factory=dict)      # path in container -> size, e.g. 160m
    restart: str = "no"
    depends_on: tuple[str, ...] = ()
    kind: str = "service"                              # which client the running service offers
    user: str = ""
    dbname: str = ""
    url: str = "http://{host}:{port}"                  # the template of ``{<name>.url}``
    data_dir: str | None = None                        # where DiskFull fills (a container path)
    hello: bytes | None = None                         # probe bytes; default from ``ready``
    proxy_port: int | None = None                      # inside Toxiproxy; default port + 10000
    ready_timeout_s: float | None = None               # default: the stack's ready_timeout_s
    cwd: str | Path | None = None                      # working directory of a local command

    def __post_init__(self) -> None:
        where = f"service {self.name!r}"
        if not isinstance(self.name, str) or not _NAME.match(self.name) or self.name in _RESERVED:
            raise ConfigError(f"{where}: a name must match {_NAME.pattern} and not be one of "
                              f"{', '.join(sorted(_RESERVED))}", fix="rename the service, e.g. 'web'")
        forms = [f for f in ("image", "build", "run") if getattr(self, f)]
        if len(forms) != 1:
            found = ", ".join(forms) or "none"
            raise ConfigError(f"{where}: declare exactly one of image=, build= or run= (found: {found})",
                              fix="give an image ref, a directory with a Dockerfile, or a local command")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise ConfigError(f"{where}: port must be an integer in 1..65535, got {self.port!r}",
                              fix="give the port the service listens on")
        if self.restart not in RESTART_POLICIES:
            raise ConfigError(f"{where}: restart must be one of {', '.join(RESTART_POLICIES)}, "
                              f"got {self.restart!r}", fix="use Docker's restart policy names")
        if self.kind not in KINDS:
            raise ConfigError(f"{where}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}",
                              fix="leave kind at 'service' for your own service")
        if isinstance(self.depends_on, str):
            raise ConfigError(f"{where}: depends_on must be a tuple of names, got the string "
                              f"{self.depends_on!r}", fix=f"write depends_on=({self.depends_on!r},)")
        if self.build is not None and not (Path(self.build) / "Dockerfile").is_file():
            raise ConfigError(f"{where}: build directory {str(self.build)!r} has no Dockerfile",
                              fix="point build= at a directory that holds a Dockerfile")
        if self.run is not None and "port" not in _own_fields(self):
            raise ConfigError(f"{where}: the local command never receives its port",
                              fix="put {port} in run= or in the environment (e.g. PORT='{port}')")

    @property
    def local(self) -> bool:
        """True for a command run on the workstation (no container, no proxy in front of it)."""
        return self.run is not None

    @property
    def probe_bytes(self) -> bytes:
        return self.hello if self.hello is not None else self.ready.hello()

    def templates(self) -> dict[str, str]:
        """Every text that may hold placeholders, by where it comes from (for error messages)."""
        texts = {f"environment {key}": value for key, value in self.environment.items()}
        texts.update({f"command[{i}]": arg for i, arg in enumerate(self.command)})
        if isinstance(self.run, str):
            texts["run"] = self.run
        elif self.run is not None:
            texts.update({f"run[{i}]": arg for i, arg in enumerate(self.run)})
        return texts

    def dependencies(self) -> tuple[str, ...]:
        """``depends_on`` plus every other service its placeholders name, in order, unique."""
        named = [ref.split(".", 1)[0] for text in self.templates().values()
                 for ref in placeholders(text) if "." in ref]
        return tuple(n for n in dict.fromkeys([*self.depends_on, *named]) if n != self.name)


def _own_fields(spec: ServiceSpec) -> set[str]:
    return {ref for text in spec.templates().values() for ref in placeholders(text) if "." not in ref}


def placeholders(text: str) -> list[str]:
    """The field names of ``text``'s placeholders (``"{postgres.url}/x"`` -> ``["postgres.url"]``)."""
    try:
        return [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        raise ConfigError(f"{text!r} has an unbalanced brace ({exc})",
                          fix="write literal braces as {{ and }}") from None


@dataclass(frozen=True)
class Endpoint:
    """Where one client reaches a service, and the credentials: the values of its placeholders."""

    host: str
    port: int
    password: str = field(default="", repr=False)
    user: str = ""
    dbname: str = ""
    url_template: str = "http://{host}:{port}"

    @property
    def url(self) -> str:
        return self.url_template.format(host=self.host, port=self.port, user=self.user,
                                        password=self.password, dbname=self.dbname)

    def value(self, attr: str) -> str:
        return str(getattr(self, attr))


def check_declared(specs: Sequence[ServiceSpec]) -> list[list[ServiceSpec]]:
    """Check a stack's declarations; return them in start order, as levels that may start together.

    Raises ``ConfigError`` (one line naming the service and the fix) for a duplicate name, a
    dependency or placeholder naming no declared service, an unknown placeholder, a cycle.
    """
    by_name: dict[str, ServiceSpec] = {}
    for spec in specs:
        if spec.name in by_name and by_name[spec.name] != spec:
            raise ConfigError(f"service {spec.name!r} is declared twice, differently",
                              fix="give each service its own name")
        by_name[spec.name] = spec
    declared = ", ".join(by_name)
    for spec in by_name.values():
        where = f"service {spec.name!r}"
        for dep in spec.depends_on:
            if dep not in by_name:
                raise ConfigError(f"{where} depends on {dep!r}, which the stack does not declare "
                                  f"(declared: {declared})", fix="fix the name or declare that service")
        for source, text in spec.templates().items():
            for ref in placeholders(text):
                _check_placeholder(spec, source, ref, by_name)
    for spec in by_name.values():
        local = [dep for dep in spec.dependencies() if by_name[dep].local]
        if local and not spec.local:
            raise ConfigError(f"service {spec.name!r} runs in a container but depends on {local[0]!r}, "
                              f"a local command that containers cannot reach",
                              fix=f"run {local[0]!r} as a container too, or run {spec.name!r} locally")
    return _levels(by_name)


def _check_placeholder(spec: ServiceSpec, source: str, ref: str, by_name: Mapping[str, ServiceSpec]) -> None:
    known = [f"{{{f}}}" for f in OWN_FIELDS] + [f"{{{n}.{a}}}" for n in by_name for a in ENDPOINT_ATTRS
                                                if n != spec.name]
    hint = f"known: {', '.join(known[:2 + len(ENDPOINT_ATTRS)])}, ..."
    where = f"service {spec.name!r}: {source} refers to {{{ref}}}"
    if "." not in ref:
        if ref not in OWN_FIELDS:
            raise ConfigError(f"{where}, which is not a placeholder of this stack ({hint})",
                              fix="use {port}, {password} or {<service>.<attr>}; write a literal brace as {{")
        return
    name, attr = ref.split(".", 1)
    if name not in by_name:
        raise ConfigError(f"{where}, but the stack declares no service {name!r} (declared: "
                          f"{', '.join(by_name)})", fix="fix the service name or declare that service")
    if attr not in ENDPOINT_ATTRS:
        raise ConfigError(f"{where}, but a service has no {attr!r} (it has: {', '.join(ENDPOINT_ATTRS)})",
                          fix=f"use e.g. {{{name}.url}}")


def _levels(by_name: Mapping[str, ServiceSpec]) -> list[list[ServiceSpec]]:
    deps = {name: set(spec.dependencies()) for name, spec in by_name.items()}
    done: set[str] = set()
    levels: list[list[ServiceSpec]] = []
    while len(done) < len(by_name):
        ready = [n for n in by_name if n not in done and deps[n] <= done]
        if not ready:
            stuck = sorted(n for n in by_name if n not in done)
            raise ConfigError(f"services {', '.join(stuck)} depend on each other in a circle",
                              fix="remove one dependency of the circle")
        levels.append([by_name[n] for n in ready])
        done.update(ready)
    return levels


def assign_proxy_ports(specs: Sequence[ServiceSpec]) -> dict[str, int]:
    """Toxiproxy's listen port for each proxied service: its own ``proxy_port``, else port + 10000
    when that is free and in range, else the next free port from 20000 (declaration order)."""
    taken = {TOXIPROXY_API_PORT}
    ports: dict[str, int] = {}
    for spec in specs:
        if not spec.local and spec.proxy_port is not None:
            if spec.proxy_port in taken:
                raise ConfigError(f"service {spec.name!r}: proxy_port {spec.proxy_port} is already used",
                                  fix="choose another proxy_port or leave it unset")
            ports[spec.name] = spec.proxy_port
            taken.add(spec.proxy_port)
    for spec in specs:
        if spec.local or spec.name in ports:
            continue
        port = spec.port + PROXY_PORT_OFFSET
        if port > 65535 or port in taken:
            port = PROXY_PORT_FALLBACK
            while port in taken:
                port += 1
        ports[spec.name] = port
        taken.add(port)
    return ports


def render(spec: ServiceSpec, text: str, *, own: Endpoint, endpoints: Mapping[str, Endpoint]) -> str:
    """``text`` with its placeholders filled in (``check_declared`` has vetted them)."""
    values: dict[str, Any] = {"port": own.port, "password": own.password}

    class _Service:
        def __init__(self, endpoint: Endpoint) -> None:
            self._endpoint = endpoint

        def __getattr__(self, attr: str) -> str:
            return self._endpoint.value(attr)

    values.update({name: _Service(endpoint) for name, endpoint in endpoints.items()})
    try:
        return text.format_map(values)
    except (KeyError, AttributeError) as exc:
        raise ConfigError(f"service {spec.name!r}: placeholder {exc} has no value in this stack",
                          fix="declare the service it names") from None


def command_args(spec: ServiceSpec, rendered: str | Sequence[str]) -> list[str]:
    """A local command as an argument list: a string is split like a shell would, never run by one."""
    return shlex.split(rendered) if isinstance(rendered, str) else list(rendered)
