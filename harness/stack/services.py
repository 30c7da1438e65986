"""The running services of a stack: how each is reached, probed, reset and faulted.

A service is reached by tests through its Toxiproxy proxy (``host``/``port`` below), whose
upstream is the service's network alias, so the endpoint stays the same across container
restarts. ``direct_port`` bypasses Toxiproxy (for verification reads); it changes on restart.
Fault helpers (``kill()``, ``down()``, ``latency(...)``...) build fault objects already bound to
the scenario's history and fault records, for every declared service: network faults act on the
service's proxy and probe it through ``ClientPath(host, port, hello)``, container faults on its
container. A local command (``run=``) has neither: its network faults raise ``FaultError``
naming what to fault instead; ``kill()``, ``stop()`` and ``pause()`` signal its process.

    PostgresService   conninfo / connect() for psycopg; SQL readiness; reset drops the schema
    RedisService      conninfo / client() for redis-py; PING readiness; reset flushes
    ElasticsearchService  url / client() for the elasticsearch client; reset deletes every index
    Service           any other declared service (HTTP or TCP readiness); ``url``
"""

from __future__ import annotations

import http.client
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import psycopg
import redis

from harness import faults
from harness.errors import FaultError
from harness.history import History
from harness.stack.declare import Endpoint, ServiceSpec
from harness.stack.local import LocalProcess
from harness.toxiproxy import ToxiproxyAPI

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container


class StackContext(Protocol):
    """What a service needs of the stack it belongs to (``Stack`` provides it).

    Declared here, below the stack, so that services never import the stack that imports them.
    """

    history: History | None
    fault_records: list[Any] | None
    toxiproxy: ToxiproxyAPI
    client: "docker.DockerClient"
    network_name: str


@dataclass
class Service:
    """A running declared service of a stack (the generic kind: HTTP or TCP readiness)."""

    spec: ServiceSpec
    stack: StackContext
    container: "Container | None"
    port: int                 # host port of its Toxiproxy proxy on 127.0.0.1 (stable)
    direct_port: int          # host port of the container itself (changes on restart)
    host: str = "127.0.0.1"
    password: str = field(default="", repr=False)
    proxy_port: int | None = None            # its proxy's port inside the Toxiproxy container
    process: LocalProcess | None = field(default=None, repr=False)   # a local command (run=)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def proxy(self) -> str:
        return self.spec.name

    @property
    def endpoint(self) -> Endpoint:
        """How the host (tests, local commands) reaches it: the values of its placeholders."""
        return Endpoint(self.host, self.port, self.password, self.spec.user, self.spec.dbname,
                        self.spec.url)

    @property
    def url(self) -> str:
        """``{<name>.url}`` as seen from the host, e.g. ``http://127.0.0.1:49153``."""
        return self.endpoint.url

    def __str__(self) -> str:
        return f"{self.name}@{self.host}:{self.port}"

    # -- readiness and data ---------------------------------------------------------------
    def probe(self) -> None:
        """Raise unless the declared readiness check passes through the service's proxy."""
        ready = self.spec.ready
        if ready.kind == "http":
            conn = http.client.HTTPConnection(self.host, self.port, timeout=2.0)
            try:
                conn.request("GET", ready.target, headers={"Connection": "close"})
                response = conn.getresponse()
                response.read()
            finally:
                conn.close()
            if not 200 <= response.status < 300:
                raise ConnectionError(f"GET {ready.target} answered {response.status} {response.reason}")
        else:
            with socket.create_connection((self.host, self.port), timeout=2.0) as sock:
                if self.spec.probe_bytes:   # a proxy accepts at once; only a reply shows the server
                    sock.sendall(self.spec.probe_bytes)
                    if not sock.recv(1):
                        raise ConnectionError("the connection closed without a reply")

    def reset_data(self) -> None:
        """Forget what a scenario left behind. A service of the generic kind that depends on other
        services holds state of theirs (connection pools, caches, circuit breakers) that their reset
        just made stale: its container is restarted, so each scenario starts from a fresh service
        (the stack then waits until it is ready again). Nothing to do for one without dependencies."""
        if self.container is not None and self.spec.dependencies():
            self.container.restart(timeout=2)

    # -- faults ---------------------------------------------------------------------------
    def _bind(self) -> dict[str, Any]:
        return {"history": self.stack.history, "records": self.stack.fault_records}

    def _net(self, cls: type, **kwargs: Any) -> Any:
        if self.spec.local:
            raise FaultError(f"service {self.name!r} runs as a local command: no proxy stands in "
                             f"front of it, so {cls.__name__} cannot act on it",
                             fix="fault its dependencies (e.g. stack.postgres.down()) or run it "
                                 "as a container (image= or build=)")
        path = faults.ClientPath(self.host, self.port, self.spec.probe_bytes)
        return cls(self.stack.toxiproxy, self.proxy, **kwargs, path=path, **self._bind())

    def _box(self, cls: type, *args: Any, **kwargs: Any) -> Any:
        if self.container is None:
            assert self.process is not None
            return self.process.fault(cls, *args, **kwargs, service=self.name, **self._bind())
        return cls(self.container, *args, **kwargs, service=self.name, **self._bind())

    def down(self) -> faults.Down:
        return self._net(faults.Down)

    def latency(self, latency_ms: int, jitter_ms: int = 0, **kw: Any) -> faults.Latency:
        return self._net(faults.Latency, latency_ms=latency_ms, jitter_ms=jitter_ms, **kw)

    def timeout(self, timeout_ms: int = 0, **kw: Any) -> faults.Timeout:
        return self._net(faults.Timeout, timeout_ms=timeout_ms, **kw)

    def reset_peer(self, timeout_ms: int = 0, **kw: Any) -> faults.ResetPeer:
        return self._net(faults.ResetPeer, timeout_ms=timeout_ms, **kw)

    def bandwidth(self, rate_kbps: int, **kw: Any) -> faults.Bandwidth:
        return self._net(faults.Bandwidth, rate_kbps=rate_kbps, **kw)

    def slicer(self, average_size_bytes: int, size_variation_bytes: int = 0, delay_us: int = 0,
               **kw: Any) -> faults.Slicer:
        return self._net(faults.Slicer, average_size_bytes=average_size_bytes,
                         size_variation_bytes=size_variation_bytes, delay_us=delay_us, **kw)

    def limit_data(self, limit_bytes: int, **kw: Any) -> faults.LimitData:
        return self._net(faults.LimitData, limit_bytes=limit_bytes, **kw)

    def slow_close(self, delay_ms: int, **kw: Any) -> faults.SlowClose:
        return self._net(faults.SlowClose, delay_ms=delay_ms, **kw)

    def kill(self, **kw: Any) -> faults.Kill:
        return self._box(faults.Kill, **kw)

    def stop(self, grace_s: int = 10, **kw: Any) -> faults.Stop:
        return self._box(faults.Stop, grace_s=grace_s, **kw)

    def pause(self, **kw: Any) -> faults.Pause:
        return self._box(faults.Pause, **kw)

    def restart(self, **kw: Any) -> faults.Restart:
        return self._box(faults.Restart, **kw)

    def crash(self, pid_file: str | None = None, **kw: Any) -> faults.Crash:
        """Kill the service's process from inside its container: its restart policy applies."""
        self._need_container("crash")
        return self._box(faults.Crash, pid_file=pid_file, **kw)

    def memory_limit(self, mem_bytes: int, **kw: Any) -> faults.MemoryLimit:
        return self._box(faults.MemoryLimit, mem_bytes=mem_bytes, **kw)

    def cpu_quota(self, cpus: float, **kw: Any) -> faults.CpuQuota:
        return self._box(faults.CpuQuota, cpus=cpus, **kw)

    def partition(self, **kw: Any) -> faults.Partition:
        self._need_container("partition")
        network = self.stack.client.networks.get(self.stack.network_name)
        return self._box(faults.Partition, network, **kw)

    def disk_full(self, leave_bytes: int = 0, **kw: Any) -> faults.DiskFull:
        self._need_container("disk_full")
        if self.spec.data_dir is None:
            raise FaultError(f"service {self.name!r} declares no data_dir to fill",
                             fix="declare data_dir= (a tmpfs path, see tmpfs=) in its ServiceSpec")
        return self._box(faults.DiskFull, self.spec.data_dir, leave_bytes=leave_bytes, **kw)

    def _need_container(self, what: str) -> None:
        if self.container is None:
            raise FaultError(f"service {self.name!r} runs as a local command: {what} needs a container",
                             fix="run it as a container (image= or build=) to use this fault")


