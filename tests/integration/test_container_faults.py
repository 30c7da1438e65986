"""Container and resource faults on a real container of a locally built dr-harness image.

The image is ``HARNESS_TEST_IMAGE`` or the newest ``dr-harness/redis:*`` / ``dr-harness/postgres:*``
that ``docker images`` lists; a real client (redis-py or psycopg) talks to it through a port
published on 127.0.0.1. Every container and network is labelled with this run's labels and
removed at the end of the module.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
import psycopg
import pytest
import redis
from docker.models.containers import Container
from docker.models.networks import Network
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from harness.errors import FaultError
from harness.faults import CpuQuota, DiskFull, Kill, MemoryLimit, Partition, Pause, Restart, Stop
from harness.faults.resource import CGROUP_UNLIMITED_BYTES
from harness.history import History
from harness.stack.labels import RUN_LABEL, new_run_id, run_labels

pytestmark = pytest.mark.docker

ALIAS = "svc"
PASSWORD = "fault-test"


@dataclass(frozen=True)
class ServiceKind:
    """How to run and talk to one kind of image (redis or postgres)."""

    name: str
    port: int
    environment: dict[str, str] = field(default_factory=dict)

    def ping(self, host_port: int, timeout_s: float) -> None:
        """One real client request; raises on any failure."""
        if self.name == "redis":
            client = redis.Redis(host="127.0.0.1", port=host_port, socket_timeout=timeout_s,
                                 socket_connect_timeout=timeout_s)
            try:
                client.ping()
            finally:
                client.close()
        else:
            with psycopg.connect(host="127.0.0.1", port=host_port, user="postgres", password=PASSWORD,
                                 dbname="postgres", connect_timeout=max(2, int(timeout_s))) as conn:
                conn.execute("SELECT 1")

    def is_timeout(self, exc: BaseException) -> bool:
        if self.name == "redis":
            return isinstance(exc, redis.exceptions.TimeoutError)
        return isinstance(exc, psycopg.OperationalError) and "timeout" in str(exc).lower()


KINDS = {"redis": ServiceKind("redis", 6379),
         "postgres": ServiceKind("postgres", 5432, {"POSTGRES_PASSWORD": PASSWORD})}


@pytest.fixture(scope="module")
def image(service_image: Callable[[str], str]) -> tuple[str, ServiceKind]:
    """The image under test and its kind: HARNESS_TEST_IMAGE, or the Redis image the harness
    resolves (present, pulled or built), so the tests never depend on how images were obtained."""
    wanted = os.environ.get("HARNESS_TEST_IMAGE")
    if wanted:
        kind = next((k for name, k in KINDS.items() if name in wanted), None)
        if kind is None:
            raise ValueError(f"HARNESS_TEST_IMAGE={wanted} is neither a redis nor a postgres image")
        return wanted, kind
    return service_image("redis"), KINDS["redis"]


@pytest.fixture(scope="module")
def labels(client: docker.DockerClient) -> Iterator[dict[str, str]]:
    """This module's run labels; everything carrying them is removed at the end."""
    run_id = new_run_id()
    yield run_labels(run_id)
    selector = {"label": f"{RUN_LABEL}={run_id}"}
    for container in client.containers.list(all=True, filters=selector):
        container.remove(force=True, v=True)
    for network in client.networks.list(filters=selector):
        network.remove()


@dataclass
class Service:
    """A running service container and how to reach it from the host."""

    container: Container
    kind: ServiceKind

    def host_port(self) -> int:
        self.container.reload()
        return int(self.container.attrs["NetworkSettings"]["Ports"][f"{self.kind.port}/tcp"][0]["HostPort"])

    def ping(self, timeout_s: float = 2.0) -> None:
        self.kind.ping(self.host_port(), timeout_s)

    def wait_ready(self, within_s: float = 60.0) -> None:
        for attempt in Retrying(stop=stop_after_delay(within_s), wait=wait_fixed(0.2), reraise=True,
                                retry=retry_if_exception_type(Exception)):
            with attempt:
                self.ping()

    def status(self) -> str:
        self.container.reload()
        return str(self.container.attrs["State"]["Status"])

    def sh(self, command: str) -> tuple[int, str]:
        code, output = self.container.exec_run(["sh", "-c", command], user="root")
        return code, output.decode("utf-8", "replace")


