"""Resource faults: memory limit, CPU quota and a full disk, applied to a running container.

``MemoryLimit`` and ``CpuQuota`` change the container's cgroup limits with ``docker update``
and restore the values it had (read from ``container.attrs`` at injection). ``DiskFull`` fills
a size-limited filesystem inside the container (a ``tmpfs`` mounted with ``size=``, e.g.
``tmpfs={"/data": "size=16m"}``) with a ballast file written as root, and deletes it on heal.
It refuses any other filesystem: the container's root, a bind mount or a volume all live on
the host's disk, and a tmpfs larger than ``max_fill_bytes`` would eat the host's memory::

    with MemoryLimit(pg, mem_bytes=64 * 2**20):
        ...
    with DiskFull(pg, "/var/lib/postgresql/data", leave_bytes=0):
        ...                     # writes fail with ENOSPC until healed
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import ClassVar

from harness.errors import FaultError
from harness.faults.base import Effect
from harness.faults.container import ContainerFault, container_status

CPU_PERIOD_US = 100_000
MIN_CPU_QUOTA_US = 1_000  # the kernel's minimum CFS quota
MIN_MEMORY_BYTES = 6 * 2**20  # Docker's minimum memory limit
CGROUP_UNLIMITED_BYTES = 9_223_372_036_854_771_712  # what cgroup v1 reads for "no limit"
BALLAST_NAME = ".dr-harness-ballast"
PAGE_BYTES = 4096


class _Saved:
    """Values read from the container before a fault changed them."""

    def __init__(self) -> None:
        self.values: dict[str, int] | None = None


@dataclass(frozen=True, eq=False)
class _UpdateFault(ContainerFault):
    """A fault applied with ``container.update(...)`` and undone by restoring saved values."""

    _saved: _Saved = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_saved", _Saved())
        super().__post_init__()

    def _host_config(self) -> dict:
        self.container.reload()
        return self.container.attrs["HostConfig"]

    def _update(self, action: str, **limits: int) -> None:
        self._docker(action, lambda: self.container.update(**limits))


@dataclass(frozen=True, eq=False)
class MemoryLimit(_UpdateFault):
    """Cap the container's memory (and memory+swap) at ``mem_bytes``; heal restores the old caps.

    A container that had no limit gets the cgroup maximum back, which the kernel treats as no
    limit; ``docker inspect`` then shows that number instead of 0.
    """

    kind: ClassVar[str] = "memory_limit"
    mem_bytes: int

    def _validate(self) -> None:
        super()._validate()
        if isinstance(self.mem_bytes, bool) or not isinstance(self.mem_bytes, int) \
                or self.mem_bytes < MIN_MEMORY_BYTES:
            raise ValueError(f"MemoryLimit: mem_bytes must be an integer >= {MIN_MEMORY_BYTES} "
                             f"(Docker's minimum), got {self.mem_bytes!r}")

    def _describe(self) -> str:
        return f"{self.mem_bytes / 2**20:g}MiB"

    def _inject(self) -> None:
        config = self._host_config()
        self._saved.values = {"mem_limit": int(config.get("Memory") or 0),
                              "memswap_limit": int(config.get("MemorySwap") or 0)}
        self._update(f"limit memory to {self.mem_bytes} bytes",
                     mem_limit=self.mem_bytes, memswap_limit=self.mem_bytes)

    def _check_effect(self) -> Effect:
        memory = int(self._host_config().get("Memory") or 0)
        shown = memory == self.mem_bytes
        return Effect(shown, f"the engine reports a memory limit of {memory} bytes on container "
                             f"{self.target}" + ("" if shown else f", not {self.mem_bytes}"))

    def _heal(self) -> None:
        if self._saved.values is None:
            return
        # An update cannot say "unlimited" (0 means "unchanged", -1 is refused), and cgroup v1
        # needs memory <= memory+swap at every step: first lift both to the cgroup maximum
        # (which is what "unlimited" reads as), then lower them to the saved caps, if any.
        self._update("lift the memory limit", mem_limit=CGROUP_UNLIMITED_BYTES,
                     memswap_limit=CGROUP_UNLIMITED_BYTES)
        memory, swap = self._saved.values["mem_limit"], self._saved.values["memswap_limit"]
        if memory > 0:
            limits = {"mem_limit": memory} | ({"memswap_limit": swap} if swap != 0 else {})
            self._update("restore the memory limit", **limits)


@dataclass(frozen=True, eq=False)
class CpuQuota(_UpdateFault):
    """Limit the container to ``cpus`` CPUs (CFS quota per 100 ms period); heal restores the old quota."""

    kind: ClassVar[str] = "cpu_quota"
    cpus: float

    def _validate(self) -> None:
        super()._validate()
        if isinstance(self.cpus, bool) or not isinstance(self.cpus, (int, float)) \
                or self.cpus * CPU_PERIOD_US < MIN_CPU_QUOTA_US:
            raise ValueError(f"CpuQuota: cpus must be a number >= {MIN_CPU_QUOTA_US / CPU_PERIOD_US}, "
                             f"got {self.cpus!r}")

    def _describe(self) -> str:
        return f"{self.cpus:g} cpus"

    def _inject(self) -> None:
        config = self._host_config()
        if config.get("NanoCpus"):
            raise FaultError(f"container {self.target} was created with --cpus (NanoCpus), which "
                             f"docker update cannot combine with a CPU quota",
                             where=f"CpuQuota of container {self.container.short_id}",
                             fix="create it with cpu_period/cpu_quota instead of nano_cpus")
        self._saved.values = {"cpu_period": int(config.get("CpuPeriod") or 0),
                              "cpu_quota": int(config.get("CpuQuota") or 0)}
        self._update(f"limit CPU to {self.cpus:g}", cpu_period=CPU_PERIOD_US,
                     cpu_quota=int(self.cpus * CPU_PERIOD_US))

    def _check_effect(self) -> Effect:
        config = self._host_config()
        quota, period = int(config.get("CpuQuota") or 0), int(config.get("CpuPeriod") or 0)
        shown = (quota, period) == (int(self.cpus * CPU_PERIOD_US), CPU_PERIOD_US)
        return Effect(shown, f"the engine reports a CPU quota of {quota} us per {period} us on "
                             f"container {self.target}" + ("" if shown else f", not {self.cpus:g} cpus"))

    def _heal(self) -> None:
        if self._saved.values is None:
            return
        period = self._saved.values["cpu_period"] or CPU_PERIOD_US
        quota = self._saved.values["cpu_quota"] or -1  # -1: no quota (0 would mean "unchanged")
        self._update("restore the CPU quota", cpu_period=period, cpu_quota=quota)


@dataclass(frozen=True)
class FilesystemUsage:
    """One ``df`` line for a path inside a container."""

    fstype: str
    size_bytes: int
    available_bytes: int
    mounted_on: str


@dataclass(frozen=True, eq=False)
class DiskFull(ContainerFault):
    """Fill the size-limited filesystem holding ``path`` until ``leave_bytes`` remain; heal deletes the ballast."""

    kind: ClassVar[str] = "disk_full"
    path: str
    leave_bytes: int = 0
    max_fill_bytes: int = field(default=2**30, kw_only=True)

    def _validate(self) -> None:
        super()._validate()
        if not isinstance(self.path, str) or not self.path.startswith("/"):
            raise ValueError(f"DiskFull: path must be an absolute path inside the container, got {self.path!r}")
        for name in ("leave_bytes", "max_fill_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"DiskFull: {name} must be an integer >= 0, got {value!r}")

    def _describe(self) -> str:
        return f"{self.path}, leave {self.leave_bytes}B"

    @property
    def ballast(self) -> str:
        """The ballast file's path inside the container."""
        return self.path.rstrip("/") + "/" + BALLAST_NAME

    def _exec(self, action: str, command: str) -> str:
        """Run ``sh -c command`` as root in the container; FaultError on a non-zero exit."""
        code, output = 0, b""

        def run() -> None:
            nonlocal code, output
            code, output = self.container.exec_run(["sh", "-c", command], user="root")

        self._docker(action, run)
        text = (output or b"").decode("utf-8", "replace").strip()
        if code != 0:
            raise FaultError(f"could not {action} in container {self.target}: exit {code}: "
                             f"{' '.join(text.split())[:300]}",
                             where=f"DiskFull of container {self.container.short_id}",
                             fix="check the path exists and the image has sh, df and fallocate or dd")
        return text

    def usage(self) -> FilesystemUsage:
        """The filesystem holding ``path``, as ``df`` inside the container sees it."""
        lines = self._exec(f"read df for {self.path}", f"df -PT -B1 {shlex.quote(self.path)}").splitlines()
        fields = lines[-1].split() if len(lines) >= 2 else []
        try:
            return FilesystemUsage(fstype=fields[1], size_bytes=int(fields[2]),
                                   available_bytes=int(fields[4]), mounted_on=fields[6])
        except (IndexError, ValueError) as exc:
            raise FaultError(f"could not parse df output for {self.path} in container "
                             f"{self.target}: {' / '.join(lines)[:300]!r}",
                             where=f"DiskFull of container {self.container.short_id}",
                             fix="the image needs a POSIX df with -P -T -B") from exc

    def _inject(self) -> None:
        self._exec(f"remove an old ballast in {self.path}", f"rm -f {shlex.quote(self.ballast)}")
        fs = self.usage()
        where = f"DiskFull of container {self.container.short_id}"
        if fs.fstype != "tmpfs":
            raise FaultError(f"refusing to fill {self.path} in container {self.target}: it is on a "
                             f"{fs.fstype} filesystem mounted at {fs.mounted_on} "
                             f"({fs.size_bytes} bytes), which may be the host's disk", where=where,
                             fix='mount a size-limited tmpfs there, e.g. tmpfs={"/data": "size=16m"}')
        if fs.size_bytes > self.max_fill_bytes:
            raise FaultError(f"refusing to fill {self.path} in container {self.target}: its tmpfs "
                             f"holds {fs.size_bytes} bytes, more than max_fill_bytes="
                             f"{self.max_fill_bytes} (a tmpfs without size= takes host memory)",
                             where=where, fix="mount the tmpfs with a size= option, or raise max_fill_bytes")
        fill = (fs.available_bytes - self.leave_bytes) // PAGE_BYTES * PAGE_BYTES
        if fill <= 0:
            return
        target = shlex.quote(self.ballast)
        self._exec(f"write a {fill}-byte ballast in {self.path}",
                   f"fallocate -l {fill} {target} 2>/dev/null || "
                   f"dd if=/dev/zero of={target} bs=1M count={fill} iflag=count_bytes 2>&1 || "
                   # the service may take space while the ballast grows: ENOSPC from dd means the
                   # disk is full, which is the goal; the free-space check below decides
                   f"test -f {target}")
        left = self.usage().available_bytes
        if left > self.leave_bytes + PAGE_BYTES:
            raise FaultError(f"the ballast left {left} bytes free on {self.path} in container "
                             f"{self.target}, more than leave_bytes={self.leave_bytes}",
                             where=where, fix="is something deleting files there while it fills?")

    def _check_effect(self) -> Effect:
        fs = self.usage()
        shown = fs.available_bytes <= self.leave_bytes + PAGE_BYTES
        return Effect(shown, f"df in container {self.target} shows {fs.available_bytes} bytes free of "
                             f"{fs.size_bytes} on {fs.mounted_on}" + ("" if shown else
                                                                       f", more than {self.leave_bytes}"))

    def _heal(self) -> None:
        status = container_status(self.container)
        if status in ("exited", "created", "dead", "removed"):
            return  # the tmpfs and its ballast went away with the container's processes
        if status == "paused":
            raise FaultError(f"cannot delete the ballast in paused container {self.target}",
                             where=f"DiskFull of container {self.container.short_id}",
                             fix="heal the Pause fault first (nest DiskFull inside it)")
        self._exec(f"delete the ballast {self.ballast}", f"rm -f {shlex.quote(self.ballast)}")