class PostgresService(Service):
    """PostgreSQL behind Toxiproxy; ``conninfo`` feeds psycopg and the workloads."""

    @property
    def user(self) -> str:
        return self.spec.user

    @property
    def dbname(self) -> str:
        return self.spec.dbname

    @property
    def conninfo(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "user": self.user,
                "password": self.password, "dbname": self.dbname}

    def connect(self, *, direct: bool = False, timeout_s: float = 3.0) -> psycopg.Connection:
        info = self.conninfo | ({"port": self.direct_port} if direct else {})
        return psycopg.connect(**info, connect_timeout=max(1, int(timeout_s)), autocommit=True)

    def probe(self) -> None:
        with self.connect(timeout_s=2) as conn:
            conn.execute(self.spec.ready.target or "SELECT 1").fetchone()

    def reset_data(self) -> None:
        with self.connect(direct=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
            conn.execute("CREATE SCHEMA public")


class RedisService(Service):
    """Redis behind Toxiproxy; ``conninfo`` feeds redis-py and the workloads."""

    @property
    def conninfo(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "password": self.password}

    def client(self, *, direct: bool = False, timeout_s: float = 2.0) -> redis.Redis:
        port = self.direct_port if direct else self.port
        return redis.Redis(host=self.host, port=port, password=self.password,
                           socket_timeout=timeout_s, socket_connect_timeout=timeout_s)

    def probe(self) -> None:
        with self.client() as client:
            client.ping()

    def reset_data(self) -> None:
        with self.client(direct=True) as client:
            client.flushall()


class ElasticsearchService(Service):
    """Elasticsearch behind Toxiproxy; ``url`` feeds the elasticsearch client and the workloads."""

    def client(self, *, direct: bool = False, timeout_s: float = 5.0) -> Any:
        from elasticsearch import Elasticsearch
        port = self.direct_port if direct else self.port
        return Elasticsearch(f"http://{self.host}:{port}", request_timeout=timeout_s, max_retries=0)

    def reset_data(self) -> None:
        client = self.client(direct=True)
        try:
            client.indices.delete(index="*", expand_wildcards="open,closed")
        finally:
            client.close()
