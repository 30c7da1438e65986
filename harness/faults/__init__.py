"""Faults: scoped side effects that inject on enter and heal on exit (see base.py for the contract).

    network.py    Toxiproxy toxics per direction, and Down (a disabled proxy)
    container.py  Docker API: Kill, Stop, Pause, Restart, Crash (from inside), Partition
    resource.py   cgroup limits and a full disk: MemoryLimit, CpuQuota, DiskFull
"""

from harness.faults.base import Effect, Fault, FaultRecord
from harness.faults.container import ContainerFault, Crash, Kill, Partition, Pause, Restart, Stop
from harness.faults.network import (Bandwidth, ClientPath, Down, Latency, LimitData, ResetPeer,
                                    Slicer, SlowClose, Timeout, ToxicFault)
from harness.faults.resource import CpuQuota, DiskFull, MemoryLimit

__all__ = [
    "Bandwidth", "ClientPath", "ContainerFault", "CpuQuota", "Crash", "DiskFull", "Down", "Effect", "Fault",
    "FaultRecord", "Kill", "Latency", "LimitData", "MemoryLimit", "Partition", "Pause", "ResetPeer", "Restart", "Slicer",
    "SlowClose", "Stop", "Timeout", "ToxicFault",
]