@pytest.fixture
def start_service(client: docker.DockerClient, image: tuple[str, ServiceKind],
                  labels: dict[str, str]) -> Callable[..., Service]:
    """Start a labelled service container (extra docker run options allowed) and wait until it answers."""
    tag, kind = image

    def start(**options: Any) -> Service:
        container = client.containers.run(tag, detach=True, labels=labels, environment=kind.environment,
                                          ports={f"{kind.port}/tcp": ("127.0.0.1", None)},
                                          tmpfs={"/data": "size=16m"}, **options)
        service = Service(container, kind)
        service.wait_ready()
        return service

    return start


def test_kill_then_heal_starts_it_again(start_service: Callable[..., Service]) -> None:
    """Kill SIGKILLs the container (exit 137); heal starts it, waits until running, then calls wait_ready."""
    service = start_service()
    ready_calls: list[str] = []
    history = History()
    with Kill(service.container, history=history,
              wait_ready=lambda: ready_calls.append(service.status())) as fault:
        assert service.status() == "exited"
        assert service.container.attrs["State"]["ExitCode"] == 137
        # a killed container publishes no port at all: nothing can reach it
        assert not (service.container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{service.kind.port}/tcp")
    assert ready_calls == ["running"]
    assert [(op.f, op.type) for op in history.ops] == [("inject", "invoke"), ("inject", "ok"),
                                                      ("probe", "invoke"), ("probe", "ok"),
                                                      ("heal", "invoke"), ("heal", "ok")]
    assert fault.record.in_effect and "is not running after SIGKILL" in fault.record.evidence
    assert str(fault) == f"kill({service.container.name}, SIGKILL)"
    service.wait_ready()


def test_kill_without_restart_stays_down(start_service: Callable[..., Service]) -> None:
    """Kill(restart=False) leaves the container exited after heal (a negative control for the restart)."""
    service = start_service()
    with Kill(service.container, restart=False):
        pass
    assert service.status() == "exited"


def test_stop_sends_sigterm_first(start_service: Callable[..., Service]) -> None:
    """Stop lets the service shut down cleanly on SIGTERM within the grace period (exit 0, not 137)."""
    service = start_service()
    with Stop(service.container, grace_s=10):
        assert service.status() == "exited"
        assert service.container.attrs["State"]["ExitCode"] == 0
    assert service.status() == "running"
    service.wait_ready()


def test_restart_comes_back(start_service: Callable[..., Service]) -> None:
    """Restart leaves the container running with a new start time; heal only waits for it."""
    service = start_service()
    started_before = service.container.attrs["State"]["StartedAt"]
    with Restart(service.container, grace_s=5) as fault:
        assert service.status() == "running"
        assert fault.record.in_effect and f"it had started at {started_before}" in fault.record.evidence
    assert service.container.attrs["State"]["StartedAt"] != started_before
    service.wait_ready()


def test_pause_makes_a_real_client_time_out(start_service: Callable[..., Service]) -> None:
    """While paused a client request times out; after unpause the same client request works."""
    service = start_service()
    with Pause(service.container):
        assert service.status() == "paused"
        with pytest.raises((psycopg.OperationalError, redis.exceptions.TimeoutError)) as caught:
            service.ping(timeout_s=1)
        assert service.kind.is_timeout(caught.value), repr(caught.value)
    assert service.status() == "running"
    service.ping()


def _reaches(prober: Container, port: int) -> bool:
    code, _ = prober.exec_run(["timeout", "3", "bash", "-c", f"exec 3<>/dev/tcp/{ALIAS}/{port}"])
    return code == 0


def test_partition_cuts_the_alias_and_heal_restores_it(client: docker.DockerClient,
                                                        start_service: Callable[..., Service],
                                                        image: tuple[str, ServiceKind],
                                                        labels: dict[str, str]) -> None:
    """A peer on the network cannot reach the service by alias while partitioned, and can after heal."""
    network: Network = client.networks.create(f"dr-harness-faults-{labels[RUN_LABEL]}",
                                              driver="bridge", labels=labels)
    service = start_service()
    network.connect(service.container, aliases=[ALIAS])
    prober = client.containers.run(image[0], detach=True, labels=labels, entrypoint=["sleep", "infinity"],
                                   network=network.name)
    assert _reaches(prober, service.kind.port)
    with Partition(service.container, network) as fault:
        service.container.reload()
        assert network.name not in service.container.attrs["NetworkSettings"]["Networks"]
        assert not _reaches(prober, service.kind.port)
    assert str(fault) == f"partition({service.container.name}, from {network.name})"
    service.container.reload()
    aliases = service.container.attrs["NetworkSettings"]["Networks"][network.name]["Aliases"]
    assert ALIAS in aliases
    assert _reaches(prober, service.kind.port)


def _cgroup_value(service: Service, v1_file: str, v2_file: str) -> str:
    code, output = service.sh(f"cat /sys/fs/cgroup/{v1_file} 2>/dev/null || cat /sys/fs/cgroup/{v2_file}")
    assert code == 0, output
    return output.strip()


def test_memory_limit_is_applied_and_restored_exactly(start_service: Callable[..., Service]) -> None:
    """A 96 MiB cap shows in inspect and the cgroup; heal restores the 256 MiB limit the container had."""
    service = start_service(mem_limit="256m")
    before = dict(service.container.attrs["HostConfig"])
    with MemoryLimit(service.container, 96 * 2**20):
        service.container.reload()
        assert service.container.attrs["HostConfig"]["Memory"] == 96 * 2**20
        assert _cgroup_value(service, "memory/memory.limit_in_bytes", "memory.max") == str(96 * 2**20)
    service.container.reload()
    after = service.container.attrs["HostConfig"]
    assert (after["Memory"], after["MemorySwap"]) == (before["Memory"], before["MemorySwap"])
    assert _cgroup_value(service, "memory/memory.limit_in_bytes", "memory.max") == str(256 * 2**20)
    service.ping()


def test_memory_limit_on_an_unlimited_container_is_lifted_again(start_service: Callable[..., Service]) -> None:
    """Heal of a cap on a container without a limit leaves the cgroup unlimited again."""
    service = start_service()
    with MemoryLimit(service.container, 96 * 2**20):
        assert _cgroup_value(service, "memory/memory.limit_in_bytes", "memory.max") == str(96 * 2**20)
    assert _cgroup_value(service, "memory/memory.limit_in_bytes", "memory.max") in (
        str(CGROUP_UNLIMITED_BYTES), "max")


def test_cpu_quota_is_applied_and_restored(start_service: Callable[..., Service]) -> None:
    """Half a CPU shows as a 50 ms quota per 100 ms period; heal removes the quota again."""
    service = start_service()
    with CpuQuota(service.container, 0.5):
        service.container.reload()
        config = service.container.attrs["HostConfig"]
        assert (config["CpuPeriod"], config["CpuQuota"]) == (100_000, 50_000)
        assert _cgroup_value(service, "cpu/cpu.cfs_quota_us", "cpu.max").split()[0] == "50000"
    service.container.reload()
    assert service.container.attrs["HostConfig"]["CpuQuota"] in (0, -1)
    assert _cgroup_value(service, "cpu/cpu.cfs_quota_us", "cpu.max").split()[0] in ("-1", "max")


PROBE_WRITE = "head -c 65536 /dev/zero > /data/probe && rm /data/probe"


def test_disk_full_fails_writes_until_healed(start_service: Callable[..., Service]) -> None:
    """On a 16 MiB tmpfs a 64 KiB write works, fails with ENOSPC while full, and works after heal."""
    service = start_service()
    assert service.sh(PROBE_WRITE)[0] == 0
    with DiskFull(service.container, "/data") as fault:
        assert fault.usage().available_bytes == 0
        code, output = service.sh(PROBE_WRITE)
        assert code != 0 and "No space left on device" in output, output
    assert service.sh("ls -a /data")[1].count(".dr-harness-ballast") == 0
    code, output = service.sh(PROBE_WRITE)
    assert code == 0, output


def test_disk_full_refuses_the_root_filesystem(start_service: Callable[..., Service]) -> None:
    """DiskFull refuses a path on the container's root filesystem (the host's disk) and writes nothing."""
    service = start_service()
    fault = DiskFull(service.container, "/tmp")
    with pytest.raises(FaultError, match="refusing to fill /tmp") as caught:
        with fault:
            pytest.fail("the body must not run")
    assert "\n" not in str(caught.value)
    assert service.sh("test -e /tmp/.dr-harness-ballast")[0] != 0
    assert not fault.injected
