"""The data services of a stack: how each is started, reached, probed and reset.

A service is reached by tests only through its Toxiproxy proxy (``host``/``port`` below), whose
upstream is the service's network alias, so the endpoint stays the same across container
restarts. ``direct_port`` bypasses Toxiproxy (for verification reads); it changes on restart.
Fault helpers (``kill()``, ``down()``, ``latency(...)``...) build fault objects already bound to
the scenario's history and fault records.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import psycopg
import redis

from harness import faults
from harness.history import History
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


@dataclass(frozen=True)
class ServiceSpec:
    """How to run one data service: image key, alias, ports and the proxy in front of it."""

    name: str
    port: int          # the service's port inside its container
    proxy_port: int    # the port Toxiproxy listens on for this service, inside its container
    data_dir: str
    hello: bytes       # a few bytes the server always answers: how fault probes see the path


# PostgreSQL answers an SSLRequest (length 8, code 80877103) with one byte, S or N, before any
# authentication; Redis answers PING (with PONG, or NOAUTH when a password is set).
POSTGRES = ServiceSpec("postgres", 5432, 15432, "/var/lib/postgresql/data",
                       struct.pack("!ii", 8, 80877103))
REDIS = ServiceSpec("redis", 6379, 16379, "/data", b"PING\r\n")
SPECS = {spec.name: spec for spec in (POSTGRES, REDIS)}


@dataclass
class Service:
    """A running data service of a stack."""

    spec: ServiceSpec
    stack: StackContext
    container: "Container"
    port: int                 # host port of its Toxiproxy proxy on 127.0.0.1 (stable)
    direct_port: int          # host port of the container itself (changes on restart)
    host: str = "127.0.0.1"
    password: str = field(default="", repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def proxy(self) -> str:
        return self.spec.name

    def __str__(self) -> str:
        return f"{self.name}@{self.host}:{self.port}"

    # -- faults ---------------------------------------------------------------------------
    def _bind(self) -> dict[str, Any]:
        return {"history": self.stack.history, "records": self.stack.fault_records}

    def _net(self, cls: type, **kwargs: Any) -> Any:
        path = faults.ClientPath(self.host, self.port, self.spec.hello)
        return cls(self.stack.toxiproxy, self.proxy, **kwargs, path=path, **self._bind())

    def _box(self, cls: type, *args: Any, **kwargs: Any) -> Any:
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

    def stop(self, grace_s: float = 10.0, **kw: Any) -> faults.Stop:
        return self._box(faults.Stop, grace_s=grace_s, **kw)

    def pause(self, **kw: Any) -> faults.Pause:
        return self._box(faults.Pause, **kw)

    def restart(self, **kw: Any) -> faults.Restart:
        return self._box(faults.Restart, **kw)

    def memory_limit(self, mem_bytes: int, **kw: Any) -> faults.MemoryLimit:
        return self._box(faults.MemoryLimit, mem_bytes=mem_bytes, **kw)

    def cpu_quota(self, cpus: float, **kw: Any) -> faults.CpuQuota:
        return self._box(faults.CpuQuota, cpus=cpus, **kw)

    def partition(self, **kw: Any) -> faults.Partition:
        network = self.stack.client.networks.get(self.stack.network_name)
        return self._box(faults.Partition, network, **kw)

    def disk_full(self, leave_bytes: int = 0, **kw: Any) -> faults.DiskFull:
        return self._box(faults.DiskFull, self.spec.data_dir, leave_bytes=leave_bytes, **kw)


class PostgresService(Service):
    """PostgreSQL behind Toxiproxy; ``conninfo`` feeds psycopg and the workloads."""

    user = "harness"
    dbname = "harness"

    @property
    def conninfo(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "user": self.user,
                "password": self.password, "dbname": self.dbname}

    def connect(self, *, direct: bool = False, timeout_s: float = 3.0) -> psycopg.Connection:
        info = self.conninfo | ({"port": self.direct_port} if direct else {})
        return psycopg.connect(**info, connect_timeout=max(1, int(timeout_s)), autocommit=True)

    def probe(self) -> None:
        with self.connect(timeout_s=2) as conn:
            conn.execute("SELECT 1").fetchone()

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
